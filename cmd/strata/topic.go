package main

import (
	"context"
	"encoding/base64"
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
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// `strata topic ...`: topic administration through the Kafka admin APIs
// (CreateTopics, Metadata, ListOffsets, DescribeConfigs,
// IncrementalAlterConfigs, CreatePartitions, DeleteTopics).

// errNothingToAlter is returned by `topic alter` without any change flag.
var errNothingToAlter = errors.New("nothing to alter: give --config, --delete-config or --partitions")

func init() { rootCmd.AddCommand(newTopicCmd()) }

// topicCmdOptions are the flags shared by every topic subcommand.
type topicCmdOptions struct {
	Client  clientOptions
	Timeout time.Duration
}

// newTopicCmd builds the `topic` command tree.
func newTopicCmd() *cobra.Command {
	var o topicCmdOptions
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics",
	}
	bindClientFlags(cmd.PersistentFlags(), &o.Client)
	cmd.PersistentFlags().DurationVar(&o.Timeout, "timeout", 30*time.Second, "deadline for the whole command")

	cmd.AddCommand(newTopicCreateCmd(&o), newTopicListCmd(&o), newTopicDescribeCmd(&o),
		newTopicAlterCmd(&o), newTopicDeleteCmd(&o))
	return cmd
}

// withAdmin runs fn with an admin client connected per o, under o.Timeout.
func (o *topicCmdOptions) withAdmin(cmd *cobra.Command, fn func(context.Context, *kadm.Client) error) error {
	return o.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
		adm := kadm.NewClient(cl)
		if o.Timeout > 0 {
			adm.SetTimeoutMillis(int32(min(o.Timeout, 5*time.Minute).Milliseconds()))
		}
		return fn(ctx, adm)
	})
}

// topicCreateOptions are the arguments of `topic create`.
type topicCreateOptions struct {
	Name              string
	Partitions        int32 // -1: broker default
	ReplicationFactor int16 // -1: broker default
	Configs           []string
}

func newTopicCreateCmd(o *topicCmdOptions) *cobra.Command {
	var c topicCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.Name = args[0]
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runTopicCreate(ctx, adm, c, cmd.OutOrStdout())
			})
		},
	}
	cmd.Flags().Int32Var(&c.Partitions, "partitions", -1, "number of partitions (-1: broker default)")
	cmd.Flags().Int16Var(&c.ReplicationFactor, "replication-factor", -1, "replicas per partition (-1: broker default)")
	cmd.Flags().StringArrayVar(&c.Configs, "config", nil, "topic config key=value (repeatable)")
	return cmd
}

// runTopicCreate creates one topic and prints what the broker created.
func runTopicCreate(ctx context.Context, adm *kadm.Client, o topicCreateOptions, out io.Writer) error {
	kvs, err := parseKeyValues("--config", o.Configs)
	if err != nil {
		return err
	}
	configs := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		configs[kv.Key] = kadm.StringPtr(kv.Value)
	}
	resp, err := adm.CreateTopics(ctx, o.Partitions, o.ReplicationFactor, configs, o.Name)
	if err != nil {
		return fmt.Errorf("create topic %q: %w", o.Name, err)
	}
	r, ok := resp[o.Name]
	if !ok {
		return fmt.Errorf("create topic %q: broker response did not mention the topic", o.Name)
	}
	if r.Err != nil {
		return fmt.Errorf("create topic %q: %w", o.Name, newBrokerError(r.Err, r.ErrMessage))
	}
	_, err = fmt.Fprintf(out, "created topic %s (partitions %d, replication %d)\n", r.Topic, r.NumPartitions, r.ReplicationFactor)
	return err
}

func newTopicListCmd(o *topicCmdOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List topics with their partition count and replication",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runTopicList(ctx, adm, cmd.OutOrStdout())
			})
		},
	}
}

// runTopicList prints a table of every topic, internal ones included.
func runTopicList(ctx context.Context, adm *kadm.Client, out io.Writer) error {
	topics, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPARTITIONS\tREPLICATION\tINTERNAL")
	for _, t := range topics.Sorted() {
		if t.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t%v\t(%v)\n", t.Topic, t.IsInternal, newBrokerError(t.Err, ""))
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%v\n", t.Topic, len(t.Partitions), replicationOf(t), t.IsInternal)
	}
	return tw.Flush()
}

