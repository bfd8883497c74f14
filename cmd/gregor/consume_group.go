package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupAssignmentTimeout bounds how long consume --group waits for the
// group to give it partitions (the group's initial rebalance delay, 3 s by
// default, and a rebalance of its members): past it, without --follow, it
// fails, saying so.
const groupAssignmentTimeout = time.Minute

// groupCommitTimeout bounds the commit of the member's positions when
// consume --group ends (also when Ctrl-C ended it).
const groupCommitTimeout = 10 * time.Second

// groupConsumer is consume --group's member of a consumer group, as Kafka's
// console consumer joins one: it reads the partitions the group assigns it
// from the group's committed offsets (a partition without one from --offset
// start or end, Kafka's auto.offset.reset), and when it ends, or gives
// partitions up in a rebalance, commits the position of every partition it
// holds, as Kafka's console consumer does (its consumer commits on close):
// after the last record it printed, or, for a partition it printed nothing
// from, where it started reading it, so a partition that held no record has
// a committed offset too (and no lag) as after Kafka's.
type groupConsumer struct {
	group    string
	assigned atomic.Bool // the group has assigned partitions to the member, and it knows their starts
	// client is the member's client, set at its first assignment (the
	// lookups of start offsets go through it).
	client atomic.Pointer[kgo.Client]

	mu sync.Mutex
	// starts are the offsets the member started reading its partitions
	// from, of the partitions it holds.
	starts map[string]map[int32]kgo.EpochOffset
}

// groupOffsetReset is where a partition without a committed offset starts:
// --offset start or end, the only two that mean something to a group.
func groupOffsetReset(spec offsetSpec, text string) (kgo.Offset, error) {
	switch spec.kind {
	case offsetAtStart:
		return kgo.NewOffset().AtStart(), nil
	case offsetAtEnd:
		return kgo.NewOffset().AtEnd(), nil
	}
	return kgo.Offset{}, fmt.Errorf("--offset %s with --group: want start or end (where a partition the group has no committed offset for starts, as Kafka's auto.offset.reset); a group reads from its committed offsets (gregor group reset-offsets moves them)", text)
}

// options are the kgo options of the member reading topics.
func (g *groupConsumer) options(topics []string, reset kgo.Offset) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(g.group),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(reset),
		// Only what was printed is committed: with --num, records kgo
		// fetched beyond the count are not.
		kgo.AutoCommitMarks(),
		// kgo calls OnPartitionsAssigned before AdjustFetchOffsetsFn,
		// which says the member is assigned once it knows where it starts.
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, _ map[string][]int32) { g.client.Store(cl) }),
		kgo.AdjustFetchOffsetsFn(g.resolveStarts),
		kgo.OnPartitionsRevoked(g.revoked),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { g.forget(lost) }),
	}
}

// resolveStarts turns the start offsets of newly assigned partitions that
// have no committed offset (start or end, the reset) into the offsets they
// are at now, reads them from there, and remembers every start. If the
// lookup fails, those partitions keep the reset and are not remembered (not
// committed unless a record of theirs is printed).
func (g *groupConsumer) resolveStarts(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	resetTopics := map[int64][]string{} // -2 start, -1 end → topics
	for topic, parts := range offsets {
		for _, o := range parts {
			if at := o.EpochOffset().Offset; at == -1 || at == -2 {
				if n := len(resetTopics[at]); n == 0 || resetTopics[at][n-1] != topic {
					resetTopics[at] = append(resetTopics[at], topic)
				}
			}
		}
	}
	listed := map[int64]kadm.ListedOffsets{}
	if cl := g.client.Load(); cl != nil {
		adm := kadm.NewClient(cl)
		if topics := resetTopics[-2]; len(topics) > 0 {
			listed[-2], _ = adm.ListStartOffsets(ctx, topics...)
		}
		if topics := resetTopics[-1]; len(topics) > 0 {
			listed[-1], _ = adm.ListEndOffsets(ctx, topics...)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.starts == nil {
		g.starts = map[string]map[int32]kgo.EpochOffset{}
	}
	for topic, parts := range offsets {
		for p, o := range parts {
			eo := o.EpochOffset()
			if eo.Offset < 0 {
				lo, ok := listed[eo.Offset].Lookup(topic, p)
				if !ok || lo.Err != nil || lo.Offset < 0 {
					continue
				}
				eo = kgo.EpochOffset{Epoch: lo.LeaderEpoch, Offset: lo.Offset}
				parts[p] = kgo.NewOffset().At(eo.Offset).WithEpoch(eo.Epoch)
			}
			if g.starts[topic] == nil {
				g.starts[topic] = map[int32]kgo.EpochOffset{}
			}
			g.starts[topic][p] = eo
		}
	}
	g.assigned.Store(true)
	return offsets, nil
}

// revoked commits the positions of the partitions a rebalance takes from
// the member (what kgo's default does for marked offsets), then forgets
// them.
func (g *groupConsumer) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	_ = g.commitPositions(ctx, cl, revoked)
	g.forget(revoked)
}

// forget drops the start offsets of partitions the member no longer holds.
func (g *groupConsumer) forget(parts map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(g.starts[topic], p)
		}
	}
}

