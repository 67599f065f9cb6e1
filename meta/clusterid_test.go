package meta

import (
	"context"
	"testing"
	"time"
)

// TestKnownClusterIDAfterRestart: a reopened store names its cluster
// before raft has replayed anything (the gossip tags are built then); a
// store that never belonged to a cluster names none.
func TestKnownClusterIDAfterRestart(t *testing.T) {
	dir := t.TempDir()
	st := openReady(t, testConfig(t, dir))
	id := st.ClusterID()
	if id == "" {
		t.Fatal("no cluster id after bootstrap")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := readClusterIDFile(dir); got == id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cluster id never recorded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir)
	cfg.Bootstrap = false // a cluster member: nothing applied until a leader speaks
	st2, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if got := st2.KnownClusterID(); got != id {
		t.Fatalf("KnownClusterID right after Open = %q, want %q", got, id)
	}

	fresh, err := Open(testConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := fresh.KnownClusterID(); got != "" {
		t.Fatalf("a new store knows cluster id %q before its first leader", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fresh.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}
