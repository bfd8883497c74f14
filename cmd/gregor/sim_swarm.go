package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"gregor/sim"
)

// seedResult is what one seed of a swarm found, as a worker reports it.
type seedResult struct {
	Seed      uint64 `json:"seed"`
	Failed    bool   `json:"failed"`
	Violation string `json:"violation,omitempty"`
	Replay    string `json:"replay"`
	SimMs     int64  `json:"sim_ms"`
	RealMs    int64  `json:"real_ms"`
	Profile   string `json:"profile"`
	// Paths counts the seed's rare paths reached (swarmPaths).
	Paths swarmPaths `json:"paths"`
}

// swarmPaths count paths of the cores that few seeds reach, so that a
// swarm shows whether its profile reaches them: the empty batches
// followers appended and consumers read over a stretch of a leader's log
// that holds no batch (cluster's emptyStretch), and the log starts leaders
// raised past a prefix that holds none (emptyPrefixEnd).
type swarmPaths struct {
	EmptyStretches         int64 `json:"empty_stretches,omitempty"`
	ConsumerEmptyStretches int64 `json:"consumer_empty_stretches,omitempty"`
	EmptyPrefixRaises      int64 `json:"empty_prefix_raises,omitempty"`
	// StretchFaults are the emptied-stretch faults that played out.
	StretchFaults int64 `json:"stretch_faults,omitempty"`
	// TxnPipelined are transactional batches sent behind another in
	// flight to their partition, TxnRefusedRetried the out-of-order
	// refusals of such batches that were retried, and TxnRetriedOK the
	// batches appended after one (sim's client_txn_pipeline.go).
	TxnPipelined      int64 `json:"txn_pipelined,omitempty"`
	TxnRefusedRetried int64 `json:"txn_refused_retried,omitempty"`
	TxnRetriedOK      int64 `json:"txn_retried_ok,omitempty"`
	// VerificationSeqRefusals are batches leaders refused behind one
	// waiting for (or refused) its transaction's verification.
	VerificationSeqRefusals int64 `json:"verification_seq_refusals,omitempty"`
	// TxnOutOfOrderFailures are pipelined transactions failed on an
	// out-of-order refusal no earlier batch explained.
	TxnOutOfOrderFailures int64 `json:"txn_out_of_order_failures,omitempty"`
	// ELRElections and LastKnownELRElections are leaders elected from the
	// eligible leader replicas (KIP-966) and from the last known ones;
	// CleanRegistrations are registrations after a clean shutdown.
	ELRElections          int64 `json:"elr_elections,omitempty"`
	LastKnownELRElections int64 `json:"last_known_elr_elections,omitempty"`
	CleanRegistrations    int64 `json:"clean_registrations,omitempty"`
	// The same for idempotent producers with a pipeline: batches sent
	// behind another, out-of-order refusals behind an unresolved batch
	// retried, batches appended after one (sim's
	// client_idempotent_pipeline.go); and the resets of idempotent
	// producers by a refusal for their producer, which fail nothing, as in
	// franz-go, and the values they sent again.
	IdemPipelined      int64 `json:"idem_pipelined,omitempty"`
	IdemRefusedRetried int64 `json:"idem_refused_retried,omitempty"`
	IdemRetriedOK      int64 `json:"idem_retried_ok,omitempty"`
	IdemResets         int64 `json:"idem_resets,omitempty"`
	IdemValuesResent   int64 `json:"idem_values_resent,omitempty"`
	// IdemEpochBumps are the epochs idempotent producers bumped
	// themselves.
	IdemEpochBumps int64 `json:"idem_epoch_bumps,omitempty"`
	// OutOfOrderLost, OutOfOrderDeposed, OutOfOrderRewound and
	// OutOfOrderUnexplained sort the idempotent and transactional
	// out-of-order failures by why (sim's out_of_order.go).
	OutOfOrderLost        int64 `json:"out_of_order_lost,omitempty"`
	OutOfOrderDeposed     int64 `json:"out_of_order_deposed,omitempty"`
	OutOfOrderRewound     int64 `json:"out_of_order_rewound,omitempty"`
	OutOfOrderUnexplained int64 `json:"out_of_order_unexplained,omitempty"`
	// AutoCommitMembers are the group members that commit automatically
	// (the profile's AutoCommitShare), MemberCrashes the group members
	// whose process crashed between polls and started again.
	AutoCommitMembers int64 `json:"auto_commit_members,omitempty"`
	MemberCrashes     int64 `json:"member_crashes,omitempty"`
	// Clogs are swizzle-clogs and ClogHeld the messages they held;
	// Reassignments the reassignments the controller took, and
	// PreferredElections the operator's preferred leader elections.
	Clogs              int64 `json:"clogs,omitempty"`
	ClogHeld           int64 `json:"clog_held,omitempty"`
	Reassignments      int64 `json:"reassignments,omitempty"`
	ReassignmentsEnded int64 `json:"reassignments_ended,omitempty"`
	PreferredElections int64 `json:"preferred_elections,omitempty"`
	// DeleteRecordsAsked and DeleteRecordsAcked are the admin's
	// DeleteRecords partitions sent and acknowledged.
	DeleteRecordsAsked int64 `json:"delete_records_asked,omitempty"`
	DeleteRecordsAcked int64 `json:"delete_records_acked,omitempty"`
	// RetentionChanges are the operator's retention settings of the
	// DeleteRecords topic, RetentionRaises the log starts retention raised.
	RetentionChanges int64 `json:"retention_changes,omitempty"`
	RetentionRaises  int64 `json:"retention_raises,omitempty"`
	// UncleanToggles are the operator's unclean.leader.election.enable
	// settings.
	UncleanToggles int64 `json:"unclean_toggles,omitempty"`
	// BrokerConfigChanges are the operator's broker-wide config changes,
	// TopicOverridesDeleted the topics' own values it deleted.
	BrokerConfigChanges   int64 `json:"broker_config_changes,omitempty"`
	TopicOverridesDeleted int64 `json:"topic_overrides_deleted,omitempty"`
	// TopicsRecreated are the topics deleted and created again,
	// UnknownTopicIDFetches the polls by an id their broker did not hold;
	// LearnerPolls the learners' polls for their raft messages.
	TopicsRecreated       int64 `json:"topics_recreated,omitempty"`
	UnknownTopicIDFetches int64 `json:"unknown_topic_id_fetches,omitempty"`
	LearnerPolls          int64 `json:"learner_polls,omitempty"`
	// DataWipes are the nodes started again with an empty data
	// directory, VoterDataWipes those that were quorum voters.
	DataWipes      int64 `json:"data_wipes,omitempty"`
	VoterDataWipes int64 `json:"voter_data_wipes,omitempty"`
	// ClusterDowns are the operator's stops of every node at once.
	ClusterDowns int64 `json:"cluster_downs,omitempty"`
}

