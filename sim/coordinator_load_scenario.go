package sim

// The coordinator-load commands of scenarios:
//
//	hold-loads N       node N's coordinator load reads stall: each is
//	                   planned on the log but not read, until release-loads
//	release-loads N    the reads go on, in plan order: each is read and
//	                   replayed now (or dropped), and what it found is
//	                   printed

// doCoordinatorLoad runs a coordinator-load command; it reports false for
// others.
func (s *Scenario) doCoordinatorLoad(cmd string, args []Arg) bool {
	switch cmd {
	case "hold-loads":
		if n := s.nodeArg(args); n != nil {
			s.w.coordinatorLoads().stalled.hold(n.id)
			s.w.timelinef("fault: %s's coordinator load reads stall", n.name())
		}
	case "release-loads":
		n := s.nodeArg(args)
		if n == nil {
			return true
		}
		held := s.w.coordinatorLoads().stalled.release(n.id)
		s.w.timelinef("fault: %s's coordinator load reads go on with %d reads", n.name(), len(held))
		for _, lr := range held {
			if !n.up || n.paused || lr.inc != n.inc {
				// A held read belongs to the process that planned
				// it, which must still run.
				lr.recs.Release()
				s.printf("%s: %s load read of %s dropped: its process is gone or paused", n.name(), lr.l.what, lr.l.key)
				continue
			}
			var found string
			n.run(func() { found = lr.read() })
			s.printf("%s: %s load read %s", n.name(), lr.l.what, found)
		}
	default:
		return false
	}
	return true
}
