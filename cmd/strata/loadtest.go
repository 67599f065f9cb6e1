package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/loadtest"
)

func init() { rootCmd.AddCommand(newLoadtestCmd()) }

// loadtestFlags are the flags of `strata loadtest`.
type loadtestFlags struct {
	sets        []string
	bootstrap   string
	duration    string
	rate        string
	warmup      string
	mode        string
	out         string
	local       int
	kfake       bool
	allowRemote bool
	metricsURL  string
	metrics     []string
	plain       bool
	quiet       bool
	nodeLog     string
}

// overrideFlags maps convenience flags to workload fields.
var overrideFlags = map[string]string{
	"partitions": "partitions", "topics": "topics", "producers": "producers",
	"consumers": "consumers", "consumer-groups": "consumer_groups",
	"record-size": "record_size", "payload": "payload", "keys": "keys",
	"compression": "compression", "acks": "acks", "linger": "linger",
	"backlog-bytes": "backlog_bytes", "max-bytes": "max_bytes",
}

func newLoadtestCmd() *cobra.Command {
	var f loadtestFlags
	cmd := &cobra.Command{
		Use:   "loadtest [workload.yaml]",
		Short: "Run a load-test workload against a Kafka-compatible endpoint",
		Long: `Run a workload (YAML; see loadtest/workloads/) against Strata or any
Kafka-compatible endpoint and write results.json and report.html.

Targets: --bootstrap host:port (loopback only unless --allow-remote),
--local 1 (start a throwaway local Strata node), or --kfake (franz-go's
in-process fake cluster: the harness's own ceiling).

Any workload field can be overridden with --set field=value, nested ones
with a dot: --set payload.compressibility=0.5.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoadtest(cmd, args, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.sets, "set", nil, "override a workload field: --set partitions=64 (repeatable)")
	fl.StringVar(&f.bootstrap, "bootstrap", "", "seed brokers, comma-separated host:port")
	fl.StringVar(&f.duration, "duration", "", "measured duration (e.g. 60s)")
	fl.StringVar(&f.rate, "rate", "", "total produce rate: max, records/s (50000) or bytes/s (5MB/s)")
	fl.StringVar(&f.warmup, "warmup", "", "warm-up before measuring (e.g. 10s)")
	fl.StringVar(&f.mode, "mode", "", "live, backlog or mixed")
	for flag, field := range overrideFlags {
		fl.String(flag, "", "workload field "+field)
	}
	fl.StringVar(&f.out, "out", "", "directory for results.json and report.html (default loadtest-results/<run id>)")
	fl.IntVar(&f.local, "local", 0, "start a throwaway local Strata node and run against it (`1`, the only size until nodes form clusters)")
	fl.BoolVar(&f.kfake, "kfake", false, "run against an in-process kfake cluster (client-side ceiling)")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "allow non-loopback bootstrap addresses")
	fl.StringVar(&f.metricsURL, "metrics-url", "", "broker Prometheus /metrics URL to read CPU, RSS and byte counters from")
	fl.StringArrayVar(&f.metrics, "metric", nil, "extra broker metric name or pattern (strata_objectstore_*) to report (repeatable)")
	fl.BoolVar(&f.plain, "plain", false, "print plain progress lines even on a terminal")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress display")
	fl.StringVar(&f.nodeLog, "node-log", "", "with --local: file for the node's output (default: in the results directory)")
	cmd.AddCommand(newLoadtestCompareCmd())
	return cmd
}

func runLoadtest(cmd *cobra.Command, args []string, f *loadtestFlags) error {
	w := loadtest.DefaultWorkload()
	if len(args) == 1 {
		var err error
		if w, err = loadtest.LoadWorkload(args[0]); err != nil {
			return err
		}
	}
	if err := applyOverrides(cmd, &w, f); err != nil {
		return err
	}
	if f.local > 0 && f.kfake {
		return errors.New("--local and --kfake are exclusive")
	}
	if f.local > 1 {
		return fmt.Errorf("%w: --local %d (only --local 1 until multi-node clusters are available)", loadtest.ErrLocalSize, f.local)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := loadtest.Options{
		AllowRemote: f.allowRemote,
		MetricsURL:  f.metricsURL,
		Command:     "strata " + strings.Join(os.Args[1:], " "),
	}
	if len(f.metrics) > 0 {
		opts.MetricSelectors = append(append([]string(nil), loadtest.DefaultMetricSelectors...), f.metrics...)
	}
	out := f.out
	if out == "" {
		out = filepath.Join("loadtest-results", time.Now().Format("20060102-150405")+"-"+w.Name)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	switch {
	case f.kfake:
		c, addrs, err := loadtest.StartKfake()
		if err != nil {
			return err
		}
		defer c.Close()
		w.Bootstrap, opts.Target = addrs, "kfake (in-process)"
	case f.local > 0:
		logPath := f.nodeLog
		if logPath == "" {
			logPath = filepath.Join(out, "node.log")
		}
		logFile, err := os.Create(logPath)
		if err != nil {
			return fmt.Errorf("node log: %w", err)
		}
		defer logFile.Close()
		fmt.Fprintf(cmd.ErrOrStderr(), "starting a local Strata node; log in %s\n", logPath)
		lc, err := loadtest.StartLocal(ctx, loadtest.LocalConfig{Nodes: f.local, Log: logFile})
		if err != nil {
			return err
		}
		defer lc.Stop(10 * time.Second)
		w.Bootstrap, opts.Target = lc.Bootstrap, fmt.Sprintf("strata --local %d", f.local)
		if opts.MetricsURL == "" {
			opts.MetricsURL = lc.MetricsURL()
		}
	default:
		opts.Target = strings.Join(w.Bootstrap, ",")
	}
	opts.Workload = w
	if !f.quiet {
		opts.Progress = cmd.ErrOrStderr()
		opts.Interactive = !f.plain && isTerminal(os.Stderr)
	}
	res, runErr := loadtest.Run(ctx, opts)
	if res == nil {
		return runErr
	}
	fmt.Fprintln(cmd.OutOrStdout())
	if err := loadtest.FormatSummary(cmd.OutOrStdout(), res); err != nil {
		return err
	}
	jsonPath, htmlPath, err := loadtest.WriteResults(out, res)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "\nresults: %s\nreport:  %s\n", jsonPath, htmlPath)
	return runErr
}

// applyOverrides applies --set and the convenience flags, then validates.
func applyOverrides(cmd *cobra.Command, w *loadtest.Workload, f *loadtestFlags) error {
	for _, kv := range f.sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("--set %q: want field=value", kv)
		}
		if err := w.Set(k, v); err != nil {
			return err
		}
	}
	named := map[string]string{"bootstrap": f.bootstrap, "duration": f.duration, "rate": f.rate, "warmup": f.warmup, "mode": f.mode}
	for field, v := range named {
		if cmd.Flags().Changed(field) {
			if err := w.Set(field, v); err != nil {
				return err
			}
		}
	}
	for flag, field := range overrideFlags {
		if cmd.Flags().Changed(flag) {
			v, _ := cmd.Flags().GetString(flag)
			if err := w.Set(field, v); err != nil {
				return err
			}
		}
	}
	return w.Validate()
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newLoadtestCompareCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "compare results.json results.json [...]",
		Short: "Put two or more load-test results side by side (table and HTML)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var runs []*loadtest.Result
			for _, p := range args {
				r, err := loadtest.ReadResult(p)
				if err != nil {
					return err
				}
				runs = append(runs, r)
			}
			for i, p := range args {
				fmt.Fprintf(cmd.OutOrStdout(), "run %d: %s\n", i+1, p)
			}
			if err := loadtest.FormatCompare(cmd.OutOrStdout(), runs); err != nil {
				return err
			}
			fh, err := os.Create(out)
			if err != nil {
				return fmt.Errorf("comparison report: %w", err)
			}
			if err := loadtest.WriteCompareHTML(fh, runs); err != nil {
				fh.Close()
				return err
			}
			if err := fh.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nreport: %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "compare.html", "HTML comparison report to write")
	return cmd
}