// pathTotals sums the paths of a swarm's seeds, and counts the seeds that
// reached each.
type pathTotals struct {
	sum, seeds swarmPaths
}

func (t *pathTotals) add(p swarmPaths) {
	one := func(sum, seeds *int64, n int64) {
		*sum += n
		if n > 0 {
			*seeds++
		}
	}
	one(&t.sum.EmptyStretches, &t.seeds.EmptyStretches, p.EmptyStretches)
	one(&t.sum.ConsumerEmptyStretches, &t.seeds.ConsumerEmptyStretches, p.ConsumerEmptyStretches)
	one(&t.sum.EmptyPrefixRaises, &t.seeds.EmptyPrefixRaises, p.EmptyPrefixRaises)
	one(&t.sum.StretchFaults, &t.seeds.StretchFaults, p.StretchFaults)
	one(&t.sum.TxnPipelined, &t.seeds.TxnPipelined, p.TxnPipelined)
	one(&t.sum.TxnRefusedRetried, &t.seeds.TxnRefusedRetried, p.TxnRefusedRetried)
	one(&t.sum.TxnRetriedOK, &t.seeds.TxnRetriedOK, p.TxnRetriedOK)
	one(&t.sum.VerificationSeqRefusals, &t.seeds.VerificationSeqRefusals, p.VerificationSeqRefusals)
	one(&t.sum.TxnOutOfOrderFailures, &t.seeds.TxnOutOfOrderFailures, p.TxnOutOfOrderFailures)
	one(&t.sum.ELRElections, &t.seeds.ELRElections, p.ELRElections)
	one(&t.sum.LastKnownELRElections, &t.seeds.LastKnownELRElections, p.LastKnownELRElections)
	one(&t.sum.CleanRegistrations, &t.seeds.CleanRegistrations, p.CleanRegistrations)
	one(&t.sum.IdemPipelined, &t.seeds.IdemPipelined, p.IdemPipelined)
	one(&t.sum.IdemRefusedRetried, &t.seeds.IdemRefusedRetried, p.IdemRefusedRetried)
	one(&t.sum.IdemRetriedOK, &t.seeds.IdemRetriedOK, p.IdemRetriedOK)
	one(&t.sum.IdemResets, &t.seeds.IdemResets, p.IdemResets)
	one(&t.sum.IdemValuesResent, &t.seeds.IdemValuesResent, p.IdemValuesResent)
	one(&t.sum.IdemEpochBumps, &t.seeds.IdemEpochBumps, p.IdemEpochBumps)
	one(&t.sum.OutOfOrderLost, &t.seeds.OutOfOrderLost, p.OutOfOrderLost)
	one(&t.sum.OutOfOrderDeposed, &t.seeds.OutOfOrderDeposed, p.OutOfOrderDeposed)
	one(&t.sum.OutOfOrderRewound, &t.seeds.OutOfOrderRewound, p.OutOfOrderRewound)
	one(&t.sum.OutOfOrderUnexplained, &t.seeds.OutOfOrderUnexplained, p.OutOfOrderUnexplained)
	one(&t.sum.AutoCommitMembers, &t.seeds.AutoCommitMembers, p.AutoCommitMembers)
	one(&t.sum.MemberCrashes, &t.seeds.MemberCrashes, p.MemberCrashes)
	one(&t.sum.Clogs, &t.seeds.Clogs, p.Clogs)
	one(&t.sum.ClogHeld, &t.seeds.ClogHeld, p.ClogHeld)
	one(&t.sum.Reassignments, &t.seeds.Reassignments, p.Reassignments)
	one(&t.sum.ReassignmentsEnded, &t.seeds.ReassignmentsEnded, p.ReassignmentsEnded)
	one(&t.sum.PreferredElections, &t.seeds.PreferredElections, p.PreferredElections)
	one(&t.sum.DeleteRecordsAsked, &t.seeds.DeleteRecordsAsked, p.DeleteRecordsAsked)
	one(&t.sum.DeleteRecordsAcked, &t.seeds.DeleteRecordsAcked, p.DeleteRecordsAcked)
	one(&t.sum.RetentionChanges, &t.seeds.RetentionChanges, p.RetentionChanges)
	one(&t.sum.RetentionRaises, &t.seeds.RetentionRaises, p.RetentionRaises)
	one(&t.sum.UncleanToggles, &t.seeds.UncleanToggles, p.UncleanToggles)
	one(&t.sum.BrokerConfigChanges, &t.seeds.BrokerConfigChanges, p.BrokerConfigChanges)
	one(&t.sum.TopicOverridesDeleted, &t.seeds.TopicOverridesDeleted, p.TopicOverridesDeleted)
	one(&t.sum.TopicsRecreated, &t.seeds.TopicsRecreated, p.TopicsRecreated)
	one(&t.sum.UnknownTopicIDFetches, &t.seeds.UnknownTopicIDFetches, p.UnknownTopicIDFetches)
	one(&t.sum.LearnerPolls, &t.seeds.LearnerPolls, p.LearnerPolls)
	one(&t.sum.DataWipes, &t.seeds.DataWipes, p.DataWipes)
	one(&t.sum.VoterDataWipes, &t.seeds.VoterDataWipes, p.VoterDataWipes)
	one(&t.sum.ClusterDowns, &t.seeds.ClusterDowns, p.ClusterDowns)
}

