package tiering

import (
	"testing"

	"github.com/stratalog/strata/storage"
)

func TestWorthReplacing(t *testing.T) {
	remote := Segment{BaseOffset: 100, NextOffset: 200, Size: 1000}
	local := func(base, next, size int64) storage.SegmentInfo {
		return storage.SegmentInfo{BaseOffset: base, NextOffset: next, Size: size, Sealed: true}
	}
	for _, tc := range []struct {
		name      string
		cur       Segment
		found     bool
		seg       storage.SegmentInfo
		minSaving float64
		want      bool
	}{
		{"halved, ratio 0.5", remote, true, local(100, 200, 500), 0.5, true},
		{"not enough saved", remote, true, local(100, 200, 600), 0.5, false},
		{"any saving at ratio 0", remote, true, local(100, 200, 999), 0, true},
		{"no saving at ratio 0", remote, true, local(100, 200, 1000), 0, false},
		{"bigger local copy", remote, true, local(100, 200, 1200), 0, false},
		{"other range: uploaded as a tail", remote, true, local(50, 200, 300), 0.1, false},
		{"other end", remote, true, local(100, 150, 300), 0.1, false},
		{"no remote segment", Segment{}, false, local(100, 200, 300), 0.1, false},
		{"empty local copy", remote, true, local(100, 200, 0), 0.1, false},
		{"active segment", remote, true, storage.SegmentInfo{BaseOffset: 100, NextOffset: 200, Size: 10}, 0.1, false},
	} {
		if got, why := worthReplacing(tc.cur, tc.found, tc.seg, tc.minSaving); got != tc.want {
			t.Errorf("%s: %v (%s), want %v", tc.name, got, why, tc.want)
		}
	}
}
