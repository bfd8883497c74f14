package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gregor/sim"
)

// errViolation makes the command exit with status 1 after it printed the
// violation, the seed and the replay command.
var errViolation = errors.New("the simulation found a violation")

func newSimCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Play a gregor cluster through faults in simulated time and check Kafka's guarantees",
		Long: `sim drives the real cores of a gregor cluster (metadata quorum, controller,
leader and follower replicas) and its clients on one goroutine in simulated
time, through crashes, power losses, partitions, pauses, clock jumps, clocks
that drift and disk faults, and checks Kafka's guarantees after every event and over the history
of client operations. The same seed gives the same run, byte for byte.`,
	}
	cmd.AddCommand(newSimRunCommand(), newSimSwarmCommand(), newSimWorkerCommand())
	return cmd
}

// simFlags are the flags run and swarm share.
type simFlags struct {
	nodes    int
	duration time.Duration
	plant    string
	profile  string
	// askEpochFirst is --ask-epoch-first: node ids separated by commas.
	askEpochFirst string
}

func (f *simFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.nodes, "nodes", 3, "brokers (the first three are the controller quorum's voters)")
	cmd.Flags().DurationVar(&f.duration, "duration", 60*time.Second, "simulated length of the faulty phase")
	cmd.Flags().StringVar(&f.plant, "plant", "", "plant a bug in the simulator's shell: "+plantNames())
	cmd.Flags().StringVar(&f.profile, "profile", "", "play a named fault and workload mix instead of one drawn from each seed (mixed: each seed plays one of them, or a drawn one): "+profileNames())
	cmd.Flags().StringVar(&f.askEpochFirst, "ask-epoch-first", "",
		"nodes (ids separated by commas) whose followers ask OffsetForLeaderEpoch before they fetch instead of truncating on fetch (a cluster whose replicas differ in it)")
}

// parseNodeIDs parses --ask-epoch-first: node ids between 1 and nodes,
// separated by commas; empty is none.
func parseNodeIDs(s string, nodes int) ([]int32, error) {
	if s == "" {
		return nil, nil
	}
	var ids []int32
	for _, part := range strings.Split(s, ",") {
		id, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || id < 1 || id > nodes {
			return nil, fmt.Errorf("--ask-epoch-first %q: node ids between 1 and %d, separated by commas", s, nodes)
		}
		ids = append(ids, int32(id))
	}
	return ids, nil
}

func profileNames() string {
	return strings.Join(sim.ProfileNames(), ", ")
}

func plantNames() string {
	s := ""
	for i, p := range sim.Plants() {
		if i > 0 {
			s += ", "
		}
		s += string(p)
	}
	return s
}

func (f *simFlags) options(seed uint64) (sim.Options, error) {
	plant, err := sim.ParsePlant(f.plant)
	if err != nil {
		return sim.Options{}, err
	}
	if f.nodes < 1 || f.nodes > 50 {
		return sim.Options{}, fmt.Errorf("--nodes %d: between 1 and 50", f.nodes)
	}
	askFirst, err := parseNodeIDs(f.askEpochFirst, f.nodes)
	if err != nil {
		return sim.Options{}, err
	}
	opts := sim.Options{Seed: seed, Nodes: f.nodes, DurationMs: f.duration.Milliseconds(), Plant: plant, AskEpochFirst: askFirst}
	if f.profile != "" {
		p, ok := sim.ProfileByName(f.profile, seed)
		if !ok {
			return sim.Options{}, fmt.Errorf("--profile %q: one of %s", f.profile, profileNames())
		}
		opts.Profile, opts.ProfileName = &p, f.profile
	}
	return opts, nil
}

