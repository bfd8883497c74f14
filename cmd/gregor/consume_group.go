package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupAssignmentTimeout bounds how long consume --group waits for the
// group to give it partitions (the group's initial rebalance delay, 3 s by
// default, and a rebalance of its members): past it, without --follow, it
// fails, saying so.
const groupAssignmentTimeout = time.Minute

// groupCommitTimeout bounds the commit of the printed records' offsets
// when consume --group ends (also when Ctrl-C ended it).
const groupCommitTimeout = 10 * time.Second

// groupConsumer is consume --group's member of a consumer group, as Kafka's
// console consumer joins one: it reads the partitions the group assigns it
// from the group's committed offsets (a partition without one from --offset
// start or end, Kafka's auto.offset.reset), and commits the offsets of the
// records it printed.
type groupConsumer struct {
	group    string
	assigned atomic.Bool // the group has assigned partitions to the member
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
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { g.assigned.Store(true) }),
	}
}

// commit commits the offsets of the records marked printed; ctx may have
// ended (Ctrl-C), so it gets a bound of its own.
func (g *groupConsumer) commit(consumer *kgo.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), groupCommitTimeout)
	defer cancel()
	if err := consumer.CommitMarkedOffsets(ctx); err != nil {
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
// commits the offsets of those printed.
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
