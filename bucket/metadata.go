package bucket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/stratalog/strata/objectstore"
)

// ErrNoMetadata: the bucket holds no metadata snapshot.
var ErrNoMetadata = errors.New("the object store holds no cluster metadata")

func metadataPrefix(prefix string) string { return prefix + "/_cluster/metadata/" }

func metadataKey(prefix string, version uint64) string {
	return fmt.Sprintf("%s%020d.json", metadataPrefix(prefix), version)
}

// PutMetadata writes the snapshot of metadata version (its raft index),
// if absent: a version's content is the same whoever writes it (raft
// committed it), so a second writer, a deposed controller included, loses
// nothing by being refused.
func PutMetadata(ctx context.Context, store objectstore.Store, prefix string, version uint64, data []byte) error {
	_, err := store.Put(ctx, metadataKey(prefix, version), bytes.NewReader(data), int64(len(data)),
		objectstore.PutOptions{IfAbsent: true, ContentType: "application/json"})
	if errors.Is(err, objectstore.ErrPreconditionFailed) {
		return nil
	}
	return err
}

// MetadataVersions lists the stored snapshot versions, oldest first.
func MetadataVersions(ctx context.Context, store objectstore.Store, prefix string) ([]uint64, error) {
	var out []uint64
	cursor := ""
	for {
		page, err := store.List(ctx, objectstore.ListOptions{Prefix: metadataPrefix(prefix), Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, o := range page.Objects {
			name, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, metadataPrefix(prefix)), ".json")
			if !ok || len(name) != 20 {
				continue
			}
			v, err := strconv.ParseUint(name, 10, 64)
			if err == nil {
				out = append(out, v)
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// LatestMetadata returns the newest stored snapshot.
func LatestMetadata(ctx context.Context, store objectstore.Store, prefix string) (uint64, []byte, error) {
	vs, err := MetadataVersions(ctx, store, prefix)
	if err != nil {
		return 0, nil, fmt.Errorf("listing metadata snapshots: %w", err)
	}
	if len(vs) == 0 {
		return 0, nil, ErrNoMetadata
	}
	v := vs[len(vs)-1]
	rc, err := store.GetRange(ctx, metadataKey(prefix, v), 0, -1)
	if err != nil {
		return 0, nil, fmt.Errorf("reading metadata snapshot %d: %w", v, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<30))
	if err != nil {
		return 0, nil, fmt.Errorf("reading metadata snapshot %d: %w", v, err)
	}
	return v, b, nil
}

// PruneMetadata deletes all but the newest keep snapshots.
func PruneMetadata(ctx context.Context, store objectstore.Store, prefix string, keep int) (int, error) {
	vs, err := MetadataVersions(ctx, store, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for len(vs) > keep {
		if err := store.Delete(ctx, metadataKey(prefix, vs[0])); err != nil {
			return n, err
		}
		vs = vs[1:]
		n++
	}
	return n, nil
}
