package sim

import "slices"

// A follower's fetcher that gives up a parked Fetch (a partition new to
// it, cluster.FetcherConfig.PromptFetchGapMs) closes its connection, and
// the leader drops the Fetch when it sees the close
// (cluster.Fetch.ConnectionClosed; actors/fetch_conn_closed.go). The
// simulator has no connections: the close is a message of its own on the
// follower's link to the leader, naming the Fetch it ends. Like any
// message it may be late, lost or cut; the Fetch then waits out its
// deadline, as it did before.

// fetchConnClosed is the close of the connection that carried a
// follower's Fetch, by its correlation id.
type fetchConnClosed struct {
	corr uint64
}

// closeFetchConn tells f's leader that the connection of the Fetch f gave
// up closed.
func (n *node) closeFetchConn(f *fetcherHost) {
	if f.fetchCorr == 0 {
		return
	}
	n.w.net.send(&message{from: n.id, to: f.leader, kind: msgRequest, body: &fetchConnClosed{corr: f.fetchCorr}})
	f.fetchCorr = 0
}

// fetchConnClosed drops the parked Fetch the closed connection carried, if
// it still waits here.
func (n *node) fetchConnClosed(from int32, c *fetchConnClosed) {
	for _, id := range slices.Clone(n.serverIDs) {
		s := n.servers[id]
		if s != nil && !s.done && s.req.from == from && s.req.corr == c.corr {
			s.core.ConnectionClosed()
			s.process()
		}
	}
}

// drop ends a server whose Fetch its core dropped: no answer is sent.
func (s *fetchServer) drop() {
	s.done = true
	s.unpark()
	s.n.w.stats.FetchesDropped++
	delete(s.n.servers, s.id)
	if i := slices.Index(s.n.serverIDs, s.id); i >= 0 {
		s.n.serverIDs = slices.Delete(s.n.serverIDs, i, i+1)
	}
	for i, r := range s.recs {
		releaseRecords(r)
		s.recs[i] = nil
	}
}
