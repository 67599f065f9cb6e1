package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// `strata consume TOPIC`: print records, either straight from partitions or
// as a member of a consumer group that commits what it printed.

var (
	// errBadFrom is returned for a --from value that is not understood.
	errBadFrom = errors.New("want earliest, latest, OFFSET, -N, @TIMESTAMP_MS or an RFC3339 time")
	// errBadFormat is returned for a --format with an unknown % directive.
	errBadFormat = errors.New("bad --format")
	// errGroupsUnsupported is returned for --group against a broker that
	// does not serve the consumer group APIs.
	errGroupsUnsupported = errors.New("the broker does not serve consumer groups")
)

const (
	// defaultFormat prints each record's value on its own line.
	defaultFormat = `%v\n`
	// fetchMaxWait bounds how long the broker holds an empty fetch. A
	// partition assigned while a fetch is in flight waits for that fetch to
	// return, so this is also the worst added latency for a partition that
	// joins late (franz-go's own default is 5s, too long for --timeout).
	fetchMaxWait = 250 * time.Millisecond
)

func init() { rootCmd.AddCommand(newConsumeCmd()) }

// consumeOptions are the arguments of `strata consume`.
type consumeOptions struct {
	Client     clientOptions
	Topic      string
	From       string        // see parseFrom
	Partitions []int32       // empty: all partitions
	Group      string        // consume as this group and commit; empty: direct
	Count      int           // stop after this many records; 0: no limit
	Timeout    time.Duration // stop after this long without a record; 0: never
	Format     string        // see parseFormat
	JSON       bool          // one JSON object per record instead of Format
}

func defaultConsumeOptions() consumeOptions {
	return consumeOptions{From: "earliest", Format: defaultFormat}
}

func newConsumeCmd() *cobra.Command {
	o := defaultConsumeOptions()
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records from a topic",
		Long: `Print records from a topic, one per line by default.

--format directives: %t topic, %p partition, %o offset, %k key, %v value,
%h headers (k=v,k=v), %T timestamp in milliseconds, %% a percent sign;
escapes \n, \t, \r and \\. Nothing is added after a record: end the format
with \n for one record per line (the default is "%v\n").`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Topic = args[0]
			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runConsume(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	bindClientFlags(cmd.Flags(), &o.Client)
	f := cmd.Flags()
	f.StringVarP(&o.From, "from", "o", o.From, "where to start: earliest, latest, OFFSET, -N (N before the end), @TIMESTAMP_MS or an RFC3339 time")
	f.Int32SliceVarP(&o.Partitions, "partition", "p", nil, "consume only this partition (repeatable; not with --group)")
	f.StringVarP(&o.Group, "group", "g", "", "consume as a member of this group, committing printed records")
	f.IntVarP(&o.Count, "count", "c", 0, "exit after this many records (0: no limit)")
	f.DurationVar(&o.Timeout, "timeout", 0, "exit after this long without a record (0: never)")
	f.StringVarP(&o.Format, "format", "F", o.Format, "output format (see above)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object per record")
	return cmd
}

// parseFrom turns a --from value into a start offset.
func parseFrom(s string) (kgo.Offset, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "earliest", "beginning", "start", "":
		return kgo.NewOffset().AtStart(), nil
	case "latest", "end":
		return kgo.NewOffset().AtEnd(), nil
	}
	if ms, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil || n < 0 {
			return kgo.Offset{}, fmt.Errorf("--from %q: %w", s, errBadFrom)
		}
		return kgo.NewOffset().AfterMilli(n), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return kgo.NewOffset().AtEnd().Relative(n), nil
		}
		return kgo.NewOffset().At(n), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return kgo.NewOffset().AfterMilli(t.UnixMilli()), nil
	}
	return kgo.Offset{}, fmt.Errorf("--from %q: %w", s, errBadFrom)
}

// recordWriter renders one record.
type recordWriter func(w *bufio.Writer, r *kgo.Record) error

