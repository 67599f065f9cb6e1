package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// `strata produce TOPIC`: one record per input line, streamed through a
// franz-go producer whose buffer is bounded in bytes, so a file of any size
// is sent in constant memory.

var (
	// errLineTooLong is returned when an input line exceeds --max-line-bytes.
	errLineTooLong = errors.New("line longer than --max-line-bytes")
	// errProduceFailed is returned when at least one record was not acknowledged.
	errProduceFailed = errors.New("records failed")
)

const (
	// defaultMaxLineBytes bounds one input line (key, separator and value).
	defaultMaxLineBytes = 1 << 20
	// minBufferedBytes is the producer's in-flight byte budget when lines are small.
	minBufferedBytes = 32 << 20
	// flushOnInterrupt bounds how long an interrupted produce waits for
	// records already handed to the client.
	flushOnInterrupt = 10 * time.Second
	// maxReportedErrors is how many distinct record errors are printed.
	maxReportedErrors = 5
)

func init() { rootCmd.AddCommand(newProduceCmd()) }

// produceOptions are the arguments of `strata produce`.
type produceOptions struct {
	Client          clientOptions
	Topic           string
	File            string        // read from this file instead of stdin
	KeySeparator    string        // split key from value at the first occurrence; empty: no key
	Headers         []string      // key=value headers added to every record
	Partition       int32         // -1: the client's partitioner
	Acks            string        // all, 1 or 0
	Compression     string        // none, gzip, snappy, lz4, zstd
	Linger          time.Duration // how long a batch waits for more records
	MaxLineBytes    int
	DeliveryTimeout time.Duration // how long a record may wait for acknowledgement; 0: forever
}

// defaultProduceOptions are the flag defaults.
func defaultProduceOptions() produceOptions {
	return produceOptions{
		Partition:       -1,
		Acks:            "all",
		Compression:     "none",
		MaxLineBytes:    defaultMaxLineBytes,
		DeliveryTimeout: 30 * time.Second,
	}
}

