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

// resetOptions are reset-offsets' flags: the topics and exactly one way to
// pick the new offsets.
type resetOptions struct {
	topics     []string
	toEarliest bool
	toLatest   bool
	toOffset   int64
	toDatetime string
	shiftBy    int64
	dryRun     bool
	execute    bool
}

func newGroupResetOffsetsCommand(opts *adminOptions) *cobra.Command {
	r := &resetOptions{}
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic TOPIC[:PARTITION,...] (--to-earliest|--to-latest|--to-offset N|--to-datetime TIME|--shift-by N)",
		Short: "Set a group's committed offsets (refused while the group has members)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := r.mode(cmd)
			if err != nil {
				return err
			}
			targets, err := parseResetTopics(r.topics)
			if err != nil {
				return err
			}
			return opts.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return resetOffsets(ctx, cmd, adm, args[0], targets, mode, r)
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&r.topics, "topic", nil, "topic to reset, all its partitions or TOPIC:0,2 (repeatable)")
	f.BoolVar(&r.toEarliest, "to-earliest", false, "reset to each partition's log start offset")
	f.BoolVar(&r.toLatest, "to-latest", false, "reset to each partition's log end offset")
	f.Int64Var(&r.toOffset, "to-offset", 0, "reset to this offset (kept within each partition's log)")
	f.StringVar(&r.toDatetime, "to-datetime", "", "reset to the first record at or after this time (RFC 3339, 2006-01-02T15:04:05[.000] local, or Unix ms)")
	f.Int64Var(&r.shiftBy, "shift-by", 0, "move each committed offset by this many records (negative: back; a partition without one is refused, as by kafka-consumer-groups)")
	f.BoolVar(&r.dryRun, "dry-run", false, "show the new offsets without committing them")
	f.BoolVar(&r.execute, "execute", false, "commit the new offsets: what reset-offsets does without --dry-run (accepted because Kafka's kafka-consumer-groups only previews without it)")
	_ = cmd.MarkFlagRequired("topic")
	acceptGroupFlag(cmd)
	return cmd
}

// mode names the one --to-*/--shift-by flag given.
func (r *resetOptions) mode(cmd *cobra.Command) (string, error) {
	var given []string
	for _, name := range []string{"to-earliest", "to-latest", "to-offset", "to-datetime", "shift-by"} {
		if cmd.Flags().Changed(name) {
			given = append(given, name)
		}
	}
	if r.execute && r.dryRun {
		return "", errors.New("reset-offsets: --execute and --dry-run contradict each other: give one")
	}
	if len(given) != 1 {
		return "", fmt.Errorf("reset-offsets: give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by (got %d)", len(given))
	}
	return given[0], nil
}

// parseResetTopics reads TOPIC or TOPIC:P,P,... into topic → partitions (nil:
// all of them).
func parseResetTopics(values []string) (map[string][]int32, error) {
	out := map[string][]int32{}
	for _, v := range values {
		topic, list, hasList := strings.Cut(v, ":")
		if topic == "" {
			return nil, fmt.Errorf("--topic %q: want TOPIC or TOPIC:PARTITION[,PARTITION]", v)
		}
		if !hasList {
			out[topic] = nil
			continue
		}
		for _, p := range strings.Split(list, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--topic %q: partition %q is not a partition number", v, p)
			}
			out[topic] = append(out[topic], int32(n))
		}
	}
	return out, nil
}

// parseDatetime reads the --to-datetime forms into Unix ms.
func parseDatetime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("--to-datetime %q: want RFC 3339 (2006-01-02T15:04:05Z07:00), 2006-01-02T15:04:05[.000] in local time, or Unix ms", s)
}

// resetLine is one partition's current and new offset.
type resetLine struct {
	topic            string
	partition        int32
	current, newOffs int64
}

