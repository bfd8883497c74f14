package sim

import (
	"bufio"
	"embed"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"gregor/cluster"
	"gregor/logstore"
)

// A Scenario plays a script of commands on a cluster with no random faults
// (sim/testdata/scenarios/*.txt, in cockroachdb/datadriven's format: a
// command, "----", its output). Each command's output is what it reports
// plus the timeline lines of what happened meanwhile. The commands:
//
//	cluster [nodes=3] [leader-balance-ms=300000]
//	                                    start the cluster, wait for the controller and the brokers
//	                                    (leader-balance-ms: leader.imbalance.check.interval, 0: off)
//	topic name=T [partitions=1] [rf=3] [min-isr=2] [unclean=false] [assign=1,2,3] [compacted] [async]
//	                                    create a topic, wait for its leaders (async: do not wait;
//	                                    compacted: cleanup.policy=compact, small segments, keyed records)
//	wait-topic name=T                   wait for a topic's leaders
//	produce tp=T/P n=N [acks=all|1] [async] [name=P]
//	                                    a producer sends N values one after another (async: in the background)
//	await name=P                        wait for an async producer
//	run 5s                              let simulated time pass
//	crash N|leader|follower|controller [tp=T/P] [power]
//	shutdown N|leader|controller [tp=T/P]
//	                                    a controlled shutdown: wait until the node stopped
//	restart N|all | pause N | resume N
//	close-conns N         N's connections to the voters close while it
//	                      lives (its client timed out a request)
//	partition 1|2,3 | isolate N | cut A->B | heal
//	leader tp=T/P                       the partition as the controller and each replica see it
//	wait-leader tp=T/P [not=N|last] [is=N] [timeout=60s]
//	wait-isr tp=T/P size=K [timeout=60s]
//	log N tp=T/P                        the stretches of node N's log that hold batches, and its ends
//	check                               heal everything, converge, read everything back, check the history
//
// and the transaction commands of scenario_txn.go, the fetch-read
// commands of fetch_read_scenario.go, the coordinator-load commands of
// coordinator_load_scenario.go, the offsets commands of
// scenario_lease.go, the clock, disk and consumer commands of
// scenario_faults.go, the group member commands of scenario_group.go, and
// the metadata-lag and min.insync.replicas commands of
// metadata_lag_scenario.go.
type Scenario struct {
	w       *World
	restore func()
	out     strings.Builder
	clients map[string]*client
	opts    Options
	// pendingSends are the async txn-begins' sends, by producer name.
	pendingSends map[string]*bool
	// last is the node the last crash or shutdown stopped.
	last *node
}

//go:embed testdata/scenarios/*.txt
var scenarioFiles embed.FS

// ScenarioNames lists the named scenarios.
func ScenarioNames() []string {
	entries, _ := scenarioFiles.ReadDir("testdata/scenarios")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".txt"))
	}
	return names
}

// ScenarioScript returns a named scenario's script.
func ScenarioScript(name string) (string, error) {
	p, err := scenarioFiles.ReadFile(path.Join("testdata/scenarios", name+".txt"))
	if err != nil {
		return "", fmt.Errorf("no scenario %q (one of %s)", name, strings.Join(ScenarioNames(), ", "))
	}
	return string(p), nil
}

// NewScenario starts a scripted run; Close ends it. Until then no other
// run may start in the process.
func NewScenario(opts Options) *Scenario {
	return &Scenario{restore: seedCryptoRand(opts.Seed), clients: map[string]*client{}, opts: opts, pendingSends: map[string]*bool{}}
}

// Close ends the run and reports it.
func (s *Scenario) Close() *Report {
	if s.restore != nil {
		s.restore()
		s.restore = nil
	}
	if s.w == nil {
		return &Report{Seed: s.opts.Seed}
	}
	return s.w.finalReport()
}

// Arg is one argument of a command: key=value, or a bare key.
type Arg struct {
	Key   string
	Value string
}

