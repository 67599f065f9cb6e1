package tiering

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// ID names a partition in the store: the topic ID keeps the data of a
// deleted topic apart from a later topic of the same name.
type ID struct {
	Topic     string
	TopicID   [16]byte
	Partition int32
}

func (id ID) String() string { return fmt.Sprintf("%s-%d", id.Topic, id.Partition) }

// Object layout under <prefix>/<topic>-<topic id>/<partition>/:
//
//	seg/<base offset, 20 digits>-<upload id, 32 hex>.seg   segment data
//	manifest/<base offset, 20 digits>                      commit record
//
// A .seg object is the segment's .log bytes followed by its .index and
// .timeindex bytes, so one PUT carries everything a cold read needs. The
// upload id makes every attempt's key unique: a retried or zombie upload
// never overwrites a committed object. The manifest entry is written only
// if absent, which commits the segment (and fences a second writer).
func partitionRoot(prefix string, id ID) string {
	return fmt.Sprintf("%s/%s-%s/%d/", prefix, id.Topic, hex.EncodeToString(id.TopicID[:]), id.Partition)
}

func segmentKey(root string, base int64, uploadID [16]byte) string {
	return fmt.Sprintf("%sseg/%020d-%s.seg", root, base, hex.EncodeToString(uploadID[:]))
}

func manifestKey(root string, base int64) string {
	return fmt.Sprintf("%smanifest/%020d", root, base)
}

// parseSegmentKey returns the base offset and upload id of a seg/ key.
func parseSegmentKey(root, key string) (int64, [16]byte, bool) {
	var id [16]byte
	rest, ok := strings.CutPrefix(key, root+"seg/")
	if !ok {
		return 0, id, false
	}
	rest, ok = strings.CutSuffix(rest, ".seg")
	if !ok || len(rest) != 20+1+32 || rest[20] != '-' {
		return 0, id, false
	}
	base, err := strconv.ParseInt(rest[:20], 10, 64)
	if err != nil || base < 0 {
		return 0, id, false
	}
	if _, err := hex.Decode(id[:], []byte(rest[21:])); err != nil {
		return 0, id, false
	}
	return base, id, true
}

// parseManifestKey returns the base offset of a manifest/ key.
func parseManifestKey(root, key string) (int64, bool) {
	rest, ok := strings.CutPrefix(key, root+"manifest/")
	if !ok || len(rest) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(rest, 10, 64)
	return base, err == nil && base >= 0
}
