package terraform

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// terraformBin returns the terraform (or tofu) binary on PATH, or skips:
// the static checks in static_test.go run everywhere, these need the CLI.
func terraformBin(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"terraform", "tofu"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no terraform or tofu on PATH; only the static checks ran")
	return ""
}

// runTF runs the CLI in dir with no user configuration, no update checks
// and no prompts. It returns combined output and the error.
func runTF(t *testing.T, bin, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cliConfig := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(cliConfig, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"TF_CLI_CONFIG_FILE="+cliConfig,
		"CHECKPOINT_DISABLE=1",
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"TF_PLUGIN_CACHE_DIR=",
	)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func TestFormatted(t *testing.T) {
	bin := terraformBin(t)
	out, err := runTF(t, bin, ".", "fmt", "-check", "-recursive", "-diff", "-no-color", ".")
	if err != nil {
		t.Fatalf("terraform fmt -check: %v\n%s", err, out)
	}
}

// copyTree copies the terraform/ directory (without working directories)
// so init and apply never write into the source tree.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".terraform" || strings.HasPrefix(d.Name(), "terraform.tfstate")) {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, p)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !strings.HasSuffix(p, ".tf") && !strings.HasSuffix(p, ".tftpl") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// planVariables plans a root module made of one module's variables.tf, so
// the variables' validation rules run in real Terraform without the
// module's providers. It returns the plan output and error.
func planVariables(t *testing.T, bin, module string, values map[string]any) (string, error) {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("modules", module, "variables.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "variables.tf"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	vars, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "test.tfvars.json"), vars, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runTF(t, bin, dir, "init", "-backend=false", "-no-color"); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	return runTF(t, bin, dir, "plan", "-no-color", "-var-file=test.tfvars.json")
}

func with(base map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for bk, bv := range base {
		out[bk] = bv
	}
	out[k] = v
	return out
}

// TestVariableValidation plans each module's variables with good values,
// then with one bad value at a time, and checks Terraform refuses it with
// the module's own message.
func TestVariableValidation(t *testing.T) {
	bin := terraformBin(t)
	const url = "https://downloads.example.com/strata"
	awsBase := map[string]any{
		"name": "prod-a", "vpc_id": "vpc-0123456789abcdef0", "subnet_ids": []string{"subnet-0123456789abcdef0"},
		"binary_url": url, "kafka_allowed_cidrs": []string{"10.0.0.0/16"},
	}
	gcpBase := map[string]any{
		"name": "prod-a", "zones": []string{"europe-west1-b"}, "network": "default", "subnetwork": "default",
		"binary_url": url, "kafka_allowed_cidrs": []string{"10.0.0.0/16"},
	}
	nodeBase := map[string]any{
		"node_id": 1, "binary_url": url, "advertised_host": "10.0.0.5",
		"object_store": map[string]any{"scheme": "s3", "bucket": "cold-bucket", "prefix": "strata/", "params": map[string]string{"region": "eu-west-1"}},
	}
	cases := []struct {
		name, module string
		values       map[string]any
		wantErr      string // empty: the plan must succeed
	}{
		{"aws defaults", "strata-aws", awsBase, ""},
		{"aws two nodes", "strata-aws", with(awsBase, "node_count", 2), "node_count must be 1: Strata does not cluster nodes yet"},
		{"aws zero nodes", "strata-aws", with(awsBase, "node_count", 0), "node_count must be 1"},
		{"aws open cidr typo", "strata-aws", with(awsBase, "kafka_allowed_cidrs", []string{"10.0.0.0/33"}), "kafka_allowed_cidrs must be"},
		{"aws no kafka cidrs", "strata-aws", with(awsBase, "kafka_allowed_cidrs", []string{}), "kafka_allowed_cidrs must be"},
		{"aws ftp binary", "strata-aws", with(awsBase, "binary_url", "ftp://x/strata"), "binary_url must be"},
		{"aws bad sha", "strata-aws", with(awsBase, "binary_sha256", "abc"), "binary_sha256 must be"},
		{"aws prefix without slash", "strata-aws", with(awsBase, "object_prefix", "strata"), "object_prefix must be"},
		{"aws absolute prefix", "strata-aws", with(awsBase, "object_prefix", "/strata/"), "object_prefix must be"},
		{"aws bucket upper case", "strata-aws", with(awsBase, "bucket_name", "Cold"), "bucket_name must be"},
		{"aws gp2", "strata-aws", with(awsBase, "data_volume_type", "gp2"), "data_volume_type must be"},
		{"aws privileged port", "strata-aws", with(awsBase, "kafka_port", 80), "kafka_port must be"},
		{"aws bad setting name", "strata-aws", with(awsBase, "broker_settings", map[string]string{"Log Retention": "1"}), "broker_settings keys"},
		{"gcp defaults", "strata-gcp", gcpBase, ""},
		{"gcp two nodes", "strata-gcp", with(gcpBase, "node_count", 3), "node_count must be 1: Strata does not cluster nodes yet"},
		{"gcp soft delete 1 day", "strata-gcp", with(gcpBase, "soft_delete_retention_seconds", 86400), "soft_delete_retention_seconds must be"},
		{"gcp region not zone", "strata-gcp", with(gcpBase, "zones", []string{"europe-west1"}), "zones must be"},
		{"gcp storage class", "strata-gcp", with(gcpBase, "storage_class", "REGIONAL"), "storage_class must be"},
		{"node defaults", "strata-node-config", nodeBase, ""},
		{"node advertises 0.0.0.0", "strata-node-config", with(nodeBase, "advertised_host", "0.0.0.0"), "advertised_host must be"},
		{"node advertises host:port", "strata-node-config", with(nodeBase, "advertised_host", "10.0.0.5:9092"), "advertised_host must be"},
		{"node file store", "strata-node-config", with(nodeBase, "object_store", map[string]any{"scheme": "file", "bucket": "cold-bucket", "prefix": "", "params": map[string]string{}}), "object_store.scheme must be"},
		{"node STRATA_ env", "strata-node-config", with(nodeBase, "environment", map[string]string{"STRATA_SET": "x=1"}), "not starting with STRATA_"},
		{"node quoted env", "strata-node-config", with(nodeBase, "environment", map[string]string{"HTTPS_PROXY": `a"b`}), "environment keys"},
		{"node device outside /dev", "strata-node-config", with(nodeBase, "data_device_paths", []string{"/tmp/disk"}), "data_device_paths entry"},
		{"node data dir /var", "strata-node-config", with(nodeBase, "data_dir", "/var"), "data_dir must be"},
		{"node fractional id", "strata-node-config", with(nodeBase, "node_id", 1.5), "node_id must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := planVariables(t, bin, tc.module, tc.values)
			// Terraform wraps long messages; compare with whitespace folded.
			folded := strings.Join(strings.Fields(out), " ")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("plan failed: %v\n%s", err, out)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("plan succeeded, want an error containing %q\n%s", tc.wantErr, out)
			case tc.wantErr != "" && !strings.Contains(folded, tc.wantErr):
				t.Fatalf("plan error does not contain %q:\n%s", tc.wantErr, out)
			}
		})
	}
}
