package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/controller"
)

// `strata cluster reassign | reassignments | rebalance | decommission`:
// partition moves through Kafka's AlterPartitionReassignments and
// ListPartitionReassignments, so what they do is what kafka-reassign-
// partitions does. A new replica copies only its leader's local log (the
// hot tail); the cold tier is shared. rebalance and decommission plan the
// moves with controller.PlanRebalance over the live brokers.

// reassignPlan is Kafka's reassignment JSON, as kafka-reassign-partitions
// reads and writes it.
type reassignPlan struct {
	Version    int                     `json:"version"`
	Partitions []controller.Assignment `json:"partitions"`
}

func addReassignCmds(cmd *cobra.Command, o *topicCmdOptions) {
	cmd.AddCommand(newReassignCmd(o), newReassignmentsCmd(o), newRebalanceCmd(o), newDecommissionCmd(o), newRemoveCmd(o))
}

// waitTimeout is the command deadline of a command that waits for moves,
// unless --timeout was given: copying a hot tail takes longer than the
// 15 s other cluster commands get.
const waitTimeout = 30 * time.Minute

func longTimeout(cmd *cobra.Command, o *topicCmdOptions, waiting bool) {
	if f := cmd.Flag("timeout"); waiting && f != nil && !f.Changed {
		o.Timeout = waitTimeout
	}
}

func newReassignCmd(o *topicCmdOptions) *cobra.Command {
	var (
		topic, replicas, planFile string
		partition                 int32
		cancel, wait              bool
	)
	c := &cobra.Command{
		Use:   "reassign",
		Short: "Move partitions to new replicas (--topic/--partition/--replicas, or --plan with Kafka's reassignment JSON)",
		Long: `Move partitions to new replicas, or cancel moves in progress (--cancel).

One partition:  strata cluster reassign --topic orders --partition 0 --replicas 3,2
Many:           strata cluster reassign --plan moves.json
                ({"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[3,2]}]},
                 the format of kafka-reassign-partitions)

The first replica is the preferred leader. New replicas copy only the
leader's local log; the cold tier is shared. With --wait the command
returns once every move has finished.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var moves []controller.Assignment
			switch {
			case planFile != "" && (topic != "" || replicas != ""):
				return errors.New("give either --plan or --topic/--partition/--replicas")
			case planFile != "":
				b, err := os.ReadFile(planFile)
				if err != nil {
					return err
				}
				var p reassignPlan
				if err := json.Unmarshal(b, &p); err != nil {
					return fmt.Errorf("%s: %w", planFile, err)
				}
				if len(p.Partitions) == 0 {
					return fmt.Errorf("%s lists no partitions", planFile)
				}
				moves = p.Partitions
			case topic == "" || partition < 0:
				return errors.New("--topic and --partition are required (or --plan)")
			default:
				a := controller.Assignment{Topic: topic, Partition: partition}
				if !cancel {
					ids, err := parseBrokerIDs(replicas)
					if err != nil {
						return err
					}
					a.Replicas = ids
				}
				moves = []controller.Assignment{a}
			}
			if cancel {
				for i := range moves {
					moves[i].Replicas = nil
				}
			}
			longTimeout(cmd, o, wait)
			return o.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				if err := submitReassignments(ctx, cl, moves, cmd.OutOrStdout()); err != nil {
					return err
				}
				if wait && !cancel {
					return awaitReassignments(ctx, cl, moves, cmd.OutOrStdout())
				}
				return nil
			})
		},
	}
	c.Flags().StringVar(&topic, "topic", "", "topic of the partition to move")
	c.Flags().Int32Var(&partition, "partition", -1, "partition to move")
	c.Flags().StringVar(&replicas, "replicas", "", "comma-separated broker IDs, preferred leader first")
	c.Flags().StringVar(&planFile, "plan", "", "file with Kafka's reassignment JSON")
	c.Flags().BoolVar(&cancel, "cancel", false, "cancel the moves in progress for these partitions")
	c.Flags().BoolVar(&wait, "wait", false, "wait until every move has finished")
	return c
}

func newReassignmentsCmd(o *topicCmdOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "reassignments",
		Short: "List partition moves in progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				ongoing, err := listReassignments(ctx, cl)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if len(ongoing) == 0 {
					fmt.Fprintln(out, "no reassignments in progress")
					return nil
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tADDING\tREMOVING")
				for _, r := range ongoing {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.topic, r.partition, idList(r.replicas), idList(r.adding), idList(r.removing))
				}
				return tw.Flush()
			})
		},
	}
}

func newRebalanceCmd(o *topicCmdOptions) *cobra.Command {
	var opts moveOptions
	c := &cobra.Command{
		Use:   "rebalance",
		Short: "Even out replicas and preferred leaders over the live nodes (new nodes take their share)",
		Long: `Even out replicas and preferred leaders over the live nodes, moving as few
replicas as it can: a node that joined takes its share of partitions, and
leaders are evened out by reordering replica lists, which copies nothing
(the preferred-leader election then moves leadership). Replicas on nodes
that are down stay where they are; use decommission to move them off.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			longTimeout(cmd, o, opts.wait || opts.batch > 0)
			return o.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				return planAndMove(ctx, cl, nil, opts, cmd.OutOrStdout())
			})
		},
	}
	opts.bind(c, false)
	return c
}

