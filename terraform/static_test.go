package terraform

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// The module directories every check expects to find.
var wantModules = []string{
	"examples/aws-single-node",
	"examples/gcp-single-node",
	"modules/strata-aws",
	"modules/strata-gcp",
	"modules/strata-node-config",
	"testdata/render",
}

func TestModulesParse(t *testing.T) {
	mods := loadModules(t, ".")
	var got []string
	for dir := range mods {
		got = append(got, dir)
	}
	sort.Strings(got)
	if !slices.Equal(got, wantModules) {
		t.Fatalf("module directories = %v, want %v", got, wantModules)
	}
}

func TestVariablesHaveDescriptionTypeAndValidation(t *testing.T) {
	for dir, m := range loadModules(t, ".") {
		for name, v := range m.variables {
			where := dir + ": variable " + name
			if strings.TrimSpace(v.description) == "" {
				t.Errorf("%s: no description", where)
			}
			if !v.hasType {
				t.Errorf("%s: no type", where)
			}
			for _, val := range v.validations {
				cond := val.Body.Attributes["condition"]
				msg := val.Body.Attributes["error_message"]
				if cond == nil || msg == nil {
					t.Errorf("%s: validation without condition or error_message", where)
					continue
				}
				if !referencesVar(cond.Expr, name) {
					t.Errorf("%s: validation condition does not test var.%s", where, name)
				}
				if text := literalString(msg.Expr); !strings.HasSuffix(text, ".") || len(text) < 20 {
					t.Errorf("%s: error_message %q should be a sentence ending in a period", where, text)
				}
			}
		}
	}
}

func referencesVar(e hcl.Expression, name string) bool {
	for _, tr := range e.Variables() {
		if tr.RootName() == "var" && len(tr) > 1 {
			if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == name {
				return true
			}
		}
	}
	return false
}

// Every cloud module's user-facing inputs carry validation, not just types.
func TestCloudModuleInputsValidated(t *testing.T) {
	free := map[string]bool{ // inputs any value of whose type is fine
		"tags": true, "labels": true, "bucket_force_destroy": true, "assign_public_ip": true, "bucket_location": true,
	}
	mods := loadModules(t, ".")
	for _, dir := range []string{"modules/strata-aws", "modules/strata-gcp", "modules/strata-node-config"} {
		for name, v := range mods[dir].variables {
			if len(v.validations) == 0 && !free[name] {
				t.Errorf("%s: variable %s has no validation block", dir, name)
			}
		}
	}
}

func TestNodeCountIsOneForNow(t *testing.T) {
	mods := loadModules(t, ".")
	for _, dir := range []string{"modules/strata-aws", "modules/strata-gcp"} {
		v := mods[dir].variables["node_count"]
		if v == nil {
			t.Fatalf("%s: no node_count variable", dir)
		}
		if d := v.block.Body.Attributes["default"]; d == nil || literalNumber(d.Expr) != "1" {
			t.Errorf("%s: node_count should default to 1", dir)
		}
		if len(v.validations) != 1 {
			t.Fatalf("%s: node_count has %d validations, want 1", dir, len(v.validations))
		}
		msg := literalString(v.validations[0].Body.Attributes["error_message"].Expr)
		if !strings.Contains(msg, "must be 1") || !strings.Contains(msg, "raft") {
			t.Errorf("%s: node_count error message %q should say it must be 1 and why", dir, msg)
		}
	}
}

func literalNumber(e hcl.Expression) string {
	v, diags := e.Value(nil)
	if diags.HasErrors() || v.Type().FriendlyName() != "number" {
		return ""
	}
	return v.AsBigFloat().String()
}

func TestOutputsHaveDescriptions(t *testing.T) {
	for dir, m := range loadModules(t, ".") {
		for name, o := range m.outputs {
			if a := o.Body.Attributes["description"]; a == nil || literalString(a.Expr) == "" {
				t.Errorf("%s: output %s has no description", dir, name)
			}
			if o.Body.Attributes["value"] == nil {
				t.Errorf("%s: output %s has no value", dir, name)
			}
		}
	}
}

