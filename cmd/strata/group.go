package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// `strata group ...`: consumer-group administration through the Kafka admin
// APIs (ListGroups, DescribeGroups, OffsetFetch, ListOffsets, OffsetCommit,
// DeleteGroups).

var (
	// errResetTarget is returned when reset-offsets gets no target or more
	// than one.
	errResetTarget = errors.New("give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset")
	// errGroupActive is returned when reset-offsets is asked to change the
	// offsets of a group that has members.
	errGroupActive = errors.New("group has active members: stop its consumers first")
)

func init() { rootCmd.AddCommand(newGroupCmd()) }

// newGroupCmd builds the `group` command tree. It shares the topic
// command's connection flags and timeout.
func newGroupCmd() *cobra.Command {
	var o topicCmdOptions
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe (with lag), delete consumer groups and reset their offsets",
	}
	bindClientFlags(cmd.PersistentFlags(), &o.Client)
	cmd.PersistentFlags().DurationVar(&o.Timeout, "timeout", 30*time.Second, "deadline for the whole command")
	cmd.AddCommand(newGroupListCmd(&o), newGroupDescribeCmd(&o), newGroupDeleteCmd(&o), newGroupResetCmd(&o))
	return cmd
}

func newGroupListCmd(o *topicCmdOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List consumer groups with their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runGroupList(ctx, adm, cmd.OutOrStdout())
			})
		},
	}
}

// runGroupList prints a table of every group.
func runGroupList(ctx context.Context, adm *kadm.Client, out io.Writer) error {
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE\tCOORDINATOR")
	for _, g := range groups.Sorted() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", g.Group, g.State, orDash(g.ProtocolType), g.Coordinator)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newGroupDescribeCmd(o *topicCmdOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's state, members and, per partition, committed offset, log end and lag",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runGroupDescribe(ctx, adm, args, cmd.OutOrStdout())
			})
		},
	}
}

// runGroupDescribe prints each group: a summary line, then one row per
// partition with its commit, log end offset, lag and owning member.
func runGroupDescribe(ctx context.Context, adm *kadm.Client, groups []string, out io.Writer) error {
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return fmt.Errorf("describe groups: %w", err)
	}
	var errs []error
	for i, name := range groups {
		l, ok := lags[name]
		if !ok {
			errs = append(errs, fmt.Errorf("group %q: not in the response", name))
			continue
		}
		if l.DescribeErr != nil {
			errs = append(errs, fmt.Errorf("group %q: %w", name, newBrokerError(l.DescribeErr, "")))
			continue
		}
		if l.State == "Dead" {
			errs = append(errs, fmt.Errorf("group %q: %w", name, newBrokerError(kerr.GroupIDNotFound, "")))
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "Group: %s  State: %s  Protocol: %s/%s  Members: %d  Total lag: %d\n",
			l.Group, l.State, orDash(l.ProtocolType), orDash(l.Protocol), len(l.Members), l.Lag.Total())
		if l.FetchErr != nil {
			errs = append(errs, fmt.Errorf("group %q offsets: %w", name, newBrokerError(l.FetchErr, "")))
			continue
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBER-ID\tCLIENT-ID\tHOST")
		for _, ml := range l.Lag.Sorted() {
			cur := "-"
			if ml.Commit.At >= 0 {
				cur = strconv.FormatInt(ml.Commit.At, 10)
			}
			end, lag := "-", "-"
			if ml.End.Err == nil {
				end = strconv.FormatInt(ml.End.Offset, 10)
			}
			if ml.Lag >= 0 {
				lag = strconv.FormatInt(ml.Lag, 10)
			}
			member, client, host := "-", "-", "-"
			if ml.Member != nil {
				member, client, host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ml.Topic, ml.Partition, cur, end, lag, member, client, host)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func newGroupDeleteCmd(o *topicCmdOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete empty groups and their committed offsets",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runGroupDelete(ctx, adm, args, cmd.OutOrStdout())
			})
		},
	}
}

