package storage

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
)

// syncFaults is a Config.Fdatasync that fails with EIO while set.
type syncFaults struct{ failing atomic.Bool }

func (f *syncFaults) fdatasync(fd int) error {
	if f.failing.Load() {
		return syscall.EIO
	}
	return syscall.Fdatasync(fd)
}

// TestFsyncFailureRecoversFromLastSyncedState: after a failed fsync the log
// refuses appends and syncs (a later fsync that succeeds proves nothing),
// and Recover cuts it back to the last synced offset through the crash
// path, after which appends continue from there.
func TestFsyncFailureRecoversFromLastSyncedState(t *testing.T) {
	dir := t.TempDir()
	faults := &syncFaults{}
	cfg := testConfig()
	cfg.Fdatasync = faults.fdatasync
	l := openLog(t, dir, cfg)
	defer l.Close()
	infos := fill(t, l, 60)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	synced := l.SyncedOffset()
	// Unsynced appends that roll at least once.
	fill(t, l, 40)
	if l.EndOffset() <= synced {
		t.Fatal("nothing unsynced")
	}
	faults.failing.Store(true)
	err := l.Sync()
	if !errors.Is(err, ErrStorage) || !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("failed sync: %v", err)
	}
	faults.failing.Store(false)
	if err := l.Sync(); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("sync after a failed one must not succeed: %v", err)
	}
	b, hdrs := mkBatch(t, 0, 1, 1, 0)
	if _, err := l.Append(b, hdrs, 0, -1); !errors.Is(err, ErrLogFailed) || !errors.Is(err, ErrStorage) {
		t.Fatalf("append on a failed log: %v", err)
	}
	if l.SyncedOffset() != synced || l.StorageErrors() == 0 {
		t.Fatalf("synced %d, want %d; storage errors %d", l.SyncedOffset(), synced, l.StorageErrors())
	}
	// Reads of the synced data still work while failed.
	checkEveryOffset(t, l, infos)

	// A recovery that fails (fsync still failing) leaves the log failed.
	faults.failing.Store(true)
	if err := l.Recover(); err == nil {
		t.Fatal("recover with failing fsync succeeded")
	}
	if l.Failed() == nil {
		t.Fatal("log not failed after a failed recover")
	}
	faults.failing.Store(false)
	if err := l.Recover(); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if l.Failed() != nil || l.EndOffset() != synced || l.SyncedOffset() != synced {
		t.Fatalf("after recover: failed %v, end %d, synced %d, want %d", l.Failed(), l.EndOffset(), l.SyncedOffset(), synced)
	}
	checkEveryOffset(t, l, infos)
	if hdrs, err := readAll(t, l, 0); err != nil || hdrs[len(hdrs)-1].NextOffset() != synced {
		t.Fatalf("read after recover: %v", err)
	}
	info := appendN(t, l, 2, 10, t0.UnixMilli())
	if info.FirstOffset != synced {
		t.Fatalf("append after recover at %d, want %d", info.FirstOffset, synced)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLog(t, dir, testConfig())
	if l.EndOffset() != info.LastOffset+1 {
		t.Fatalf("reopened end %d", l.EndOffset())
	}
}

// TestDiskFullAppendIsRetriable fills a small tmpfs: the append fails with
// ErrStorage, is undone cleanly (the log is not failed), and the next
// append after space is freed succeeds. Needs root to mount.
func TestDiskFullAppendIsRetriable(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	dir := filepath.Join(mnt, "log")
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 10
	l := openLog(t, dir, cfg)
	defer l.Close()
	var infos []AppendInfo
	for i := 0; i < 5; i++ {
		infos = append(infos, appendN(t, l, 4, 100, t0.UnixMilli()))
	}
	// Fill the rest of the filesystem.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	end := l.EndOffset()
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		b, hdrs := mkBatch(t, 0, 20, 200, t0.UnixMilli())
		var info AppendInfo
		if info, full = l.Append(b, hdrs, 0, -1); full == nil {
			infos = append(infos, info)
			end = l.EndOffset()
		}
	}
	if !errors.Is(full, ErrStorage) || !errors.Is(full, syscall.ENOSPC) || errors.Is(full, ErrLogFailed) {
		t.Fatalf("append on a full disk: %v", full)
	}
	if l.Failed() != nil || l.EndOffset() != end || l.StorageErrors() == 0 {
		t.Fatalf("failed %v, end %d want %d", l.Failed(), l.EndOffset(), end)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	infos = append(infos, appendN(t, l, 20, 200, t0.UnixMilli()))
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	checkEveryOffset(t, l, infos)
	if hdrs, err := readAll(t, l, 0); err != nil || hdrs[len(hdrs)-1].NextOffset() != l.EndOffset() {
		t.Fatalf("read: %v", err)
	}
}
