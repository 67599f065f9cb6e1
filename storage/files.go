package storage

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	logSuffix        = ".log"
	indexSuffix      = ".index"
	timeIndexSuffix  = ".timeindex"
	tmpSuffix        = ".tmp"
	damagedSuffix    = ".damaged" // a segment's recorded damage (damage.go)
	cleanMarkerName  = ".clean-shutdown"
	startOffsetName  = "log-start-offset-checkpoint"
	epochCkptName    = "leader-epoch-checkpoint"
	recoveryCkptName = "recovery-point-checkpoint"
	// compactedMarkerName exists once the log holds compacted data: gaps
	// between batches are then normal, whatever the config says now.
	compactedMarkerName = "compacted"
	// cleanerCkptName holds the first offset no cleaning pass has
	// deduplicated (Kafka's cleaner-offset-checkpoint, per log).
	cleanerCkptName = "cleaner-offset-checkpoint"
	// cleanedSuffix names a cleaning pass's output before it replaces
	// the segment; one left by a crash is removed at open.
	cleanedSuffix = ".cleaned"
)

// segmentName is the Kafka file name stem for a base offset.
func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// parseSegmentName returns the base offset of a "<20 digits>.log" name.
func parseSegmentName(name string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// datasync flushes f's data (and the metadata needed to read it back)
// through the log's fdatasync (Config.Fdatasync, or the system call). A
// failure wraps ErrStorage: whatever the errno, the page cache can no
// longer be trusted to match the disk.
func (l *Log) datasync(f *os.File) error {
	fn := l.fdatasync
	if fn == nil {
		fn = syscall.Fdatasync
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = fn(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("fdatasync %s: %w: %w", f.Name(), ErrStorage, serr)
	}
	return nil
}

// syncDir makes directory entries (created, renamed, removed files) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w: %w", dir, ErrStorage, err)
	}
	return nil
}

// writeFileAtomic replaces name in dir with data durably: temp file, fsync,
// rename, fsync of the directory.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+tmpSuffix)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
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
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// Checkpoint files are text, like Kafka's: a version line, a count or a
// value, then entries.

func writeOffsetCheckpoint(dir, name string, off int64) error {
	return writeFileAtomic(dir, name, []byte(fmt.Sprintf("0\n%d\n", off)))
}

// readOffsetCheckpoint returns -1 when the file is missing.
func readOffsetCheckpoint(dir, name string) (int64, error) {
	lines, err := readLines(filepath.Join(dir, name))
	if err != nil || lines == nil {
		return -1, err
	}
	if len(lines) < 2 || lines[0] != "0" {
		return -1, fmt.Errorf("checkpoint %s: malformed", name)
	}
	v, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return -1, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	return v, nil
}

func writeEpochCheckpoint(dir string, epochs []epochEntry) error {
	var b strings.Builder
	fmt.Fprintf(&b, "0\n%d\n", len(epochs))
	for _, e := range epochs {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.start)
	}
	return writeFileAtomic(dir, epochCkptName, []byte(b.String()))
}

func readEpochCheckpoint(dir string) ([]epochEntry, error) {
	lines, err := readLines(filepath.Join(dir, epochCkptName))
	if err != nil || lines == nil {
		return nil, err
	}
	if len(lines) < 2 || lines[0] != "0" {
		return nil, fmt.Errorf("checkpoint %s: malformed", epochCkptName)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n < 0 || n != len(lines)-2 {
		return nil, fmt.Errorf("checkpoint %s: bad count", epochCkptName)
	}
	out := make([]epochEntry, 0, n)
	for _, l := range lines[2:] {
		var e epochEntry
		if _, err := fmt.Sscanf(l, "%d %d", &e.epoch, &e.start); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", epochCkptName, err)
		}
		if len(out) > 0 && (e.epoch <= out[len(out)-1].epoch || e.start < out[len(out)-1].start) {
			return nil, fmt.Errorf("checkpoint %s: entries out of order", epochCkptName)
		}
		out = append(out, e)
	}
	return out, nil
}

// readLines returns nil, nil for a missing file.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			lines = append(lines, t)
		}
	}
	if lines == nil {
		lines = []string{}
	}
	return lines, sc.Err()
}