func resetOffsets(ctx context.Context, cmd *cobra.Command, adm *kadm.Client, group string, targets map[string][]int32, mode string, r *resetOptions) error {
	if view, err := describeGroup(ctx, adm, group); err == nil && view.state != "Empty" {
		return fmt.Errorf("reset-offsets: group %s is active (%s, %d members): stop its consumers first", group, view.state, len(view.members))
	}
	topics := make([]string, 0, len(targets))
	for t := range targets {
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
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("fetch offsets of %s: %w", group, err)
	}
	var atTime kadm.ListedOffsets
	if mode == "to-datetime" {
		ms, err := parseDatetime(r.toDatetime)
		if err != nil {
			return err
		}
		if atTime, err = adm.ListOffsetsAfterMilli(ctx, ms, topics...); err != nil {
			return fmt.Errorf("list offsets at %s: %w", r.toDatetime, err)
		}
	}
	lines, err := planReset(topics, targets, starts, ends, committed, atTime, mode, r)
	if err != nil {
		return err
	}
	if err := writeResetLines(cmd.OutOrStdout(), lines); err != nil {
		return err
	}
	if r.dryRun {
		fmt.Fprintln(cmd.ErrOrStderr(), "dry run: no offsets committed")
		return nil
	}
	offsets := kadm.Offsets{}
	for _, l := range lines {
		offsets.Add(kadm.Offset{Topic: l.topic, Partition: l.partition, At: l.newOffs, LeaderEpoch: -1})
	}
	res, err := adm.CommitOffsets(ctx, group, offsets)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		return fmt.Errorf("commit offsets of %s: %w", group, err)
	}
	return nil
}

// planReset computes each partition's new offset, kept within the log.
func planReset(topics []string, targets map[string][]int32, starts, ends kadm.ListedOffsets, committed kadm.OffsetResponses,
	atTime kadm.ListedOffsets, mode string, r *resetOptions) ([]resetLine, error) {
	var lines []resetLine
	for _, topic := range topics {
		parts := targets[topic]
		if parts == nil {
			for p, end := range ends[topic] {
				// kadm lists a topic it could not list as partition -1
				// with the error.
				if end.Err != nil && !errors.Is(end.Err, kerr.UnknownTopicOrPartition) {
					return nil, fmt.Errorf("reset-offsets: list offsets of %s: %w", topic, end.Err)
				}
				if end.Err == nil {
					parts = append(parts, p)
				}
			}
			if len(parts) == 0 {
				return nil, fmt.Errorf("reset-offsets: topic %s does not exist", topic)
			}
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			start, okS := starts.Lookup(topic, p)
			end, okE := ends.Lookup(topic, p)
			if !okS || !okE || start.Err != nil || end.Err != nil {
				return nil, fmt.Errorf("reset-offsets: partition %s/%d does not exist", topic, p)
			}
			current := int64(-1)
			if c, ok := committed.Lookup(topic, p); ok && c.Err == nil {
				current = c.At
			}
			var next int64
			switch mode {
			case "to-earliest":
				next = start.Offset
			case "to-latest":
				next = end.Offset
			case "to-offset":
				next = r.toOffset
			case "to-datetime":
				next = end.Offset
				if o, ok := atTime.Lookup(topic, p); ok && o.Err == nil && o.Offset >= 0 {
					next = o.Offset
				}
			case "shift-by":
				// As Kafka's kafka-consumer-groups: there is nothing to
				// shift, and starting from the log start would commit an
				// offset the group's auto.offset.reset may not have chosen.
				if current < 0 {
					return nil, fmt.Errorf("reset-offsets: cannot shift partition %s/%d: the group has no committed offset there "+
						"(name the partitions that have one with --topic %s:P,..., or give --to-earliest, --to-latest, --to-offset or --to-datetime)",
						topic, p, topic)
				}
				next = current + r.shiftBy
			}
			next = min(max(next, start.Offset), end.Offset)
			lines = append(lines, resetLine{topic: topic, partition: p, current: current, newOffs: next})
		}
	}
	return lines, nil
}

func writeResetLines(out io.Writer, lines []resetLine) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET")
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", l.topic, l.partition, offsetOrDash(l.current), l.newOffs)
	}
	return tw.Flush()
}
