package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/bucket"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/node"
	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/tiering"
)

func init() { rootCmd.AddCommand(newRestoreCmd()) }

type restoreOptions struct {
	objectStore string
	dataDir     string
	nodeID      int32
	latest      bool
	dryRun      bool
	json        bool
	timeout     time.Duration
}

func newRestoreCmd() *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Rebuild a cluster from its object store into an empty data directory",
		Long: `restore reads the cluster's metadata snapshot, every partition's remote
segments and the leaders' progress objects from the object store, picks the
latest consistent cut (one instant at which every partition's offset is
known, so committed group offsets never point past the records they
counted), cuts the store's chains there and writes a data directory from
which ` + "`strata node`" + ` starts as the same cluster: same cluster ID, topic IDs and
configs, every partition's log start and end as of the cut, committed group
offsets and producer state. It reports what the store held past the cut
(moved aside under restore-dropped/, not deleted). Records acknowledged but
not yet uploaded when the cluster was lost are not in the store: at most
remote.log.segment.upload.max.interval.ms plus an upload.

--dry-run reports the cut without changing anything; --latest keeps every
partition's whole chain instead (not a consistent cut).

` + objectstore.URLForms,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := runRestore(cmd.Context(), cmd.OutOrStdout(), o, nil)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.objectStore, "object-store", "", "the cluster's object store URL (default: the embedded store of --data-dir)")
	fl.StringVar(&o.dataDir, "data-dir", "./data", "the data directory to restore into (must hold no node)")
	fl.Int32Var(&o.nodeID, "node-id", 1, "broker ID of the node that will start on the data directory")
	fl.BoolVar(&o.latest, "latest", false, "keep every partition's whole remote chain instead of a consistent cut")
	fl.BoolVar(&o.dryRun, "dry-run", false, "report the cut, change nothing")
	fl.BoolVar(&o.json, "json", false, "print the report as JSON")
	fl.DurationVar(&o.timeout, "timeout", 30*time.Minute, "overall time limit")
	return cmd
}

// runRestore plans and (unless dry-run) executes a restore, printing the
// report to w.
func runRestore(ctx context.Context, w io.Writer, o restoreOptions, log *slog.Logger) (*bucket.Restore, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	url := o.objectStore
	if url == "" {
		dir, err := node.DefaultObjectStorePath(o.dataDir)
		if err != nil {
			return nil, err
		}
		url = "file://" + dir
	}
	store, err := open.Open(ctx, url, open.Default())
	if err != nil {
		return nil, fmt.Errorf("object-store: %w", err)
	}
	defer store.Close()
	started := time.Now()
	r, err := bucket.PlanRestore(ctx, bucket.RestoreOptions{Store: store, Prefix: tiering.Default().Prefix, Latest: o.latest, Log: log})
	if errors.Is(err, bucket.ErrNoMetadata) {
		return nil, fmt.Errorf("%w: nothing to restore (a cluster writes its metadata there once it runs a version that does)", err)
	}
	if err != nil {
		return nil, err
	}
	if !o.dryRun {
		abs, _ := filepath.Abs(o.dataDir)
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
		if err := r.Execute(ctx, abs, meta.Broker{ID: o.nodeID, Host: "127.0.0.1", Port: 9092}); err != nil {
			return nil, err
		}
	}
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return r, enc.Encode(r)
	}
	printRestore(w, r, o, url, time.Since(started))
	return r, nil
}

func printRestore(w io.Writer, r *bucket.Restore, o restoreOptions, url string, took time.Duration) {
	fmt.Fprintf(w, "cluster          %s\n", r.ClusterID)
	fmt.Fprintf(w, "metadata         version %d, %d topics\n", r.MetadataVersion, len(r.Topics))
	switch {
	case r.Latest:
		fmt.Fprintf(w, "cut              none (--latest: every partition's whole remote chain)\n")
	case r.CutTime.IsZero():
		fmt.Fprintf(w, "cut              none known (no roll instants recorded): whole remote chains kept\n")
	case r.Consistent:
		fmt.Fprintf(w, "cut              %s (consistent: every partition's offset at this instant is known)\n", r.CutTime.Format(time.RFC3339Nano))
	default:
		fmt.Fprintf(w, "cut              %s (NOT consistent: %d partitions' offsets at it are unknown; their whole chains are kept)\n",
			r.CutTime.Format(time.RFC3339Nano), r.Unknown)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLOG-START\tEND\tDROPPED\tSEGMENTS\tAT-CUT")
	for _, t := range r.SortedTopics() {
		for _, p := range t.Partitions {
			if !t.Tiered {
				fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t-\tnot tiered: restored empty\n", t.Name, p.Partition)
				continue
			}
			at := "yes"
			if !p.Exact {
				at = "unknown"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", t.Name, p.Partition, p.LogStart, p.End, p.Dropped, p.Segments, at)
		}
	}
	tw.Flush()
	if d := r.Dropped(); d > 0 {
		fmt.Fprintf(w, "past the cut     %d offsets dropped (entries moved under restore-dropped/ in the store)\n", d)
	} else {
		fmt.Fprintf(w, "past the cut     nothing\n")
	}
	if o.dryRun {
		fmt.Fprintf(w, "dry run          nothing changed (planned in %s)\n", took.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(w, "restored into    %s in %s; start it with:\n  strata node --node-id %d --data-dir %s --object-store %s\n",
		o.dataDir, took.Round(time.Millisecond), o.nodeID, o.dataDir, url)
}

// restoreBeforeStart is --restore-from-bucket: a data directory holding no
// node is rebuilt from the object store first; one holding a node is left
// alone.
func restoreBeforeStart(ctx context.Context, w io.Writer, cfg node.Config) error {
	if entries, err := os.ReadDir(filepath.Join(cfg.DataDir, "meta")); err == nil && len(entries) > 0 {
		cfg.Logger.Info("data directory holds a node; not restoring from the bucket", "data_dir", cfg.DataDir)
		return nil
	}
	_, err := runRestore(ctx, w, restoreOptions{objectStore: cfg.ObjectStore, dataDir: cfg.DataDir, nodeID: cfg.NodeID, timeout: 30 * time.Minute}, cfg.Logger)
	if err != nil {
		return fmt.Errorf("restore-from-bucket: %w", err)
	}
	return nil
}