// String is the summary's line.
func (t *pathTotals) String() string {
	return fmt.Sprintf("emptied stretches: %d empty batches appended by followers (%d seeds), %d read by consumers (%d seeds), %d log starts raised past an empty prefix (%d seeds); %d emptied-stretch faults played out (%d seeds)",
		t.sum.EmptyStretches, t.seeds.EmptyStretches, t.sum.ConsumerEmptyStretches, t.seeds.ConsumerEmptyStretches,
		t.sum.EmptyPrefixRaises, t.seeds.EmptyPrefixRaises, t.sum.StretchFaults, t.seeds.StretchFaults) +
		fmt.Sprintf("\npipelined transactional batches: %d (%d seeds), %d refused as out of order behind an unresolved batch and retried (%d seeds), %d of them appended (%d seeds); %d refused behind a batch waiting for its verification (%d seeds); %d transactions failed out of order (%d seeds)",
			t.sum.TxnPipelined, t.seeds.TxnPipelined, t.sum.TxnRefusedRetried, t.seeds.TxnRefusedRetried, t.sum.TxnRetriedOK, t.seeds.TxnRetriedOK,
			t.sum.VerificationSeqRefusals, t.seeds.VerificationSeqRefusals, t.sum.TxnOutOfOrderFailures, t.seeds.TxnOutOfOrderFailures) +
		fmt.Sprintf("\neligible leader replicas: %d leaders elected from the ELR (%d seeds), %d from the last known ELR (%d seeds); %d registrations after a clean shutdown (%d seeds)",
			t.sum.ELRElections, t.seeds.ELRElections, t.sum.LastKnownELRElections, t.seeds.LastKnownELRElections, t.sum.CleanRegistrations, t.seeds.CleanRegistrations) +
		fmt.Sprintf("\npipelined idempotent batches: %d (%d seeds), %d refused as out of order behind an unresolved batch and retried (%d seeds), %d of them appended (%d seeds); %d epochs bumped by their producer (%d seeds)",
			t.sum.IdemPipelined, t.seeds.IdemPipelined, t.sum.IdemRefusedRetried, t.seeds.IdemRefusedRetried, t.sum.IdemRetriedOK, t.seeds.IdemRetriedOK,
			t.sum.IdemEpochBumps, t.seeds.IdemEpochBumps) +
		fmt.Sprintf("\nidempotent producers reset by a refusal for their producer (as franz-go: new epoch or id, nothing failed): %d (%d seeds), sending %d values again (%d seeds)",
			t.sum.IdemResets, t.seeds.IdemResets, t.sum.IdemValuesResent, t.seeds.IdemValuesResent) +
		fmt.Sprintf("\nout-of-order refusals that failed a transaction or reset an idempotent producer: %d the partition (or the transaction coordinator's state) lost records (%d seeds), %d a deposed leader answered (%d seeds), %d the client's metadata went back to an older leader (%d seeds), %d unexplained (%d seeds)",
			t.sum.OutOfOrderLost, t.seeds.OutOfOrderLost, t.sum.OutOfOrderDeposed, t.seeds.OutOfOrderDeposed,
			t.sum.OutOfOrderRewound, t.seeds.OutOfOrderRewound, t.sum.OutOfOrderUnexplained, t.seeds.OutOfOrderUnexplained) +
		fmt.Sprintf("\ngroup members: %d auto-committing (%d seeds); %d crashed between polls and started again (%d seeds)",
			t.sum.AutoCommitMembers, t.seeds.AutoCommitMembers, t.sum.MemberCrashes, t.seeds.MemberCrashes) +
		fmt.Sprintf("\nswizzle-clogs: %d (%d seeds) holding %d messages (%d seeds); reassignments taken: %d (%d seeds), ended after moving replicas: %d (%d seeds); preferred leader elections asked: %d (%d seeds)",
			t.sum.Clogs, t.seeds.Clogs, t.sum.ClogHeld, t.seeds.ClogHeld, t.sum.Reassignments, t.seeds.Reassignments,
			t.sum.ReassignmentsEnded, t.seeds.ReassignmentsEnded, t.sum.PreferredElections, t.seeds.PreferredElections) +
		fmt.Sprintf("\nDeleteRecords: %d asked (%d seeds), %d acknowledged (%d seeds); retention set: %d (%d seeds), log starts it raised: %d (%d seeds); unclean elections turned on or off: %d (%d seeds)",
			t.sum.DeleteRecordsAsked, t.seeds.DeleteRecordsAsked, t.sum.DeleteRecordsAcked, t.seeds.DeleteRecordsAcked,
			t.sum.RetentionChanges, t.seeds.RetentionChanges, t.sum.RetentionRaises, t.seeds.RetentionRaises, t.sum.UncleanToggles, t.seeds.UncleanToggles) +
		fmt.Sprintf("\nbroker-wide configs set or deleted: %d (%d seeds); topics' own values deleted for them: %d (%d seeds)",
			t.sum.BrokerConfigChanges, t.seeds.BrokerConfigChanges, t.sum.TopicOverridesDeleted, t.seeds.TopicOverridesDeleted) +
		fmt.Sprintf("\ntopics deleted and created again: %d (%d seeds), polls by a topic id the broker did not hold: %d (%d seeds); learners' raft polls: %d (%d seeds)",
			t.sum.TopicsRecreated, t.seeds.TopicsRecreated, t.sum.UnknownTopicIDFetches, t.seeds.UnknownTopicIDFetches, t.sum.LearnerPolls, t.seeds.LearnerPolls) +
		fmt.Sprintf("\ndata directories wiped: %d (%d seeds), %d of them voters' (%d seeds); whole cluster stopped: %d (%d seeds)",
			t.sum.DataWipes, t.seeds.DataWipes, t.sum.VoterDataWipes, t.seeds.VoterDataWipes, t.sum.ClusterDowns, t.seeds.ClusterDowns)
}

