package terraform

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stratalog/strata/objectstore"
)

// renderedNode is what testdata/render outputs for one node.
type renderedNode struct {
	UserData        string `json:"user_data"`
	ConfigYAML      string `json:"config_yaml"`
	SystemdUnit     string `json:"systemd_unit"`
	BootstrapScript string `json:"bootstrap_script"`
	ObjectStoreURL  string `json:"object_store_url"`
	KafkaAddress    string `json:"kafka_address"`
	MetricsURL      string `json:"metrics_url"`
}

type cloudConfig struct {
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Owner       string `yaml:"owner"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	Runcmd [][]string `yaml:"runcmd"`
}

// renderNodes applies testdata/render (no providers, no resources) in a
// copy of the tree and returns its nodes output.
func renderNodes(t *testing.T, bin string) map[string]renderedNode {
	t.Helper()
	root := copyTree(t)
	dir := filepath.Join(root, "testdata", "render")
	if out, err := runTF(t, bin, dir, "init", "-backend=false", "-no-color"); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if out, err := runTF(t, bin, dir, "apply", "-auto-approve", "-no-color"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	out, err := runTF(t, bin, dir, "output", "-json", "nodes")
	if err != nil {
		t.Fatalf("output: %v\n%s", err, out)
	}
	var nodes map[string]renderedNode
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		t.Fatalf("output: %v\n%s", err, out)
	}
	if len(nodes) != 2 {
		t.Fatalf("rendered %d nodes, want the s3 and gs ones", len(nodes))
	}
	return nodes
}

// buildStrata builds cmd/strata from this checkout.
func buildStrata(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "strata")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/strata")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/strata: %v\n%s", err, out)
	}
	return bin
}

var helpFlag = regexp.MustCompile(`^\s+(?:-[a-z], )?--([a-z0-9-]+)`)

// nodeFlags reads the flags `strata node` accepts from its help text.
func nodeFlags(t *testing.T, strata string) map[string]bool {
	t.Helper()
	out, err := exec.Command(strata, "node", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("strata node --help: %v\n%s", err, out)
	}
	flags := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := helpFlag.FindStringSubmatch(sc.Text()); m != nil {
			flags[m[1]] = true
		}
	}
	for _, f := range []string{"config", "node-id", "data-dir", "kafka-addr", "object-store", "set"} {
		if !flags[f] {
			t.Fatalf("strata node --help lists no --%s; parsed %v from:\n%s", f, flags, out)
		}
	}
	return flags
}

// unitDirectives parses a systemd unit into section.key -> values.
func unitDirectives(unit string) map[string][]string {
	d := map[string][]string{}
	section := ""
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			d[section+"."+k] = append(d[section+"."+k], v)
		}
	}
	return d
}

// TestRenderedNodeConfig applies the node-config module with real
// Terraform and checks what cloud-init would install against a strata
// binary built from this checkout: the config file's keys are flags of
// `strata node`, the unit runs `strata node --config` with the settings
// the brief asks for, the bootstrap script is valid shell, and a node
// started from the rendered config file reaches ready and stops cleanly on
// SIGTERM.
func TestRenderedNodeConfig(t *testing.T) {
	tf := terraformBin(t)
	nodes := renderNodes(t, tf)
	strata := buildStrata(t)
	flags := nodeFlags(t, strata)

	wantStore := map[string]objectstore.Location{
		"s3": {Scheme: "s3", Bucket: "strata-prod-cold-tier", Prefix: "strata/", Region: "eu-west-1"},
		"gs": {Scheme: "gs", Bucket: "strata-prod-cold-tier", Prefix: "clusters/a/"},
	}
	for name, n := range nodes {
		t.Run(name, func(t *testing.T) {
			if !strings.HasPrefix(n.UserData, "#cloud-config\n") {
				t.Fatalf("user data does not start with #cloud-config:\n%s", n.UserData)
			}
			var cc cloudConfig
			if err := yaml.Unmarshal([]byte(n.UserData), &cc); err != nil {
				t.Fatalf("user data is not YAML: %v", err)
			}
			files := map[string]string{}
			for _, f := range cc.WriteFiles {
				files[f.Path] = f.Content
				if f.Path == "/usr/local/sbin/strata-bootstrap" && f.Permissions != "0755" {
					t.Errorf("bootstrap script permissions %q, want 0755", f.Permissions)
				}
			}
			if files["/etc/strata/strata.yaml"] != n.ConfigYAML || files["/etc/systemd/system/strata.service"] != n.SystemdUnit ||
				files["/usr/local/sbin/strata-bootstrap"] != n.BootstrapScript {
				t.Fatalf("cloud-init write_files do not carry the rendered config, unit and script: %v", cc.WriteFiles)
			}
			if !slices.EqualFunc(cc.Runcmd, [][]string{{"/usr/local/sbin/strata-bootstrap"}}, slices.Equal) {
				t.Errorf("runcmd = %v, want the bootstrap script", cc.Runcmd)
			}

			cfg := checkConfigFile(t, n, flags)
			loc, err := objectstore.ParseURL(cfg["object-store"].(string))
			if err != nil {
				t.Fatalf("object-store: %v", err)
			}
			if loc != wantStore[name] {
				t.Errorf("object-store parses to %+v, want %+v", loc, wantStore[name])
			}
			checkUnit(t, n, cfg, flags, strata)
			checkBootstrap(t, n)
			runRenderedConfig(t, strata, n.ConfigYAML)
		})
	}
}

// checkConfigFile decodes the config file and checks each key is a flag of
// `strata node`.
func checkConfigFile(t *testing.T, n renderedNode, flags map[string]bool) map[string]any {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(n.ConfigYAML), &cfg); err != nil {
		t.Fatalf("config file is not YAML: %v\n%s", err, n.ConfigYAML)
	}
	for k := range cfg {
		if !flags[k] || k == "config" || k == "help" {
			t.Errorf("config file key %q is not a flag of strata node", k)
		}
	}
	for _, k := range []string{"node-id", "data-dir", "kafka-addr", "advertised-kafka-addr", "http-addr", "object-store"} {
		if _, ok := cfg[k]; !ok {
			t.Errorf("config file has no %q", k)
		}
	}
	if cfg["advertised-kafka-addr"] != n.KafkaAddress {
		t.Errorf("advertised-kafka-addr %v, kafka_address output %q", cfg["advertised-kafka-addr"], n.KafkaAddress)
	}
	if cfg["object-store"] != n.ObjectStoreURL {
		t.Errorf("object-store %v, object_store_url output %q", cfg["object-store"], n.ObjectStoreURL)
	}
	_, port, _ := strings.Cut(cfg["http-addr"].(string), ":")
	if !strings.HasSuffix(n.MetricsURL, ":"+port+"/metrics") {
		t.Errorf("metrics_url %q does not use the http-addr port %s", n.MetricsURL, port)
	}
	return cfg
}

func checkUnit(t *testing.T, n renderedNode, cfg map[string]any, flags map[string]bool, strata string) {
	t.Helper()
	d := unitDirectives(n.SystemdUnit)
	execStart := strings.Fields(strings.Join(d["Service.ExecStart"], ""))
	if len(execStart) != 4 || execStart[1] != "node" || execStart[2] != "--config" || execStart[3] != "/etc/strata/strata.yaml" {
		t.Fatalf("ExecStart = %v, want BINARY node --config /etc/strata/strata.yaml", execStart)
	}
	for _, arg := range execStart[2:] {
		if strings.HasPrefix(arg, "--") && !flags[strings.TrimPrefix(arg, "--")] {
			t.Errorf("ExecStart passes %s, which strata node does not accept", arg)
		}
	}
	if !strings.Contains(n.BootstrapScript, "binary_path='"+execStart[0]+"'") {
		t.Errorf("bootstrap does not install the binary at ExecStart's path %s", execStart[0])
	}
	want := map[string]string{
		"Service.Restart":        "always",
		"Service.KillSignal":     "SIGTERM",
		"Service.User":           "strata",
		"Service.ReadWritePaths": cfg["data-dir"].(string),
		"Unit.After":             "network-online.target",
		"Install.WantedBy":       "multi-user.target",
	}
	for k, v := range want {
		if got := strings.Join(d[k], ","); got != v {
			t.Errorf("unit %s = %q, want %q", k, got, v)
		}
	}
	if nofile, err := strconv.Atoi(strings.Join(d["Service.LimitNOFILE"], "")); err != nil || nofile < 65536 {
		t.Errorf("unit LimitNOFILE = %v, want a number >= 65536", d["Service.LimitNOFILE"])
	}
	for _, env := range d["Service.Environment"] {
		if strings.Contains(env, "STRATA_") {
			t.Errorf("unit sets %s, which would override the config file", env)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not on PATH; unit syntax not verified")
		return
	}
	// Verify a copy whose ExecStart points at the freshly built binary,
	// since systemd-analyze checks that the executable exists.
	dir := t.TempDir()
	unit := strings.Replace(n.SystemdUnit, "ExecStart="+execStart[0], "ExecStart="+strata, 1)
	path := filepath.Join(dir, "strata.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := execCommand(analyze, "verify", "--man=no", path)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "strata.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}

func checkBootstrap(t *testing.T, n renderedNode) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "strata-bootstrap")
	if err := os.WriteFile(path, []byte(n.BootstrapScript), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := execCommand("bash", "-n", path); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		if out, err := execCommand(sc, "--shell=bash", "--severity=warning", path); err != nil {
			t.Errorf("shellcheck: %v\n%s", err, out)
		}
	} else {
		t.Log("shellcheck not on PATH; bootstrap checked with bash -n only")
	}
	for _, want := range []string{"curl --fail", "systemctl enable strata.service", "useradd --system"} {
		if !strings.Contains(n.BootstrapScript, want) {
			t.Errorf("bootstrap script lacks %q", want)
		}
	}
}

func execCommand(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// runRenderedConfig starts `strata node --config` on the rendered file,
// overriding only what cannot work on a test machine (the cloud bucket,
// /var/lib and the fixed ports) with flags, waits for /readyz and stops it
// with SIGTERM as systemd would.
func runRenderedConfig(t *testing.T, strata, configYAML string) {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "strata.yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(strata, "node", "--config", cfgPath,
		"--data-dir", filepath.Join(dir, "data"),
		"--kafka-addr", kafka, "--advertised-kafka-addr", kafka,
		"--http-addr", httpAddr,
		"--object-store", "file://"+filepath.Join(dir, "cold"))
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	}()

	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("node exited before ready: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready after 30s\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("node ready %v after start from the rendered config", time.Since(start).Round(time.Millisecond))

	stop := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("node exited with %v after SIGTERM\n%s", err, logs.String())
		}
		t.Logf("node stopped %v after SIGTERM", time.Since(stop).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatalf("node still running 30s after SIGTERM\n%s", logs.String())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedBuffer collects a child's output for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
