package sim

import (
	"fmt"
	"slices"
)

// The scenario commands of consumer group members (scenario.go lists the
// others):
//
//	group-consume name=C group=G [auto-commit] [process=500ms]
//	                                     a member of group G (KIP-848) consumes every topic; auto-commit: its
//	                                     application processes each poll's records for process, and the member
//	                                     commits what it processed (client_autocommit.go)
//	crash-consumer name=C [after-commit] C's process crashes between polls, once its application holds records
//	                                     (after-commit: and a commit made since it took them was acknowledged)
//	wait-processed group=G tp=T/P [timeout=60s]
//	                                     wait until G's members processed every acknowledged write to T/P

// doGroups runs a group member command; it reports false for others.
func (s *Scenario) doGroups(cmd string, args []Arg) bool {
	switch cmd {
	case "group-consume":
		s.groupConsume(args)
	case "crash-consumer":
		s.crashConsumer(args)
	case "wait-processed":
		s.waitProcessed(args)
	default:
		return false
	}
	return true
}

func (s *Scenario) groupConsume(args []Arg) {
	s.ensureOffsetsTopic()
	name, group := arg(args, "name", "c"), arg(args, "group", "g")
	c := s.w.newClient(groupClient)
	s.clients[name] = c
	c.startGroupMember(group, false)
	if has(args, "auto-commit") {
		c.member.app = newAppState(durationArg(arg(args, "process", "500ms")))
		s.printf("%s: %s joins %s with auto-commit, processing each poll for %s", name, c.name(), group, fmtMs(c.member.app.processMs))
		return
	}
	s.printf("%s: %s joins %s", name, c.name(), group)
}

func (s *Scenario) crashConsumer(args []Arg) {
	name := arg(args, "name", "c")
	c := s.clients[name]
	if c == nil || c.member == nil {
		s.printf("error: no group member %s", name)
		return
	}
	m := c.member
	holds := func() bool {
		if m.app == nil {
			return true
		}
		for _, b := range m.app.inApp {
			if !has(args, "after-commit") || m.app.lastCommitSentMs >= b.sinceMs {
				return true
			}
		}
		return false
	}
	if !s.until(60_000, name+"'s application to hold records", holds) {
		return
	}
	held := ""
	if m.app != nil {
		tps := make([]tpKey, 0, len(m.app.inApp))
		for tp := range m.app.inApp {
			tps = append(tps, tp)
		}
		slices.SortFunc(tps, compareKeys)
		for _, tp := range tps {
			recs := m.app.inApp[tp].records
			held += fmt.Sprintf("; its application held %s %d-%d (processed to %d)", tp, recs[0].offset, recs[len(recs)-1].offset, m.app.processed[tp])
		}
	}
	c.crash()
	s.w.timelinef("client: %s (%s) crashed", name, c.name())
	s.printf("%s: crashed between polls%s", name, held)
}

func (s *Scenario) waitProcessed(args []Arg) {
	w := s.w
	group, tp := arg(args, "group", "g"), tpArg(args)
	gp := groupPartition{group, tp}
	acked := func() []*sendOp {
		var out []*sendOp
		for _, op := range w.hist.sends {
			if op.tp == tp && op.outcome == outcomeOK {
				out = append(out, op)
			}
		}
		return out
	}
	start := w.now
	if !s.until(durationArg(arg(args, "timeout", "60s")), group+" to process "+tp.String(), func() bool {
		for _, op := range acked() {
			if w.groupChecks.processedBy[gp][op.offset] == 0 {
				return false
			}
		}
		return true
	}) {
		return
	}
	sends, twice := acked(), 0
	for _, op := range sends {
		if w.groupChecks.processedBy[gp][op.offset] > 1 {
			twice++
		}
	}
	s.printf("%s: processed the %d acknowledged writes to %s after %s, %d of them more than once; committed %d",
		group, len(sends), tp, fmtMs(w.now-start), twice, w.groupChecks.maxCommitted[gp])
}
