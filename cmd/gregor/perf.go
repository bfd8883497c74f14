package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newPerfCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "perf",
		Short: "Measure produce and consume throughput and latency",
	}
	cmd.AddCommand(newPerfProduceCommand(), newPerfConsumeCommand())
	return cmd
}

// perfTally counts records and bytes (read by the progress bar while the
// run goes on) and gathers latencies.
type perfTally struct {
	records atomic.Int64
	bytes   atomic.Int64
	failed  atomic.Int64

	mu        sync.Mutex
	latencies latencyHistogram
	firstErr  error
}

// counters is the progress bar's view.
func (t *perfTally) counters() (int64, int64) {
	return t.records.Load(), t.bytes.Load()
}

// observe counts one record of size bytes with its latency.
func (t *perfTally) observe(size int, latency time.Duration) {
	t.records.Add(1)
	t.bytes.Add(int64(size))
	t.mu.Lock()
	t.latencies.record(latency)
	t.mu.Unlock()
}

// fail counts one failed record.
func (t *perfTally) fail(err error) {
	t.failed.Add(1)
	t.mu.Lock()
	if t.firstErr == nil {
		t.firstErr = err
	}
	t.mu.Unlock()
}

// firstError returns the first failure, if any.
func (t *perfTally) firstError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstErr
}

// writeSummary prints the totals, rates and latency percentiles.
func (t *perfTally) writeSummary(out io.Writer, elapsed time.Duration, latencyLabel string) error {
	records, bytes := t.counters()
	seconds := max(elapsed.Seconds(), 1e-9)
	t.mu.Lock()
	latencies := t.latencies.summary()
	t.mu.Unlock()
	_, err := fmt.Fprintf(out, "records      %d (%d failed)\nbytes        %d\nelapsed      %s\nthroughput   %.1f records/s, %.2f MiB/s\n%-12s %s\n",
		records, t.failed.Load(), bytes, elapsed.Round(time.Millisecond),
		float64(records)/seconds, float64(bytes)/seconds/(1<<20), latencyLabel, latencies)
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// perfProduceOptions are the flags of gregor perf produce.
type perfProduceOptions struct {
	client      clientOptions
	producer    producerFlags
	count       int64
	recordBytes int
	rate        float64
	noProgress  bool
}

func newPerfProduceCommand() *cobra.Command {
	opts := &perfProduceOptions{}
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce generated records and report throughput and ack latency",
		Long: `Produce --count records of --record-size bytes, at most --rate records per
second, then print throughput and per-record acknowledgement latency
percentiles (from handing the record to the client to its acknowledgement).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPerfProduce(cmd, opts, args[0])
		},
	}
	opts.client.register(cmd)
	opts.producer.register(cmd.Flags())
	flags := cmd.Flags()
	flags.Int64VarP(&opts.count, "count", "n", 100_000, "records to produce")
	flags.IntVarP(&opts.recordBytes, "record-size", "s", 1024, "value size of each record in bytes")
	flags.Float64Var(&opts.rate, "rate", 0, "most records per second (0: as fast as possible)")
	flags.BoolVar(&opts.noProgress, "no-progress", false, "do not draw the progress bar on stderr")
	acceptTopicFlag(cmd)
	return cmd
}

// runPerfProduce produces the records and prints the summary.
func runPerfProduce(cmd *cobra.Command, opts *perfProduceOptions, topic string) error {
	if opts.count <= 0 || opts.recordBytes < 0 || opts.rate < 0 {
		return fmt.Errorf("want --count > 0, --record-size ≥ 0 and --rate ≥ 0 (got %d, %d, %g)", opts.count, opts.recordBytes, opts.rate)
	}
	producerOpts, err := opts.producer.kgoOptions()
	if err != nil {
		return err
	}
	limit := newBatchLimit()
	session, err := opts.client.open(cmd, append(producerOpts, kgo.AllowAutoTopicCreation(), limit.opt())...)
	if err != nil {
		return err
	}
	defer session.close()
	if err := session.reach(cmd.Context()); err != nil {
		return err
	}
	limit.learn(cmd.Context(), session.client, topic)

	// One value serves every record: kgo never modifies it. Fixed-seed
	// random bytes, so compression has nothing to gain and runs compare.
	value := make([]byte, opts.recordBytes)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range value {
		value[i] = byte(rng.Uint32())
	}
	tally := &perfTally{}
	var progress *progressReporter
	if !opts.noProgress {
		progress = startProgress(session.stderr, opts.count, tally.counters)
	}
	started := time.Now()
	ctx := cmd.Context()
	for i := int64(0); i < opts.count && ctx.Err() == nil; i++ {
		if err := waitForSlot(ctx, started, i, opts.rate); err != nil {
			break
		}
		r := &kgo.Record{Topic: topic, Value: value, Partition: opts.producer.partition}
		sent := time.Now()
		session.client.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				tally.fail(err)
				return
			}
			tally.observe(len(r.Value), time.Since(sent))
		})
	}
	flushErr := session.client.Flush(ctx)
	elapsed := time.Since(started)
	if progress != nil {
		progress.stop()
	}
	if err := tally.writeSummary(cmd.OutOrStdout(), elapsed, "ack latency"); err != nil {
		return err
	}
	if flushErr != nil {
		return fmt.Errorf("flush: %w", flushErr)
	}
	if firstErr := tally.firstError(); firstErr != nil {
		return fmt.Errorf("perf produce: %d records failed, the first with: %w%s", tally.failed.Load(), firstErr, missingTopicHint(firstErr))
	}
	return ctx.Err()
}

// waitForSlot paces record i of a run started at started to rate records
// per second (0: no pacing). This sleeps on purpose: it is the rate limit,
// not a wait for a condition.
func waitForSlot(ctx context.Context, started time.Time, i int64, rate float64) error {
	if rate <= 0 {
		return nil
	}
	due := started.Add(time.Duration(float64(i) / rate * float64(time.Second)))
	wait := time.Until(due)
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// perfConsumeOptions are the flags of gregor perf consume.
type perfConsumeOptions struct {
	client      clientOptions
	count       int64
	offset      string
	idleTimeout time.Duration
	noProgress  bool
}

func newPerfConsumeCommand() *cobra.Command {
	opts := &perfConsumeOptions{}
	cmd := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Consume records and report throughput and end-to-end latency",
		Long: `Consume records from --offset and print throughput and the latency from each
record's timestamp to its receipt: end-to-end latency when producers run at
the same time (on clocks in step), the records' age otherwise. With --count,
wait until that many records came; without it, stop at the end offsets the
partitions had at the start.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			return runPerfConsume(cmd, opts, topics)
		},
	}
	opts.client.register(cmd)
	flags := cmd.Flags()
	flags.Int64VarP(&opts.count, "count", "n", 0, "records to consume (0: up to the end offsets at the start)")
	flags.StringVarP(&opts.offset, "offset", "o", "start", offsetHelp)
	flags.DurationVar(&opts.idleTimeout, "idle-timeout", 5*time.Second, "without --count, stop after this long without a record")
	flags.BoolVar(&opts.noProgress, "no-progress", false, "do not draw the progress bar on stderr")
	acceptTopicFlag(cmd)
	return cmd
}

