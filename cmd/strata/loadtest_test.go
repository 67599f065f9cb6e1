package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stratalog/strata/loadtest"
)

// TestLoadtestHelpOffersOnlyLocal1 checks --help does not offer local
// clusters of any size while only one node can run, and refuses others.
func TestLoadtestHelpOffersOnlyLocal1(t *testing.T) {
	cmd := newLoadtestCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	for _, bad := range []string{"--local N", "of N nodes", "--local int"} {
		if strings.Contains(help, bad) {
			t.Errorf("help offers %q:\n%s", bad, help)
		}
	}
	if !strings.Contains(help, "--local 1 ") || !strings.Contains(help, "payload.compressibility") {
		t.Errorf("help lacks --local 1 or payload.compressibility:\n%s", help)
	}
	cmd = newLoadtestCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--local", "3", "../../loadtest/workloads/max-throughput.yaml"})
	if err := cmd.Execute(); !errors.Is(err, loadtest.ErrLocalSize) {
		t.Errorf("--local 3: error %v, want ErrLocalSize", err)
	}
}