func newDecommissionCmd(o *topicCmdOptions) *cobra.Command {
	var opts moveOptions
	c := &cobra.Command{
		Use:   "decommission NODE",
		Short: "Move every replica off a node, so it can be stopped for good",
		Long: `Move every replica off a node (live or down) to the live nodes, evening
out the load as rebalance does, and wait until it holds none. Then stop
the node (SIGTERM): it hands off its metadata quorum seat as it leaves;
` + "`strata cluster remove NODE`" + ` then drops its registration.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil {
				return fmt.Errorf("node %q: not a node ID", args[0])
			}
			longTimeout(cmd, o, opts.wait || opts.batch > 0)
			return o.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				return planAndMove(ctx, cl, []int32{int32(id)}, opts, cmd.OutOrStdout())
			})
		},
	}
	opts.bind(c, true)
	return c
}

func newRemoveCmd(o *topicCmdOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NODE",
		Short: "Drop a stopped, decommissioned node's registration (Kafka's UnregisterBroker)",
		Long: `Drop the registration of a node that is down and holds no replicas (after
decommission and a SIGTERM), so it no longer shows as fenced. A node that
starts again registers again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil {
				return fmt.Errorf("node %q: not a node ID", args[0])
			}
			return o.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				req := kmsg.NewPtrUnregisterBrokerRequest()
				req.BrokerID = int32(id)
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return fmt.Errorf("unregister broker: %w", err)
				}
				if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
					return newBrokerError(err, derefStr(resp.ErrorMessage))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "node %d removed from the cluster\n", id)
				return nil
			})
		},
	}
}

// moveOptions are rebalance's and decommission's flags.
type moveOptions struct {
	dryRun   bool
	wait     bool
	batch    int
	throttle int64
}

func (m *moveOptions) bind(c *cobra.Command, wait bool) {
	c.Flags().BoolVar(&m.dryRun, "dry-run", false, "print the plan (and its JSON for reassign --plan) without moving anything")
	c.Flags().BoolVar(&m.wait, "wait", wait, "wait until every move has finished")
	c.Flags().IntVar(&m.batch, "batch", 0, "move at most this many partitions at a time, waiting for each batch (0: all at once); bounds the copy traffic")
	c.Flags().Int64Var(&m.throttle, "throttle", 0, "bytes per second each new replica may copy, for the duration of the move (follower.replication.throttled.rate; needs --wait)")
}

