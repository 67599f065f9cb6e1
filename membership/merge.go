package membership

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hashicorp/serf/serf"
)

// mergeDelegate vets every member serf is about to accept, on a join
// (push/pull of whole states) and on each alive message. Refusing makes
// memberlist drop the state or message; on the joining side it fails the
// join, and Join reports the recorded reason.
type mergeDelegate struct{ m *Member }

var _ serf.MergeDelegate = (*mergeDelegate)(nil)

func (d *mergeDelegate) NotifyMerge(members []*serf.Member) error {
	for _, sm := range members {
		if err := d.check(sm); err != nil {
			d.m.log.Warn("refusing gossip member", "member", sm.Name, "addr", hostPort(sm.Addr, sm.Port), "err", err)
			d.m.refusal.Store(&err)
			return err
		}
	}
	return nil
}

func (d *mergeDelegate) check(sm *serf.Member) error {
	m := d.m
	addr := hostPort(sm.Addr, sm.Port)
	if sm.Name == m.self {
		// Before Create returns the only such message is our own.
		if self := m.selfAddr.Load(); self != nil && addr != *self {
			return fmt.Errorf("%w: %s (node id in use by the member at %s, we are %s)", ErrDuplicateNodeID, sm.Name, addr, *self)
		}
	}
	m.mu.Lock()
	k, ok := m.mu.known[sm.Name]
	m.mu.Unlock()
	if ok && k.alive && k.addr != addr && sm.Status != serf.StatusLeft {
		return fmt.Errorf("%w: %s at %s, already alive at %s", ErrDuplicateNodeID, sm.Name, addr, k.addr)
	}
	if sm.Status == serf.StatusLeft {
		return nil
	}
	t, err := decodeTags(sm.Tags)
	if err != nil {
		return fmt.Errorf("member %s: %w", sm.Name, err)
	}
	if NodeName(t.NodeID) != sm.Name {
		return fmt.Errorf("%w: member %s carries node id tag %d", ErrBadTags, sm.Name, t.NodeID)
	}
	if ours := *m.clusterID.Load(); ours != "" && t.ClusterID != "" && t.ClusterID != ours {
		return fmt.Errorf("%w: member %s belongs to cluster %s, we belong to %s", ErrClusterIDMismatch, sm.Name, t.ClusterID, ours)
	}
	return nil
}

// logWriter feeds serf's and memberlist's standard-library logs into slog:
// "[WARN] memberlist: ..." becomes a warn record; DEBUG is kept only when
// the logger wants it.
type logWriter struct{ log *slog.Logger }

func (w *logWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{
		"[TRACE]": slog.LevelDebug - 4, "[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo,
		"[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[ERROR]": slog.LevelError,
	} {
		if strings.HasPrefix(line, prefix) {
			level, line = l, strings.TrimSpace(strings.TrimPrefix(line, prefix))
			break
		}
	}
	if level < slog.LevelWarn {
		level = slog.LevelDebug // serf's info chatter is debug for us
	}
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}