// Do runs one command and returns its output.
func (s *Scenario) Do(cmd string, args []Arg) (out string) {
	s.out.Reset()
	if s.w != nil {
		s.w.guard(func() { s.do(cmd, args) })
	} else {
		s.do(cmd, args)
	}
	return strings.TrimRight(s.out.String(), "\n")
}

// timelineWriter collects the timeline lines a command causes.
type timelineWriter struct{ s *Scenario }

func (t timelineWriter) Write(p []byte) (int, error) {
	s := t.s
	s.out.Write(p)
	if s.opts.Timeline != nil {
		_, _ = s.opts.Timeline.Write(p)
	}
	return len(p), nil
}

func (s *Scenario) printf(format string, args ...any) { fmt.Fprintf(&s.out, format+"\n", args...) }

func (s *Scenario) do(cmd string, args []Arg) {
	if cmd != "cluster" && s.w == nil {
		s.printf("error: no cluster yet")
		return
	}
	if s.w != nil && s.w.stopped && cmd != "check" {
		s.printf("error: the run stopped at a violation")
		return
	}
	switch cmd {
	case "cluster":
		s.cluster(args)
	case "topic":
		s.topic(args)
	case "wait-topic":
		s.waitTopic(arg(args, "name", "t"))
	case "produce":
		s.produce(args)
	case "await":
		s.await(arg(args, "name", "p"))
	case "run":
		s.w.runUntil(s.w.now + durationArg(positional(args, 0, "1s")))
	case "crash":
		s.crash(args)
	case "shutdown":
		s.shutdown(args)
	case "restart", "pause", "resume":
		s.process(cmd, args)
	case "close-conns":
		if n := s.nodeArg(args); n != nil {
			s.w.timelinef("fault: %s's connections to the voters close", n.name())
			n.announceConnsClosed()
		}
	case "partition", "isolate", "cut", "heal":
		s.network(cmd, args)
	case "leader":
		s.describe(tpArg(args))
	case "wait-leader":
		s.waitLeader(args)
	case "wait-isr":
		s.waitISR(args)
	case "log":
		s.logBatches(args)
	case "check":
		s.check()
	default:
		if !s.doTxn(cmd, args) && !s.doFetchRead(cmd, args) && !s.doCoordinatorLoad(cmd, args) && !s.doOffsets(cmd, args) && !s.doFaults(cmd, args) && !s.doGroups(cmd, args) &&
			!s.doMetadataLag(cmd, args) && !s.doTopics(cmd, args) {
			s.printf("error: unknown command %q", cmd)
		}
	}
}

func (s *Scenario) cluster(args []Arg) {
	if s.w != nil {
		s.printf("error: the cluster exists")
		return
	}
	nodes, _ := strconv.Atoi(arg(args, "nodes", "3"))
	p := QuietProfile()
	p.Producers, p.Consumers, p.Topics, p.DetectP = 0, 0, 0, 1
	// Periodic preferred-leader elections as production runs them, every
	// leader.imbalance.check.interval.seconds at its default, 5 min, unless
	// the scenario says (leader-balance-ms=0: off).
	balanceMs, _ := strconv.Atoi(arg(args, "leader-balance-ms", "300000"))
	if p.LeaderBalanceEveryMs = float64(balanceMs); balanceMs <= 0 {
		p.LeaderBalanceEveryMs = -1
	}
	opts := s.opts
	opts.Nodes, opts.Profile, opts.Timeline = nodes, &p, timelineWriter{s}
	s.w = newWorld(opts)
	w := s.w
	w.guard(func() {
		w.startCluster()
		w.faults.start()
		admin := w.newClient(adminClient)
		admin.startAdmin()
		s.clients["admin"] = admin
		s.until(30_000, "every broker registered", func() bool { return w.converged() == "" })
	})
}