// planAndMove plans a rebalance draining drain, prints it, and unless a
// dry run submits it, in batches when asked.
func planAndMove(ctx context.Context, cl *kgo.Client, drain []int32, opts moveOptions, out io.Writer) error {
	if opts.dryRun {
		opts.wait = false
	}
	brokers, current, err := loadAssignments(ctx, cl)
	if err != nil {
		return err
	}
	var live []controller.BrokerInfo
	known := map[int32]bool{}
	for _, b := range brokers {
		known[b.id] = true
		if !b.fenced {
			live = append(live, controller.BrokerInfo{ID: b.id, Rack: b.rack})
		} else if !slices.Contains(drain, b.id) {
			fmt.Fprintf(out, "node %d is down: its replicas stay where they are\n", b.id)
		}
	}
	for _, id := range drain {
		if !known[id] {
			return fmt.Errorf("node %d is not registered in this cluster", id)
		}
	}
	if !slices.ContainsFunc(live, func(b controller.BrokerInfo) bool { return !slices.Contains(drain, b.ID) }) {
		return errors.New("no other live node to move replicas to")
	}
	plan := controller.PlanRebalance(live, current, drain)
	// A partition with more replicas than there are nodes left keeps one
	// on the drained node: say so rather than leave it there.
	after := slices.Clone(current)
	for _, a := range plan {
		if i := slices.IndexFunc(after, func(c controller.Assignment) bool { return c.Topic == a.Topic && c.Partition == a.Partition }); i >= 0 {
			after[i] = a
		}
	}
	for _, a := range after {
		for _, id := range drain {
			if slices.Contains(a.Replicas, id) {
				return fmt.Errorf("%s/%d has %d replicas: too few live nodes besides %d to move them to (lower its replication factor with reassign first)",
					a.Topic, a.Partition, len(a.Replicas), id)
			}
		}
	}
	if len(plan) == 0 {
		fmt.Fprintln(out, "nothing to move: the cluster is balanced")
		if len(drain) > 0 {
			fmt.Fprintf(out, "node %d holds no replicas\n", drain[0])
		}
		return nil
	}
	printPlan(out, current, plan)
	if opts.dryRun {
		js, _ := json.MarshalIndent(reassignPlan{Version: 1, Partitions: plan}, "", "  ")
		fmt.Fprintf(out, "\n%s\n", js)
		return nil
	}
	batch := opts.batch
	if batch <= 0 {
		batch = len(plan)
	}
	if opts.throttle > 0 {
		if !opts.wait {
			return errors.New("--throttle needs --wait: the throttle is lifted when the moves are done")
		}
		if err := setThrottle(ctx, cl, opts.throttle); err != nil {
			return err
		}
		fmt.Fprintf(out, "copies throttled to %d bytes/s per node\n", opts.throttle)
		defer func() {
			// Lifted even when the command's deadline passed.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			if err := setThrottle(lctx, cl, 0); err != nil {
				fmt.Fprintf(out, "lifting the throttle failed: %v (unset follower.replication.throttled.rate by hand)\n", err)
			}
		}()
	}
	began := time.Now()
	for i := 0; i < len(plan); i += batch {
		moves := plan[i:min(i+batch, len(plan))]
		if err := submitReassignments(ctx, cl, moves, out); err != nil {
			return err
		}
		if opts.wait || i+batch < len(plan) {
			if err := awaitReassignments(ctx, cl, moves, out); err != nil {
				return err
			}
		}
	}
	if opts.wait {
		fmt.Fprintf(out, "%d partitions moved in %v\n", len(plan), time.Since(began).Round(time.Millisecond))
		if len(drain) > 0 {
			fmt.Fprintf(out, "node %d holds no replicas; stop it (SIGTERM), then `strata cluster remove %d` drops its registration\n", drain[0], drain[0])
		}
	}
	return nil
}

// setThrottle sets the cluster-wide follower.replication.throttled.rate
// to rate, or removes it for 0.
func setThrottle(ctx context.Context, cl *kgo.Client, rate int64) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeBroker
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name = "follower.replication.throttled.rate"
	if rate > 0 {
		v := strconv.FormatInt(rate, 10)
		c.Op, c.Value = kmsg.IncrementalAlterConfigOpSet, &v
	} else {
		c.Op = kmsg.IncrementalAlterConfigOpDelete
	}
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("setting the copy throttle: %w", err)
	}
	for _, r := range resp.Resources {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return fmt.Errorf("setting the copy throttle: %w", newBrokerError(err, derefStr(r.ErrorMessage)))
		}
	}
	return nil
}

func printPlan(out io.Writer, current, plan []controller.Assignment) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tFROM\tTO")
	for _, a := range plan {
		from := ""
		if i := slices.IndexFunc(current, func(c controller.Assignment) bool { return c.Topic == a.Topic && c.Partition == a.Partition }); i >= 0 {
			from = idList(current[i].Replicas)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", a.Topic, a.Partition, from, idList(a.Replicas))
	}
	_ = tw.Flush()
}

type brokerRow struct {
	id     int32
	rack   string
	fenced bool
}

