package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
)

func init() { rootCmd.AddCommand(newObjectStoreCmd()) }

func newObjectStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "objectstore",
		Short: "Object-store tools (the cold tier's bucket)",
	}
	cmd.AddCommand(newObjectStoreCheckCmd())
	return cmd
}

// checkOptions are the flags of `strata objectstore check`.
type checkOptions struct {
	size    int64
	timeout time.Duration
}

func newObjectStoreCheckCmd() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check URL",
		Short: "Write, read, list and delete a probe object, reporting each step",
		Long: "check opens the object store named by URL (the same URL the node takes as\n" +
			"--object-store) and runs every operation the cold tier needs on a probe\n" +
			"object under .strata-probe/, reporting each step and its latency. Run it\n" +
			"first when wiring up a bucket.\n\n" + objectstore.URLForms,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runObjectStoreCheck(cmd.Context(), cmd.OutOrStdout(), args[0], o)
		},
	}
	cmd.Flags().Int64Var(&o.size, "size", 1<<20, "probe object size in bytes (above 8 MiB exercises multipart uploads)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "overall time limit")
	return cmd
}

// runObjectStoreCheck runs the probe steps, printing one line per step,
// and returns an error naming the first step that failed.
func runObjectStoreCheck(ctx context.Context, w io.Writer, rawURL string, o checkOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.timeout <= 0 {
		o.timeout = 2 * time.Minute
	}
	if o.size < 0 {
		return fmt.Errorf("--size %d is negative", o.size)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	loc, err := objectstore.ParseURL(rawURL)
	if err != nil {
		fmt.Fprintf(w, "parse URL       FAILED  %v\n", err)
		return err
	}
	fmt.Fprintf(w, "store           %s (bucket %s)\n", loc.Scheme, loc.BucketName())

	var failed error
	step := func(name string, fn func() (string, error)) bool {
		if failed != nil {
			return false
		}
		start := time.Now()
		detail, err := fn()
		el := time.Since(start).Round(time.Microsecond)
		if err != nil {
			fmt.Fprintf(w, "%-15s FAILED  %v  (%v)\n", name, err, el)
			failed = fmt.Errorf("objectstore check: %s: %w", name, err)
			return false
		}
		fmt.Fprintf(w, "%-15s ok      %s  (%v)\n", name, detail, el)
		return true
	}

	var store objectstore.Store
	step("open", func() (string, error) {
		var err error
		store, err = open.OpenLocation(ctx, loc, open.Default())
		return "bucket reachable", err
	})
	if failed != nil {
		return failed
	}
	defer store.Close()

	host, _ := os.Hostname()
	suffix := make([]byte, 6)
	rand.Read(suffix)
	key := fmt.Sprintf(".strata-probe/%s-%s-%s", sanitize(host), time.Now().UTC().Format("20060102T150405"), hex.EncodeToString(suffix))
	data := make([]byte, o.size)
	rand.Read(data)
	deleted := false
	defer func() {
		if !deleted && store != nil {
			// Best effort: never leave a probe behind after a failure.
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer ccancel()
			store.Delete(cctx, key)
		}
	}()

	step("put", func() (string, error) {
		_, err := store.Put(ctx, key, bytes.NewReader(data), o.size, objectstore.PutOptions{IfAbsent: true})
		return fmt.Sprintf("%s, %d bytes", key, o.size), err
	})
	step("stat", func() (string, error) {
		info, err := store.Stat(ctx, key)
		if err == nil && info.Size != o.size {
			err = fmt.Errorf("size %d, wrote %d", info.Size, o.size)
		}
		return fmt.Sprintf("size %d", info.Size), err
	})
	step("get", func() (string, error) {
		rc, err := store.GetRange(ctx, key, 0, -1)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err == nil && !bytes.Equal(got, data) {
			err = fmt.Errorf("read back %d bytes that differ from the %d written", len(got), len(data))
		}
		return "content verified", err
	})
	step("range read", func() (string, error) {
		off, n := o.size/2, min(int64(4096), o.size-o.size/2)
		rc, err := store.GetRange(ctx, key, off, n)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err == nil && !bytes.Equal(got, data[off:off+n]) {
			err = fmt.Errorf("range [%d,+%d) differs", off, n)
		}
		return fmt.Sprintf("[%d,+%d) verified", off, n), err
	})
	step("list", func() (string, error) {
		page, err := store.List(ctx, objectstore.ListOptions{Prefix: key})
		if err == nil && (len(page.Objects) != 1 || page.Objects[0].Key != key) {
			err = fmt.Errorf("listing prefix %q returned %d objects, not the probe", key, len(page.Objects))
		}
		return "probe listed", err
	})
	step("put-if-absent", func() (string, error) {
		_, err := store.Put(ctx, key, bytes.NewReader([]byte("x")), 1, objectstore.PutOptions{IfAbsent: true})
		if errors.Is(err, objectstore.ErrPreconditionFailed) {
			return "second write refused (fencing works)", nil
		}
		if err == nil {
			return "", errors.New("the store accepted a second write-if-absent of the same key: conditional writes are not supported, so fencing is unsafe")
		}
		return "", err
	})
	step("delete", func() (string, error) {
		err := store.Delete(ctx, key)
		if err == nil {
			deleted = true
			if _, serr := store.Stat(ctx, key); !errors.Is(serr, objectstore.ErrNotFound) {
				err = fmt.Errorf("object still there after delete: %v", serr)
			}
		}
		return "probe removed", err
	})
	if failed != nil {
		return failed
	}
	fmt.Fprintln(w, "all checks passed")
	return nil
}

// sanitize keeps a hostname usable as a key segment.
func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			out[i] = '_'
		}
	}
	if len(out) == 0 || out[0] == '.' {
		return "host"
	}
	return string(out)
}