// until runs the world until cond holds, at most boundMs.
func (s *Scenario) until(boundMs int64, what string, cond func() bool) bool {
	w := s.w
	deadline := w.now + boundMs
	for !cond() {
		if w.stopped {
			return false
		}
		if w.now >= deadline {
			s.printf("timed out after %s waiting for %s", fmtMs(boundMs), what)
			return false
		}
		w.runUntil(w.now + 50)
	}
	return true
}

func (s *Scenario) topic(args []Arg) {
	w := s.w
	rf, _ := strconv.Atoi(arg(args, "rf", fmt.Sprint(min(3, len(w.nodes)))))
	partitions, _ := strconv.Atoi(arg(args, "partitions", "1"))
	minISR, _ := strconv.Atoi(arg(args, "min-isr", "2"))
	spec := topicSpec{name: arg(args, "name", "t"), partitions: int32(partitions), rf: int16(rf), minISR: minISR, unclean: arg(args, "unclean", "false") == "true",
		compacted: has(args, "compacted")}
	if a := arg(args, "assign", ""); a != "" {
		spec.assign = parseIDs(a, ",")
		spec.partitions, spec.rf = 1, int16(len(spec.assign))
	}
	admin := s.clients["admin"]
	admin.pendingTopics = append(admin.pendingTopics, spec)
	if has(args, "async") {
		s.printf("creating topic %s", spec.name)
		return
	}
	s.waitTopic(spec.name)
}

// waitTopic waits until every node hosts the topic's replicas and every
// partition has a leader, and prints the partitions.
func (s *Scenario) waitTopic(name string) {
	w := s.w
	s.until(60_000, "the topic's leaders", func() bool {
		for _, n := range w.nodes {
			t, ok := n.image.Topic(name)
			if !n.up || !ok {
				return false
			}
			for _, p := range t.Partitions {
				if h := n.replicas[tpKey{name, p.Partition}]; p.HostedBy(n.id) && (h == nil || h.core == nil) {
					return false
				}
				if p.Leader < 0 {
					return false
				}
			}
		}
		return true
	})
	if n := s.controller(); n != nil {
		if t, ok := n.image.Topic(name); ok {
			for _, p := range t.Partitions {
				s.printf("%s/%d: replicas %v, leader %d, ISR %v", name, p.Partition, p.Replicas, p.Leader, p.ISR)
			}
		}
	}
}

func (s *Scenario) produce(args []Arg) {
	w := s.w
	tp := tpArg(args)
	n, _ := strconv.Atoi(arg(args, "n", "1"))
	name := arg(args, "name", "p")
	c := w.newClient(producerClient)
	c.acks, c.meanMs, c.target, c.limit = -1, 1, &tp, n
	if arg(args, "acks", "all") == "1" {
		c.acks = 1
	}
	s.clients[name] = c
	c.startProducer()
	if has(args, "async") {
		s.printf("%s: sending %d values to %s with acks=%s", name, n, tp, arg(args, "acks", "all"))
		return
	}
	s.await(name)
}

func (s *Scenario) await(name string) {
	c := s.clients[name]
	if c == nil {
		s.printf("error: no producer %s", name)
		return
	}
	if !s.until(int64(c.limit)*s.w.timing.deliveryTimeoutMs+10_000, name+"'s sends", func() bool { return c.seq >= c.limit && !c.busy }) {
		return
	}
	ok, failed, info := 0, 0, 0
	for _, op := range s.w.hist.sends {
		if op.process != c.id {
			continue
		}
		switch op.outcome {
		case outcomeOK:
			ok++
		case outcomeFail:
			failed++
		case outcomeInfo:
			info++
		}
	}
	s.printf("%s: %d sent: %d ok, %d failed, %d unknown", name, c.limit, ok, failed, info)
}

