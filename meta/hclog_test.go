package meta

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var a hclog.Logger = newHCLogAdapter(l, "raft")
	a.Info("dropped info")
	a.Debug("dropped debug")
	if a.IsInfo() || !a.IsWarn() || !a.IsError() {
		t.Fatal("level guards do not match warn")
	}
	a.Named("snap").With("peer", "2").Warn("kept warning", "term", 3)
	a.Error("kept error")
	a.StandardLogger(nil).Print("from std logger\n")
	out := buf.String()
	if strings.Contains(out, "dropped") {
		t.Fatalf("below-warn output leaked: %s", out)
	}
	for _, want := range []string{
		`level=WARN msg="kept warning" logger=raft.snap peer=2 term=3`,
		`level=ERROR msg="kept error" logger=raft`,
		`level=WARN msg="from std logger"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