func runSeed(flags *simFlags, seed uint64) (seedResult, error) {
	opts, err := flags.options(seed)
	if err != nil {
		return seedResult{}, err
	}
	start := time.Now()
	rep := sim.Run(opts)
	res := seedResult{Seed: seed, Failed: rep.Failed(), Replay: rep.ReplayCommand(), SimMs: rep.SimulatedMs,
		RealMs: time.Since(start).Milliseconds(), Profile: rep.Profile.String(),
		Paths: swarmPaths{EmptyStretches: rep.Stats.EmptyStretches, ConsumerEmptyStretches: rep.Stats.ConsumerEmptyStretches,
			EmptyPrefixRaises: rep.Stats.EmptyPrefixRaises, StretchFaults: rep.Stats.StretchFaultsPlayed,
			TxnPipelined: rep.Stats.TxnBatchesPipelined, TxnRefusedRetried: rep.Stats.TxnBatchesRefusedRetried, TxnRetriedOK: rep.Stats.TxnBatchesRetriedOK,
			VerificationSeqRefusals: rep.Stats.VerificationSeqRefusals, TxnOutOfOrderFailures: rep.Stats.TxnOutOfOrderFailures,
			IdemPipelined: rep.Stats.IdempotentBatchesPipelined, IdemRefusedRetried: rep.Stats.IdempotentBatchesRefusedRetried,
			IdemRetriedOK: rep.Stats.IdempotentBatchesRetriedOK, IdemResets: rep.Stats.IdempotentResets, IdemValuesResent: rep.Stats.IdempotentValuesResent,
			IdemEpochBumps: rep.Stats.IdempotentEpochBumps,
			OutOfOrderLost: rep.Stats.OutOfOrderLost, OutOfOrderDeposed: rep.Stats.OutOfOrderDeposed,
			OutOfOrderRewound: rep.Stats.OutOfOrderRewound, OutOfOrderUnexplained: rep.Stats.OutOfOrderUnexplained}}
	res.Paths.ELRElections, res.Paths.LastKnownELRElections = rep.Stats.ELRElections, rep.Stats.LastKnownELRElections
	res.Paths.CleanRegistrations = rep.Stats.CleanShutdownRegistrations
	res.Paths.AutoCommitMembers, res.Paths.MemberCrashes = int64(rep.Profile.AutoCommitMembers()), rep.Stats.MemberCrashes
	res.Paths.Clogs, res.Paths.ClogHeld = rep.Stats.Clogs, rep.Stats.MessagesClogged
	res.Paths.Reassignments, res.Paths.PreferredElections = rep.Stats.ReassignmentsStarted, rep.Stats.PreferredElections
	res.Paths.ReassignmentsEnded = rep.Stats.ReassignmentsEnded
	res.Paths.DeleteRecordsAsked, res.Paths.DeleteRecordsAcked = rep.Stats.DeleteRecordsAsked, rep.Stats.DeleteRecordsAcked
	res.Paths.RetentionChanges, res.Paths.RetentionRaises = rep.Stats.RetentionChanges, rep.Stats.RetentionRaises
	res.Paths.UncleanToggles = rep.Stats.UncleanToggles
	res.Paths.BrokerConfigChanges, res.Paths.TopicOverridesDeleted = rep.Stats.BrokerConfigChanges, rep.Stats.TopicOverridesDeleted
	res.Paths.TopicsRecreated, res.Paths.UnknownTopicIDFetches = rep.Stats.TopicsRecreated, rep.Stats.UnknownTopicIDFetches
	res.Paths.LearnerPolls = rep.Stats.LearnerPolls
	res.Paths.DataWipes, res.Paths.VoterDataWipes = rep.Stats.DataWipes, rep.Stats.VoterDataWipes
	res.Paths.ClusterDowns = rep.Stats.ClusterDowns
	if rep.Failed() {
		v := rep.Violations[0].String()
		if i := strings.Index(v, "\n"); i >= 0 {
			v = v[:i]
		}
		res.Violation = v
	}
	return res, nil
}

