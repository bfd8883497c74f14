package sim

// shutdown is the scenario command `shutdown N|leader|controller [tp=T/P]`:
// the node shuts down gracefully (a controlled shutdown, node_broker.go)
// and the command waits, at most a minute, until its process stopped (tp
// names the partition whose leader is meant by "leader").
func (s *Scenario) shutdown(args []Arg) {
	n := s.nodeArg(args)
	if n == nil {
		return
	}
	w := s.w
	stopped := false
	w.controlledShutdown(n, func() { stopped = true })
	start := w.now
	if !s.until(60_000, n.name()+"'s controlled shutdown", func() bool { return stopped }) {
		return
	}
	s.printf("%s stopped after %s", n.name(), fmtMs(w.now-start))
}
