package actors

import (
	"bufio"
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
	deadline := time.Now().Add(30 * time.Second)
	for {
		last, present := scrape(t, addr, sample)
		if present && cond(last) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s on %s (last %v, present %v)", sample, addr, last, present)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func equals(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

// A three-node cluster's /metrics report the metadata path and replication
// health: the controller and quorum state; with a broker stopped, its
// leader reports the partitions it shares under-replicated (the one with
// min.insync.replicas=2 at its minimum ISR, the one with 3 under it) and an
// ISR shrink, and every node counts the partition only it held offline;
// back, an ISR expansion and nothing under-replicated, under the minimum
// ISR or offline; a whole ISR as large as min.insync.replicas is at the
// minimum, as in Kafka.
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
	c.createAssigned(0, "strict", []int32{1, 2, 3}, "3")
	c.waitISR(0, "shared", 1, 2, 3)
	c.waitISR(0, "strict", 1, 2, 3)

	waitMetric(t, addrs[0], "gregor_controller_active", equals(1))
	waitMetric(t, addrs[1], "gregor_controller_active", equals(0))
	waitMetric(t, addrs[0], `gregor_metadata_quorum_role{role="leader"}`, equals(1))
	waitMetric(t, addrs[1], `gregor_metadata_quorum_role{role="observer"}`, equals(1))
	waitMetric(t, addrs[1], "gregor_metadata_quorum_leader_id", equals(1))
	healthy := func() {
		for i, a := range addrs {
			waitMetric(t, a, "gregor_under_replicated_partitions", equals(0))
			waitMetric(t, a, "gregor_under_min_isr_partitions", equals(0))
			atMin := 0.0
			if i != 1 {
				atMin = 1 // strict on node 1, solo on node 3: whole ISRs of min.insync.replicas replicas
			}
			waitMetric(t, a, "gregor_at_min_isr_partitions", equals(atMin))
			waitMetric(t, a, "gregor_offline_partitions", equals(0))
			waitMetric(t, a, "gregor_offline_replicas", equals(0))
		}
	}
	healthy()
	shrinks, _ := scrape(t, addrs[0], "gregor_isr_shrinks_total")
	expands, _ := scrape(t, addrs[0], "gregor_isr_expands_total")

	c.stop(2, false)
	c.waitISR(0, "shared", 1, 2)
	c.waitISR(0, "strict", 1, 2)
	waitMetric(t, addrs[0], "gregor_under_replicated_partitions", equals(2))
	waitMetric(t, addrs[0], "gregor_under_min_isr_partitions", equals(1))
	waitMetric(t, addrs[0], "gregor_at_min_isr_partitions", equals(1))
	for _, sample := range []string{"gregor_under_replicated_partitions", "gregor_under_min_isr_partitions", "gregor_at_min_isr_partitions"} {
		waitMetric(t, addrs[1], sample, equals(0))
	}
	waitMetric(t, addrs[0], "gregor_isr_shrinks_total", func(v float64) bool { return v >= shrinks+1 })
	waitMetric(t, addrs[0], "gregor_offline_partitions", equals(1))
	waitMetric(t, addrs[1], "gregor_offline_partitions", equals(1))

	c.startAll()
	c.waitISR(0, "shared", 1, 2, 3)
	c.waitISR(0, "strict", 1, 2, 3)
	waitMetric(t, addrs[0], "gregor_isr_expands_total", func(v float64) bool { return v >= expands+1 })
	healthy()
}