func newSimSwarmCommand() *cobra.Command {
	var flags simFlags
	var seeds, start uint64
	var parallel int
	cmd := &cobra.Command{
		Use:   "swarm",
		Short: "Play many seeds, each with its own fault and workload mix, and list those that fail",
		Example: `  gregor sim swarm --seeds 1000 --parallel 2
  gregor sim swarm --seeds 50 --plant early-hw`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := flags.options(start); err != nil {
				return err
			}
			if seeds == 0 {
				return fmt.Errorf("--seeds must be at least 1")
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			began := time.Now()
			// An interrupt (SIGINT, SIGTERM) ends the swarm: no seed starts
			// after it, the seeds in play are dropped (worker processes
			// killed), and the summary lists the seeds played.
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()
			results := make(chan seedResult)
			var runErr error
			workersEnded := make(chan struct{})
			go func() {
				defer close(workersEnded)
				defer close(results)
				if parallel <= 1 {
					for s := start; s < start+seeds && ctx.Err() == nil; s++ {
						res, err := runSeed(&flags, s)
						if err != nil {
							runErr = err
							return
						}
						select {
						case results <- res:
						case <-ctx.Done():
						}
					}
					return
				}
				runErr = runWorkers(ctx, &flags, start, seeds, parallel, results)
			}()
			var failed []seedResult
			var done, simMs int64
			var paths pathTotals
			tty := isTerminal(errOut)
			logLines := &swarmLog{out: errOut, total: int64(seeds), every: swarmProgressEvery}
			ticker := time.NewTicker(time.Second)
			defer ticker.Stop()
			seedResults := swarmResults(ctx, results)
		loop:
			for {
				select {
				case res, ok := <-seedResults:
					if !ok {
						break loop
					}
					done++
					simMs += res.SimMs
					paths.add(res.Paths)
					if res.Failed {
						failed = append(failed, res)
					}
					if tty {
						fmt.Fprintf(errOut, "\r%s", swarmProgress(done, int64(seeds), int64(len(failed)), time.Since(began)))
					} else {
						logLines.report(done, int64(len(failed)), time.Since(began), true)
					}
				case <-ticker.C:
					if !tty {
						// A log, not a terminal: a line at least every
						// swarmProgressEvery, even while a long seed plays.
						logLines.report(done, int64(len(failed)), time.Since(began), false)
					}
				}
			}
			if tty {
				fmt.Fprintln(errOut)
			}
			interrupted := ctx.Err() != nil && done < int64(seeds)
			if interrupted && parallel > 1 {
				<-workersEnded // killed with ctx; a seed played in this process cannot be stopped
			}
			if !interrupted && runErr != nil {
				return runErr
			}
			elapsed := time.Since(began)
			fmt.Fprintf(out, "%d seeds from %d in %s: %.0f seeds/min, %s simulated (%.0f× real time over %d workers), %splant %s, profile %s\n",
				done, start, elapsed.Round(time.Millisecond), float64(done)/elapsed.Minutes(), time.Duration(simMs)*time.Millisecond,
				float64(simMs)/max(float64(elapsed.Milliseconds()), 1), max(parallel, 1), askingFirst(flags.askEpochFirst), orNone(flags.plant), orDrawn(flags.profile))
			fmt.Fprintln(out, paths.String())
			if len(failed) == 0 {
				fmt.Fprintln(out, "no seed failed")
			} else {
				fmt.Fprintf(out, "%d seeds failed:\n", len(failed))
				for _, f := range failed {
					fmt.Fprintf(out, "  seed %d: %s\n    profile: %s\n    replay: %s\n", f.Seed, f.Violation, f.Profile, f.Replay)
				}
			}
			switch {
			case interrupted:
				return fmt.Errorf("interrupted after %d of %d seeds", done, seeds)
			case len(failed) > 0:
				return errViolation
			}
			return nil
		},
	}
	flags.add(cmd)
	cmd.Flags().Uint64Var(&seeds, "seeds", 100, "how many seeds to play")
	cmd.Flags().Uint64Var(&start, "start", 1, "the first seed")
	cmd.Flags().IntVar(&parallel, "parallel", 1, "worker processes (a process plays one seed at a time)")
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func swarmProgress(done, total, failed int64, elapsed time.Duration) string {
	const width = 30
	filled := int(float64(done) / float64(total) * width)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	return fmt.Sprintf("[%s] %d/%d seeds, %d failing, %.1f seeds/s", bar, done, total, failed, float64(done)/max(elapsed.Seconds(), 1e-3))
}

// runWorkers plays the seeds in worker processes (gregor sim worker): a
// simulation owns its process's crypto/rand.Reader for its whole run, so
// runs in parallel need processes of their own.
func runWorkers(ctx context.Context, flags *simFlags, start, seeds uint64, parallel int, results chan<- seedResult) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"sim", "worker", "--nodes", strconv.Itoa(flags.nodes), "--duration", flags.duration.String()}
	if flags.plant != "" {
		args = append(args, "--plant", flags.plant)
	}
	if flags.profile != "" {
		args = append(args, "--profile", flags.profile)
	}
	if flags.askEpochFirst != "" {
		args = append(args, "--ask-epoch-first", flags.askEpochFirst)
	}
	var mu sync.Mutex
	next := start
	take := func() (uint64, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= start+seeds {
			return 0, false
		}
		next++
		return next - 1, true
	}
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runWorker(ctx, self, args, take, results); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// runWorker feeds one worker process a seed at a time, until ctx ends
// (which kills the worker).
func runWorker(ctx context.Context, self string, args []string, take func() (uint64, bool), results chan<- seedResult) error {
	c := exec.CommandContext(ctx, self, args...)
	c.Stderr = os.Stderr
	stdin, err := c.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return err
	}
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for {
		seed, ok := take()
		if !ok {
			break
		}
		if _, err := fmt.Fprintf(stdin, "%d\n", seed); err != nil {
			return err
		}
		if !lines.Scan() {
			return fmt.Errorf("worker stopped at seed %d: %v", seed, lines.Err())
		}
		var res seedResult
		if err := json.Unmarshal(lines.Bytes(), &res); err != nil {
			return fmt.Errorf("worker answer for seed %d: %w", seed, err)
		}
		select {
		case results <- res:
		case <-ctx.Done():
			_ = c.Wait()
			return ctx.Err()
		}
	}
	_ = stdin.Close()
	return c.Wait()
}