// TestReferencesResolve checks that every var.X, local.X, module.X.Y,
// data.T.N and T.N reference names something declared.
func TestReferencesResolve(t *testing.T) {
	mods := loadModules(t, ".")
	builtin := map[string]bool{"each": true, "count": true, "path": true, "self": true, "terraform": true}
	for dir, m := range mods {
		for file, body := range m.files {
			eachAttribute(body, nil, func(a *hclsyntax.Attribute, iterators []string) {
				if a.Name == "ignore_changes" { // names attributes, not values
					return
				}
				for _, tr := range a.Expr.Variables() {
					if a.Name == "type" && typeKeywords[tr.RootName()] { // a variable's type constraint
						continue
					}
					where := filepath.Join(dir, file) + ":" + strconv.Itoa(tr.SourceRange().Start.Line)
					root := tr.RootName()
					attr := func(i int) string {
						if i < len(tr) {
							if ta, ok := tr[i].(hcl.TraverseAttr); ok {
								return ta.Name
							}
						}
						return ""
					}
					switch {
					case builtin[root] || slices.Contains(iterators, root):
					case root == "var":
						if m.variables[attr(1)] == nil {
							t.Errorf("%s: var.%s is not declared", where, attr(1))
						}
					case root == "local":
						if m.locals[attr(1)] == nil {
							t.Errorf("%s: local.%s is not declared", where, attr(1))
						}
					case root == "data":
						if m.data[attr(1)+"."+attr(2)] == nil {
							t.Errorf("%s: data.%s.%s is not declared", where, attr(1), attr(2))
						}
					case root == "module":
						call := m.calls[attr(1)]
						if call == nil {
							t.Errorf("%s: module.%s is not declared", where, attr(1))
							break
						}
						out := attr(2)
						if out == "" { // module.x["key"].output
							if len(tr) > 3 {
								if ta, ok := tr[3].(hcl.TraverseAttr); ok {
									out = ta.Name
								}
							}
						}
						target := mods[calledDir(t, dir, call)]
						if out != "" && target != nil && target.outputs[out] == nil {
							t.Errorf("%s: module.%s has no output %q", where, attr(1), out)
						}
					case strings.Contains(root, "_"):
						if m.resources[root+"."+attr(1)] == nil {
							t.Errorf("%s: resource %s.%s is not declared", where, root, attr(1))
						}
					default:
						t.Errorf("%s: unknown reference root %q", where, root)
					}
				}
			})
		}
	}
}

// calledDir resolves a module call's local source to a module directory.
var typeKeywords = map[string]bool{
	"string": true, "number": true, "bool": true, "any": true,
	"list": true, "map": true, "set": true, "object": true, "tuple": true,
}

func calledDir(t *testing.T, dir string, call *hclsyntax.Block) string {
	t.Helper()
	src := literalString(call.Body.Attributes["source"].Expr)
	if !strings.HasPrefix(src, "./") && !strings.HasPrefix(src, "../") {
		t.Fatalf("%s: module %s: source %q is not a local path", dir, call.Labels[0], src)
	}
	return filepath.Clean(filepath.Join(dir, src))
}

// TestModuleCallsMatchVariables checks every module call passes only
// variables the called module declares, and every variable it requires.
func TestModuleCallsMatchVariables(t *testing.T) {
	mods := loadModules(t, ".")
	meta := map[string]bool{"source": true, "version": true, "for_each": true, "count": true, "depends_on": true, "providers": true}
	calls := 0
	for dir, m := range mods {
		for name, call := range m.calls {
			calls++
			target := mods[calledDir(t, dir, call)]
			if target == nil {
				t.Errorf("%s: module %s: no module at %s", dir, name, calledDir(t, dir, call))
				continue
			}
			for arg := range call.Body.Attributes {
				if !meta[arg] && target.variables[arg] == nil {
					t.Errorf("%s: module %s passes %q, which %s does not declare", dir, name, arg, target.dir)
				}
			}
			for vn, v := range target.variables {
				if !v.hasDefault && call.Body.Attributes[vn] == nil {
					t.Errorf("%s: module %s does not pass required variable %q of %s", dir, name, vn, target.dir)
				}
			}
		}
	}
	if calls < 6 {
		t.Fatalf("found %d module calls, want at least 6 (examples, cloud modules, render fixture)", calls)
	}
}