func newSimRunCommand() *cobra.Command {
	var flags simFlags
	var seed uint64
	var scenario, traceFile, htmlFile, skipFaults string
	var quiet, noShrink bool
	maxFaults := -1
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Play one seed (or a named scenario) and check it",
		Example: `  gregor sim run --seed 42
  gregor sim run --seed 7 --duration 5m --nodes 5 --trace run.log
  gregor sim run --scenario last-replica-standing
  gregor sim run --seed 3 --plant early-hw
  gregor sim run --seed 9 --html run.html
  gregor sim run --seed 1 --plant skip-truncation --faults 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := flags.options(seed)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !quiet {
				opts.Timeline = out
			}
			if maxFaults >= 0 {
				opts.LimitFaults, opts.MaxFaults = true, maxFaults
			}
			if skipFaults != "" {
				for _, f := range strings.Split(skipFaults, ",") {
					i, err := strconv.Atoi(strings.TrimSpace(f))
					if err != nil || i < 1 {
						return fmt.Errorf("--skip-faults %q: fault numbers from 1, separated by commas", skipFaults)
					}
					opts.SkipFaults = append(opts.SkipFaults, i)
				}
			}
			var page *os.File
			if htmlFile != "" {
				if page, err = os.Create(htmlFile); err != nil {
					return err
				}
				defer page.Close()
				opts.HTML = page
			}
			if traceFile != "" {
				f, err := os.Create(traceFile)
				if err != nil {
					return err
				}
				defer f.Close()
				opts.Trace = f
			}
			start := time.Now()
			var rep *sim.Report
			var script string
			if scenario != "" {
				if script, err = sim.ScenarioScript(scenario); err != nil {
					return err
				}
				opts.Timeline = nil
			}
			if err := untilInterrupted(cmd.Context(), func() {
				if scenario != "" {
					rep, _ = sim.RunScenarioScript(script, opts, out)
				} else {
					rep = sim.Run(opts)
				}
			}); err != nil {
				return err
			}
			real := time.Since(start)
			fmt.Fprintf(out, "\n%s", rep.Summary())
			fmt.Fprintf(out, "real time %s: %.0f× simulated time per real second\n", real.Round(time.Millisecond), float64(rep.SimulatedMs)/max(float64(real.Milliseconds()), 1))
			if traceFile != "" {
				fmt.Fprintf(out, "trace written to %s (its sha256 is the trace hash above)\n", traceFile)
			}
			if page != nil {
				if err := errors.Join(rep.HTMLErr, page.Close()); err != nil {
					return fmt.Errorf("write %s: %w", htmlFile, err)
				}
				fmt.Fprintf(out, "page written to %s\n", htmlFile)
			}
			if !rep.Failed() {
				return nil
			}
			if scenario != "" {
				fmt.Fprintf(out, "seed %d failed; replay with:\n  gregor sim run --scenario %s --seed %d\n", seed, scenario, seed)
				return errViolation
			}
			fmt.Fprintf(out, "seed %d failed; replay with:\n  %s\n", seed, rep.ReplayCommand())
			if !noShrink {
				if err := untilInterrupted(cmd.Context(), func() { printShrunk(out, opts, rep) }); err != nil {
					return fmt.Errorf("%w while searching the shortest failing prefix (seed %d failed)", err, seed)
				}
			}
			return errViolation
		},
	}
	flags.add(cmd)
	cmd.Flags().Uint64Var(&seed, "seed", 1, "the seed: the same seed plays the same run")
	cmd.Flags().StringVar(&scenario, "scenario", "", "play a named scenario instead of a swarm seed: "+scenarioNames())
	cmd.Flags().StringVar(&traceFile, "trace", "", "write the full event log to this file")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "print only the summary, not the timeline")
	cmd.Flags().StringVar(&htmlFile, "html", "", "write the run as one self-contained HTML page to this file")
	cmd.Flags().IntVar(&maxFaults, "faults", -1, "cut the fault schedule after this many faults (-1: no cut)")
	cmd.Flags().StringVar(&skipFaults, "skip-faults", "", "leave these faults of the schedule out (their numbers, separated by commas); the others stay as they were")
	cmd.Flags().BoolVar(&noShrink, "no-shrink", false, "on a violation, do not search for the shortest failing prefix of the fault schedule")
	return cmd
}

// untilInterrupted plays play and returns nil, or an error as soon as ctx
// ends (SIGINT, SIGTERM): a simulation cannot be stopped midway, so play
// goes on in its goroutine until the process exits.
func untilInterrupted(ctx context.Context, play func()) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		play()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("interrupted")
	}
}

// printShrunk replays a failing seed with its fault schedule cut at
// successive points and prints the shortest prefix that still fails, less
// the faults it fails without (sim.Shrink).
func printShrunk(out io.Writer, opts sim.Options, rep *sim.Report) {
	start := time.Now()
	fmt.Fprintf(out, "\nsearching the shortest prefix of its fault schedule (%d faults) that still fails...\n", len(rep.Faults))
	k, shrunk := sim.Shrink(opts, rep)
	fmt.Fprintf(out, "shortest failing prefix: %d of %d faults (found in %s)\n", k, len(rep.Faults), time.Since(start).Round(time.Millisecond))
	if len(shrunk.SkipFaults) > 0 {
		fmt.Fprintf(out, "it still fails without %d of them; these %d remain:\n", len(shrunk.SkipFaults), len(shrunk.Faults))
	}
	for _, f := range shrunk.Faults {
		fmt.Fprintf(out, "  %s\n", f)
	}
	if k == 0 {
		fmt.Fprintf(out, "  (it fails with no fault at all)\n")
	}
	fmt.Fprintf(out, "  then: VIOLATION %s\n", firstLine(shrunk.Violations[0].String()))
	fmt.Fprintf(out, "replay it with:\n  %s\n", shrunk.ReplayCommand())
}

func firstLine(s string) string {
	if i := strings.Index(s, "\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func scenarioNames() string {
	s := ""
	for i, n := range sim.ScenarioNames() {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
