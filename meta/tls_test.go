package meta

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testca"
	"github.com/stratalog/strata/security"
)

// peerTLS gives cfg mutual TLS with a certificate for cn from ca.
func peerTLS(t testing.TB, cfg *Config, ca *testca.CA, cn string) {
	t.Helper()
	f := ca.WriteFiles(t, t.TempDir(), cn, testca.Options{Bare: true})
	certs, err := security.LoadCerts(security.TLSFiles{CertFile: f.Cert, KeyFile: f.Key, ClientCAFile: f.CA, ClientAuth: security.ClientAuthRequired})
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerTLS, cfg.ClientTLS = certs.PeerConfigs()
}

// TestMutualTLSQuorum: three stores with certificates from the cluster's
// CA form a quorum and forward writes to the leader over mutual TLS; a
// store with a certificate from another CA is refused as a voter and as
// a non-voter, cannot forward a write, and the refusals are counted.
func TestMutualTLSQuorum(t *testing.T) {
	ca, other := testca.New(t, "cluster-ca"), testca.New(t, "other-ca")
	stores := openClusterWith(t, 3, 100*time.Millisecond, func(cfg *Config) { peerTLS(t, cfg, ca, "node") })
	leader := leaderOf(t, stores)
	// A follower forwards its write to the leader over TLS.
	var follower *Store
	for _, st := range stores {
		if st != leader {
			follower = st
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	poll(t, "the follower to know the leader", func() bool { _, id := follower.raft.LeaderWithID(); return id != "" })
	if err := follower.RegisterBroker(ctx, Broker{ID: 7, Host: "h", Port: 9092}); err != nil {
		t.Fatalf("forwarded write over mutual TLS: %v", err)
	}
	poll(t, "broker 7 everywhere", func() bool { return hasBroker(stores[0], 7) && hasBroker(stores[1], 7) && hasBroker(stores[2], 7) })

	cfg := clusterConfig(t, 4, 100*time.Millisecond)
	peerTLS(t, &cfg, other, "stranger")
	stranger, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stranger.Close() })
	before := leader.PeerTLSFailures()
	if err := leader.AddVoter(ctx, 4, stranger.Addr()); !errors.Is(err, ErrPeerTLS) {
		t.Fatalf("adding a voter from another CA: %v, want ErrPeerTLS", err)
	}
	if err := leader.AddNonvoter(ctx, 4, stranger.Addr()); !errors.Is(err, ErrPeerTLS) {
		t.Fatalf("adding a non-voter from another CA: %v, want ErrPeerTLS", err)
	}
	servers2, err := leader.Servers()
	if err != nil || len(servers2) != 3 {
		t.Fatalf("quorum after the refusals: %v %v", servers2, err)
	}
	if leader.PeerTLSFailures() <= before {
		t.Fatal("the refused handshakes were not counted")
	}
	// The stranger cannot forward a write to the leader: our leader
	// refuses its certificate and it refuses ours.
	if _, err := stranger.call(ctx, leader.Addr(), mRegisterBroker, Broker{ID: 9, Host: "h", Port: 9092}, &struct{}{}); !errors.Is(err, ErrPeerTLS) {
		t.Fatalf("a forward from another CA's node: %v, want ErrPeerTLS", err)
	}
	if hasBroker(leader, 9) {
		t.Fatal("the stranger's write was applied")
	}
	if err := leader.ProbePeer(ctx, stores[1].Addr()); err != nil && stores[1] != leader {
		t.Fatalf("probing a member: %v", err)
	}
}
