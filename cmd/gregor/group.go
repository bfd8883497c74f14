package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newGroupCommand() *cobra.Command {
	opts := &adminOptions{}
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, reset the offsets of and delete consumer groups",
	}
	opts.register(cmd, "group")
	cmd.AddCommand(
		newGroupListCommand(opts),
		newGroupDescribeCommand(opts),
		newGroupResetOffsetsCommand(opts),
		newGroupDeleteCommand(opts),
	)
	return cmd
}

func newGroupListCommand(opts *adminOptions) *cobra.Command {
	var states, types []string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List groups",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				listed, err := listGroups(ctx, cl, states, types)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "GROUP\tTYPE\tSTATE\tPROTOCOL-TYPE")
				for _, g := range listed {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", groupLabel(g.Group), orDash(g.GroupType), orDash(g.GroupState), orDash(g.ProtocolType))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "list only groups in these states (Stable, Empty, PreparingRebalance, ...)")
	cmd.Flags().StringSliceVar(&types, "type", nil, "list only groups of these types (classic, consumer)")
	return cmd
}

// listGroups asks every broker for its groups, sorted by name.
func listGroups(ctx context.Context, cl *kgo.Client, states, types []string) ([]kmsg.ListGroupsResponseGroup, error) {
	req := kmsg.NewPtrListGroupsRequest()
	req.StatesFilter, req.TypesFilter = states, types
	var out []kmsg.ListGroupsResponseGroup
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return nil, fmt.Errorf("list groups on broker %d: %w", shard.Meta.NodeID, shard.Err)
		}
		resp := shard.Resp.(*kmsg.ListGroupsResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, fmt.Errorf("list groups on broker %d: %w", shard.Meta.NodeID, err)
		}
		out = append(out, resp.Groups...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}

// groupLabel is how the CLI prints a group id: the id "" (a group of
// offsets that old clients commit without a group, as Kafka keeps them) as
// "" rather than as nothing.
func groupLabel(id string) string {
	if id == "" {
		return `""`
	}
	return id
}

// orDash prints an empty string as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newGroupDescribeCommand(opts *adminOptions) *cobra.Command {
	var allGroups bool
	cmd := &cobra.Command{
		Use:   "describe [GROUP...]",
		Short: "Show a group's members, their assignments, and the committed offset, log end offset and lag of each partition (every group's without one)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, names []string) error {
			if allGroups && len(names) > 0 {
				return errors.New("--all-groups describes every group: name no group with it")
			}
			return opts.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				adm := kadm.NewClient(cl)
				out := cmd.OutOrStdout()
				if len(names) == 0 {
					listed, err := listGroups(ctx, cl, nil, nil)
					if err != nil {
						return err
					}
					if len(listed) == 0 {
						fmt.Fprintln(out, "no groups")
						return nil
					}
					for _, g := range listed {
						names = append(names, g.Group)
					}
				}
				for i, name := range names {
					if i > 0 {
						fmt.Fprintln(out)
					}
					view, err := describeGroup(ctx, adm, name)
					if err != nil {
						return err
					}
					lags, err := groupLag(ctx, adm, view)
					if err != nil {
						return err
					}
					if err := writeGroup(out, view, lags); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&allGroups, "all-groups", false, "describe every group, as kafka-consumer-groups --describe --all-groups (the same as naming none)")
	acceptGroupFlag(cmd)
	return cmd
}

// deleteGroups deletes the groups, asking again for those whose coordinator
// is not ready yet (until ctx ends), but not for those answered: a group
// deleted by the first ask would be not found by the next.
func deleteGroups(ctx context.Context, adm *kadm.Client, names []string) (kadm.DeleteGroupResponses, error) {
	answered := make(kadm.DeleteGroupResponses, len(names))
	pending := names
	err := untilCoordinatorReady(ctx, func() error {
		resps, err := adm.DeleteGroups(ctx, pending...)
		var again []string
		for _, g := range pending {
			r, ok := resps[g]
			switch {
			case ok && !coordinatorNotReady(r.Err):
				answered[g] = r
			case ok:
				again, err = append(again, g), cmp.Or(err, r.Err)
			default:
				again = append(again, g)
			}
		}
		pending = again
		if len(pending) > 0 && err == nil {
			err = fmt.Errorf("no answer for groups %v", pending)
		}
		return err
	})
	if len(answered) == 0 && err != nil {
		return nil, err
	}
	for _, g := range pending { // not answered in time: each fails with the last error
		answered[g] = kadm.DeleteGroupResponse{Group: g, Err: err}
	}
	return answered, nil
}

// groupView is what describe shows of a group, from either protocol.
type groupView struct {
	name, typ, state, protocol string
	members                    []memberView
}

type memberView struct {
	id, instance, client, host string
	assigned                   map[string][]int32
}

// describeGroup describes a classic group, or else a consumer (KIP-848)
// group.
func describeGroup(ctx context.Context, adm *kadm.Client, name string) (groupView, error) {
	view := groupView{name: name, typ: "classic"}
	var described kadm.DescribedGroups
	err := untilCoordinatorReady(ctx, func() (err error) {
		described, err = adm.DescribeGroups(ctx, name)
		if d, ok := described[name]; err == nil && ok && coordinatorNotReady(d.Err) {
			return d.Err
		}
		return err
	})
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return view, fmt.Errorf("describe group %s: %w", name, err)
	}
	if d, ok := described[name]; ok && d.Err == nil && d.State != "Dead" {
		view.state, view.protocol = d.State, d.Protocol
		for _, m := range d.Members {
			mv := memberView{id: m.MemberID, instance: derefOr(m.InstanceID, "-"), client: m.ClientID, host: m.ClientHost, assigned: map[string][]int32{}}
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					mv.assigned[t.Topic] = append(mv.assigned[t.Topic], t.Partitions...)
				}
			}
			view.members = append(view.members, mv)
		}
		return view, nil
	}
	consumers, err := adm.DescribeConsumerGroups(ctx, name)
	if c, ok := consumers[name]; err == nil && ok && c.Err == nil && c.State != "Dead" {
		view.typ, view.state, view.protocol = "consumer", c.State, c.AssignorName
		for _, m := range c.Members {
			mv := memberView{id: m.MemberID, instance: derefOr(m.InstanceID, "-"), client: m.ClientID, host: m.ClientHost, assigned: map[string][]int32{}}
			for topic, ps := range m.Assignment {
				for p := range ps {
					mv.assigned[topic] = append(mv.assigned[topic], p)
				}
			}
			view.members = append(view.members, mv)
		}
		return view, nil
	}
	return view, fmt.Errorf("describe group %s: %w", name, kerr.GroupIDNotFound)
}

