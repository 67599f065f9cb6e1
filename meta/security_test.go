package meta

import (
	"context"
	"testing"
	"time"

	"github.com/stratalog/strata/security"
)

func TestSecurityMetadataReplicatesAndSnapshots(t *testing.T) {
	dir := t.TempDir()
	boot, err := security.NewScramCredential(security.MechScramSHA512, "admin", "pw", security.MinScramIterations)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir)
	cfg.InitialScram = []ScramUpsert{{User: "admin", Cred: boot}}
	s := openReady(t, cfg)
	if _, ok := s.ScramCredential("admin", security.MechScramSHA512); !ok {
		t.Fatal("bootstrap credential missing after the cluster was initialised")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c256, _ := security.NewScramCredential(security.MechScramSHA256, "alice", "a", security.MinScramIterations)
	if err := s.AlterScramCredentials(ctx, []ScramUpsert{{User: "alice", Cred: c256}}, nil); err != nil {
		t.Fatal(err)
	}
	acl := security.ACL{ResourceType: security.ResourceTopic, ResourceName: "orders", PatternType: security.PatternLiteral,
		Principal: "User:alice", Host: "*", Operation: security.OpWrite, Permission: security.PermissionAllow}
	if err := s.CreateACLs(ctx, []security.ACL{acl, acl}); err != nil {
		t.Fatal(err)
	}
	bad := acl
	bad.Operation = security.OpAny
	if err := s.CreateACLs(ctx, []security.ACL{bad}); err == nil {
		t.Fatal("an ACL with operation ANY was stored")
	}
	if got := s.ACLs(); len(got) != 1 || got[0] != acl {
		t.Fatalf("ACLs %+v", got)
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Reopened from the snapshot, with a different bootstrap user: the
	// cluster is initialised, so the flag changes nothing.
	other, _ := security.NewScramCredential(security.MechScramSHA512, "intruder", "x", security.MinScramIterations)
	cfg.InitialScram = []ScramUpsert{{User: "intruder", Cred: other}}
	s = openReady(t, cfg)
	defer s.Close()
	if _, ok := s.ScramCredential("intruder", security.MechScramSHA512); ok {
		t.Fatal("a bootstrap user was stored on an initialised cluster")
	}
	users := s.ScramUsers()
	if len(users) != 2 || users["alice"][0].Mechanism != security.MechScramSHA256 || users["admin"][0].Iterations != security.MinScramIterations {
		t.Fatalf("users after reopen: %+v", users)
	}
	if err := s.AlterScramCredentials(ctx, nil, []ScramKey{{"alice", security.MechScramSHA256}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.ScramCredential("alice", security.MechScramSHA256); ok {
		t.Fatal("deleted credential still there")
	}
	if err := s.DeleteACLs(ctx, s.ACLs()); err != nil || len(s.ACLs()) != 0 {
		t.Fatalf("delete ACLs: %v %v", err, s.ACLs())
	}
}