// replicationOf is the largest replica count among a topic's partitions.
func replicationOf(t kadm.TopicDetail) int {
	rf := 0
	for _, p := range t.Partitions {
		rf = max(rf, len(p.Replicas))
	}
	return rf
}

func newTopicDescribeCmd(o *topicCmdOptions) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "describe NAME...",
		Short: "Show partitions (leader, replicas, ISR, log start/end offsets) and configs",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runTopicDescribe(ctx, adm, args, all, cmd.OutOrStdout())
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all-configs", false, "show every config with its source, not only the topic's overrides")
	return cmd
}

// runTopicDescribe prints each named topic. Topics that fail to load are
// reported in the returned error after the others are printed.
func runTopicDescribe(ctx context.Context, adm *kadm.Client, names []string, allConfigs bool, out io.Writer) error {
	topics, err := adm.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	var errs []error
	var found []string
	for _, n := range names {
		t, ok := topics[n]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %q: not in the metadata response", n))
		case t.Err != nil:
			errs = append(errs, fmt.Errorf("topic %q: %w", n, newBrokerError(t.Err, "")))
		default:
			found = append(found, n)
		}
	}
	if len(found) == 0 {
		return errors.Join(errs...)
	}
	starts, err := adm.ListStartOffsets(ctx, found...)
	if err != nil {
		return fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, found...)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, found...)
	if err != nil {
		return fmt.Errorf("describe configs: %w", err)
	}
	for i, n := range found {
		if i > 0 {
			fmt.Fprintln(out)
		}
		if err := printTopic(out, topics[n], starts, ends, configs, allConfigs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// printTopic writes one topic's description.
func printTopic(out io.Writer, t kadm.TopicDetail, starts, ends kadm.ListedOffsets, configs kadm.ResourceConfigs, allConfigs bool) error {
	fmt.Fprintf(out, "Topic: %s\tID: %s\tPartitions: %d\tReplication: %d\tInternal: %v\n",
		t.Topic, base64.RawURLEncoding.EncodeToString(t.ID[:]), len(t.Partitions), replicationOf(t), t.IsInternal)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tREPLICAS\tISR\tLOG-START\tLOG-END")
	for _, p := range t.Partitions.Sorted() {
		if p.Err != nil {
			fmt.Fprintf(tw, "%d\t-\t-\t-\t-\t-\t%v\n", p.Partition, newBrokerError(p.Err, ""))
			continue
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\n", p.Partition, p.Leader, int32List(p.Replicas),
			int32List(p.ISR), offsetCell(starts, t.Topic, p.Partition), offsetCell(ends, t.Topic, p.Partition))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rc, err := configs.On(t.Topic, nil)
	if err != nil || rc.Err != nil {
		if rc.Err != nil {
			err = newBrokerError(rc.Err, rc.ErrMessage)
		}
		fmt.Fprintf(out, "Configs: unavailable\n")
		return fmt.Errorf("topic %q configs: %w", t.Topic, err)
	}
	shown := make([]kadm.Config, 0, len(rc.Configs))
	for _, c := range rc.Configs {
		if allConfigs || c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			shown = append(shown, c)
		}
	}
	sort.Slice(shown, func(i, j int) bool { return shown[i].Key < shown[j].Key })
	if len(shown) == 0 {
		fmt.Fprintln(out, "Configs: (none set on the topic)")
		return nil
	}
	fmt.Fprintln(out, "Configs:")
	for _, c := range shown {
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		if allConfigs {
			fmt.Fprintf(out, "  %s=%s\t(%s)\n", c.Key, v, configSourceName(c.Source))
		} else {
			fmt.Fprintf(out, "  %s=%s\n", c.Key, v)
		}
	}
	return nil
}

// configSourceName turns DYNAMIC_TOPIC_CONFIG into dynamic-topic-config.
func configSourceName(s kmsg.ConfigSource) string {
	return strings.ReplaceAll(strings.ToLower(s.String()), "_", "-")
}

// offsetCell renders a listed offset, or the partition's error.
func offsetCell(l kadm.ListedOffsets, topic string, partition int32) string {
	o, ok := l.Lookup(topic, partition)
	switch {
	case !ok:
		return "?"
	case o.Err != nil:
		return "error: " + newBrokerError(o.Err, "").Error()
	default:
		return strconv.FormatInt(o.Offset, 10)
	}
}

// int32List renders broker ids as "1,2,3".
func int32List(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(int64(id), 10)
	}
	return strings.Join(parts, ",")
}

// topicAlterOptions are the arguments of `topic alter`.
type topicAlterOptions struct {
	Name          string
	Configs       []string // key=value to set
	DeleteConfigs []string // keys to return to their default
	Partitions    int32    // new total partition count; 0 leaves it unchanged
}

func newTopicAlterCmd(o *topicCmdOptions) *cobra.Command {
	var a topicAlterOptions
	cmd := &cobra.Command{
		Use:   "alter NAME",
		Short: "Change a topic's configs or grow its partition count",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a.Name = args[0]
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runTopicAlter(ctx, adm, a, cmd.OutOrStdout())
			})
		},
	}
	cmd.Flags().StringArrayVar(&a.Configs, "config", nil, "set topic config key=value (repeatable)")
	cmd.Flags().StringArrayVar(&a.DeleteConfigs, "delete-config", nil, "remove a topic config override (repeatable)")
	cmd.Flags().Int32Var(&a.Partitions, "partitions", 0, "new total number of partitions (only grows)")
	return cmd
}