// nodeArg resolves a node argument: a node id, the leader of tp, or the
// active controller.
func (s *Scenario) nodeArg(args []Arg) *node {
	switch who := positional(args, 0, ""); who {
	case "leader":
		if p, ok := s.knownRecord(tpArg(args)); ok && p.Leader >= 0 {
			return s.w.node(p.Leader)
		}
	case "controller":
		return s.controller()
	case "last":
		if s.last != nil {
			return s.last
		}
	case "follower":
		if p, ok := s.knownRecord(tpArg(args)); ok {
			for _, id := range p.ISR {
				if id != p.Leader {
					return s.w.node(id)
				}
			}
		}
	case "coordinator":
		if n := s.coordinatorOf(arg(args, "tid", "")); n != nil {
			return n
		}
	default:
		id, err := strconv.Atoi(who)
		if err == nil && id >= 1 && id <= len(s.w.nodes) {
			return s.w.node(int32(id))
		}
	}
	s.printf("error: no node %v", args)
	return nil
}

func (s *Scenario) crash(args []Arg) {
	if n := s.nodeArg(args); n != nil {
		s.last = n
		s.w.crash(n, has(args, "power"), "")
	}
}

func (s *Scenario) process(cmd string, args []Arg) {
	if cmd == "restart" && positional(args, 0, "") == "all" {
		for _, n := range s.w.nodes {
			s.w.restart(n)
		}
		return
	}
	n := s.nodeArg(args)
	if n == nil {
		return
	}
	switch cmd {
	case "restart":
		s.w.restart(n)
	case "pause":
		s.w.pause(n)
	case "resume":
		s.w.resume(n)
	}
}

func (s *Scenario) network(cmd string, args []Arg) {
	w, f := s.w, s.w.faults
	switch cmd {
	case "partition":
		var groups [][]int32
		for _, g := range strings.Split(positional(args, 0, ""), "|") {
			groups = append(groups, parseIDs(g, ","))
		}
		w.stats.Partitions++
		desc := f.cutGroups(groups)
		w.timelinef("fault: partition %s", desc)
		w.rec.begin(w.now, "partition", "network", desc)
	case "isolate":
		id := int32(parseIDs(positional(args, 0, ""), ",")[0])
		var others []int32
		for _, n := range w.nodes {
			if n.id != id {
				others = append(others, n.id)
			}
		}
		w.stats.Partitions++
		desc := f.cutGroups([][]int32{{id}, others})
		w.timelinef("fault: partition %s", desc)
		w.rec.begin(w.now, "partition", "network", desc)
	case "cut":
		ends := parseIDs(strings.Replace(positional(args, 0, ""), "->", ",", 1), ",")
		f.cut(linkKey{ends[0], ends[1]})
		w.timelinef("fault: cut %s", linkKey{ends[0], ends[1]})
		w.rec.begin(w.now, "partition", "network", "cut "+linkKey{ends[0], ends[1]}.String())
	case "heal":
		f.healPartition()
	}
}

// controller is the node whose controller is active, or nil.
func (s *Scenario) controller() *node {
	for _, n := range s.w.nodes {
		if n.up && n.ctrl != nil && n.ctrl.Active() {
			return n
		}
	}
	return nil
}

// knownRecord is tp's record in the active controller's image or, with
// no active controller (it just crashed), in the image of the first node up.
func (s *Scenario) knownRecord(tp tpKey) (cluster.PartitionImage, bool) {
	img := s.controller()
	for _, n := range s.w.nodes {
		if img == nil && n.up {
			img = n
		}
	}
	if img == nil {
		return cluster.PartitionImage{}, false
	}
	t, ok := img.image.Topic(tp.topic)
	if !ok || int(tp.partition) >= len(t.Partitions) {
		return cluster.PartitionImage{}, false
	}
	return t.Partitions[tp.partition], true
}

// partitionRecord is tp's record in the active controller's image.
func (s *Scenario) partitionRecord(tp tpKey) (p struct {
	Leader, LeaderEpoch int32
	ISR                 []int32
}, ok bool) {
	c := s.controller()
	if c == nil {
		return p, false
	}
	t, found := c.image.Topic(tp.topic)
	if !found || int(tp.partition) >= len(t.Partitions) {
		return p, false
	}
	r := t.Partitions[tp.partition]
	p.Leader, p.LeaderEpoch, p.ISR = r.Leader, r.LeaderEpoch, r.ISR
	return p, true
}