// commitPositions commits the member's positions: the offset after the last
// record printed of each partition (unless committed already), and the
// start of each partition of only (every partition the member holds, if
// only is nil) that has no committed offset and nothing printed.
func (g *groupConsumer) commitPositions(ctx context.Context, cl *kgo.Client, only map[string][]int32) error {
	positions := cl.MarkedOffsets() // printed since the last commit
	if positions == nil {
		positions = map[string]map[int32]kgo.EpochOffset{}
	}
	committed := cl.CommittedOffsets()
	g.mu.Lock()
	for topic, parts := range g.starts {
		for p, start := range parts {
			if only != nil && !slices.Contains(only[topic], p) {
				continue
			}
			if _, printed := positions[topic][p]; printed {
				continue
			}
			if _, ok := committed[topic][p]; ok {
				continue // committed already: at its start, or after records printed
			}
			if positions[topic] == nil {
				positions[topic] = map[int32]kgo.EpochOffset{}
			}
			positions[topic][p] = start
		}
	}
	g.mu.Unlock()
	var commitErr error
	cl.CommitOffsetsSync(ctx, positions, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && commitErr == nil {
					commitErr = fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err)
				}
			}
		}
	})
	return commitErr
}

// commit commits the member's positions when consume ends; ctx may have
// ended (Ctrl-C), so it gets a bound of its own.
func (g *groupConsumer) commit(consumer *kgo.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), groupCommitTimeout)
	defer cancel()
	if err := g.commitPositions(ctx, consumer, nil); err != nil {
		return fmt.Errorf("commit the offsets of group %s: %w", g.group, err)
	}
	return nil
}

// errNoAssignment says the group gave the member no partition in time.
var errNoAssignment = errors.New("no partition assigned")

// idleEnds says whether a poll that waited its idle timeout without a
// record ends consume: not while the member waits for its partitions (the
// poll began before any were assigned), until groupAssignmentTimeout.
func (g *groupConsumer) idleEnds(assignedAtPollStart bool, started time.Time) (bool, error) {
	if assignedAtPollStart {
		return true, nil
	}
	if time.Since(started) > groupAssignmentTimeout {
		return true, fmt.Errorf("group %s: %w to this member within %s (gregor group describe %s shows its members; a member gets none when the group has more members than partitions)",
			g.group, errNoAssignment, groupAssignmentTimeout, g.group)
	}
	return false, nil
}

// runGroupConsume prints records as a member of --group until done, then
// commits its positions.
func runGroupConsume(cmd *cobra.Command, opts *consumeOptions, topics []string, spec offsetSpec, isolation kgo.IsolationLevel, formatter recordFormatter) error {
	reset, err := groupOffsetReset(spec, opts.offset)
	if err != nil {
		return err
	}
	if len(opts.partitions) > 0 {
		return errors.New("--partitions with --group: the group assigns the partitions")
	}
	member := &groupConsumer{group: opts.group}
	session, err := opts.client.open(cmd, append(member.options(topics, reset), kgo.FetchMaxWait(time.Second), kgo.FetchIsolationLevel(isolation))...)
	if err != nil {
		return err
	}
	defer session.close()
	// Fail at once for a topic that does not exist (a member of it would
	// wait for partitions that never come).
	if _, err := planConsumption(cmd.Context(), kadm.NewClient(session.client), topics, nil, spec, false); err != nil {
		return err
	}
	loop := consumeLoop{
		consumer:    session.client,
		follow:      opts.follow,
		count:       opts.count,
		idleTimeout: opts.idleTimeout,
		member:      member,
		started:     time.Now(),
	}
	out := cmd.OutOrStdout()
	var buf []byte
	runErr := loop.run(cmd.Context(), func(r *kgo.Record) error {
		buf = formatter(buf[:0], r)
		if _, err := out.Write(buf); err != nil {
			return err
		}
		session.client.MarkCommitRecords(r)
		return nil
	})
	if err := member.commit(session.client); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}
