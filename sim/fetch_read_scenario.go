package sim

// The fetch-read commands of scenarios:
//
//	hold-reads N       node N's connection writers stall: the records of its
//	                   fetch answers are planned but not read, and nothing
//	                   is sent, until release-reads
//	release-reads N    the writers go on: each held answer's records are
//	                   read now, in answer order, and what the read found
//	                   is printed

// doFetchRead runs a fetch-read command; it reports false for others.
func (s *Scenario) doFetchRead(cmd string, args []Arg) bool {
	switch cmd {
	case "hold-reads":
		if n := s.nodeArg(args); n != nil {
			s.w.fetchReads().stalled.hold(n.id)
			s.w.timelinef("fault: %s's fetch writers stall", n.name())
		}
	case "release-reads":
		n := s.nodeArg(args)
		if n == nil {
			return true
		}
		held := s.w.fetchReads().stalled.release(n.id)
		s.w.timelinef("fault: %s's fetch writers go on with %d answers", n.name(), len(held))
		for _, fw := range held {
			if !n.up || n.paused || fw.inc != n.inc {
				// A held answer belongs to the process that
				// planned it, which must still run.
				s.printf("%s: answer to %s dropped: its process is gone or paused", n.name(), endpointName(fw.req.from))
				continue
			}
			var found string
			n.run(func() { found = fw.writeOutcome(true) })
			s.printf("%s: answer to %s: %s", n.name(), endpointName(fw.req.from), found)
		}
	default:
		return false
	}
	return true
}
