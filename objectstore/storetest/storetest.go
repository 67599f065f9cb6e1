package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/objectstore"
)

// Options tunes the suite to a backend.
type Options struct {
	// LargeSize is the size of the large round trip; 0 means 100 MiB
	// (8 MiB under -short).
	LargeSize int64
	// PartSize is the backend's upload part size, so the cancellation test
	// can cancel after whole parts have been sent; 0 means 8 MiB.
	PartSize int64
	// AfterCancel, when set, runs after a cancelled upload with the key,
	// to check backend-specific leftovers (such as unfinished multipart
	// uploads).
	AfterCancel func(t *testing.T, key string)
}

// NewStore returns a fresh, empty store; it registers its own cleanup.
type NewStore func(t *testing.T) objectstore.Store

// Run runs the conformance suite.
func Run(t *testing.T, newStore NewStore, opts Options) {
	if opts.LargeSize == 0 {
		opts.LargeSize = 100 << 20
		if testing.Short() {
			opts.LargeSize = 8 << 20
		}
	}
	if opts.PartSize == 0 {
		opts.PartSize = 8 << 20
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s objectstore.Store, opts Options)
	}{
		{"RoundTripSmall", testRoundTripSmall},
		{"RoundTripLarge", testRoundTripLarge},
		{"Overwrite", testOverwrite},
		{"Ranges", testRanges},
		{"ReaderAt", testReaderAt},
		{"NotFound", testNotFound},
		{"InvalidKeys", testInvalidKeys},
		{"ListPrefixes", testListPrefixes},
		{"ListPagination", testListPagination},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"PutIfAbsentRaceMultipart", testPutIfAbsentRaceMultipart},
		{"Delete", testDelete},
		{"ConcurrentWriters", testConcurrentWriters},
		{"CancelMidUpload", testCancelMidUpload},
		{"ShortReader", testShortReader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t), opts)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, s objectstore.Store, key string, data []byte) objectstore.ObjectInfo {
	t.Helper()
	info, err := s.Put(ctxT(t), key, bytes.NewReader(data), int64(len(data)), objectstore.PutOptions{})
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	if info.Size != int64(len(data)) {
		t.Fatalf("put %q: info size %d, want %d", key, info.Size, len(data))
	}
	return info
}

