package sim

import (
	"strconv"
)

// The scenario commands of the metadata lag and of the operator's
// min.insync.replicas (scenario.go lists the others):
//
//	lag-metadata N [delay=5s] [for=30s]  raft messages to node N arrive that much late for that long
//	                                     (its RPCs flow as before: metadata_lag.go)
//	min-isr name=T value=K               the operator sets topic T's min.insync.replicas to K and
//	                                     waits for the controller's answer

// doMetadataLag runs a metadata-lag or min.insync.replicas command; it
// reports false for others.
func (s *Scenario) doMetadataLag(cmd string, args []Arg) bool {
	switch cmd {
	case "lag-metadata":
		if n := s.nodeArg(args); n != nil {
			s.w.lagMetadata(n, durationArg(arg(args, "delay", "5s")), durationArg(arg(args, "for", "30s")))
		}
	case "min-isr":
		s.setMinISR(args)
	default:
		return false
	}
	return true
}

// setMinISR sets a topic's min.insync.replicas through the admin client,
// asking again until the controller took it (at most 30 s).
func (s *Scenario) setMinISR(args []Arg) {
	w := s.w
	name := arg(args, "name", "t")
	v, err := strconv.Atoi(arg(args, "value", ""))
	if err != nil || v < 1 {
		s.printf("error: min-isr needs value=K, K at least 1")
		return
	}
	admin := s.clients["admin"]
	done, asked := false, false
	s.until(30_000, "the controller to take "+name+"'s min.insync.replicas", func() bool {
		if !done && !asked {
			asked = true
			w.stats.MinISRChanges++
			admin.setMinISR([]string{name}, v, func(string) { done = true })
			w.schedule(w.now+1000, func() { asked = false })
		}
		return done
	})
}
