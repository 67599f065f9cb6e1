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

// repairKey is the key of generation gen (>= 1) of a repaired manifest
// entry: it sorts right after manifestKey(base), and readers take the
// highest generation present (see docs/tiering.md, "Repair").
func repairKey(root string, base int64, gen int) string {
	return fmt.Sprintf("%smanifest/%020d-r%06d", root, base, gen)
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
	base, gen, ok := parseEntryKey(root, key)
	return base, ok && gen == 0
}

// parseEntryKey returns the base offset and repair generation (0 for the
// original) of a manifest/ or repaired-entry key.
func parseEntryKey(root, key string) (base int64, gen int, ok bool) {
	rest, ok := strings.CutPrefix(key, root+"manifest/")
	if !ok || len(rest) < 20 {
		return 0, 0, false
	}
	base, err := strconv.ParseInt(rest[:20], 10, 64)
	if err != nil || base < 0 {
		return 0, 0, false
	}
	switch {
	case len(rest) == 20:
		return base, 0, true
	case len(rest) == 20+2+6 && rest[20:22] == "-r":
		g, err := strconv.Atoi(rest[22:])
		if err != nil || g <= 0 {
			return 0, 0, false
		}
		return base, g, true
	}
	return 0, 0, false
}