// swarmResults passes on the seeds' results until they end or ctx does.
func swarmResults(ctx context.Context, results <-chan seedResult) <-chan seedResult {
	out := make(chan seedResult)
	go func() {
		defer close(out)
		for {
			select {
			case res, ok := <-results:
				if !ok {
					return
				}
				select {
				case out <- res:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// newSimWorkerCommand is the swarm's worker: it reads seeds, a line each,
// and answers each with a JSON line.
func newSimWorkerCommand() *cobra.Command {
	var flags simFlags
	cmd := &cobra.Command{
		Use:    "worker",
		Short:  "Play the seeds read from stdin (for gregor sim swarm --parallel)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return simWorker(&flags, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	flags.add(cmd)
	return cmd
}

func simWorker(flags *simFlags, in io.Reader, out io.Writer) error {
	lines := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for lines.Scan() {
		seed, err := strconv.ParseUint(strings.TrimSpace(lines.Text()), 10, 64)
		if err != nil {
			return fmt.Errorf("seed %q: %w", lines.Text(), err)
		}
		res, err := runSeed(flags, seed)
		if err != nil {
			return err
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return lines.Err()
}

// isTerminal says whether w is a terminal, where a progress bar is redrawn
// in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// orDrawn names a --profile, or says each seed draws its own.
func orDrawn(profile string) string {
	if profile == "" {
		return "drawn per seed"
	}
	return profile
}

// askingFirst names the nodes of --ask-epoch-first for a swarm's summary,
// nothing when there are none.
func askingFirst(nodes string) string {
	if nodes == "" {
		return ""
	}
	return "followers asking OffsetForLeaderEpoch first on nodes " + nodes + ", "
}
