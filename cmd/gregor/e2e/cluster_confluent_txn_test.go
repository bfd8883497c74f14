package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// committedCount is the number in the last "committed K" line the
// transactions script printed, 0 before the first.
func committedCount(out string) int {
	m := regexp.MustCompile(`(?m)^committed (\d+)$`).FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// A confluent-kafka (librdkafka) transactional producer keeps committing
// while the node of its transaction coordinator is killed (SIGKILL) and
// started again, as a user's application would see a broker crash and its
// restart: no fatal error, and read_committed reads every committed
// transaction's records once and no aborted one's.
func TestConfluentTransactionsAcrossCoordinatorKill(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import confluent_kafka").Run(); err != nil {
		t.Skip("python3 with confluent_kafka is not installed")
	}
	c := clusterUp(t, 3, eosClusterSettings...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic, partitions = "confluent-txn", 3
	c.createTopics(t, partitions, topic)

	py := startPython(t, ctx, "testdata/txn_failover_confluent.py", strings.Join(c.bootstrap(), ","), topic, fmt.Sprint(partitions), "20")
	defer func() {
		_ = py.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("confluent-kafka:\n%s", tail(py.out.String(), 40))
		}
	}()
	committedAtLeast := func(what string, n int) {
		waitFor(t, 60*time.Second, what, func() bool {
			select {
			case err := <-py.done:
				t.Fatalf("the transactions script ended early: %v", err)
			default:
			}
			return committedCount(py.out.String()) >= n
		})
	}
	committedAtLeast("the first transactions committed", 5)

	victim := c.txnCoordinator(1, "e2e-confluent-txn")
	if victim < 1 {
		t.Fatal("no transaction coordinator for e2e-confluent-txn")
	}
	pid := c.pid(victim)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, fmt.Sprintf("node %d's process gone", victim), func() bool { return syscall.Kill(pid, 0) != nil })
	if _, err := py.in.Write([]byte("killed\n")); err != nil {
		t.Fatal(err)
	}
	before := committedCount(py.out.String())
	committedAtLeast("transactions committed with the coordinator's node down", before+5)
	if out, err := gregor(t, "cluster", "up", "--dir", c.dir); err != nil {
		t.Fatalf("cluster up to restart node %d: %v\n%s", victim, err, out)
	}
	c.waitFullISR(t, victim, 60*time.Second, topic, "__transaction_state")
	restarted := committedCount(py.out.String())
	committedAtLeast("transactions committed after the restart", restarted+5)
	if _, err := py.in.Write([]byte("check\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-py.done:
		if err != nil || !strings.Contains(py.out.String(), "\nok ") {
			t.Fatalf("the transactions script: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the transactions script did not end")
	}
	t.Logf("%s", tail(strings.TrimSpace(py.out.String()), 1))
}
