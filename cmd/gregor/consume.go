package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// offsetKind says where consumption starts.
type offsetKind int

const (
	offsetAtStart        offsetKind = iota // the log start offset
	offsetAtEnd                            // the end: only new records
	offsetExact                            // a given offset, clamped to the log
	offsetBeforeEnd                        // the last N offsets
	offsetAfterTimestamp                   // the first record at or after a time
)

// offsetSpec is a parsed --offset.
type offsetSpec struct {
	kind  offsetKind
	value int64 // the offset, the count before the end, or milliseconds
}

const offsetHelp = `where to start in each partition: start, end, an offset N, -N for the
last N offsets (fewer records where transaction markers or compaction left
gaps), or @TIME for the first record at or after TIME (milliseconds since
the epoch or RFC 3339)`

// parseOffsetSpec reads --offset.
func parseOffsetSpec(text string) (offsetSpec, error) {
	switch text {
	case "start", "beginning", "oldest":
		return offsetSpec{kind: offsetAtStart}, nil
	case "end", "newest":
		return offsetSpec{kind: offsetAtEnd}, nil
	}
	if rest, ok := strings.CutPrefix(text, "@"); ok {
		ms, err := parseTimestamp(rest)
		if err != nil {
			return offsetSpec{}, fmt.Errorf("--offset: %w", err)
		}
		return offsetSpec{kind: offsetAfterTimestamp, value: ms}, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return offsetSpec{}, fmt.Errorf("--offset %q: want start, end, N, -N or @TIME", text)
	}
	if n < 0 {
		return offsetSpec{kind: offsetBeforeEnd, value: -n}, nil
	}
	return offsetSpec{kind: offsetExact, value: n}, nil
}

// partitionRange is where one partition's consumption starts and the end
// offset it had when consumption was planned.
type partitionRange struct {
	start, end int64
}

// consumePlan is the range of every partition to consume, by topic.
type consumePlan map[string]map[int32]partitionRange

// planConsumption lists the log start and end offsets (the last stable
// offsets when committed: the end a read_committed consumer reaches) of the topics' (or
// just the given) partitions and places each start according to spec.
func planConsumption(ctx context.Context, adm *kadm.Client, topics []string, partitions []int32, spec offsetSpec, committed bool) (consumePlan, error) {
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = listedError(starts)
	}
	if err != nil {
		return nil, fmt.Errorf("list log start offsets: %w", err)
	}
	listEnds := adm.ListEndOffsets
	if committed {
		listEnds = adm.ListCommittedOffsets
	}
	ends, err := listEnds(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	var afterTime kadm.ListedOffsets
	if spec.kind == offsetAfterTimestamp {
		if afterTime, err = adm.ListOffsetsAfterMilli(ctx, spec.value, topics...); err == nil {
			err = afterTime.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("list offsets after %d ms: %w", spec.value, err)
		}
	}
	plan := make(consumePlan)
	var planErr error
	starts.Each(func(s kadm.ListedOffset) {
		if len(partitions) > 0 && !slices.Contains(partitions, s.Partition) {
			return
		}
		e, ok := ends.Lookup(s.Topic, s.Partition)
		if !ok {
			planErr = fmt.Errorf("no end offset for %s[%d]", s.Topic, s.Partition)
			return
		}
		r := partitionRange{start: s.Offset, end: e.Offset}
		r.start = spec.startWithin(r, afterTime, s.Topic, s.Partition)
		if plan[s.Topic] == nil {
			plan[s.Topic] = make(map[int32]partitionRange)
		}
		plan[s.Topic][s.Partition] = r
	})
	if planErr != nil {
		return nil, planErr
	}
	return plan, plan.checkPartitions(topics, partitions)
}

// listedError is the first failure of listed naming its topic, and for a
// topic the cluster does not have, how to see those it has.
func listedError(listed kadm.ListedOffsets) error {
	for _, t := range slices.Sorted(maps.Keys(listed)) {
		for _, p := range slices.Sorted(maps.Keys(listed[t])) {
			err := listed[t][p].Err
			switch {
			case err == nil:
			case errors.Is(err, kerr.UnknownTopicOrPartition):
				return fmt.Errorf("topic %s: %w (gregor topic list shows the topics there are)", t, err)
			default:
				return fmt.Errorf("%s[%d]: %w", t, p, err)
			}
		}
	}
	return nil
}

