package tiering

import (
	"context"

	"github.com/stratalog/strata/objectstore"
)

// RemoteManifest reads a partition's committed remote segments straight
// from the store's manifest entries, in offset order, without repairing
// anything: overlaps or gaps between entries are returned as found, so
// tools and tests can check the manifest independently of any broker's
// local copy. LogStart is the published DeleteRecords log start, -1 when
// none. Of a repaired segment the newest generation of its entry is
// returned.
func RemoteManifest(ctx context.Context, store objectstore.Store, prefix string, id ID) (segs []Segment, logStart int64, err error) {
	p := &Partition{m: &Manager{store: store}, id: id, root: partitionRoot(prefix, id)}
	bases, latest, _, err := p.listEntries(ctx)
	if err != nil {
		return nil, -1, err
	}
	for _, b := range bases {
		s, err := p.fetchEntryKey(ctx, latest[b])
		if err != nil {
			return nil, -1, err
		}
		segs = append(segs, s)
	}
	logStart, err = p.fetchLogStart(ctx)
	return segs, logStart, err
}

// SegmentObjectKey is the store key of a remote segment's data object.
func SegmentObjectKey(prefix string, id ID, s Segment) string {
	return segmentKey(partitionRoot(prefix, id), s.BaseOffset, s.UploadID)
}