// The examples expose the three outputs the README promises.
func TestExampleOutputs(t *testing.T) {
	mods := loadModules(t, ".")
	for _, dir := range []string{"examples/aws-single-node", "examples/gcp-single-node"} {
		for _, out := range []string{"bootstrap_servers", "metrics_url", "bucket_name"} {
			if mods[dir].outputs[out] == nil {
				t.Errorf("%s: no output %s", dir, out)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "terraform.tfvars.example")); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
}

var pinnedMajor = regexp.MustCompile(`^~> [0-9]+\.[0-9]+$`)

// TestProviderVersionsPinned checks each module that uses a provider's
// resources declares it in required_providers with a major-version pin,
// and that every module states its Terraform version.
func TestProviderVersionsPinned(t *testing.T) {
	for dir, m := range loadModules(t, ".") {
		declared := map[string]string{}
		hasRequiredVersion := false
		for _, tb := range m.terraform {
			if tb.Body.Attributes["required_version"] != nil {
				hasRequiredVersion = true
			}
			for _, rp := range tb.Body.Blocks {
				if rp.Type != "required_providers" {
					continue
				}
				for name, a := range rp.Body.Attributes {
					obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
					if !ok {
						t.Errorf("%s: required_providers.%s is not an object", dir, name)
						continue
					}
					for _, item := range obj.Items {
						if objectKey(item.KeyExpr) == "version" {
							declared[name] = literalString(item.ValueExpr)
						}
					}
				}
			}
		}
		if !hasRequiredVersion {
			t.Errorf("%s: no terraform { required_version }", dir)
		}
		for name, constraint := range declared {
			if !pinnedMajor.MatchString(constraint) {
				t.Errorf("%s: provider %s version %q does not pin a major version (want ~> MAJOR.MINOR)", dir, name, constraint)
			}
		}
		used := map[string]bool{}
		for key := range m.resources {
			used[strings.SplitN(key, "_", 2)[0]] = true
		}
		for key := range m.data {
			used[strings.SplitN(key, "_", 2)[0]] = true
		}
		delete(used, "terraform") // terraform_data is built in
		for p := range used {
			if _, ok := declared[p]; !ok {
				t.Errorf("%s: uses %s resources without declaring the provider in required_providers", dir, p)
			}
		}
	}
}

// The AWS module's identity policy grants exactly the S3 actions the
// object-store backend calls, and the trust policy only lets EC2 assume it.
func TestAWSPolicyActions(t *testing.T) {
	allowed := []string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"}
	m := loadModules(t, ".")["modules/strata-aws"]
	var granted []string
	statements := 0
	for file, body := range m.files {
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			obj, ok := n.(*hclsyntax.ObjectConsExpr)
			if !ok {
				return nil
			}
			fields := map[string]hcl.Expression{}
			for _, item := range obj.Items {
				fields[objectKey(item.KeyExpr)] = item.ValueExpr
			}
			actionExpr, ok := fields["Action"]
			if !ok {
				return nil
			}
			statements++
			actions := resolveStrings(t, m, actionExpr)
			effect := literalString(fields["Effect"])
			_, hasPrincipal := fields["Principal"]
			where := file + ":" + strconv.Itoa(obj.SrcRange.Start.Line)
			switch {
			case effect == "Deny":
				// Denials can only narrow access.
			case effect == "Allow" && hasPrincipal:
				if !slices.Equal(actions, []string{"sts:AssumeRole"}) {
					t.Errorf("%s: trust statement allows %v, want only sts:AssumeRole", where, actions)
				}
				if !strings.Contains(string(fields["Principal"].Range().SliceBytes(readFileBytes(t, filepath.Join(m.dir, file)))), "ec2.") {
					t.Errorf("%s: trust statement should name the EC2 service", where)
				}
			case effect == "Allow":
				for _, a := range actions {
					if !slices.Contains(allowed, a) {
						t.Errorf("%s: grants %q, outside the allowed set %v", where, a, allowed)
					}
				}
				if _, ok := fields["Resource"]; !ok || strings.Contains(exprText(t, m, file, fields["Resource"]), `"*"`) {
					t.Errorf("%s: allow statement must name the bucket, not *", where)
				}
				granted = append(granted, actions...)
			default:
				t.Errorf("%s: statement with Effect %q", where, effect)
			}
			return nil
		})
	}
	sort.Strings(granted)
	if !slices.Equal(slices.Compact(granted), allowed) {
		t.Errorf("granted %v, want exactly %v", granted, allowed)
	}
	if statements < 4 {
		t.Errorf("found %d policy statements, want the trust, bucket, object and TLS statements", statements)
	}
	for key := range m.resources {
		switch strings.SplitN(key, ".", 2)[0] {
		case "aws_iam_policy_attachment", "aws_iam_role_policy_attachment", "aws_iam_user_policy", "aws_iam_group_policy":
			t.Errorf("%s: extra IAM grants are out of scope for the module", key)
		}
	}
}

// resolveStrings returns the strings of a literal list, a single literal,
// or a reference to a local holding a literal list.
func resolveStrings(t *testing.T, m *tfModule, e hcl.Expression) []string {
	t.Helper()
	if s := literalString(e); s != "" {
		return []string{s}
	}
	if ss := literalStrings(e); ss != nil {
		return ss
	}
	if st, ok := e.(*hclsyntax.ScopeTraversalExpr); ok && st.Traversal.RootName() == "local" && len(st.Traversal) == 2 {
		name := st.Traversal[1].(hcl.TraverseAttr).Name
		if a := m.locals[name]; a != nil {
			if ss := literalStrings(a.Expr); ss != nil {
				return ss
			}
		}
	}
	t.Fatalf("%s: policy Action at %s is not a literal list or a local holding one", m.dir, e.Range())
	return nil
}