func get(t *testing.T, s objectstore.Store, key string, off, n int64) []byte {
	t.Helper()
	rc, err := s.GetRange(ctxT(t), key, off, n)
	if err != nil {
		t.Fatalf("get %q [%d,+%d): %v", key, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q [%d,+%d): %v", key, off, n, err)
	}
	return b
}

func wantClass(t *testing.T, what string, err, class error) {
	t.Helper()
	if !errors.Is(err, class) {
		t.Fatalf("%s: got error %v (class %v), want class %v", what, err, objectstore.ClassOf(err), class)
	}
	var oe *objectstore.Error
	if !errors.As(err, &oe) {
		t.Fatalf("%s: error %v is not an *objectstore.Error", what, err)
	}
}

func testRoundTripSmall(t *testing.T, s objectstore.Store, _ Options) {
	for _, size := range []int{0, 1, 1000, 256 << 10} {
		for _, known := range []bool{true, false} {
			key := fmt.Sprintf("rt/%d-%v", size, known)
			data := patternBytes(uint64(size), size)
			n := int64(size)
			var r io.Reader = bytes.NewReader(data)
			if !known {
				n, r = objectstore.SizeUnknown, hideSize{r}
			}
			info, err := s.Put(ctxT(t), key, r, n, objectstore.PutOptions{})
			if err != nil {
				t.Fatalf("put %s: %v", key, err)
			}
			if info.Size != int64(size) || info.Key != key {
				t.Fatalf("put %s: info %+v", key, info)
			}
			if got := get(t, s, key, 0, -1); !bytes.Equal(got, data) {
				t.Fatalf("get %s: %d bytes differ from the %d written", key, len(got), size)
			}
			st, err := s.Stat(ctxT(t), key)
			if err != nil {
				t.Fatalf("stat %s: %v", key, err)
			}
			if st.Size != int64(size) || st.Key != key || st.ETag == "" {
				t.Fatalf("stat %s: %+v", key, st)
			}
		}
	}
}

func testRoundTripLarge(t *testing.T, s objectstore.Store, opts Options) {
	for i, known := range []bool{true, false} {
		if !known && testing.Short() {
			continue
		}
		seed := uint64(100 + i)
		key := fmt.Sprintf("large/%v", known)
		size := opts.LargeSize
		var r io.Reader = newPattern(seed, size)
		n := size
		if !known {
			n, r = objectstore.SizeUnknown, hideSize{r}
		}
		start := time.Now()
		if _, err := s.Put(ctxT(t), key, r, n, objectstore.PutOptions{}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		up := time.Since(start)
		rc, err := s.GetRange(ctxT(t), key, 0, -1)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		h := sha256.New()
		got, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		if got != size || !bytes.Equal(h.Sum(nil), sumSlice(patternSum(seed, size))) {
			t.Fatalf("get %s: %d bytes, content mismatch or size (want %d)", key, got, size)
		}
		t.Logf("%s: %d MiB up %v, down %v", key, size>>20, up.Round(time.Millisecond), (time.Since(start) - up).Round(time.Millisecond))
		// A range across a part boundary of a multipart object.
		off := min(opts.PartSize-10, size-20)
		want := patternBytes(seed, int(off+20))[off:]
		if b := get(t, s, key, off, 20); !bytes.Equal(b, want) {
			t.Fatalf("range across part boundary at %d differs", off)
		}
	}
}

func sumSlice(s [32]byte) []byte { return s[:] }

func testOverwrite(t *testing.T, s objectstore.Store, _ Options) {
	put(t, s, "ow", []byte("first version, longer"))
	put(t, s, "ow", []byte("second"))
	if got := get(t, s, "ow", 0, -1); string(got) != "second" {
		t.Fatalf("after overwrite got %q", got)
	}
}

func testRanges(t *testing.T, s objectstore.Store, _ Options) {
	data := patternBytes(7, 1000)
	put(t, s, "r/obj", data)
	cases := []struct {
		off, n int64
		want   []byte
	}{
		{0, 1, data[:1]},
		{0, 0, nil},
		{0, -1, data},
		{0, 1000, data},
		{0, 5000, data},
		{999, 1, data[999:]},
		{999, 10, data[999:]},
		{998, -1, data[998:]},
		{500, 100, data[500:600]},
		{1000, 0, nil},
		{1000, -1, nil},
		{1000, 5, nil},
	}
	for _, c := range cases {
		if got := get(t, s, "r/obj", c.off, c.n); !bytes.Equal(got, c.want) {
			t.Errorf("range [%d,+%d): got %d bytes, want %d", c.off, c.n, len(got), len(c.want))
		}
	}
	_, err := s.GetRange(ctxT(t), "r/obj", 1001, 1)
	wantClass(t, "range past the end", err, objectstore.ErrInvalid)
	_, err = s.GetRange(ctxT(t), "r/obj", -1, 1)
	wantClass(t, "negative offset", err, objectstore.ErrInvalid)

	put(t, s, "r/empty", nil)
	if got := get(t, s, "r/empty", 0, -1); len(got) != 0 {
		t.Fatalf("empty object range gave %d bytes", len(got))
	}
	if got := get(t, s, "r/empty", 0, 10); len(got) != 0 {
		t.Fatalf("empty object range gave %d bytes", len(got))
	}
}

func testReaderAt(t *testing.T, s objectstore.Store, _ Options) {
	data := patternBytes(9, 4096)
	put(t, s, "ra", data)
	r, err := s.OpenReader(ctxT(t), "ra")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer r.Close()
	if r.Size() != 4096 {
		t.Fatalf("size %d", r.Size())
	}
	ctx := ctxT(t)
	for _, c := range []struct {
		off     int64
		n       int
		wantN   int
		wantEOF bool
	}{
		{0, 10, 10, false},
		{4000, 96, 96, false},
		{4090, 10, 6, true},
		{4096, 10, 0, true},
		{5000, 1, 0, true},
		{1, 4095, 4095, false},
	} {
		p := make([]byte, c.n)
		n, err := r.ReadAt(ctx, p, c.off)
		if n != c.wantN || (c.wantEOF != (err == io.EOF)) || (!c.wantEOF && err != nil) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v; want %d, eof=%v", c.off, c.n, n, err, c.wantN, c.wantEOF)
		}
		if n > 0 && !bytes.Equal(p[:n], data[c.off:c.off+int64(n)]) {
			t.Fatalf("ReadAt(%d, %d) content differs", c.off, c.n)
		}
	}
	// The io.ReaderAt adapter composes with the standard library.
	sr := io.NewSectionReader(objectstore.ReaderAt(ctx, r), 100, 50)
	if b, err := io.ReadAll(sr); err != nil || !bytes.Equal(b, data[100:150]) {
		t.Fatalf("section reader: %v", err)
	}
}

func testNotFound(t *testing.T, s objectstore.Store, _ Options) {
	ctx := ctxT(t)
	_, err := s.Stat(ctx, "missing/key")
	wantClass(t, "stat", err, objectstore.ErrNotFound)
	_, err = s.GetRange(ctx, "missing/key", 0, -1)
	wantClass(t, "get", err, objectstore.ErrNotFound)
	_, err = s.OpenReader(ctx, "missing/key")
	wantClass(t, "open", err, objectstore.ErrNotFound)
	// A "directory" implied by another key is not an object.
	put(t, s, "dir/child", []byte("x"))
	_, err = s.Stat(ctx, "dir")
	wantClass(t, "stat of a key's parent", err, objectstore.ErrNotFound)
}

func testInvalidKeys(t *testing.T, s objectstore.Store, _ Options) {
	ctx := ctxT(t)
	for _, key := range []string{"", "/abs", "a//b", "../escape", "a/../../b", "a/./b", "trail/", "nul\x00", `back\slash`} {
		_, err := s.Put(ctx, key, bytes.NewReader([]byte("x")), 1, objectstore.PutOptions{})
		wantClass(t, fmt.Sprintf("put %q", key), err, objectstore.ErrInvalid)
		_, err = s.Stat(ctx, key)
		wantClass(t, fmt.Sprintf("stat %q", key), err, objectstore.ErrInvalid)
		err = s.Delete(ctx, key)
		wantClass(t, fmt.Sprintf("delete %q", key), err, objectstore.ErrInvalid)
	}
}

func listAll(t *testing.T, s objectstore.Store, prefix string, limit int) ([]string, int) {
	t.Helper()
	var keys []string
	cursor, pages := "", 0
	for {
		page, err := s.List(ctxT(t), objectstore.ListOptions{Prefix: prefix, Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("list %q after %q: %v", prefix, cursor, err)
		}
		pages++
		if limit > 0 && len(page.Objects) > limit {
			t.Fatalf("list page of %d objects, limit %d", len(page.Objects), limit)
		}
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		if page.NextCursor == "" {
			return keys, pages
		}
		if pages > 1000 {
			t.Fatalf("listing does not terminate")
		}
		cursor = page.NextCursor
	}
}

func testListPrefixes(t *testing.T, s objectstore.Store, _ Options) {
	all := []string{"l/a-c", "l/a/1", "l/a/2", "l/a/sub/3", "l/ab", "l/b/x", "other"}
	for _, k := range all {
		put(t, s, k, []byte(k))
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"l/", all[:6]},
		{"l/a", all[:5]},
		{"l/a/", all[1:4]},
		{"l/a/s", all[3:4]},
		{"l/b/x", all[5:6]},
		{"l/c", nil},
		{"nothing/", nil},
	} {
		got, _ := listAll(t, s, c.prefix, 0)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("list %q = %v, want %v", c.prefix, got, c.want)
		}
	}
	page, err := s.List(ctxT(t), objectstore.ListOptions{Prefix: "l/a/1"})
	if err != nil || len(page.Objects) != 1 || page.Objects[0].Size != 5 {
		t.Fatalf("list sizes: %+v, %v", page, err)
	}
}