// parseFormat compiles a kcat-style format string (see the consume help).
func parseFormat(format string) (recordWriter, error) {
	type piece struct {
		lit  string // literal text when verb == 0
		verb byte
	}
	var pieces []piece
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			pieces = append(pieces, piece{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '\\' && i+1 < len(format):
			i++
			switch format[i] {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '\\':
				lit.WriteByte('\\')
			default:
				lit.WriteByte('\\')
				lit.WriteByte(format[i])
			}
		case c == '%':
			if i+1 >= len(format) {
				return nil, fmt.Errorf("%w: %q ends with a lone %%", errBadFormat, format)
			}
			i++
			switch v := format[i]; v {
			case '%':
				lit.WriteByte('%')
			case 't', 'p', 'o', 'k', 'v', 'h', 'T':
				flush()
				pieces = append(pieces, piece{verb: v})
			default:
				return nil, fmt.Errorf("%w: unknown directive %%%c in %q", errBadFormat, v, format)
			}
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return func(w *bufio.Writer, r *kgo.Record) error {
		for _, p := range pieces {
			switch p.verb {
			case 0:
				w.WriteString(p.lit)
			case 't':
				w.WriteString(r.Topic)
			case 'p':
				w.WriteString(strconv.FormatInt(int64(r.Partition), 10))
			case 'o':
				w.WriteString(strconv.FormatInt(r.Offset, 10))
			case 'k':
				w.Write(r.Key)
			case 'v':
				w.Write(r.Value)
			case 'h':
				for i, h := range r.Headers {
					if i > 0 {
						w.WriteByte(',')
					}
					w.WriteString(h.Key)
					w.WriteByte('=')
					w.Write(h.Value)
				}
			case 'T':
				w.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
			}
		}
		return nil
	}, nil
}

// jsonRecord is the --json rendering of a record. Keys, values and header
// values are strings when every one of them is UTF-8, otherwise all of them
// are base64 and Encoding says so.
type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   []jsonHeader `json:"headers,omitempty"`
	Encoding  string       `json:"encoding,omitempty"`
}

type jsonHeader struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

// writeJSON renders r as one line of JSON.
func writeJSON(w *bufio.Writer, r *kgo.Record) error {
	text := utf8.Valid(r.Key) && utf8.Valid(r.Value)
	for _, h := range r.Headers {
		text = text && utf8.Valid(h.Value)
	}
	enc := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := string(b)
		if !text {
			s = base64.StdEncoding.EncodeToString(b)
		}
		return &s
	}
	j := jsonRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UnixMilli(),
		Key:       enc(r.Key),
		Value:     enc(r.Value),
	}
	for _, h := range r.Headers {
		j.Headers = append(j.Headers, jsonHeader{Key: h.Key, Value: enc(h.Value)})
	}
	if !text {
		j.Encoding = "base64"
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

// consumerOpts validates o and returns the franz-go options to consume it.
// starts, when non-nil, holds the exact start offset of every partition to
// consume directly, replacing --from.
func (o consumeOptions) consumerOpts(starts map[int32]int64) ([]kgo.Opt, error) {
	opts, err := o.Client.kgoOpts()
	if err != nil {
		return nil, err
	}
	if o.Topic == "" {
		return nil, errors.New("no topic given")
	}
	if o.Count < 0 {
		return nil, fmt.Errorf("--count %d: must not be negative", o.Count)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("--timeout %s: must not be negative", o.Timeout)
	}
	from, err := parseFrom(o.From)
	if err != nil {
		return nil, err
	}
	for _, p := range o.Partitions {
		if p < 0 {
			return nil, fmt.Errorf("--partition %d: must not be negative", p)
		}
	}
	opts = append(opts, kgo.FetchMaxWait(fetchMaxWait))
	switch {
	case o.Group != "" && len(o.Partitions) > 0:
		return nil, errors.New("--partition cannot be combined with --group: the group assigns partitions")
	case o.Group != "":
		opts = append(opts, kgo.ConsumerGroup(o.Group), kgo.ConsumeTopics(o.Topic),
			kgo.ConsumeStartOffset(from), kgo.DisableAutoCommit())
	case starts != nil:
		ps := make(map[int32]kgo.Offset, len(starts))
		for p, at := range starts {
			ps[p] = kgo.NewOffset().At(at)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: ps}))
	case len(o.Partitions) > 0:
		ps := make(map[int32]kgo.Offset, len(o.Partitions))
		for _, p := range o.Partitions {
			ps[p] = from
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: ps}))
	default:
		opts = append(opts, kgo.ConsumeTopics(o.Topic), kgo.ConsumeStartOffset(from))
	}
	return opts, nil
}

