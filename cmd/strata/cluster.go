package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// `strata cluster ...`: what the cluster looks like, through the Kafka
// APIs every node serves: DescribeCluster (v2, fenced brokers included),
// DescribeQuorum (the metadata raft as __cluster_metadata-0, asked of
// every node so each reports its own log end) and Metadata (partition
// leader and replica counts).

func init() { rootCmd.AddCommand(newClusterCmd()) }

func newClusterCmd() *cobra.Command {
	var o topicCmdOptions
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster's nodes and quorum; move partitions, rebalance, decommission nodes",
	}
	bindClientFlags(cmd.PersistentFlags(), &o.Client)
	cmd.PersistentFlags().DurationVar(&o.Timeout, "timeout", 15*time.Second, "deadline for the whole command")
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Raft leader, term, commit index, and per node: role, liveness, metadata log end, partition leaders",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				v, err := loadClusterView(ctx, cl, true)
				if err != nil {
					return err
				}
				return v.printStatus(cmd.OutOrStdout())
			})
		},
	}, &cobra.Command{
		Use:   "nodes",
		Short: "List the registered nodes with address, rack, role and liveness",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				v, err := loadClusterView(ctx, cl, false)
				if err != nil {
					return err
				}
				return v.printNodes(cmd.OutOrStdout())
			})
		},
	})
	addReassignCmds(cmd, &o)
	return cmd
}

// withClient runs fn with a client connected per o, under o.Timeout.
func (o *topicCmdOptions) withClient(cmd *cobra.Command, fn func(context.Context, *kgo.Client) error) error {
	opts, err := o.Client.kgoOpts()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cl.Close()
	return fn(ctx, cl)
}

// clusterNode is one registered broker as the CLI shows it.
type clusterNode struct {
	id       int32
	addr     string
	rack     string
	fenced   bool
	role     string // voter, observer, or "-" (not a raft member)
	logEnd   int64  // its metadata log end, as it reports it; -1 unknown
	reachErr error  // why it could not be asked, if it could not
	leaders  int
	replicas int
}

// clusterView is what status and nodes print.
type clusterView struct {
	clusterID        string
	controller       int32
	raftLeader       int32
	term             int32
	commitIndex      int64
	topics, parts    int
	offline          int
	nodes            []*clusterNode
	quorumErr        error
	unregisteredRaft []int32 // raft members that are not registered brokers
}

// quorumTopic is the name DescribeQuorum knows the metadata log by.
const quorumTopic = "__cluster_metadata"

func describeQuorumReq() *kmsg.DescribeQuorumRequest {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = quorumTopic
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

// quorumPartition returns the one partition of a DescribeQuorum response.
func quorumPartition(resp *kmsg.DescribeQuorumResponse) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, newBrokerError(err, derefStr(resp.ErrorMessage))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("describe quorum: malformed response")
	}
	p := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, newBrokerError(err, derefStr(p.ErrorMessage))
	}
	return p, nil
}

func derefStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// loadClusterView asks the cluster for its brokers, quorum and partition
// placement; with perNode it also asks every broker for its own metadata
// log end.
func loadClusterView(ctx context.Context, cl *kgo.Client, perNode bool) (*clusterView, error) {
	dreq := kmsg.NewPtrDescribeClusterRequest()
	dreq.IncludeFencedBrokers = true
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("describe cluster: %w", err)
	}
	if err := kerr.ErrorForCode(dresp.ErrorCode); err != nil {
		return nil, newBrokerError(err, derefStr(dresp.ErrorMessage))
	}
	v := &clusterView{clusterID: dresp.ClusterID, controller: dresp.ControllerID, raftLeader: -1}
	byID := map[int32]*clusterNode{}
	for _, b := range dresp.Brokers {
		n := &clusterNode{id: b.NodeID, addr: net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))),
			fenced: b.IsFenced, role: "-", logEnd: -1}
		if b.Rack != nil {
			n.rack = *b.Rack
		}
		byID[b.NodeID] = n
		v.nodes = append(v.nodes, n)
	}
	sort.Slice(v.nodes, func(i, j int) bool { return v.nodes[i].id < v.nodes[j].id })

	qresp, err := describeQuorumReq().RequestWith(ctx, cl)
	if err == nil {
		var p *kmsg.DescribeQuorumResponseTopicPartition
		if p, err = quorumPartition(qresp); err == nil {
			v.raftLeader, v.term, v.commitIndex = p.LeaderID, p.LeaderEpoch, p.HighWatermark
			mark := func(states []kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
				for _, rs := range states {
					if n := byID[rs.ReplicaID]; n != nil {
						n.role = role
					} else {
						v.unregisteredRaft = append(v.unregisteredRaft, rs.ReplicaID)
					}
				}
			}
			mark(p.CurrentVoters, "voter")
			mark(p.Observers, "observer")
		}
	}
	v.quorumErr = err

	mreq := kmsg.NewPtrMetadataRequest()
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	for _, t := range mresp.Topics {
		if kerr.ErrorForCode(t.ErrorCode) != nil {
			continue
		}
		v.topics++
		for _, p := range t.Partitions {
			v.parts++
			if p.Leader < 0 {
				v.offline++
			} else if n := byID[p.Leader]; n != nil {
				n.leaders++
			}
			for _, r := range p.Replicas {
				if n := byID[r]; n != nil {
					n.replicas++
				}
			}
		}
	}

	if perNode {
		for _, n := range v.nodes {
			// A fenced broker is not in Metadata, so the client cannot
			// address it; its lease lapsed, which says enough.
			if n.role == "-" || n.fenced {
				continue
			}
			// Each node answers for itself; a dead one costs at most a
			// few seconds.
			nctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			resp, err := describeQuorumReq().RequestWith(nctx, cl.Broker(int(n.id)))
			cancel()
			if err == nil {
				var p *kmsg.DescribeQuorumResponseTopicPartition
				if p, err = quorumPartition(resp); err == nil {
					for _, rs := range append(p.CurrentVoters, p.Observers...) {
						if rs.ReplicaID == n.id {
							n.logEnd = rs.LogEndOffset
						}
					}
				}
			}
			n.reachErr = err
		}
	}
	return v, nil
}

func (n *clusterNode) liveness() string {
	switch {
	case n.fenced:
		return "fenced"
	case n.reachErr != nil:
		return "unreachable"
	default:
		return "live"
	}
}

func (v *clusterView) roleOf(n *clusterNode) string {
	if n.id == v.raftLeader {
		return "voter (leader)"
	}
	return n.role
}

func (v *clusterView) printNodes(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tRACK\tROLE\tSTATUS")
	for _, n := range v.nodes {
		rack := n.rack
		if rack == "" {
			rack = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", n.id, n.addr, rack, v.roleOf(n), n.liveness())
	}
	return tw.Flush()
}

func (v *clusterView) printStatus(out io.Writer) error {
	fmt.Fprintf(out, "cluster id:   %s\n", v.clusterID)
	fmt.Fprintf(out, "controller:   %d\n", v.controller)
	if v.quorumErr != nil {
		fmt.Fprintf(out, "raft:         unavailable (%v)\n", v.quorumErr)
	} else {
		fmt.Fprintf(out, "raft leader:  %d (term %d, commit index %d)\n", v.raftLeader, v.term, v.commitIndex)
	}
	fmt.Fprintf(out, "topics:       %d (%d partitions, %d without a leader)\n", v.topics, v.parts, v.offline)
	if len(v.unregisteredRaft) > 0 {
		fmt.Fprintf(out, "raft members not registered as brokers: %v\n", v.unregisteredRaft)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tRACK\tROLE\tSTATUS\tMETADATA LOG END\tLAG\tLEADERS\tREPLICAS")
	for _, n := range v.nodes {
		rack := n.rack
		if rack == "" {
			rack = "-"
		}
		end, lag := "-", "-"
		if n.logEnd >= 0 {
			end = strconv.FormatInt(n.logEnd, 10)
			if v.quorumErr == nil {
				lag = strconv.FormatInt(max(0, v.commitIndex-n.logEnd), 10)
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", n.id, n.addr, rack, v.roleOf(n), n.liveness(), end, lag, n.leaders, n.replicas)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range v.nodes {
		if n.reachErr != nil {
			fmt.Fprintf(out, "node %d: %v\n", n.id, n.reachErr)
		}
	}
	return nil
}
