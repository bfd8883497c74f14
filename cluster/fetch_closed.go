package cluster

// ConnectionClosed tells the Fetch that its connection closed: a follower's
// fetcher gave it up (cluster.FetcherConfig.PromptFetchGapMs closes the
// connection of a Fetch it stops waiting for), or a client went away. A
// parked Fetch is done at once with no answer (Ready.Dropped): waiting to
// its deadline and then reading every partition again would be for an
// answer no one reads. One reading answers after its read, without
// parking (the shell's write to the closed connection goes nowhere).
func (f *Fetch) ConnectionClosed() {
	f.connClosed = true
	if f.phase == fetchParked {
		f.phase = fetchAnswered
		f.ready.Watches = nil
		f.ready.Read = false
		f.ready.Dropped = true
	}
}
