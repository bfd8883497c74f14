package actors

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDebugListenerServesPprof starts a node with debug.listener and reads a
// profile index, a heap profile and a goroutine dump from it.
func TestDebugListenerServesPprof(t *testing.T) {
	// Port 0: a port reserved and freed first could be taken by another
	// process before the node binds it.
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.DebugListener = "127.0.0.1:0" })
	if len(n.httpServers) != 1 {
		t.Fatalf("%d HTTP servers, want debug.listener's alone", len(n.httpServers))
	}
	addr := n.httpServers[0].Addr
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
		"/debug/pprof/heap?debug=1":      "heap profile",
		"/debug/pprof/cmdline":           "",
		"/debug/pprof/profile?seconds=1": "",
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d, %v", path, resp.StatusCode, err)
		}
		if !strings.Contains(string(body), want) {
			t.Errorf("GET %s: body does not mention %q:\n%.300s", path, want, body)
		}
	}
	// Only pprof lives here.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on debug.listener: status %d, want 404", resp.StatusCode)
	}
}