func testListPagination(t *testing.T, s objectstore.Store, _ Options) {
	var want []string
	for i := range 23 {
		k := fmt.Sprintf("p/%03d", i)
		want = append(want, k)
		put(t, s, k, []byte{byte(i)})
	}
	put(t, s, "q/outside", []byte("x"))
	for _, limit := range []int{1, 5, 23, 100} {
		got, pages := listAll(t, s, "p/", limit)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: got %v", limit, got)
		}
		wantPages := (23 + limit - 1) / limit
		if pages < wantPages || pages > wantPages+1 {
			t.Fatalf("limit %d: %d pages, want %d", limit, pages, wantPages)
		}
	}
}

func testPutIfAbsent(t *testing.T, s objectstore.Store, _ Options) {
	ctx := ctxT(t)
	abs := objectstore.PutOptions{IfAbsent: true}
	if _, err := s.Put(ctx, "fence", bytes.NewReader([]byte("one")), 3, abs); err != nil {
		t.Fatalf("first put-if-absent: %v", err)
	}
	_, err := s.Put(ctx, "fence", bytes.NewReader([]byte("two")), 3, abs)
	wantClass(t, "second put-if-absent", err, objectstore.ErrPreconditionFailed)
	_, err = s.Put(ctx, "fence", hideSize{bytes.NewReader([]byte("three"))}, objectstore.SizeUnknown, abs)
	wantClass(t, "put-if-absent of unknown size", err, objectstore.ErrPreconditionFailed)
	if got := get(t, s, "fence", 0, -1); string(got) != "one" {
		t.Fatalf("fenced object changed to %q", got)
	}
	if err := s.Delete(ctx, "fence"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "fence", bytes.NewReader([]byte("four")), 4, abs); err != nil {
		t.Fatalf("put-if-absent after delete: %v", err)
	}
}

