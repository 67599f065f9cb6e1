package tiering

import (
	"context"
	"sort"

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
	var bases []int64
	latest := map[int64]string{}
	gens := map[int64]int{}
	cursor := ""
	for {
		page, err := store.List(ctx, objectstore.ListOptions{Prefix: p.root + "manifest/", Cursor: cursor})
		if err != nil {
			return nil, -1, err
		}
		for _, o := range page.Objects {
			if b, g, ok := parseEntryKey(p.root, o.Key); ok {
				if _, seen := latest[b]; !seen {
					bases = append(bases, b)
				} else if g <= gens[b] {
					continue
				}
				latest[b], gens[b] = o.Key, g
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
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
