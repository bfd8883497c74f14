// Package quorum is the metadata quorum's core: an etcd raft node
// (go.etcd.io/raft/v3 RawNode) among the controller voters of
// controller.quorum.voters, whose log entries each carry one encoded
// cluster.MetadataBatch. Brokers that are not voters follow as raft learners.
// The raft index of an entry is its metadata offset.
//
// The core decides and never does: time arrives as Tick(now), messages as
// Step, proposals as Propose; Ready hands out what to persist (through
// logstore/raftlog), the messages to send, the metadata batches to apply in
// order, the fate of proposals and changes of leadership, and Advance says
// it was carried out. See Ready for the order a caller must keep.
//
// # Driving it
//
// A shell (the quorum actor, or the simulator) does this:
//
//	log, state, err := raftlog.Open(fsys, dataDir+"/"+raftlog.DirName, logger)
//	q, err := quorum.New(cfg, state)      // a new voter bootstraps; see Config.Voters
//	// on a timer at q.NextTickMs() (monotonic): q.Tick(now)
//	// on a raft frame from the CONTROLLER listener: q.StepBytes(now, body)
//	// on a controller request's records: id, err := q.Propose(encodedBatch)
//	// after each of these:
//	for q.HasReady() {
//		rd := q.Ready()
//		send rd.SendFirst                 // raft's requests: before the write
//		log.Save(rd.Persist)              // durable before Messages; on error stop the node
//		send rd.Messages                  // quorum.MarshalMessage; ReportSnapshot, ReportUnreachable
//		apply rd.Snapshot, rd.Committed   // to the metadata image, in order
//		tell rd.Membership, rd.Proposals, rd.Leadership
//		q.Advance()
//		if rd.SnapshotDue {               // bounded log: snapshot the image, compact
//			snap, err := q.Snapshot(encodedImageAt(q.AppliedOffset()))
//			log.Compact(snap)
//		}
//	}
//
// On a graceful stop the shell calls Stopping (and again once its broker's
// controlled shutdown is over), then HandOffLeadership, and waits until the
// leadership moved, or, when the core Resigned, until its notices left
// (stopping.go).
//
// The controller runs while Leadership.Active says so (from the image as
// applied when it turned active), proposes through Propose, and answers a
// request when its proposal's fate arrives: committed (at an offset whose
// batch this node also applies, in the same Ready or an earlier one), or
// lost with the leadership (NOT_CONTROLLER; the entry may still commit
// under the next leader, and every node then applies it).
//
// A node whose metadata log was lost (lost_log.go, catch_up.go): a learner
// restarted empty rejoins under the same leader, which removes it and adds
// it again so that raft sends it a snapshot; a voter restarted empty
// rejoins too, the leader that knew it handing its leadership to another
// voter, which probes it afresh; a voter that starts from an empty log
// takes part in elections only once it caught up with a leader
// (Config.CatchingUp); a voter whose log lost a part of what it
// acknowledged but is not empty stops (ErrLogLost).
//
// It may import cluster and logstore (raftlog's State and Update) and
// nothing else of gregor. It passes the purity guard: no clock, timers,
// goroutines, os, net or randomness of its own. The one exception is inside
// the raft library: its election timeouts are jittered with crypto/rand
// (raft.go's globalRand); the simulator replaces crypto/rand.Reader with a
// seeded reader (tests: testing/cryptotest.SetGlobalRandom), so elections
// replay too. Nothing here ranges over a map where order matters.
//
// Concurrency: a Quorum is a plain value; the caller serialises every call.
package quorum