func (s *Scenario) describe(tp tpKey) {
	if p, ok := s.partitionRecord(tp); ok {
		s.printf("%s: leader %d, leader epoch %d, ISR %v", tp, p.Leader, p.LeaderEpoch, p.ISR)
	} else {
		s.printf("%s: no active controller knows it", tp)
	}
	for _, n := range s.w.nodes {
		h := n.replicas[tp]
		switch {
		case !n.up:
			s.printf("  n%d: down", n.id)
		case n.paused:
			s.printf("  n%d: paused", n.id)
		case h == nil:
			s.printf("  n%d: no replica", n.id)
		case h.core == nil:
			s.printf("  n%d: offline (%v)", n.id, h.offline)
		default:
			role := "follower"
			if h.core.IsLeader() {
				role = "leader"
			}
			s.printf("  n%d: %s at leader epoch %d, high watermark %d, log end offset %d", n.id, role, h.core.LeaderEpoch(), h.core.HighWatermark(), h.core.LogEndOffset())
		}
	}
}

func (s *Scenario) waitLeader(args []Arg) {
	tp := tpArg(args)
	not := int32(-2)
	if v := arg(args, "not", ""); v == "last" && s.last != nil {
		not = s.last.id
	} else if v != "" {
		not = int32(parseIDs(v, ",")[0])
	}
	is := int32(-2)
	if v := arg(args, "is", ""); v != "" {
		is = int32(parseIDs(v, ",")[0])
	}
	start := s.w.now
	if s.until(durationArg(arg(args, "timeout", "60s")), "a leader of "+tp.String(), func() bool {
		p, ok := s.partitionRecord(tp)
		if !ok || p.Leader < 0 || p.Leader == not || is >= 0 && p.Leader != is {
			return false
		}
		h := s.w.node(p.Leader).replicas[tp]
		return h != nil && h.core != nil && h.core.IsLeader() && h.core.LeaderEpoch() == p.LeaderEpoch
	}) {
		p, _ := s.partitionRecord(tp)
		s.printf("%s: leader %d at leader epoch %d, ISR %v, after %s", tp, p.Leader, p.LeaderEpoch, p.ISR, fmtMs(s.w.now-start))
	}
}

func (s *Scenario) waitISR(args []Arg) {
	tp := tpArg(args)
	size, _ := strconv.Atoi(arg(args, "size", "1"))
	start := s.w.now
	if s.until(durationArg(arg(args, "timeout", "60s")), "the ISR of "+tp.String(), func() bool {
		p, ok := s.partitionRecord(tp)
		return ok && len(p.ISR) == size
	}) {
		p, _ := s.partitionRecord(tp)
		s.printf("%s: ISR %v after %s", tp, p.ISR, fmtMs(s.w.now-start))
	}
}

// check ends the scenario as a swarm run ends: every fault heals, the
// cluster must converge, everything is read back, the history is checked.
func (s *Scenario) check() {
	w := s.w
	if !w.stopped {
		w.stopWorkload()
		w.heal()
		w.finish()
	}
	st := w.stats
	s.printf("sends: %d, %d ok (%d acks=all), %d failed, %d unknown; %d records read", st.Sends, st.SendsOK, st.SendsAcksAllOK, st.SendsFailed, st.SendsInfo, st.RecordsRead)
	if line := w.txnSummary(); line != "" {
		s.printf("%s", line)
	}
	if len(w.losses) == 0 {
		s.printf("losses the guarantees allow: none")
	} else {
		s.printf("losses the guarantees allow: %d", len(w.losses))
		for i, l := range w.losses {
			if i == 8 {
				s.printf("  ... and %d more", len(w.losses)-8)
				break
			}
			s.printf("  %s", l)
		}
	}
	if len(w.violations) == 0 {
		s.printf("violations: none")
	}
	for _, v := range w.violations {
		s.printf("VIOLATION %s", v)
	}
}

