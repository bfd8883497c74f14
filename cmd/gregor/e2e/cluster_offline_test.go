package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// metric reads one unlabelled sample from node i's /metrics.
func (c *localCluster) metric(t *testing.T, i int, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(c.basePort+300+i-1) + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// A partition whose storage fails on one node (its directory replaced by
// a file while the node was down, so its log cannot open) goes offline on
// that node alone: the node restarts and serves its other partitions (it
// rejoins their ISR and leads one again by preferred election), reports
// the replica offline in gregor_offline_replicas, never rejoins that
// partition's ISR, so a preferred election cannot hand it the leadership,
// and the partition's leader elsewhere goes on taking acks=all writes.
func TestFailedPartitionStorageGoesOfflineOnItsNode(t *testing.T) {
	c := clusterUp(t, 3)
	c.createOn(t, 1, "bad", 3, 1, 2)
	c.createOn(t, 1, "good", 3, 1, 2)
	c.setMinISR(t, 2, "bad", "good")
	full := func(topic string) bool {
		ps, _, ok := c.partitionState(1, topic)
		return ok && len(ps[0].ISR) == 3 && ps[0].Leader == 3
	}
	waitFor(t, 30*time.Second, "both topics led by node 3 with a full ISR", func() bool { return full("bad") && full("good") })
	acked := map[string]map[int32]map[int64]string{}
	for _, topic := range []string{"bad", "good"} {
		acked[topic] = c.produceAcked(t, topic, 1, 20)
	}

	c.killAll(t, 3)
	waitFor(t, 30*time.Second, "leaders away from node 3", func() bool {
		for _, topic := range []string{"bad", "good"} {
			ps, _, ok := c.partitionState(1, topic)
			if !ok || ps[0].Leader < 1 || ps[0].Leader == 3 {
				return false
			}
		}
		return true
	})
	dir := filepath.Join(c.dir, "node-3", "data", "bad-0")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.restart(3)
	waitFor(t, 30*time.Second, "node 3 back in the ISR of good", func() bool {
		ps, _, ok := c.partitionState(1, "good")
		return ok && len(ps[0].ISR) == 3
	})
	waitFor(t, 30*time.Second, "node 3 reporting one offline replica", func() bool {
		v, ok := c.metric(t, 3, "gregor_offline_replicas")
		return ok && v == 1
	})
	log, _ := os.ReadFile(c.logFile(3))
	if !strings.Contains(string(log), "partition offline") {
		t.Errorf("node 3 logged no offline partition")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.admin(t).ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"bad": {0: {}}, "good": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res["good"][0]; r.Err != nil {
		t.Fatalf("preferred election of good: %v", r.Err)
	}
	if r := res["bad"][0]; !errors.Is(r.Err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred election of bad, offline on node 3: %v, want PREFERRED_LEADER_NOT_AVAILABLE", r.Err)
	}
	waitFor(t, 30*time.Second, "node 3 leading good", func() bool {
		ps, _, ok := c.partitionState(2, "good")
		return ok && ps[0].Leader == 3
	})
	ps, _, _ := c.partitionState(2, "bad")
	if ps[0].Leader == 3 || len(ps[0].ISR) != 2 {
		t.Fatalf("bad: leader %d, ISR %v with its replica on node 3 offline", ps[0].Leader, ps[0].ISR)
	}
	for _, topic := range []string{"bad", "good"} {
		more := c.produceAcked(t, topic, 1, 10)
		for off, v := range more[0] {
			acked[topic][0][off] = v
		}
		c.consumeAcked(t, 3, topic, acked[topic])
	}
	t.Logf("bad led by %d with ISR %v; good led by node 3 again", ps[0].Leader, ps[0].ISR)
}

// setMinISR sets min.insync.replicas on topics.
func (c *localCluster) setMinISR(t *testing.T, n int, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v := strconv.Itoa(n)
	resps, err := c.admin(t).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.insync.replicas", Value: &v}}, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resps {
		if r.Err != nil {
			t.Fatal(fmt.Errorf("%s: %w", r.Name, r.Err))
		}
	}
}