func testPutIfAbsentRace(t *testing.T, s objectstore.Store, _ Options) {
	ctx := ctxT(t)
	const writers = 8
	for round := range 3 {
		key := fmt.Sprintf("race/%d", round)
		var wg sync.WaitGroup
		errs := make([]error, writers)
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				body := []byte(fmt.Sprintf("writer-%d", i))
				_, errs[i] = s.Put(ctx, key, bytes.NewReader(body), int64(len(body)), objectstore.PutOptions{IfAbsent: true})
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
				}
				winner = i
			case errors.Is(err, objectstore.ErrPreconditionFailed):
			default:
				t.Fatalf("round %d: writer %d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", round)
		}
		if got := string(get(t, s, key, 0, -1)); got != fmt.Sprintf("writer-%d", winner) {
			t.Fatalf("round %d: object holds %q, winner was %d", round, got, winner)
		}
	}
}

// testPutIfAbsentRaceMultipart races two writers of objects larger than
// two parts, one of known and one of unknown length, so the precondition
// must hold at the completion of a multipart upload.
func testPutIfAbsentRaceMultipart(t *testing.T, s objectstore.Store, opts Options) {
	ctx := ctxT(t)
	size := 2*opts.PartSize + 1
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r io.Reader = newPattern(uint64(200+i), size)
			n := size
			if i == 1 {
				n, r = objectstore.SizeUnknown, hideSize{r}
			}
			_, errs[i] = s.Put(ctx, "race/large", r, n, objectstore.PutOptions{IfAbsent: true})
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatal("both multipart writers won")
			}
			winner = i
		case errors.Is(err, objectstore.ErrPreconditionFailed):
		default:
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no multipart writer won")
	}
	rc, err := s.GetRange(ctx, "race/large", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), sumSlice(patternSum(uint64(200+winner), size))) {
		t.Fatalf("object is not writer %d's", winner)
	}
}

