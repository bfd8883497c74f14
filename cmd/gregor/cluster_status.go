package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic is the metadata quorum's log as DescribeQuorum names it.
const metadataTopic = "__cluster_metadata"

func newClusterStatusCommand() *cobra.Command {
	var (
		client  clientOptions
		dir     string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's brokers, controller, metadata quorum, and offline and under-replicated partitions",
		Long: `Show the cluster as its brokers report it: every live broker, the active
controller, the metadata quorum (leader, epoch, high watermark, each voter's
and observer's log end offset and lag, and how long ago the leader last heard
from it and saw it caught up: one unheard for 2 s is marked unreachable),
and the partitions that are offline
(no leader) or under-replicated (fewer in-sync replicas than replicas), and
how many replicas are out of the ISR, by broker; with
--dir, also which nodes of that cluster have a process running, and which
of those are stopped by a signal (SIGSTOP).
Connects to --brokers, or to the cluster gregor cluster up started in --dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var local *localCluster
			if dir != "" {
				c, err := readLocalCluster(dir)
				if err != nil {
					return err
				}
				if len(c.running()) == 0 {
					return fmt.Errorf("no node of the cluster in %s runs: start it with gregor cluster up --dir %s", dir, dir)
				}
				if len(client.brokers) == 0 {
					client.brokers = c.bootstrap()
				}
				local = &c
			}
			session, err := client.open(cmd)
			if err != nil {
				return err
			}
			defer session.close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := clusterStatus(ctx, session.client, cmd.OutOrStdout()); err != nil {
				return err
			}
			if local != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "\nPROCESSES  %s\n", local.processes())
			}
			return nil
		},
	}
	client.register(cmd)
	cmd.Flags().StringVar(&dir, "dir", "", "directory of a cluster started by gregor cluster up")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long the requests may take")
	return cmd
}

// clusterStatus prints what Metadata and DescribeQuorum report.
func clusterStatus(ctx context.Context, cl *kgo.Client, out io.Writer) error {
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	clusterID := "-"
	if md.ClusterID != nil {
		clusterID = *md.ClusterID
	}
	fmt.Fprintf(tw, "CLUSTER\t%s\nCONTROLLER\t%d\n\nBROKER\tADDRESS\tRACK\n", clusterID, md.ControllerID)
	sort.Slice(md.Brokers, func(i, j int) bool { return md.Brokers[i].NodeID < md.Brokers[j].NodeID })
	for _, b := range md.Brokers {
		rack := "-"
		if b.Rack != nil {
			rack = *b.Rack
		}
		fmt.Fprintf(tw, "%d\t%s:%d\t%s\n", b.NodeID, b.Host, b.Port, rack)
	}
	writeQuorumStatus(ctx, cl, tw)
	writePartitionHealth(tw, md)
	return tw.Flush()
}

// writeQuorumStatus prints the metadata quorum as its leader describes it.
func writeQuorumStatus(ctx context.Context, cl *kgo.Client, tw io.Writer) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = metadataTopic
	t.Partitions = append(t.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil && (len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1) {
		err = fmt.Errorf("an answer without the metadata partition")
	}
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	if err != nil {
		fmt.Fprintf(tw, "\nQUORUM\t(unavailable: %v)\n", err)
		return
	}
	writeQuorumMembers(tw, resp.Topics[0].Partitions[0], time.Now())
}

// quorumUnreachableAfter is how long the quorum leader may not hear from a
// member before status calls it unreachable: Kafka's default
// controller.quorum.fetch.timeout.ms, after which a voter that heard nothing
// from its leader campaigns. gregor's leader reaches every member each
// tenth of controller.quorum.election.timeout.ms (100 ms by default).
const quorumUnreachableAfter = 2 * time.Second

// writeQuorumMembers prints the quorum's leader, epoch and high watermark,
// and a line per voter and observer with the times the leader last heard
// from it and last saw it caught up, as long ago as of now (as
// kafka-metadata-quorum describe --replication --human-readable shows
// them). A member the leader has not heard from for quorumUnreachableAfter,
// or at all, is marked unreachable: its log end offset and lag are the
// last the leader knew.
func writeQuorumMembers(tw io.Writer, p kmsg.DescribeQuorumResponseTopicPartition, now time.Time) {
	fmt.Fprintf(tw, "\nQUORUM LEADER\t%d\nQUORUM EPOCH\t%d\nHIGH WATERMARK\t%d\n\nQUORUM MEMBER\tROLE\tLOG-END-OFFSET\tLAG\tLAST-FETCH\tLAST-CAUGHT-UP\n",
		p.LeaderID, p.LeaderEpoch, p.HighWatermark)
	member := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
		if r.ReplicaID == p.LeaderID {
			role = "leader"
		} else if r.LastFetchTimestamp <= 0 || now.Sub(time.UnixMilli(r.LastFetchTimestamp)) > quorumUnreachableAfter {
			role += ", unreachable"
		}
		lag := "-"
		if r.LogEndOffset >= 0 {
			lag = fmt.Sprint(max(0, p.HighWatermark-r.LogEndOffset))
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", r.ReplicaID, role, r.LogEndOffset, lag,
			timeAgo(r.LastFetchTimestamp, now), timeAgo(r.LastCaughtUpTimestamp, now))
	}
	for _, v := range p.CurrentVoters {
		member(v, "voter")
	}
	for _, o := range p.Observers {
		member(o, "observer")
	}
}

// timeAgo says how long before now the Unix ms timestamp ms was: "-" for
// none (0 or -1), milliseconds under a second, tenths of seconds under a
// minute, whole seconds beyond. A timestamp after now (the leader's clock
// ahead of this machine's) is "0ms ago".
func timeAgo(ms int64, now time.Time) string {
	if ms <= 0 {
		return "-"
	}
	d := max(0, now.Sub(time.UnixMilli(ms)))
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms ago", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs ago", d.Seconds())
	}
	return d.Round(time.Second).String() + " ago"
}

// writePartitionHealth lists the partitions without a leader and those
// with fewer in-sync replicas than replicas (by topic, then partition
// number), how many replicas are out of the ISR, by broker (while a node
// is down or paused, that line names it), and the replicas offline on a
// running broker (its log corrupt or its disk failing or full), by broker.
func writePartitionHealth(tw io.Writer, md *kmsg.MetadataResponse) {
	type partitionID struct {
		topic     string
		partition int32
	}
	var offline, under []partitionID
	notInISR := map[int32]int{}
	offlineOn := map[int32][]partitionID{} // by running broker
	running := map[int32]bool{}
	for _, b := range md.Brokers {
		running[b.NodeID] = true
	}
	isr := map[partitionID][]int32{}
	replicas := map[partitionID][]int32{}
	total := 0
	for _, t := range md.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		for _, p := range t.Partitions {
			total++
			id := partitionID{name, p.Partition}
			isr[id], replicas[id] = p.ISR, p.Replicas
			for _, r := range p.Replicas {
				if !slices.Contains(p.ISR, r) {
					notInISR[r]++
				}
			}
			for _, r := range p.OfflineReplicas {
				if running[r] {
					offlineOn[r] = append(offlineOn[r], id)
				}
			}
			switch {
			case p.Leader < 0:
				offline = append(offline, id)
			case len(p.ISR) < len(p.Replicas):
				under = append(under, id)
			}
		}
	}
	byID := func(a, b partitionID) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	}
	slices.SortFunc(offline, byID)
	slices.SortFunc(under, byID)
	offlineNames, underNames := make([]string, 0, len(offline)), make([]string, 0, len(under))
	for _, id := range offline {
		offlineNames = append(offlineNames, fmt.Sprintf("%s-%d", id.topic, id.partition))
	}
	for _, id := range under {
		underNames = append(underNames, fmt.Sprintf("%s-%d (isr %v of %v)", id.topic, id.partition, isr[id], replicas[id]))
	}
	fmt.Fprintf(tw, "\nPARTITIONS\t%d\n", total)
	healthLine(tw, "OFFLINE", offlineNames)
	healthLine(tw, "UNDER-REPLICATED", underNames)
	if len(notInISR) > 0 {
		var parts []string
		replicasOut := 0
		for _, b := range slices.Sorted(maps.Keys(notInISR)) {
			parts = append(parts, fmt.Sprintf("broker %d: %d", b, notInISR[b]))
			replicasOut += notInISR[b]
		}
		fmt.Fprintf(tw, "OUT OF ISR\t%d\treplicas; %s\n", replicasOut, strings.Join(parts, ", "))
	}
	if len(offlineOn) > 0 {
		var parts []string
		count := 0
		for _, b := range slices.Sorted(maps.Keys(offlineOn)) {
			ids := offlineOn[b]
			slices.SortFunc(ids, byID)
			names := make([]string, 0, len(ids))
			for _, id := range ids {
				names = append(names, fmt.Sprintf("%s-%d", id.topic, id.partition))
			}
			parts = append(parts, fmt.Sprintf("broker %d: %s", b, firstOf(names)))
			count += len(ids)
		}
		fmt.Fprintf(tw, "OFFLINE REPLICAS\t%d\t%s (on running brokers: a corrupt log, a failing or full disk; see that broker's log)\n", count, strings.Join(parts, "; "))
	}
}

// healthLine prints the count of names under label, and the first of them
// when there are any (no empty cell, which tabwriter would pad with
// trailing spaces).
func healthLine(tw io.Writer, label string, names []string) {
	if len(names) == 0 {
		fmt.Fprintf(tw, "%s\t0\n", label)
		return
	}
	fmt.Fprintf(tw, "%s\t%d\t%s\n", label, len(names), firstOf(names))
}

// healthListMax is how many partitions of a kind status names; while a
// node is down, every partition it holds is under-replicated, and the
// line of all of them (hundreds) said less than the count.
const healthListMax = 10

// firstOf joins the first healthListMax names, and says how many more
// there are (gregor topic describe shows them).
func firstOf(names []string) string {
	if len(names) <= healthListMax {
		return strings.Join(names, " ")
	}
	return fmt.Sprintf("%s ... and %d more", strings.Join(names[:healthListMax], " "), len(names)-healthListMax)
}

// processes says which of c's nodes have a process running, by the pid
// files cluster up wrote: while a node is down, the brokers' metadata goes
// on naming it until the controller fences it, and its quorum membership
// stays.
func (c localCluster) processes() string {
	parts := make([]string, 0, c.nodes)
	for i := 1; i <= c.nodes; i++ {
		if pid := c.runningPID(i); pid != 0 && processState(pid) == 'T' {
			parts = append(parts, fmt.Sprintf("node %d STOPPED by a signal (pid %d; kill -CONT %d resumes it)", i, pid, pid))
		} else if pid != 0 {
			parts = append(parts, fmt.Sprintf("node %d running (pid %d)", i, pid))
		} else {
			parts = append(parts, fmt.Sprintf("node %d NOT RUNNING", i))
		}
	}
	return strings.Join(parts, ", ")
}