// runPerfConsume consumes the records and prints the summary.
func runPerfConsume(cmd *cobra.Command, opts *perfConsumeOptions, topics []string) error {
	spec, err := parseOffsetSpec(opts.offset)
	if err != nil {
		return err
	}
	if opts.count < 0 {
		return fmt.Errorf("--count %d: want 0 or more", opts.count)
	}
	session, err := opts.client.open(cmd)
	if err != nil {
		return err
	}
	defer session.close()
	plan, err := planConsumption(cmd.Context(), kadm.NewClient(session.client), topics, nil, spec, false)
	if err != nil {
		return err
	}
	consumer, err := session.connect(kgo.ConsumePartitions(plan.kgoOffsets()), kgo.FetchMaxWait(time.Second))
	if err != nil {
		return err
	}
	loop := consumeLoop{consumer: consumer, follow: opts.count > 0, count: opts.count, idleTimeout: opts.idleTimeout, left: plan.unfinished()}
	total := opts.count
	if total == 0 {
		total = plan.recordsPlanned()
	}
	tally := &perfTally{}
	var progress *progressReporter
	if !opts.noProgress {
		progress = startProgress(session.stderr, total, tally.counters)
	}
	started := time.Now()
	err = loop.run(cmd.Context(), func(r *kgo.Record) error {
		tally.observe(len(r.Key)+len(r.Value), time.Since(r.Timestamp))
		return nil
	})
	elapsed := time.Since(started)
	if progress != nil {
		progress.stop()
	}
	if summaryErr := tally.writeSummary(cmd.OutOrStdout(), elapsed, "e2e latency"); summaryErr != nil {
		return summaryErr
	}
	return err
}

// recordsPlanned is the sum of the planned partitions' ranges.
func (plan consumePlan) recordsPlanned() int64 {
	var n int64
	for _, ps := range plan {
		for _, r := range ps {
			n += max(r.end-r.start, 0)
		}
	}
	return n
}
