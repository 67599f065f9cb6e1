package terraform

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// tfModule is one directory of .tf files, parsed.
type tfModule struct {
	dir       string // relative to the terraform/ directory
	files     map[string]*hclsyntax.Body
	variables map[string]*tfVariable
	outputs   map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	calls     map[string]*hclsyntax.Block // module "x" blocks
	resources map[string]*hclsyntax.Block // "type.name"
	data      map[string]*hclsyntax.Block // "type.name"
	terraform []*hclsyntax.Block
}

type tfVariable struct {
	block       *hclsyntax.Block
	description string
	hasType     bool
	hasDefault  bool
	validations []*hclsyntax.Block
}

// moduleDirs lists every directory under root holding .tf files, skipping
// Terraform's working directories.
func moduleDirs(t *testing.T, root string) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".tf") {
			rel, err := filepath.Rel(root, filepath.Dir(p))
			if err != nil {
				return err
			}
			seen[rel] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs
}

// loadModules parses every module under root, keyed by relative directory.
func loadModules(t *testing.T, root string) map[string]*tfModule {
	t.Helper()
	mods := map[string]*tfModule{}
	parser := hclparse.NewParser()
	for _, dir := range moduleDirs(t, root) {
		m := &tfModule{
			dir:       dir,
			files:     map[string]*hclsyntax.Body{},
			variables: map[string]*tfVariable{},
			outputs:   map[string]*hclsyntax.Block{},
			locals:    map[string]*hclsyntax.Attribute{},
			calls:     map[string]*hclsyntax.Block{},
			resources: map[string]*hclsyntax.Block{},
			data:      map[string]*hclsyntax.Block{},
		}
		paths, err := filepath.Glob(filepath.Join(root, dir, "*.tf"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			f, diags := parser.ParseHCLFile(p)
			if diags.HasErrors() {
				t.Fatalf("%s: %s", p, diags.Error())
			}
			body := f.Body.(*hclsyntax.Body)
			m.files[filepath.Base(p)] = body
			for _, b := range body.Blocks {
				m.addBlock(t, p, b)
			}
			if len(body.Attributes) > 0 {
				t.Errorf("%s: top-level attributes are not Terraform", p)
			}
		}
		mods[dir] = m
	}
	return mods
}

func (m *tfModule) addBlock(t *testing.T, path string, b *hclsyntax.Block) {
	t.Helper()
	dup := func(kind, name string) { t.Errorf("%s: %s %q declared twice", path, kind, name) }
	switch b.Type {
	case "variable":
		name := b.Labels[0]
		if m.variables[name] != nil {
			dup("variable", name)
		}
		v := &tfVariable{block: b}
		if a := b.Body.Attributes["description"]; a != nil {
			v.description = literalString(a.Expr)
		}
		v.hasType = b.Body.Attributes["type"] != nil
		v.hasDefault = b.Body.Attributes["default"] != nil
		for _, inner := range b.Body.Blocks {
			if inner.Type == "validation" {
				v.validations = append(v.validations, inner)
			}
		}
		m.variables[name] = v
	case "output":
		if m.outputs[b.Labels[0]] != nil {
			dup("output", b.Labels[0])
		}
		m.outputs[b.Labels[0]] = b
	case "locals":
		for name, a := range b.Body.Attributes {
			if m.locals[name] != nil {
				dup("local", name)
			}
			m.locals[name] = a
		}
	case "module":
		m.calls[b.Labels[0]] = b
	case "resource":
		m.resources[b.Labels[0]+"."+b.Labels[1]] = b
	case "data":
		m.data[b.Labels[0]+"."+b.Labels[1]] = b
	case "terraform":
		m.terraform = append(m.terraform, b)
	case "provider", "check", "moved", "import", "removed":
	default:
		t.Errorf("%s: unknown top-level block %q", path, b.Type)
	}
}

// literalString returns the value of a constant string expression, or "".
func literalString(e hcl.Expression) string {
	if len(e.Variables()) > 0 {
		return ""
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

// literalStrings returns the strings of a constant list or tuple of
// strings, or nil.
func literalStrings(e hcl.Expression) []string {
	if len(e.Variables()) > 0 {
		return nil
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || !(v.Type().IsTupleType() || v.Type().IsListType()) {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, ev := it.Element()
		if ev.Type() != cty.String {
			return nil
		}
		out = append(out, ev.AsString())
	}
	return out
}

// objectKey is the name of an object constructor key: a bare word or a
// quoted string.
func objectKey(e hcl.Expression) string {
	if kw := hcl.ExprAsKeyword(e); kw != "" {
		return kw
	}
	return literalString(e)
}

// eachAttribute calls fn for every attribute in body, at any depth, with
// the names of the dynamic-block iterators in scope.
func eachAttribute(body *hclsyntax.Body, iterators []string, fn func(a *hclsyntax.Attribute, iterators []string)) {
	for _, a := range body.Attributes {
		fn(a, iterators)
	}
	for _, b := range body.Blocks {
		its := iterators
		if b.Type == "dynamic" {
			name := b.Labels[0]
			if a := b.Body.Attributes["iterator"]; a != nil {
				name = hcl.ExprAsKeyword(a.Expr)
			}
			its = append(append([]string(nil), iterators...), name)
		}
		eachAttribute(b.Body, its, fn)
	}
}

// readFile reads a file relative to the terraform/ directory.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