// runGroupDelete deletes each group, reporting failures after the others.
func runGroupDelete(ctx context.Context, adm *kadm.Client, groups []string, out io.Writer) error {
	resp, err := adm.DeleteGroups(ctx, groups...)
	if err != nil {
		return fmt.Errorf("delete groups: %w", err)
	}
	var errs []error
	for _, g := range groups {
		r, ok := resp[g]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("delete group %q: not in the response", g))
		case r.Err != nil:
			errs = append(errs, fmt.Errorf("delete group %q: %w", g, newBrokerError(r.Err, "")))
		default:
			fmt.Fprintf(out, "deleted group %s\n", g)
		}
	}
	return errors.Join(errs...)
}

// groupResetOptions are the arguments of `group reset-offsets`.
type groupResetOptions struct {
	Group      string
	Topics     []string // TOPIC or TOPIC:P,P,...
	AllTopics  bool
	ToEarliest bool
	ToLatest   bool
	ToDatetime string
	ToOffset   int64
	Execute    bool
}

func newGroupResetCmd(o *topicCmdOptions) *cobra.Command {
	var c groupResetOptions
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Move a stopped group's committed offsets (dry run unless --execute)",
		Long: `Move the committed offsets of a group whose consumers are stopped.

Without --execute the new offsets are only printed. Partitions come from
--topic (repeatable; TOPIC for every partition or TOPIC:0,2 for some) or
--all-topics (every topic the group has commits for). The target is one of
--to-earliest, --to-latest, --to-datetime (RFC 3339, or milliseconds since
the epoch: the first offset at or after it) or --to-offset N (clamped into
the partition's log).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.Group = args[0]
			c.ToOffset = -1
			if cmd.Flags().Changed("to-offset") {
				v, _ := cmd.Flags().GetInt64("to-offset")
				c.ToOffset = v
				if v < 0 {
					return fmt.Errorf("--to-offset %d: must be >= 0", v)
				}
			}
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runGroupReset(ctx, adm, c, cmd.OutOrStdout())
			})
		},
	}
	cmd.Flags().StringArrayVar(&c.Topics, "topic", nil, "TOPIC or TOPIC:P,P (repeatable)")
	cmd.Flags().BoolVar(&c.AllTopics, "all-topics", false, "every topic the group has committed offsets for")
	cmd.Flags().BoolVar(&c.ToEarliest, "to-earliest", false, "reset to the log start offset")
	cmd.Flags().BoolVar(&c.ToLatest, "to-latest", false, "reset to the log end offset")
	cmd.Flags().StringVar(&c.ToDatetime, "to-datetime", "", "reset to the first offset at or after this time")
	cmd.Flags().Int64("to-offset", -1, "reset to this offset")
	cmd.Flags().BoolVar(&c.Execute, "execute", false, "commit the new offsets (default: dry run)")
	return cmd
}

// parseResetTime accepts RFC 3339 or milliseconds since the epoch.
func parseResetTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("--to-datetime %q: want RFC 3339 (2024-01-02T15:04:05Z) or epoch milliseconds", s)
	}
	return t.UnixMilli(), nil
}

// resetScope resolves --topic/--all-topics into the partitions to reset.
func resetScope(ctx context.Context, adm *kadm.Client, o groupResetOptions, committed kadm.OffsetResponses) (map[string][]int32, error) {
	if o.AllTopics == (len(o.Topics) > 0) {
		return nil, errors.New("give --topic or --all-topics (one of them)")
	}
	scope := map[string][]int32{}
	if o.AllTopics {
		committed.Each(func(r kadm.OffsetResponse) {
			scope[r.Topic] = append(scope[r.Topic], r.Partition)
		})
		if len(scope) == 0 {
			return nil, fmt.Errorf("group %q has no committed offsets", o.Group)
		}
		return scope, nil
	}
	for _, spec := range o.Topics {
		name, parts, hasParts := strings.Cut(spec, ":")
		var want []int32
		if hasParts {
			for _, p := range splitList(parts) {
				n, err := strconv.ParseInt(p, 10, 32)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("--topic %q: bad partition %q", spec, p)
				}
				want = append(want, int32(n))
			}
		}
		t, err := lookupTopic(ctx, adm, name, want)
		if err != nil {
			return nil, err
		}
		if !hasParts {
			for p := range t.Partitions {
				want = append(want, p)
			}
		}
		scope[name] = append(scope[name], want...)
	}
	return scope, nil
}

// runGroupReset computes the new offsets, prints them beside the current
// ones, and commits them with --execute.
func runGroupReset(ctx context.Context, adm *kadm.Client, o groupResetOptions, out io.Writer) error {
	targets := 0
	for _, set := range []bool{o.ToEarliest, o.ToLatest, o.ToDatetime != "", o.ToOffset >= 0} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		return errResetTarget
	}
	ds, err := adm.DescribeGroups(ctx, o.Group)
	if err != nil {
		return fmt.Errorf("describe group %q: %w", o.Group, err)
	}
	if d := ds[o.Group]; d.Err != nil {
		return fmt.Errorf("describe group %q: %w", o.Group, newBrokerError(d.Err, d.ErrMessage))
	} else if len(d.Members) > 0 {
		return fmt.Errorf("group %q (%s, %d members): %w", o.Group, d.State, len(d.Members), errGroupActive)
	}
	committed, err := adm.FetchOffsets(ctx, o.Group)
	if err != nil {
		return fmt.Errorf("fetch offsets of %q: %w", o.Group, err)
	}
	scope, err := resetScope(ctx, adm, o, committed)
	if err != nil {
		return err
	}
	topics := make([]string, 0, len(scope))
	for t := range scope {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	var byTime kadm.ListedOffsets
	if o.ToDatetime != "" {
		ms, err := parseResetTime(o.ToDatetime)
		if err != nil {
			return err
		}
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, ms, topics...); err != nil {
			return fmt.Errorf("list offsets by time: %w", err)
		}
	}
	newOffsets := kadm.Offsets{}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET")
	for _, t := range topics {
		parts := scope[t]
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			start, sok := starts.Lookup(t, p)
			end, eok := ends.Lookup(t, p)
			if !sok || !eok || start.Err != nil || end.Err != nil {
				return fmt.Errorf("offsets of %s[%d] unavailable: %v %v", t, p, start.Err, end.Err)
			}
			var target int64
			switch {
			case o.ToEarliest:
				target = start.Offset
			case o.ToLatest:
				target = end.Offset
			case o.ToDatetime != "":
				target = end.Offset
				if lo, ok := byTime.Lookup(t, p); ok && lo.Err == nil && lo.Offset >= 0 {
					target = lo.Offset
				}
			default:
				target = min(max(o.ToOffset, start.Offset), end.Offset)
			}
			cur := "-"
			if c, ok := committed.Lookup(t, p); ok && c.Err == nil && c.At >= 0 {
				cur = strconv.FormatInt(c.At, 10)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", t, p, cur, target)
			newOffsets.Add(kadm.Offset{Topic: t, Partition: p, At: target, LeaderEpoch: -1})
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !o.Execute {
		_, err := fmt.Fprintln(out, "dry run: nothing committed (add --execute to apply)")
		return err
	}
	resp, err := adm.CommitOffsets(ctx, o.Group, newOffsets)
	if err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	var errs []error
	resp.Each(func(r kadm.OffsetResponse) {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", r.Topic, r.Partition, newBrokerError(r.Err, "")))
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	_, err = fmt.Fprintf(out, "committed %d offset(s) for group %s\n", len(newOffsets.Sorted()), o.Group)
	return err
}