// startWithin places the start of a partition whose log spans r.
func (spec offsetSpec) startWithin(r partitionRange, afterTime kadm.ListedOffsets, topic string, partition int32) int64 {
	switch spec.kind {
	case offsetAtEnd:
		return r.end
	case offsetExact:
		return max(r.start, min(spec.value, r.end))
	case offsetBeforeEnd:
		return max(r.start, r.end-spec.value)
	case offsetAfterTimestamp:
		if o, ok := afterTime.Lookup(topic, partition); ok && o.Offset >= 0 {
			return max(r.start, min(o.Offset, r.end))
		}
		return r.end
	default:
		return r.start
	}
}

// checkPartitions fails when a named partition is missing from a topic.
func (plan consumePlan) checkPartitions(topics []string, partitions []int32) error {
	for _, t := range topics {
		for _, p := range partitions {
			if _, ok := plan[t][p]; !ok {
				return fmt.Errorf("topic %s has no partition %d", t, p)
			}
		}
	}
	return nil
}

// kgoOffsets is the plan as kgo's consume-partitions option.
func (plan consumePlan) kgoOffsets() map[string]map[int32]kgo.Offset {
	offsets := make(map[string]map[int32]kgo.Offset, len(plan))
	for t, ps := range plan {
		offsets[t] = make(map[int32]kgo.Offset, len(ps))
		for p, r := range ps {
			offsets[t][p] = kgo.NewOffset().At(r.start)
		}
	}
	return offsets
}

// unfinished counts the partitions whose start is before their end.
func (plan consumePlan) unfinished() map[string]map[int32]int64 {
	left := make(map[string]map[int32]int64)
	for t, ps := range plan {
		for p, r := range ps {
			if r.start < r.end {
				if left[t] == nil {
					left[t] = make(map[int32]int64)
				}
				left[t][p] = r.end
			}
		}
	}
	return left
}

// consumeOptions are the flags of gregor consume.
type consumeOptions struct {
	client      clientOptions
	offset      string
	partitions  []int32
	count       int64
	follow      bool
	format      string
	idleTimeout time.Duration
	// readCommitted reads as read_committed: no record of an aborted
	// transaction, none of an open one until it ends.
	readCommitted bool
	// fromBeginning is Kafka's console consumer's --from-beginning: the
	// same as --offset start.
	fromBeginning bool
	// group, when set, consumes as a member of this consumer group.
	group string
}