// runTopicAlter applies config changes (IncrementalAlterConfigs) and then a
// partition count change (CreatePartitions).
func runTopicAlter(ctx context.Context, adm *kadm.Client, o topicAlterOptions, out io.Writer) error {
	kvs, err := parseKeyValues("--config", o.Configs)
	if err != nil {
		return err
	}
	if len(kvs) == 0 && len(o.DeleteConfigs) == 0 && o.Partitions == 0 {
		return errNothingToAlter
	}
	if o.Partitions < 0 {
		return fmt.Errorf("--partitions %d: must be positive", o.Partitions)
	}
	alters := make([]kadm.AlterConfig, 0, len(kvs)+len(o.DeleteConfigs))
	for _, kv := range kvs {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv.Key, Value: kadm.StringPtr(kv.Value)})
	}
	for _, k := range o.DeleteConfigs {
		if k = strings.TrimSpace(k); k == "" {
			return fmt.Errorf("--delete-config: empty key")
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(alters) > 0 {
		resp, err := adm.AlterTopicConfigs(ctx, alters, o.Name)
		if err != nil {
			return fmt.Errorf("alter topic %q configs: %w", o.Name, err)
		}
		r, err := resp.On(o.Name, nil)
		if err == nil {
			err = newBrokerError(r.Err, r.ErrMessage)
		}
		if err != nil {
			return fmt.Errorf("alter topic %q configs: %w", o.Name, err)
		}
		fmt.Fprintf(out, "altered %d config(s) on topic %s\n", len(alters), o.Name)
	}
	if o.Partitions > 0 {
		resp, err := adm.UpdatePartitions(ctx, int(o.Partitions), o.Name)
		if err != nil {
			return fmt.Errorf("alter topic %q partitions: %w", o.Name, err)
		}
		r, err := resp.On(o.Name, nil)
		if err == nil {
			err = newBrokerError(r.Err, r.ErrMessage)
		}
		if err != nil {
			return fmt.Errorf("alter topic %q partitions: %w", o.Name, err)
		}
		fmt.Fprintf(out, "topic %s now has %d partitions\n", o.Name, o.Partitions)
	}
	return nil
}

func newTopicDeleteCmd(o *topicCmdOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runTopicDelete(ctx, adm, args, cmd.OutOrStdout())
			})
		},
	}
}

// runTopicDelete deletes the named topics, reporting each one.
func runTopicDelete(ctx context.Context, adm *kadm.Client, names []string, out io.Writer) error {
	resp, err := adm.DeleteTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("delete topics: %w", err)
	}
	var errs []error
	for _, n := range names {
		r, ok := resp[n]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("delete topic %q: broker response did not mention the topic", n))
		case r.Err != nil:
			errs = append(errs, fmt.Errorf("delete topic %q: %w", n, newBrokerError(r.Err, r.ErrMessage)))
		default:
			fmt.Fprintf(out, "deleted topic %s\n", n)
		}
	}
	return errors.Join(errs...)
}