func derefOr(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

// partitionLag is one partition's line in describe.
type partitionLag struct {
	topic     string
	partition int32
	committed int64 // -1: none
	end       int64 // -1: unknown
	member    string
}

// groupLag reads the group's committed offsets and the log end offsets of
// every partition committed or assigned.
func groupLag(ctx context.Context, adm *kadm.Client, view groupView) ([]partitionLag, error) {
	fetched, err := adm.FetchOffsets(ctx, view.name)
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of %s: %w", view.name, err)
	}
	type tp struct {
		topic     string
		partition int32
	}
	lines := map[tp]*partitionLag{}
	line := func(topic string, p int32) *partitionLag {
		k := tp{topic, p}
		if lines[k] == nil {
			lines[k] = &partitionLag{topic: topic, partition: p, committed: -1, end: -1, member: "-"}
		}
		return lines[k]
	}
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			line(o.Topic, o.Partition).committed = o.At
		}
	})
	for _, m := range view.members {
		for topic, ps := range m.assigned {
			for _, p := range ps {
				line(topic, p).member = m.id
			}
		}
	}
	var topics []string
	for k := range lines {
		if !slices.Contains(topics, k.topic) {
			topics = append(topics, k.topic)
		}
	}
	if len(topics) > 0 {
		ends, err := adm.ListEndOffsets(ctx, topics...)
		if err != nil {
			return nil, fmt.Errorf("list end offsets: %w", err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			if l := lines[tp{o.Topic, o.Partition}]; l != nil && o.Err == nil {
				l.end = o.Offset
			}
		})
	}
	out := make([]partitionLag, 0, len(lines))
	for _, l := range lines {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out, nil
}

// lag is the log end offset less the committed offset, "-" when either is
// unknown. It is negative when the committed offset is past the log end (a
// commit beyond it, or records deleted or truncated since), as Kafka's
// kafka-consumer-groups --describe prints it: a lag of 0 would hide that the
// group will skip whatever is written up to its committed offset.
func (l partitionLag) lag() string {
	if l.committed < 0 || l.end < 0 {
		return "-"
	}
	return strconv.FormatInt(l.end-l.committed, 10)
}

func offsetOrDash(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}

// writeGroup prints a group, its members and its partitions.
func writeGroup(out io.Writer, view groupView, lags []partitionLag) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "GROUP\t%s\nTYPE\t%s\nSTATE\t%s\nPROTOCOL\t%s\nMEMBERS\t%d\n\n", groupLabel(view.name), view.typ, view.state, orDash(view.protocol), len(view.members))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(view.members) > 0 {
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MEMBER-ID\tINSTANCE-ID\tCLIENT-ID\tHOST\tASSIGNMENT")
		for _, m := range view.members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.id, m.instance, m.client, m.host, assignmentString(m.assigned))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBER-ID")
	for _, l := range lags {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", l.topic, l.partition, offsetOrDash(l.committed), offsetOrDash(l.end), l.lag(), l.member)
	}
	return tw.Flush()
}

// assignmentString prints topics and partitions as "a[0 1] b[2]".
func assignmentString(assigned map[string][]int32) string {
	if len(assigned) == 0 {
		return "-"
	}
	topics := make([]string, 0, len(assigned))
	for t := range assigned {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	parts := make([]string, 0, len(topics))
	for _, t := range topics {
		ps := slices.Clone(assigned[t])
		slices.Sort(ps)
		parts = append(parts, fmt.Sprintf("%s%v", t, ps))
	}
	return strings.Join(parts, " ")
}

func newGroupDeleteCommand(opts *adminOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete empty groups and their committed offsets",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			return opts.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := deleteGroups(ctx, adm, names)
				if err != nil {
					return fmt.Errorf("delete groups: %w", err)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "GROUP\tSTATUS")
				failed := 0
				for _, r := range resps.Sorted() {
					status := "OK"
					switch {
					case errors.Is(r.Err, kerr.NonEmptyGroup):
						failed++
						status = "NON_EMPTY_GROUP: the group has members: stop its consumers first"
					case errors.Is(r.Err, kerr.GroupIDNotFound):
						failed++
						status = "GROUP_ID_NOT_FOUND: no such group (gregor group list shows the groups)"
					case r.Err != nil:
						failed++
						status = r.Err.Error()
					}
					fmt.Fprintf(tw, "%s\t%s\n", groupLabel(r.Group), status)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if failed > 0 {
					return fmt.Errorf("delete: %d of %d groups failed", failed, len(resps))
				}
				return nil
			})
		},
	}
	acceptGroupFlag(cmd)
	return cmd
}