func newConsumeCommand() *cobra.Command {
	opts := &consumeOptions{}
	cmd := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Print records of topics",
		Long: `Print records of topics, partition by partition from --offset. Without
--follow, consume stops at the end offsets the partitions had when it
started (or after --idle-timeout without a record, which covers offsets
that hold no visible record); with --follow it waits for new records.
Like Kafka's console consumer it reads uncommitted records by default, so
the records of aborted and open transactions are printed too;
--read-committed leaves them out.

With --group, consume is a member of that consumer group, as Kafka's console
consumer with --group: it reads the partitions the group assigns it from the
group's committed offsets (a partition without one from --offset start or
end), commits its position in every partition it was assigned when it ends
(after the last record it printed, or where it started a partition it printed
nothing from; with --num, never past a record it did not print), and
without --follow ends after --idle-timeout without a record once it has its
partitions (or after --num records).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			return runConsume(cmd, opts, topics)
		},
	}
	opts.client.register(cmd)
	flags := cmd.Flags()
	flags.StringVarP(&opts.offset, "offset", "o", "start", offsetHelp)
	flags.Int32SliceVarP(&opts.partitions, "partitions", "p", nil, "consume only these partitions (comma-separated)")
	flags.Int64VarP(&opts.count, "num", "n", 0, "stop after this many records (0: no limit)")
	flags.BoolVarP(&opts.follow, "follow", "f", false, "keep waiting for new records")
	flags.StringVarP(&opts.format, "format", "F", "value", recordFormatHelp)
	flags.DurationVar(&opts.idleTimeout, "idle-timeout", 5*time.Second, "without --follow, stop after this long without a record")
	flags.BoolVar(&opts.fromBeginning, "from-beginning", false, "the same as --offset start, as Kafka's console consumer names it")
	flags.StringVarP(&opts.group, "group", "g", "", "consume as a member of this consumer group, committing its position in every assigned partition (as Kafka's console consumer --group)")
	flags.BoolVar(&opts.readCommitted, "read-committed", false, "read as read_committed: leave out aborted transactions' records, and stop at the last stable offset (open transactions' records wait for their end)")
	acceptTopicFlag(cmd)
	return cmd
}

// runConsume plans the partitions, then prints records until done.
func runConsume(cmd *cobra.Command, opts *consumeOptions, topics []string) error {
	formatter, err := parseRecordFormat(opts.format)
	if err != nil {
		return err
	}
	if opts.fromBeginning {
		if cmd.Flags().Changed("offset") && opts.offset != "start" {
			return fmt.Errorf("--from-beginning is --offset start, not --offset %s", opts.offset)
		}
		opts.offset = "start"
	}
	spec, err := parseOffsetSpec(opts.offset)
	if err != nil {
		return err
	}
	if opts.count < 0 {
		return fmt.Errorf("--num %d: want 0 (no limit) or more", opts.count)
	}
	isolation := kgo.ReadUncommitted()
	if opts.readCommitted {
		isolation = kgo.ReadCommitted()
	}
	if opts.group != "" {
		return runGroupConsume(cmd, opts, topics, spec, isolation, formatter)
	}
	session, err := opts.client.open(cmd)
	if err != nil {
		return err
	}
	defer session.close()
	plan, err := planConsumption(cmd.Context(), kadm.NewClient(session.client), topics, opts.partitions, spec, opts.readCommitted)
	if err != nil {
		return err
	}
	consumer, err := session.connect(kgo.ConsumePartitions(plan.kgoOffsets()), kgo.FetchMaxWait(time.Second), kgo.FetchIsolationLevel(isolation))
	if err != nil {
		return err
	}
	loop := consumeLoop{
		consumer:    consumer,
		follow:      opts.follow,
		count:       opts.count,
		idleTimeout: opts.idleTimeout,
		left:        plan.unfinished(),
	}
	out := cmd.OutOrStdout()
	var buf []byte
	return loop.run(cmd.Context(), func(r *kgo.Record) error {
		buf = formatter(buf[:0], r)
		_, err := out.Write(buf)
		return err
	})
}

// consumeLoop polls records and hands them to a sink until the count is
// reached, every partition is at its planned end (unless following), or the
// context ends.
type consumeLoop struct {
	consumer    *kgo.Client
	follow      bool
	count       int64                      // 0: no limit
	idleTimeout time.Duration              // without follow: stop after this long with no record
	left        map[string]map[int32]int64 // unfinished partitions → end offset
	seen        int64
	// member, when consuming in a group, is the group membership: the
	// loop has no planned ends, and waits for its partitions.
	member  *groupConsumer
	started time.Time
}

// pollRecordsMax bounds the records taken from kgo per poll.
const pollRecordsMax = 10_000

// run polls until done; a cancelled context ends it without error.
func (l *consumeLoop) run(ctx context.Context, sink func(*kgo.Record) error) error {
	for !l.done() {
		assigned := l.member == nil || l.member.assigned.Load()
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if !l.follow {
			pollCtx, cancel = context.WithTimeout(ctx, l.idleTimeout)
		}
		fetches := l.consumer.PollRecords(pollCtx, l.pollLimit())
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err := fetchError(fetches); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		if fetches.NumRecords() == 0 && pollCtx.Err() != nil {
			if l.member == nil {
				return nil // idle for idleTimeout: the rest holds no visible records
			}
			if ends, err := l.member.idleEnds(assigned, l.started); ends {
				return err
			}
			continue
		}
		var sinkErr error
		fetches.EachRecord(func(r *kgo.Record) {
			if sinkErr == nil && !l.done() && l.wanted(r) {
				l.seen++
				sinkErr = sink(r)
			}
		})
		if sinkErr != nil {
			return fmt.Errorf("write record: %w", sinkErr)
		}
	}
	return nil
}

// pollLimit is how many records the next poll may return.
func (l *consumeLoop) pollLimit() int {
	if l.count > 0 {
		return int(min(l.count-l.seen, pollRecordsMax))
	}
	return pollRecordsMax
}

// done reports whether the loop has what it came for.
func (l *consumeLoop) done() bool {
	if l.count > 0 && l.seen >= l.count {
		return true
	}
	return !l.follow && l.member == nil && len(l.left) == 0
}

// wanted reports whether r is before its partition's planned end (always,
// when following) and retires the partition once its end is reached.
func (l *consumeLoop) wanted(r *kgo.Record) bool {
	if l.follow || l.member != nil {
		return true
	}
	end, ok := l.left[r.Topic][r.Partition]
	if !ok || r.Offset >= end {
		return false
	}
	if r.Offset+1 >= end {
		delete(l.left[r.Topic], r.Partition)
		if len(l.left[r.Topic]) == 0 {
			delete(l.left, r.Topic)
		}
	}
	return true
}

// fetchError returns the first fetch error that is not the poll's own
// deadline or cancellation.
func fetchError(fetches kgo.Fetches) error {
	var first error
	fetches.EachError(func(topic string, partition int32, err error) {
		if first != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		first = fmt.Errorf("%s[%d]: %w", topic, partition, err)
	})
	return first
}