func testDelete(t *testing.T, s objectstore.Store, _ Options) {
	ctx := ctxT(t)
	put(t, s, "del/x", []byte("x"))
	if err := s.Delete(ctx, "del/x"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := s.Stat(ctx, "del/x")
	wantClass(t, "stat after delete", err, objectstore.ErrNotFound)
	if err := s.Delete(ctx, "del/x"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Fatalf("delete of a missing key: %v", err)
	}
	if keys, _ := listAll(t, s, "del/", 0); len(keys) != 0 {
		t.Fatalf("list after delete: %v", keys)
	}
}

func testConcurrentWriters(t *testing.T, s objectstore.Store, _ Options) {
	ctx := ctxT(t)
	const writers = 8
	const size = 512 << 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seed := uint64(1000 + i)
			// One key of its own, and one shared by every writer.
			for _, key := range []string{fmt.Sprintf("cw/own-%d", i), "cw/shared"} {
				if _, err := s.Put(ctx, key, newPattern(seed, size), size, objectstore.PutOptions{}); err != nil {
					errs <- fmt.Errorf("writer %d %s: %w", i, key, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range writers {
		got := get(t, s, fmt.Sprintf("cw/own-%d", i), 0, -1)
		if !bytes.Equal(got, patternBytes(uint64(1000+i), size)) {
			t.Fatalf("writer %d's object differs", i)
		}
	}
	shared := get(t, s, "cw/shared", 0, -1)
	found := false
	for i := range writers {
		found = found || bytes.Equal(shared, patternBytes(uint64(1000+i), size))
	}
	if !found {
		t.Fatalf("shared object (%d bytes) is not any one writer's whole object", len(shared))
	}
}

// stallReader yields n bytes, signals, then blocks until ctx ends.
type stallReader struct {
	ctx     context.Context
	r       io.Reader
	stalled chan struct{}
	once    sync.Once
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.once.Do(func() { close(s.stalled) })
		<-s.ctx.Done()
		return 0, s.ctx.Err()
	}
	return n, err
}

func testCancelMidUpload(t *testing.T, s objectstore.Store, opts Options) {
	for _, known := range []bool{true, false} {
		key := fmt.Sprintf("cancel/%v", known)
		ctx, cancel := context.WithCancel(context.Background())
		sent := 2*opts.PartSize + 1<<20
		sr := &stallReader{ctx: ctx, r: newPattern(1, sent), stalled: make(chan struct{})}
		size := objectstore.SizeUnknown
		var r io.Reader = sr
		if known {
			size = 4 * opts.PartSize
		}
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(ctx, key, r, size, objectstore.PutOptions{})
			done <- err
		}()
		select {
		case <-sr.stalled:
		case err := <-done:
			cancel()
			t.Fatalf("put returned before the reader was drained: %v", err)
		case <-time.After(time.Minute):
			cancel()
			t.Fatal("reader was never drained")
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("cancelled put of %s succeeded", key)
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled put: error %v does not wrap context.Canceled", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("put did not return after cancellation")
		}
		_, err := s.Stat(ctxT(t), key)
		wantClass(t, "stat after cancelled put", err, objectstore.ErrNotFound)
		if keys, _ := listAll(t, s, "cancel/", 0); len(keys) != 0 {
			t.Fatalf("list after cancelled put: %v", keys)
		}
		if opts.AfterCancel != nil {
			opts.AfterCancel(t, key)
		}
	}
}

func testShortReader(t *testing.T, s objectstore.Store, _ Options) {
	// A reader that ends before the declared size must not leave an object.
	_, err := s.Put(ctxT(t), "short", bytes.NewReader([]byte("abc")), 10, objectstore.PutOptions{})
	if err == nil {
		t.Fatal("put with a short reader succeeded")
	}
	_, err = s.Stat(ctxT(t), "short")
	wantClass(t, "stat after short put", err, objectstore.ErrNotFound)
}
