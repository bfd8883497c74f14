package sim

// An auto-committing group member (enable.auto.commit=true, B21) runs an
// application behind its polls, as Kafka's consumer does: a poll hands the
// application its records, which it processes for processMs before it
// polls that partition again. The member commits, on its commit timer,
// the positions of what the application processed: the records of the
// polls before the current one, as Kafka's auto-commit commits inside
// poll() the positions the previous poll() returned up to (never those of
// records still being processed). A member that crashes between polls
// loses the records its application held; the group's next owner of the
// partition starts at the committed offset, below them, and processes
// them again: at least once (the at-least-once checker, check_group.go).
//
// A member without auto-commit processes each poll's records as they
// arrive and commits its positions (client_group.go).

// appState is the application of an auto-committing member.
type appState struct {
	processMs int64
	// inApp are the records of each partition's last poll the application
	// is processing.
	inApp map[tpKey]appBatch
	// processed is, per partition, the offset after the last record the
	// application processed (Kafka's consumed position at the next poll):
	// what auto-commit commits.
	processed map[tpKey]int64
	// lastCommitSentMs is when the member sent the latest of its offset
	// commits acknowledged without error.
	lastCommitSentMs int64
}

// appBatch is one poll's records in the application.
type appBatch struct {
	records []readRecord
	sinceMs int64
}

func newAppState(processMs int64) *appState {
	return &appState{processMs: processMs, inApp: map[tpKey]appBatch{}, processed: map[tpKey]int64{}, lastCommitSentMs: -1}
}

// busy says the application still processes tp's last poll: the member
// does not poll it again until it is done.
func (m *groupMember) busy(tp tpKey) bool {
	if m.app == nil {
		return false
	}
	_, ok := m.app.inApp[tp]
	return ok
}

// delivered takes the records a poll of tp returned: the application
// processes them (at once without auto-commit, for processMs with it).
func (c *client) delivered(tp tpKey, records []readRecord) {
	w, m := c.w, c.member
	if m.app == nil {
		w.groupChecks.processed(m.group, tp, records)
		return
	}
	m.app.inApp[tp] = appBatch{records: records, sinceMs: w.now}
	session := m.session[tp]
	c.at(w.now+m.app.processMs, func() {
		b, ok := m.app.inApp[tp]
		if c.stopped || !ok || m.session[tp] != session || b.sinceMs+m.app.processMs != w.now {
			return
		}
		delete(m.app.inApp, tp)
		w.groupChecks.processed(m.group, tp, b.records)
		m.app.processed[tp] = b.records[len(b.records)-1].offset + 1
		w.tracef("%s: group %s: application processed %s to %d", c.name(), m.group, tp, m.app.processed[tp])
	})
}

// startedAt notes that the member starts tp at position: the application
// has processed everything before it (for all this member knows).
func (m *groupMember) startedAt(tp tpKey, position int64) {
	if m.app != nil {
		delete(m.app.inApp, tp)
		m.app.processed[tp] = position
	}
}

// dropped forgets what the application held of a partition the member no
// longer owns.
func (m *groupMember) dropped(tp tpKey) {
	if m.app != nil {
		delete(m.app.inApp, tp)
		delete(m.app.processed, tp)
	}
}

// commitOffset is the offset the member commits for tp: its position, or
// with auto-commit what the application processed (the commit-returned
// plant: the position, past records the application still processes).
func (c *client) commitOffset(tp tpKey) int64 {
	m := c.member
	if m.app == nil {
		return c.positions[tp]
	}
	if c.w.opts.Plant == PlantCommitReturned && c.positions[tp] != m.app.processed[tp] {
		c.w.stats.PlantFired++
		return c.positions[tp]
	}
	return m.app.processed[tp]
}

// crash stops the member's process between polls: what its application
// held is never processed, and it commits nothing more.
func (c *client) crash() {
	c.stopped, c.crashed = true, true
	if m := c.member; m != nil && m.app != nil {
		m.app.inApp = map[tpKey]appBatch{}
	}
}
