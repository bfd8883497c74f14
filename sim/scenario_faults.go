package sim

import (
	"math"
	"strconv"
	"strings"
)

// The scenario commands of clock and disk faults and of consumers
// (scenario.go lists the others):
//
//	clock N +1h|-30m                  step node N's wall clock (its monotonic clock runs on)
//	drift N +5%|-2.5%|0               node N's clocks, monotonic and wall, run that much fast or slow from now
//	disk N eio [p=1] [for=5s] [ops=all]  N's writes and fsyncs (ops=all: every disk operation but a close) fail with EIO (each with probability p)
//	disk N full [spare=0] [for=5s] [data]
//	                                    N's disk is full (but for spare bytes; data: only the disk of
//	                                    its log.dirs, the metadata log on a disk of its own)
//	wipe N [power]                    N's process crashes (power: in a power loss) and its data directory is emptied (data_wipe.go); restart N starts it again
//	consume name=C [read-committed]   a consumer polls every partition from offset 0 in the background
//	consumed name=C [tp=T/P]          what C read so far: polls, records delivered and skipped, position
//	stop-consumer name=C              stop C (and print what it read)
//
// A node argument may also be "follower tp=T/P" (the first replica in the
// partition's ISR that does not lead it) or "last" (the node the last crash
// command stopped).

// doFaults runs a fault or consumer command; it reports false for others.
func (s *Scenario) doFaults(cmd string, args []Arg) bool {
	switch cmd {
	case "clock":
		s.clock(args)
	case "drift":
		s.drift(args)
	case "disk":
		s.disk(args)
	case "wipe":
		if n := s.nodeArg(args); n != nil {
			s.w.wipe(n, has(args, "power"))
		}
	case "consume":
		s.consume(args)
	case "consumed":
		s.consumed(args)
	case "stop-consumer":
		if c := s.consumer(args); c != nil {
			c.stopped = true
			s.consumed(args)
		}
	default:
		return false
	}
	return true
}

func (s *Scenario) clock(args []Arg) {
	n := s.nodeArg(args)
	if n == nil {
		return
	}
	v := positional(args, 1, "")
	delta := durationArg(strings.TrimPrefix(v, "+"))
	if delta == 0 {
		s.printf("error: no clock step %q", v)
		return
	}
	s.w.jumpClock(n, delta)
}

func (s *Scenario) drift(args []Arg) {
	n := s.nodeArg(args)
	if n == nil {
		return
	}
	v := positional(args, 1, "")
	pct, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(v, "+"), "%"), 64)
	if err != nil || pct <= -100 {
		s.printf("error: no clock drift %q", v)
		return
	}
	s.w.setDrift(n, int64(math.Round(pct*10)))
}

func (s *Scenario) disk(args []Arg) {
	n := s.nodeArg(args)
	if n == nil {
		return
	}
	until := s.w.now + durationArg(arg(args, "for", "5s"))
	switch kind := positional(args, 1, ""); kind {
	case "eio":
		p, err := strconv.ParseFloat(arg(args, "p", "1"), 64)
		if err != nil {
			s.printf("error: p=%s", arg(args, "p", ""))
			return
		}
		s.w.diskFails(n, p, until, arg(args, "ops", "") == "all")
	case "full":
		if has(args, "data") {
			s.w.dataDiskFull(n, until)
			return
		}
		spare, _ := strconv.ParseInt(arg(args, "spare", "0"), 10, 64)
		s.w.diskFull(n, spare, until)
	default:
		s.printf("error: no disk fault %q (eio or full)", kind)
	}
}

func (s *Scenario) consume(args []Arg) {
	name := arg(args, "name", "c")
	c := s.w.newClient(consumerClient)
	c.readCommitted = has(args, "read-committed")
	s.clients[name] = c
	c.startConsumer()
	isolation := "read_uncommitted"
	if c.readCommitted {
		isolation = "read_committed"
	}
	s.printf("%s: %s polls every partition (%s)", name, c.name(), isolation)
}

func (s *Scenario) consumer(args []Arg) *client {
	name := arg(args, "name", "c")
	if c := s.clients[name]; c != nil && c.kind == consumerClient {
		return c
	}
	s.printf("error: no consumer %s", name)
	return nil
}

// consumed prints what a consumer read of one partition: its polls, the
// records they delivered, the aborted records and markers they skipped,
// and its position.
func (s *Scenario) consumed(args []Arg) {
	c := s.consumer(args)
	if c == nil {
		return
	}
	tp := tpArg(args)
	polls, data, aborted, control := 0, 0, 0, 0
	for _, op := range s.w.hist.polls {
		if op.process != c.id || op.tp != tp {
			continue
		}
		polls++
		for _, r := range op.records {
			switch r.kind {
			case recData:
				data++
			case recAborted:
				aborted++
			case recControl:
				control++
			}
		}
	}
	s.printf("%s: %s: %d polls delivered %d records, skipped %d aborted and %d markers; position %d", arg(args, "name", "c"), tp, polls, data, aborted, control, c.positions[tp])
}
