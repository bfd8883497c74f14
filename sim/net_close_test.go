package sim

import (
	"errors"
	"testing"
)

// TestStoppedProcessClosesConnections shows a request a node took and had
// not answered when its process crashed (here held while it was paused)
// fails for its caller at once, a connection closed, as the kernel closes
// a stopped process's sockets; after a power loss the caller waits out
// its timeout, the machine gone.
func TestStoppedProcessClosesConnections(t *testing.T) {
	for _, tc := range []struct {
		name      string
		powerLoss bool
		wantErr   error
	}{{"process crash", false, errConnectionClosed}, {"power loss", true, errTimeout}} {
		t.Run(tc.name, func(t *testing.T) {
			p := QuietProfile()
			w := newWorld(Options{Seed: 1, DurationMs: 60_000, Profile: &p})
			w.startCluster()
			w.runUntil(5_000)
			server, caller := w.nodes[0], w.nodes[1]
			w.pause(server)
			const timeoutMs = 20_000
			sentAt, heardAt := w.now, int64(-1)
			var heard error
			w.call(caller, caller.id, server.id, &metadataRequest{}, timeoutMs, func(_ any, err error) {
				heard, heardAt = err, w.now
			})
			w.runUntil(w.now + 100)
			w.crash(server, tc.powerLoss, "")
			w.runUntil(sentAt + timeoutMs + 1_000)
			if !errors.Is(heard, tc.wantErr) {
				t.Fatalf("caller heard %v, want %v", heard, tc.wantErr)
			}
			if waited := heardAt - sentAt; tc.powerLoss != (waited >= timeoutMs) {
				t.Fatalf("caller heard after %d ms (timeout %d ms)", waited, timeoutMs)
			}
		})
	}
}
