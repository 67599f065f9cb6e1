package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newTierCmd()) }

func newTierCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tier", Short: "Inspect the cold tier"}
	var httpAddr string
	status := &cobra.Command{
		Use:   "status [topic]",
		Short: "Per-partition tiering state of a node",
		Long: `Show, per partition hosted by the node: the log start offset (across both
tiers), the remote log end, the local log start, the high watermark, bytes on
local disk and in the object store, segments waiting for upload and the upload
lag in bytes, whether uploads are failing, how long the running upload has
been stalled, and remote segments corrupt or missing with no intact copy
(never served). The numbers come from the node's /metrics endpoint (--http-addr).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := ""
			if len(args) == 1 {
				topic = args[0]
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			rows, err := fetchTierStatus(ctx, httpAddr)
			if err != nil {
				return err
			}
			return printTierStatus(cmd.OutOrStdout(), rows, topic)
		},
	}
	status.Flags().StringVar(&httpAddr, "http-addr", "127.0.0.1:9644", "the node's HTTP address")
	cmd.AddCommand(status)
	return cmd
}

type tierRow struct {
	topic     string
	partition int
	vals      map[string]float64
}

// fetchTierStatus reads the strata_tier_* per-partition gauges.
func fetchTierStatus(ctx context.Context, addr string) ([]*tierRow, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading metrics of %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading metrics of %s: %s", addr, resp.Status)
	}
	return parseTierMetrics(resp.Body)
}

func parseTierMetrics(r io.Reader) ([]*tierRow, error) {
	byKey := map[string]*tierRow{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "strata_tier_") {
			continue
		}
		open, close := strings.IndexByte(line, '{'), strings.IndexByte(line, '}')
		if open < 0 || close < open {
			continue
		}
		name := strings.TrimPrefix(line[:open], "strata_tier_")
		labels := map[string]string{}
		for _, kv := range strings.Split(line[open+1:close], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				labels[k], _ = strconv.Unquote(v)
			}
		}
		part, err := strconv.Atoi(labels["partition"])
		if labels["topic"] == "" || err != nil {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[close+1:]), 64)
		if err != nil {
			continue
		}
		key := labels["topic"] + "\x00" + labels["partition"]
		row := byKey[key]
		if row == nil {
			row = &tierRow{topic: labels["topic"], partition: part, vals: map[string]float64{}}
			byKey[key] = row
		}
		row.vals[name] = v
	}
	rows := make([]*tierRow, 0, len(byKey))
	for _, r := range byKey {
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].topic != rows[j].topic {
			return rows[i].topic < rows[j].topic
		}
		return rows[i].partition < rows[j].partition
	})
	return rows, sc.Err()
}

func printTierStatus(w io.Writer, rows []*tierRow, topic string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLOG-START\tREMOTE-END\tLOCAL-START\tHIGH-WATERMARK\tLOCAL-BYTES\tREMOTE-BYTES\tPENDING-SEGMENTS\tUPLOAD-LAG-BYTES\tUPLOAD-FAILING\tUPLOAD-STALLED-S\tCORRUPT-SEGMENTS")
	for _, r := range rows {
		if topic != "" && r.topic != topic {
			continue
		}
		v := func(name string) int64 { return int64(r.vals[name]) }
		remoteEnd := "-"
		if e := v("remote_log_end_offset"); e >= 0 {
			remoteEnd = strconv.FormatInt(e, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%d\t%d\n", r.topic, r.partition,
			v("log_start_offset"), remoteEnd, v("local_log_start_offset"), v("high_watermark"),
			v("local_log_size_bytes"), v("remote_log_size_bytes"), v("remote_copy_lag_segments"),
			v("remote_copy_lag_bytes"), v("upload_failing") == 1, v("upload_stalled_seconds"), v("corrupt_segments"))
	}
	return tw.Flush()
}