func arg(args []Arg, key, def string) string {
	for _, a := range args {
		if a.Key == key && a.Value != "" {
			return a.Value
		}
	}
	return def
}

func has(args []Arg, key string) bool {
	return slices.ContainsFunc(args, func(a Arg) bool { return a.Key == key })
}

// positional is the i-th argument without a value.
func positional(args []Arg, i int, def string) string {
	for _, a := range args {
		if a.Value != "" {
			continue
		}
		if i == 0 {
			return a.Key
		}
		i--
	}
	return def
}

func tpArg(args []Arg) tpKey {
	v := arg(args, "tp", "t/0")
	topic, p, _ := strings.Cut(v, "/")
	partition, _ := strconv.Atoi(p)
	return tpKey{topic, int32(partition)}
}

func durationArg(v string) int64 {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0
	}
	return d.Milliseconds()
}

func parseIDs(s, sep string) []int32 {
	var out []int32
	for _, f := range strings.Split(s, sep) {
		if id, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, int32(id))
		}
	}
	return out
}

// RunScenarioScript runs a script (the format of the scenario files),
// writing each command and its output to out. It reports the run, and
// whether every output matched the one the script expects.
func RunScenarioScript(script string, opts Options, out io.Writer) (rep *Report, matched bool) {
	sc := NewScenario(opts)
	defer func() { rep = sc.Close() }()
	matched = true
	for _, c := range parseScript(script) {
		got := sc.Do(c.cmd, c.args)
		fmt.Fprintf(out, "> %s\n", c.line)
		if got != "" {
			fmt.Fprintf(out, "%s\n", got)
		}
		if got != c.expected {
			matched = false
		}
	}
	return rep, matched
}

type scriptCommand struct {
	line, cmd, expected string
	args                []Arg
}

// parseScript reads a script: comments (#), then commands each followed by
// "----" and their expected output up to a blank line.
func parseScript(script string) []scriptCommand {
	var out []scriptCommand
	sc := bufio.NewScanner(strings.NewReader(script))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		c := scriptCommand{line: line, cmd: fields[0]}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			c.args = append(c.args, Arg{Key: k, Value: v})
		}
		if sc.Scan() && strings.TrimSpace(sc.Text()) == "----" {
			var exp []string
			for sc.Scan() && sc.Text() != "" {
				exp = append(exp, sc.Text())
			}
			c.expected = strings.Join(exp, "\n")
		}
		out = append(out, c)
	}
	return out
}

// logBatches prints the stretches of a replica's log that hold batches
// (adjacent batches merged), its log start and log end offsets: where
// compaction emptied the log, and where a truncation left it.
func (s *Scenario) logBatches(args []Arg) {
	n, tp := s.nodeArg(args), tpArg(args)
	if n == nil {
		return
	}
	h := n.replicas[tp]
	if !n.up || h == nil || h.log == nil {
		s.printf("%s: no open log of %s", n.name(), tp)
		return
	}
	var runs []string
	from, next, count := int64(-1), int64(-1), 0
	flush := func() {
		if count > 0 {
			runs = append(runs, fmt.Sprintf("[%d, %d) in %d batches", from, next, count))
		}
	}
	_, err := eachLogBatch(h.log, func(b *logstore.Batch) error {
		if b.FirstOffset != next {
			flush()
			from, count = b.FirstOffset, 0
		}
		next = b.NextOffset()
		count++
		return nil
	})
	flush()
	if err != nil {
		s.printf("%s: %s does not read: %v", n.name(), tp, err)
		return
	}
	held := "no batch"
	if len(runs) > 0 {
		held = strings.Join(runs, ", ")
	}
	s.printf("%s %s: log start %d, log end %d, batches %s", n.name(), tp, h.log.LogStartOffset(), h.log.LogEndOffset(), held)
}
