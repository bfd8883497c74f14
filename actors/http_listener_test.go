package actors

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMetricsListenerTurnsKafkaClientsAway points a franz-go client at
// metrics.listener by mistake: it must fail at once saying the port speaks
// HTTP (Go's HTTP server alone kept the client waiting 10 s, its
// ReadHeaderTimeout), while /metrics is still served.
func TestMetricsListenerTurnsKafkaClientsAway(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.MetricsListener = "127.0.0.1:0" })
	addr := n.httpServers[0].Addr
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "HTTP") {
		t.Fatalf("Metadata from metrics.listener: %v, want franz-go's error about an HTTP answer", err)
	}
	if took > 5*time.Second {
		t.Errorf("the client failed after %v, want at once", took)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "gregor_") {
		t.Fatalf("GET /metrics: status %d, %v:\n%.300s", resp.StatusCode, err, body)
	}
}

// TestMetricsListenerRootLinksToMetrics opens metrics.listener's own
// address, as a user does with what make run prints: the page names the
// node and links to /metrics; other paths stay 404.
func TestMetricsListenerRootLinksToMetrics(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.MetricsListener = "127.0.0.1:0" })
	addr := n.httpServers[0].Addr
	for path, want := range map[string]int{"/": http.StatusOK, "/nope": http.StatusNotFound} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != want {
			t.Fatalf("GET %s: status %d (want %d), %v", path, resp.StatusCode, want, err)
		}
		if want == http.StatusOK && (!strings.Contains(string(body), `href="/metrics"`) || !strings.Contains(string(body), "gregor node 1")) {
			t.Errorf("GET /:\n%s", body)
		}
	}
}
