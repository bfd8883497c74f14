package actors

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads one sample (name with its labels, as /metrics prints it)
// from a node's metrics listener; ok is false when it is absent.
func scrape(t *testing.T, addr, sample string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return v, true
		}
	}
	return 0, false
}

// waitMetric waits until a node's sample satisfies cond.
func waitMetric(t *testing.T, addr, sample string, cond func(float64) bool) {
	t.Helper()
	var last float64
	var present bool
	waitFor(t, 30*time.Second, fmt.Sprintf("%s on %s (last %v, present %v)", sample, addr, last, present), func() bool {
		last, present = scrape(t, addr, sample)
		return present && cond(last)
	})
}

func equals(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

// A three-node cluster's /metrics report the metadata path and replication
// health: the controller and quorum state; with a broker stopped, its
// leader reports the partition it shares under-replicated and an ISR
// shrink, and every node counts the partition only it held offline; back,
// an ISR expansion and nothing under-replicated or offline.
func TestReplicationMetricsOnACluster(t *testing.T) {
	addrs := make([]string, 3)
	c := newTestCluster(t, 1, 2, func(i int, cfg *Config) {
		fastReplication(i, cfg)
		addrs[i] = freeAddress(t)
		cfg.MetricsListener = addrs[i]
	})
	c.startAll()
	c.createAssigned(0, "shared", []int32{1, 2, 3}, "2")
	c.createAssigned(0, "solo", []int32{3}, "1")
	c.waitISR(0, "shared", 1, 2, 3)

	waitMetric(t, addrs[0], "gregor_controller_active", equals(1))
	waitMetric(t, addrs[1], "gregor_controller_active", equals(0))
	waitMetric(t, addrs[0], `gregor_metadata_quorum_role{role="leader"}`, equals(1))
	waitMetric(t, addrs[1], `gregor_metadata_quorum_role{role="observer"}`, equals(1))
	waitMetric(t, addrs[1], "gregor_metadata_quorum_leader_id", equals(1))
	for _, a := range addrs {
		waitMetric(t, a, "gregor_under_replicated_partitions", equals(0))
		waitMetric(t, a, "gregor_offline_partitions", equals(0))
		waitMetric(t, a, "gregor_offline_replicas", equals(0))
	}
	shrinks, _ := scrape(t, addrs[0], "gregor_isr_shrinks_total")
	expands, _ := scrape(t, addrs[0], "gregor_isr_expands_total")

	c.stop(2, false)
	c.waitISR(0, "shared", 1, 2)
	waitMetric(t, addrs[0], "gregor_under_replicated_partitions", equals(1))
	waitMetric(t, addrs[1], "gregor_under_replicated_partitions", equals(0))
	waitMetric(t, addrs[0], "gregor_isr_shrinks_total", func(v float64) bool { return v >= shrinks+1 })
	waitMetric(t, addrs[0], "gregor_offline_partitions", equals(1))
	waitMetric(t, addrs[1], "gregor_offline_partitions", equals(1))

	c.startAll()
	c.waitISR(0, "shared", 1, 2, 3)
	waitMetric(t, addrs[0], "gregor_isr_expands_total", func(v float64) bool { return v >= expands+1 })
	for _, a := range addrs {
		waitMetric(t, a, "gregor_under_replicated_partitions", equals(0))
		waitMetric(t, a, "gregor_offline_partitions", equals(0))
		waitMetric(t, a, "gregor_offline_replicas", equals(0))
	}
}