// loadAssignments reads the registered brokers (fenced ones included) and
// every partition's replicas.
func loadAssignments(ctx context.Context, cl *kgo.Client) ([]brokerRow, []controller.Assignment, error) {
	dreq := kmsg.NewPtrDescribeClusterRequest()
	dreq.IncludeFencedBrokers = true
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, fmt.Errorf("describe cluster: %w", err)
	}
	if err := kerr.ErrorForCode(dresp.ErrorCode); err != nil {
		return nil, nil, newBrokerError(err, derefStr(dresp.ErrorMessage))
	}
	var brokers []brokerRow
	for _, b := range dresp.Brokers {
		brokers = append(brokers, brokerRow{id: b.NodeID, rack: derefStr(b.Rack), fenced: b.IsFenced})
	}
	mresp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	var current []controller.Assignment
	for _, t := range mresp.Topics {
		if kerr.ErrorForCode(t.ErrorCode) != nil || t.Topic == nil {
			continue
		}
		for _, p := range t.Partitions {
			current = append(current, controller.Assignment{Topic: *t.Topic, Partition: p.Partition, Replicas: slices.Clone(p.Replicas)})
		}
	}
	return brokers, current, nil
}

// submitReassignments sends one AlterPartitionReassignments for moves
// (nil replicas: cancel) and reports each partition's answer; it fails if
// any partition was refused.
func submitReassignments(ctx context.Context, cl *kgo.Client, moves []controller.Assignment, out io.Writer) error {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = 30000
	for _, m := range moves {
		i := slices.IndexFunc(req.Topics, func(t kmsg.AlterPartitionAssignmentsRequestTopic) bool { return t.Topic == m.Topic })
		if i < 0 {
			rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			rt.Topic = m.Topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
		}
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = m.Partition, m.Replicas
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("alter partition reassignments: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return newBrokerError(err, derefStr(resp.ErrorMessage))
	}
	var failed []string
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				e := newBrokerError(err, derefStr(p.ErrorMessage))
				fmt.Fprintf(out, "%s/%d: %v\n", t.Topic, p.Partition, e)
				failed = append(failed, fmt.Sprintf("%s/%d", t.Topic, p.Partition))
				continue
			}
			verb := "moving"
			if m := findMove(moves, t.Topic, p.Partition); m != nil && m.Replicas == nil {
				verb = "cancelled"
			}
			fmt.Fprintf(out, "%s/%d: %s\n", t.Topic, p.Partition, verb)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d partitions refused: %s", len(failed), len(moves), strings.Join(failed, ", "))
	}
	return nil
}

func findMove(moves []controller.Assignment, topic string, part int32) *controller.Assignment {
	for i := range moves {
		if moves[i].Topic == topic && moves[i].Partition == part {
			return &moves[i]
		}
	}
	return nil
}

type reassignmentRow struct {
	topic                      string
	partition                  int32
	replicas, adding, removing []int32
}

// listReassignments lists every move in progress.
func listReassignments(ctx context.Context, cl *kgo.Client) ([]reassignmentRow, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list partition reassignments: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, newBrokerError(err, derefStr(resp.ErrorMessage))
	}
	var out []reassignmentRow
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, reassignmentRow{topic: t.Topic, partition: p.Partition, replicas: p.Replicas, adding: p.AddingReplicas, removing: p.RemovingReplicas})
		}
	}
	slices.SortFunc(out, func(a, b reassignmentRow) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition - b.partition)
	})
	return out, nil
}

// awaitReassignments waits until none of moves is in progress, printing
// how many remain every few seconds.
func awaitReassignments(ctx context.Context, cl *kgo.Client, moves []controller.Assignment, out io.Writer) error {
	began, lastSaid := time.Now(), time.Now()
	for {
		ongoing, err := listReassignments(ctx, cl)
		if err != nil {
			return err
		}
		left := 0
		for _, r := range ongoing {
			if findMove(moves, r.topic, r.partition) != nil {
				left++
			}
		}
		if left == 0 {
			fmt.Fprintf(out, "%d moves finished after %v\n", len(moves), time.Since(began).Round(time.Millisecond))
			return nil
		}
		if time.Since(lastSaid) >= 5*time.Second {
			lastSaid = time.Now()
			fmt.Fprintf(out, "%d of %d moves still copying\n", left, len(moves))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d moves still in progress: %w (raise --timeout, or check `strata cluster reassignments`)", left, len(moves), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func parseBrokerIDs(s string) ([]int32, error) {
	parts := splitList(s)
	if len(parts) == 0 {
		return nil, errors.New("--replicas is required: comma-separated broker IDs")
	}
	out := make([]int32, 0, len(parts))
	for _, p := range parts {
		id, err := strconv.ParseInt(p, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("--replicas: %q is not a broker ID", p)
		}
		out = append(out, int32(id))
	}
	return out, nil
}

func idList(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