func newProduceCmd() *cobra.Command {
	o := defaultProduceOptions()
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce one record per line of stdin (or --file)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Topic = args[0]
			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			in := cmd.InOrStdin()
			if o.File != "" {
				f, err := os.Open(o.File)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			return runProduce(ctx, o, in, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	bindClientFlags(cmd.Flags(), &o.Client)
	f := cmd.Flags()
	f.StringVarP(&o.File, "file", "f", "", "read lines from this file instead of stdin")
	f.StringVarP(&o.KeySeparator, "key-separator", "K", "", "split each line into key and value at the first occurrence of this string (\\t: tab)")
	f.StringArrayVarP(&o.Headers, "header", "H", nil, "header key=value added to every record (repeatable)")
	f.Int32VarP(&o.Partition, "partition", "p", o.Partition, "produce every record to this partition (-1: the client's partitioner)")
	f.StringVar(&o.Acks, "acks", o.Acks, "required acknowledgements: all, 1 or 0")
	f.StringVarP(&o.Compression, "compression", "z", o.Compression, "batch compression: none, gzip, snappy, lz4 or zstd")
	f.DurationVar(&o.Linger, "linger", 0, "how long a batch waits for more records before it is sent")
	f.IntVar(&o.MaxLineBytes, "max-line-bytes", o.MaxLineBytes, "longest accepted input line")
	f.DurationVar(&o.DeliveryTimeout, "delivery-timeout", o.DeliveryTimeout, "give up on a record not acknowledged after this long (0: never)")
	return cmd
}

// cmdContext is the command's context, or Background when run outside Execute.
func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// produceStats counts the outcome of every record handed to the producer.
type produceStats struct {
	mu       sync.Mutex
	records  int64 // acknowledged
	bytes    int64 // key+value bytes acknowledged
	failed   int64
	firstErr error
	reported map[string]bool
}

// done is the producer's promise: it runs on the client's goroutine.
func (s *produceStats) done(r *kgo.Record, err error, errOut io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.records++
		s.bytes += int64(len(r.Key) + len(r.Value))
		return
	}
	s.failed++
	if s.firstErr == nil {
		s.firstErr = err
	}
	msg := err.Error()
	if !s.reported[msg] && len(s.reported) < maxReportedErrors {
		s.reported[msg] = true
		fmt.Fprintf(errOut, "produce error: partition %d: %s\n", r.Partition, msg)
	}
}

// separatorEscapes lets --key-separator '\t' mean a tab without shell quoting.
var separatorEscapes = strings.NewReplacer(`\\`, `\`, `\t`, "\t")

// producerOpts translates o into franz-go options.
func (o produceOptions) producerOpts() ([]kgo.Opt, error) {
	opts, err := o.Client.kgoOpts()
	if err != nil {
		return nil, err
	}
	if o.Topic == "" {
		return nil, errors.New("no topic given")
	}
	if o.MaxLineBytes <= 0 {
		return nil, fmt.Errorf("--max-line-bytes %d: must be positive", o.MaxLineBytes)
	}
	switch o.Acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("--acks %q: want all, 1 or 0", o.Acks)
	}
	codec, err := compressionCodec(o.Compression)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if o.Linger > 0 {
		opts = append(opts, kgo.ProducerLinger(o.Linger))
	}
	if o.DeliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(o.DeliveryTimeout))
	}
	if o.Partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	} else if o.Partition != -1 {
		return nil, fmt.Errorf("--partition %d: must be -1 or a partition number", o.Partition)
	}
	// A record is at most one line plus its headers; let a batch hold it and
	// keep the in-flight budget a bounded multiple of it.
	recordMax := o.MaxLineBytes + 64<<10
	opts = append(opts,
		kgo.ProducerBatchMaxBytes(int32(max(1_000_012, min(recordMax, 1<<30)))),
		kgo.MaxBufferedBytes(max(minBufferedBytes, 4*recordMax)),
	)
	return opts, nil
}

// compressionCodec maps a --compression name to a franz-go codec.
func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// runProduce sends one record per line of in to o.Topic and writes a
// summary line to errOut. Empty lines are skipped. It returns an error
// wrapping errProduceFailed if any record was not acknowledged. Cancelling
// ctx stops reading; records already read are still flushed for a while.
func runProduce(ctx context.Context, o produceOptions, in io.Reader, out, errOut io.Writer) error {
	_ = out // records go to the broker; nothing is written to stdout
	kopts, err := o.producerOpts()
	if err != nil {
		return err
	}
	kvs, err := parseKeyValues("--header", o.Headers)
	if err != nil {
		return err
	}
	headers := make([]kgo.RecordHeader, len(kvs))
	for i, kv := range kvs {
		headers[i] = kgo.RecordHeader{Key: kv.Key, Value: []byte(kv.Value)}
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cl.Close()
	var partitions []int32
	if o.Partition >= 0 {
		partitions = []int32{o.Partition}
	}
	if _, err := lookupTopic(ctx, kadm.NewClient(cl), o.Topic, partitions); err != nil {
		return err
	}

	var sep []byte
	if o.KeySeparator != "" {
		sep = []byte(separatorEscapes.Replace(o.KeySeparator))
	}
	stats := &produceStats{reported: map[string]bool{}}
	promise := func(r *kgo.Record, err error) { stats.done(r, err, errOut) }
	start := time.Now()
	// Records outlive an interrupt: they are produced under their own
	// context and flushed below, so ^C never drops a line already read.
	recCtx, cancelRecs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRecs()
	readErr := scanLines(ctx, in, o.MaxLineBytes, func(line []byte) {
		r := &kgo.Record{Topic: o.Topic, Partition: o.Partition, Headers: headers}
		if sep != nil {
			if k, v, ok := bytes.Cut(line, sep); ok {
				r.Key, line = k, v
			}
		}
		r.Value = line
		cl.Produce(recCtx, r, promise)
	})
	flushCtx := recCtx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		flushCtx, cancel = context.WithTimeout(recCtx, flushOnInterrupt)
		defer cancel()
	}
	if err := cl.Flush(flushCtx); err != nil {
		cancelRecs() // fail whatever is still buffered so every promise runs
		fmt.Fprintf(errOut, "flush: %v\n", err)
		_ = cl.Flush(context.Background())
	}

	stats.mu.Lock()
	defer stats.mu.Unlock()
	fmt.Fprintf(errOut, "produced %d records (%d bytes) to %s in %s, %d errors\n",
		stats.records, stats.bytes, o.Topic, time.Since(start).Round(time.Millisecond), stats.failed)
	switch {
	case readErr != nil:
		return readErr
	case stats.failed > 0:
		return fmt.Errorf("%d %w, first: %w", stats.failed, errProduceFailed, stats.firstErr)
	}
	return nil
}

// lineItem is one line read by runReadLines, or the error that ended reading.
type lineItem struct {
	line []byte
	err  error
}

// scanLines calls fn with a private copy of each non-empty line of in (the
// line ending removed) until in is exhausted or ctx is done. fn runs on the
// caller's goroutine; reading happens on another one so that a blocked read
// of a terminal never delays an interrupt. A line longer than maxLine bytes
// stops the scan with errLineTooLong.
func scanLines(ctx context.Context, in io.Reader, maxLine int, fn func([]byte)) error {
	lines := make(chan lineItem, 16)
	go runReadLines(ctx, in, maxLine, lines)
	for {
		select {
		case <-ctx.Done():
			return nil
		case it, ok := <-lines:
			if !ok {
				return nil
			}
			if it.err != nil {
				return it.err
			}
			fn(it.line)
		}
	}
}

// runReadLines sends each non-empty line of in, copied, to lines, then
// closes it. A read error or an over-long line is sent as the last item. It
// returns early when ctx is done.
func runReadLines(ctx context.Context, in io.Reader, maxLine int, lines chan<- lineItem) {
	defer close(lines)
	send := func(it lineItem) bool {
		select {
		case lines <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	sc := bufio.NewScanner(in)
	// Room for the line and its "\r\n": the scanner needs to see the newline.
	sc.Buffer(make([]byte, 0, min(maxLine+2, 64<<10)), maxLine+2)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		b := sc.Bytes()
		if len(b) > maxLine {
			send(lineItem{err: fmt.Errorf("line %d: %w (%d bytes)", lineNo, errLineTooLong, maxLine)})
			return
		}
		if len(b) == 0 {
			continue
		}
		if !send(lineItem{line: bytes.Clone(b)}) {
			return
		}
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		send(lineItem{err: fmt.Errorf("line %d: %w (%d bytes)", lineNo+1, errLineTooLong, maxLine)})
	case err != nil:
		send(lineItem{err: fmt.Errorf("read input: %w", err)})
	}
}