// runConsume prints records of o.Topic to out until o.Count records were
// printed, o.Timeout passed without a record, or ctx is done; all three are
// a clean exit. In a group, every printed record is committed before the
// next poll. Fetch errors are reported once each to errOut.
func runConsume(ctx context.Context, o consumeOptions, out, errOut io.Writer) error {
	if _, err := o.consumerOpts(nil); err != nil {
		return err
	}
	write := writeJSON
	if !o.JSON {
		var err error
		if write, err = parseFormat(o.Format); err != nil {
			return err
		}
	}
	starts, err := resolveTarget(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	kopts, err := o.consumerOpts(starts)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cl.Close()

	w := bufio.NewWriterSize(out, 64<<10)
	defer w.Flush()
	reported := map[string]bool{}
	n := 0
	lastRecord := time.Now()
	for o.Count == 0 || n < o.Count {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if o.Timeout > 0 {
			pollCtx, cancel = context.WithDeadline(ctx, lastRecord.Add(o.Timeout))
		}
		fetches := cl.PollRecords(pollCtx, o.Count-n)
		cancel()
		if ctx.Err() != nil {
			break
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
				errors.Is(err, kgo.ErrClientClosed) {
				return
			}
			msg := fmt.Sprintf("consume error: %s[%d]: %v", topic, p, err)
			if !reported[msg] {
				reported[msg] = true
				fmt.Fprintln(errOut, msg)
			}
		})
		recs := fetches.Records()
		for _, r := range recs {
			if err := write(w, r); err != nil {
				return fmt.Errorf("write record: %w", err)
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		n += len(recs)
		if len(recs) > 0 {
			lastRecord = time.Now()
		}
		if o.Group != "" && len(recs) > 0 {
			if err := cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
				return fmt.Errorf("commit offsets for group %q: %w", o.Group, err)
			}
		}
		if o.Timeout > 0 && len(recs) == 0 && !time.Now().Before(lastRecord.Add(o.Timeout)) {
			break
		}
	}
	fmt.Fprintf(errOut, "consumed %d records from %s\n", n, o.Topic)
	return nil
}

// resolveTarget fails fast, with the broker's error, when the topic or a
// requested partition does not exist: otherwise the consumer would wait
// forever. For direct consumption from an exact offset it returns each
// partition's start, clamped into [log start, log end] so that an offset
// outside the log starts at the nearest end of it.
func resolveTarget(ctx context.Context, o consumeOptions) (map[int32]int64, error) {
	opts, err := o.Client.kgoOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	t, err := lookupTopic(ctx, adm, o.Topic, o.Partitions)
	if err != nil {
		return nil, err
	}
	if o.Group != "" {
		if err := checkGroupSupport(ctx, cl); err != nil {
			return nil, err
		}
	}
	at, err := strconv.ParseInt(strings.TrimSpace(o.From), 10, 64)
	if err != nil || at < 0 || o.Group != "" {
		return nil, nil
	}
	partitions := o.Partitions
	if len(partitions) == 0 {
		partitions = t.Partitions.Numbers()
	}
	startOffsets, err := adm.ListStartOffsets(ctx, o.Topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %q: %w", o.Topic, err)
	}
	endOffsets, err := adm.ListEndOffsets(ctx, o.Topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %q: %w", o.Topic, err)
	}
	starts := make(map[int32]int64, len(partitions))
	for _, p := range partitions {
		off := at
		if lo, ok := startOffsets.Lookup(o.Topic, p); ok && lo.Err == nil {
			off = max(off, lo.Offset)
		}
		if hi, ok := endOffsets.Lookup(o.Topic, p); ok && hi.Err == nil {
			off = min(off, hi.Offset)
		}
		starts[p] = off
	}
	return starts, nil
}

// groupAPIs are the requests a group member needs.
var groupAPIs = []kmsg.Key{kmsg.FindCoordinator, kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat,
	kmsg.LeaveGroup, kmsg.OffsetFetch, kmsg.OffsetCommit}

// checkGroupSupport fails with errGroupsUnsupported when the broker does not
// advertise every group API; otherwise a group consumer would retry forever.
func checkGroupSupport(ctx context.Context, cl *kgo.Client) error {
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("query broker API versions: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("query broker API versions: %w", newBrokerError(err, ""))
	}
	served := make(map[int16]bool, len(resp.ApiKeys))
	for _, k := range resp.ApiKeys {
		served[k.ApiKey] = true
	}
	var missing []string
	for _, k := range groupAPIs {
		if !served[int16(k)] {
			missing = append(missing, k.Name())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--group: %w (missing %s)", errGroupsUnsupported, strings.Join(missing, ", "))
	}
	return nil
}