func readFileBytes(t *testing.T, path string) []byte { return []byte(readFile(t, path)) }

func exprText(t *testing.T, m *tfModule, file string, e hcl.Expression) string {
	return string(e.Range().SliceBytes(readFileBytes(t, filepath.Join(m.dir, file))))
}

// The GCP module grants its service account storage roles on the bucket
// only: no project-level bindings, no admin roles.
func TestGCPRoles(t *testing.T) {
	allowed := []string{"roles/storage.legacyBucketReader", "roles/storage.objectUser"}
	m := loadModules(t, ".")["modules/strata-gcp"]
	var roles []string
	for _, body := range m.files {
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			if lit, ok := n.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type().FriendlyName() == "string" {
				if s := lit.Val.AsString(); strings.HasPrefix(s, "roles/") {
					roles = append(roles, s)
				}
			}
			return nil
		})
	}
	sort.Strings(roles)
	if !slices.Equal(roles, allowed) {
		t.Errorf("roles named in the module = %v, want exactly %v", roles, allowed)
	}
	iam := 0
	for key, b := range m.resources {
		typ := strings.SplitN(key, ".", 2)[0]
		if strings.Contains(typ, "_iam_") {
			iam++
			if typ != "google_storage_bucket_iam_member" {
				t.Errorf("%s: only bucket-level IAM members are allowed", key)
			}
			if !strings.Contains(exprText(t, m, filepath.Base(b.TypeRange.Filename), b.Body.Attributes["bucket"].Expr), "google_storage_bucket.cold") {
				t.Errorf("%s: must bind on the cold-tier bucket", key)
			}
		}
	}
	if iam == 0 {
		t.Error("no google_storage_bucket_iam_member resource")
	}
}

// TestTemplatesGetTheirVariables checks each templatefile call passes
// exactly the variables its template uses.
func TestTemplatesGetTheirVariables(t *testing.T) {
	calls := 0
	for dir, m := range loadModules(t, ".") {
		for _, body := range m.files {
			hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
				fc, ok := n.(*hclsyntax.FunctionCallExpr)
				if !ok || fc.Name != "templatefile" {
					return nil
				}
				calls++
				if len(fc.Args) != 2 {
					t.Errorf("%s: templatefile with %d arguments", dir, len(fc.Args))
					return nil
				}
				pathExpr, ok := fc.Args[0].(*hclsyntax.TemplateExpr)
				if !ok || len(pathExpr.Parts) != 2 {
					t.Errorf("%s: templatefile path should be \"${path.module}/templates/NAME\"", dir)
					return nil
				}
				rel := literalString(pathExpr.Parts[1])
				tplPath := filepath.Join(dir, rel)
				src := readFile(t, tplPath)
				tpl, diags := hclsyntax.ParseTemplate([]byte(src), tplPath, hcl.InitialPos)
				if diags.HasErrors() {
					t.Errorf("%s: %s", tplPath, diags.Error())
					return nil
				}
				used := map[string]bool{}
				for _, tr := range tpl.Variables() {
					used[tr.RootName()] = true
				}
				passed := map[string]bool{}
				obj, ok := fc.Args[1].(*hclsyntax.ObjectConsExpr)
				if !ok {
					t.Errorf("%s: templatefile variables should be an object literal", dir)
					return nil
				}
				for _, item := range obj.Items {
					passed[objectKey(item.KeyExpr)] = true
				}
				for v := range used {
					if !passed[v] {
						t.Errorf("%s uses %q, which the templatefile call does not pass", tplPath, v)
					}
				}
				for v := range passed {
					if !used[v] {
						t.Errorf("%s: templatefile passes %q, which %s never uses", dir, v, tplPath)
					}
				}
				return nil
			})
		}
	}
	if calls < 2 {
		t.Fatalf("found %d templatefile calls, want the unit and the bootstrap script", calls)
	}
}

// README.md documents every input and output of the modules.
func TestReadmeCoversModules(t *testing.T) {
	readme := readFile(t, "README.md")
	mods := loadModules(t, ".")
	for _, dir := range []string{"modules/strata-aws", "modules/strata-gcp", "modules/strata-node-config"} {
		for name := range mods[dir].variables {
			if !strings.Contains(readme, "`"+name+"`") {
				t.Errorf("README.md does not mention variable %s of %s", name, dir)
			}
		}
		for name := range mods[dir].outputs {
			if !strings.Contains(readme, "`"+name+"`") {
				t.Errorf("README.md does not mention output %s of %s", name, dir)
			}
		}
	}
	if !strings.Contains(readme, "terraform init") || !strings.Contains(readme, "static") {
		t.Error("README.md should say the cloud modules are only checked statically here")
	}
}
