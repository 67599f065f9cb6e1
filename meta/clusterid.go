package meta

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// clusterIDFile, in Config.Dir, holds the cluster ID once this node has
// learned it (Kafka keeps it in meta.properties). A restarted node reads
// it before raft has replayed anything, so it names its cluster from its
// first gossip message and is refused at once if it joins another
// cluster, before that cluster's raft leader could add it as a replica of
// a log it does not share.
const clusterIDFile = "cluster.id"

func readClusterIDFile(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, clusterIDFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("meta: reading %s: %w", clusterIDFile, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeClusterIDFile(dir, id string) error {
	path := filepath.Join(dir, clusterIDFile)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(id + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// KnownClusterID is the cluster ID from the metadata log or, before this
// node has applied it since its start, the one it recorded earlier; empty
// for a node that never belonged to a cluster.
func (s *Store) KnownClusterID() string {
	if id := s.ClusterID(); id != "" {
		return id
	}
	return s.savedClusterID
}

// runClusterIDFile records the cluster ID in clusterIDFile once the
// metadata log has it, then exits; it stops early when the store closes.
func (s *Store) runClusterIDFile() {
	defer s.wg.Done()
	ch, unsub := s.subs.subscribe()
	defer unsub()
	for {
		if id := s.ClusterID(); id != "" {
			if id != s.savedClusterID {
				if err := writeClusterIDFile(s.cfg.Dir, id); err != nil {
					s.log.Error("recording the cluster id", "err", err)
				}
			}
			return
		}
		select {
		case <-ch:
		case <-s.runCtx.Done():
			return
		}
	}
}
