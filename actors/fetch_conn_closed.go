package actors

import (
	"context"

	"gregor/cluster"
)

// A parked Fetch whose connection closes is dropped at once
// (cluster.Fetch.ConnectionClosed). A follower's fetcher gives up a parked
// Fetch for a partition new to it by closing its connection
// (cluster.FetcherConfig.PromptFetchGapMs); before, the leader kept the
// Fetch parked until its max wait ran out, then read every partition again
// and wrote the answer to the closed connection.

// watchConn arranges for st's core to hear when the connection closes;
// called under st.mu when st parks for the first time.
func (st *fetchShell) watchConn() {
	if st.unwatchConn != nil || st.req == nil || st.req.Conn == nil {
		return
	}
	ctx := st.req.Conn.Closed()
	if ctx.Done() == nil {
		return // a connection that never closes (tests)
	}
	st.unwatchConn = context.AfterFunc(ctx, st.connClosed)
}

// unwatchConnLocked stops the watch; called under st.mu once st is done.
func (st *fetchShell) unwatchConnLocked() {
	if st.unwatchConn != nil {
		st.unwatchConn()
		st.unwatchConn = nil
	}
}

// connClosed runs once the connection closed.
func (st *fetchShell) connClosed() {
	st.step(func(f *cluster.Fetch, _ cluster.Instant) { f.ConnectionClosed() }, nil)
}

// dropped finishes a Fetch its core dropped: nothing is written, and the
// request is released.
func (st *fetchShell) dropped() {
	st.r.node.metrics.fetchesDropped.Inc()
	st.respond(nil)
}
