package tiering

import (
	"path/filepath"
	"reflect"
	"testing"
)

// The read-ahead window is ReadAheadChunks chunks after the one just read,
// running on into the following remote segments when the current one ends,
// and skipping (but counting) chunks already cached.
func TestPlanPrefetch(t *testing.T) {
	type pc = PrefetchChunk
	none := func(int, int64) bool { return false }
	for _, tc := range []struct {
		name    string
		k       int64
		objects []int64
		ahead   int
		cached  func(int, int64) bool
		want    []pc
	}{
		{"inside one big object", 2, []int64{10}, 4, none, []pc{{0, 3}, {0, 4}, {0, 5}, {0, 6}}},
		{"object ends, nothing after", 8, []int64{10}, 4, none, []pc{{0, 9}}},
		{"last chunk, nothing after", 9, []int64{10}, 4, none, nil},
		{"continues into the next segment", 8, []int64{10, 5}, 4, none, []pc{{0, 9}, {1, 0}, {1, 1}, {1, 2}}},
		{"last chunk, next segment", 0, []int64{1, 3}, 2, none, []pc{{1, 0}, {1, 1}}},
		{"several small segments (8 MiB segments, data+index in 2 chunks)", 0, []int64{2, 2, 2, 2}, 4, none,
			[]pc{{0, 1}, {1, 0}, {1, 1}, {2, 0}}},
		{"one-chunk segments", 0, []int64{1, 1, 1, 1, 1, 1}, 4, none, []pc{{1, 0}, {2, 0}, {3, 0}, {4, 0}}},
		{"fewer segments than the window", 0, []int64{1, 1}, 4, none, []pc{{1, 0}}},
		{"cached chunks count in the window", 0, []int64{2, 2, 2}, 4,
			func(o int, i int64) bool { return o == 0 || (o == 1 && i == 0) }, []pc{{1, 1}, {2, 0}}},
		{"everything cached", 0, []int64{3, 3}, 4, func(int, int64) bool { return true }, nil},
		{"no read-ahead", 0, []int64{3, 3}, 0, none, nil},
		{"empty object skipped", 0, []int64{1, 0, 2}, 2, none, []pc{{2, 0}, {2, 1}}},
	} {
		if got := PlanPrefetch(tc.k, tc.objects, tc.ahead, tc.cached); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// From returns the segments holding or after an offset, in order, up to k,
// and nothing past the end; Find is its first one.
func TestManifestFrom(t *testing.T) {
	m, err := openManifest(filepath.Join(t.TempDir(), "manifest"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	segs := []Segment{
		{BaseOffset: 0, NextOffset: 100, Size: 10},
		{BaseOffset: 100, NextOffset: 200, Size: 10},
		{BaseOffset: 250, NextOffset: 300, Size: 10}, // after a gap
		{BaseOffset: 300, NextOffset: 400, Size: 10},
	}
	for _, s := range segs {
		if err := m.Append(s); err != nil {
			t.Fatal(err)
		}
	}
	bases := func(ss []Segment) []int64 {
		var out []int64
		for _, s := range ss {
			out = append(out, s.BaseOffset)
		}
		return out
	}
	for _, tc := range []struct {
		offset int64
		k      int
		want   []int64
	}{
		{0, 2, []int64{0, 100}},
		{99, 1, []int64{0}},
		{100, 4, []int64{100, 250, 300}},
		{200, 4, []int64{250, 300}}, // in the gap: the next segment
		{399, 4, []int64{300}},
		{400, 4, nil},
		{0, 0, nil},
	} {
		got, err := m.From(tc.offset, tc.k)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(bases(got), tc.want) {
			t.Errorf("From(%d, %d) = %v, want %v", tc.offset, tc.k, bases(got), tc.want)
		}
		s, ok, err := m.Find(tc.offset)
		if err != nil || ok != (len(bases(got)) > 0 || tc.k == 0 && tc.offset < 400) {
			t.Errorf("Find(%d) ok=%v err=%v", tc.offset, ok, err)
		}
		if ok && tc.k > 0 && s.BaseOffset != tc.want[0] {
			t.Errorf("Find(%d) = %d, want %d", tc.offset, s.BaseOffset, tc.want[0])
		}
	}
}
