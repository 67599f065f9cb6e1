package node

import (
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// fdWarnFraction is the share of RLIMIT_NOFILE above which open file
// descriptors are warned about.
const fdWarnFraction = 0.8

// fdCheckEvery is how often open file descriptors are counted.
const fdCheckEvery = 5 * time.Second

// RaiseFDLimit raises the soft RLIMIT_NOFILE to the hard limit and logs
// both. Every connection, segment file and index costs a descriptor; the
// soft limit many systems start with (1024) is far below what a broker
// needs. (The Go runtime already raises the soft limit at start; this makes
// the limit visible in the log and holds where it did not.)
func RaiseFDLimit(log *slog.Logger) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	old := lim.Cur
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	log.Info("file descriptor limit", "old_soft", old, "soft", lim.Cur, "hard", lim.Max)
	return nil
}

// openFDs counts this process's open file descriptors and returns its soft
// limit.
func openFDs() (open int, limit uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("getrlimit: %w", err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, lim.Cur, fmt.Errorf("counting file descriptors: %w", err)
	}
	return len(ents), lim.Cur, nil
}

// checkFDs warns, at most once per interval of fdLog, when open file
// descriptors pass fdWarnFraction of the limit (checked by
// runHousekeeping every fdCheckEvery). The metrics
// process_open_fds and process_max_fds show both numbers.
func (n *Node) checkFDs(now time.Time) {
	open, limit, err := openFDs()
	if err != nil || limit == 0 || float64(open) < fdWarnFraction*float64(limit) {
		return
	}
	if ok, suppressed := n.listener.fdLog.allow(fdLogEvery); ok {
		n.log.Warn("open file descriptors near the limit", "open", open, "limit", limit, "suppressed", suppressed)
	}
}
