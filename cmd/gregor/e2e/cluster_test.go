package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// localCluster is a cluster gregor cluster up started for a test.
type localCluster struct {
	t        *testing.T
	dir      string
	basePort int
	nodes    int
	// extra are the settings given to every node (cluster up --set), and
	// again when a node restarts.
	extra []string
	// exits are the nodes the test restarted that ended, with how
	// (written by the goroutines waiting for them).
	exits sync.Map
}

// freeBasePort finds a base port whose cluster ports (client, CONTROLLER,
// gossip and metrics of every node) are free (in GREGOR_E2E_PORTS when
// set), below the kernel's range of
// ephemeral ports where it can: a port in that range, free while its node
// is down, may be taken by any outgoing connection meanwhile, and the
// node's restart then fails to listen on it. GREGOR_E2E_PORTS=LOW-HIGH
// keeps every port of the cluster within that range.
func freeBasePort(t *testing.T, nodes int) int {
	t.Helper()
	low, span := 10000, 40000
	if r, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(r)); len(f) == 2 {
			if first, err := strconv.Atoi(f[0]); err == nil && first-400-low >= 1000 {
				span = first - 400 - low
			}
		}
	}
	if os.Getenv("GREGOR_E2E_PORTS") != "" {
		// The cluster's ports are base+offset+i, offsets up to 300.
		l, h := e2ePorts(t, [2]int{})
		low, span = l, h-l-300-nodes+1
	}
	for range 50 {
		base := low + rand.IntN(span)
		free := true
		for _, offset := range []int{0, 100, 200, 300} {
			for i := range nodes {
				l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+offset+i))
				if err != nil {
					free = false
					break
				}
				l.Close()
			}
		}
		if free {
			return base
		}
	}
	t.Fatal("no free ports for a cluster")
	return 0
}

// gregor runs the gregor binary and returns its output.
func gregor(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, gregorBin, args...).CombinedOutput()
	return string(out), err
}

// clusterUp starts a cluster of nodes with gregor cluster up, taken down
// when the test ends; extra are settings (key=value) for every node. With
// GREGOR_E2E_LOGS=DIR each node's log is copied into DIR then.
func clusterUp(t *testing.T, nodes int, extra ...string) *localCluster {
	t.Helper()
	c := &localCluster{t: t, dir: t.TempDir(), basePort: freeBasePort(t, nodes), nodes: nodes, extra: extra}
	args := []string{"cluster", "up", "--nodes", strconv.Itoa(nodes), "--dir", c.dir, "--base-port", strconv.Itoa(c.basePort)}
	for _, e := range extra {
		args = append(args, "--set", e)
	}
	out, err := gregor(t, args...)
	t.Cleanup(func() {
		if down, err := gregor(t, "cluster", "down", "--dir", c.dir, "--timeout", "20s"); err != nil {
			t.Errorf("cluster down: %v\n%s", err, down)
		}
		if keep := os.Getenv("GREGOR_E2E_LOGS"); keep != "" {
			// Each node's whole log, to read the steps of a run.
			for i := 1; i <= nodes; i++ {
				log, _ := os.ReadFile(c.logFile(i))
				name := fmt.Sprintf("%s-node-%d.log", strings.ReplaceAll(t.Name(), "/", "_"), i)
				if err := os.WriteFile(filepath.Join(keep, name), log, 0o644); err != nil {
					t.Errorf("GREGOR_E2E_LOGS: %v", err)
				}
			}
		}
		if t.Failed() {
			// First, in few lines, any restarted node that ended by itself.
			c.exits.Range(func(node, how any) bool {
				t.Logf("node %d, restarted by the test, exited: %v", node, how)
				return true
			})
			for i := 1; i <= nodes; i++ {
				log, _ := os.ReadFile(c.logFile(i))
				t.Logf("node %d log:\n%s", i, tail(string(log), 60))
			}
		}
	})
	if err != nil {
		t.Fatalf("cluster up: %v\n%s", err, out)
	}
	if !strings.Contains(out, "bootstrap: "+strings.Join(c.bootstrap(), ",")) {
		t.Fatalf("cluster up printed no bootstrap list:\n%s", out)
	}
	return c
}

func (c *localCluster) addr(i int) string { return "127.0.0.1:" + strconv.Itoa(c.basePort+i-1) }
func (c *localCluster) controllerAddr(i int) string {
	return "127.0.0.1:" + strconv.Itoa(c.basePort+100+i-1)
}
func (c *localCluster) logFile(i int) string {
	return filepath.Join(c.dir, fmt.Sprintf("node-%d", i), "gregor.log")
}

// freshMetadata keeps a client's metadata at most 100 ms old. kadm answers
// Metadata, ListTopics and the leader lookups of ListStartOffsets from its
// client's cached metadata while it is younger than MetadataMinAge (5 s by
// default), so a test polling for a new leader or ISR would see the change
// up to 5 s late.
var freshMetadata = kgo.MetadataMinAge(100 * time.Millisecond)

// admin is a kadm client seeded with every node, with freshMetadata, closed
// when the test ends.
func (c *localCluster) admin(t *testing.T) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), freshMetadata)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// groupCoordinator is the node coordinating group g, once FindCoordinator
// names one (the first asks create __consumer_offsets).
func groupCoordinator(t *testing.T, ctx context.Context, adm *kadm.Client, g string) int32 {
	t.Helper()
	var found kadm.FindCoordinatorResponse
	waitFor(t, 30*time.Second, "the coordinator of "+g, func() bool {
		found = adm.FindGroupCoordinators(ctx, g)[g]
		return found.Err == nil
	})
	return found.NodeID
}

// bootstrap lists every node's client address.
func (c *localCluster) bootstrap() []string {
	var out []string
	for i := 1; i <= c.nodes; i++ {
		out = append(out, c.addr(i))
	}
	return out
}

func (c *localCluster) pid(i int) int {
	p, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("node-%d", i), "gregor.pid"))
	if err != nil {
		c.t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(p)))
	return pid
}

// metadata asks node i for the cluster's metadata.
func (c *localCluster) metadata(i int, topics ...string) (*kmsg.MetadataResponse, error) {
	return metadataOf(c.addr(i), topics...)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// gregor cluster up forms a cluster of three processes; cluster status
// shows its brokers, controller and quorum, and kcat sees every broker.
// The group commands right after it formed wait for the coordinators, as
// Kafka's admin client retries COORDINATOR_NOT_AVAILABLE: the first lookup
// of a group creates __consumer_offsets, whose partitions need leaders.
func TestClusterUpStatusAndKcat(t *testing.T) {
	c := clusterUp(t, 3)
	if out, err := gregor(t, "topic", "create", "-b", c.addr(2), "orders", "-p", "6", "-r", "3"); err != nil {
		t.Fatalf("topic create: %v\n%s", err, out)
	}
	out, err := gregor(t, "cluster", "status", "--dir", c.dir)
	if err != nil {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	for _, want := range []string{"CONTROLLER", "QUORUM LEADER", "HIGH WATERMARK", "PARTITIONS        6", "OFFLINE           0"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster status has no %q:\n%s", want, out)
		}
	}
	for i := 1; i <= 3; i++ {
		if !strings.Contains(out, c.addr(i)) {
			t.Errorf("cluster status does not list broker %d at %s:\n%s", i, c.addr(i), out)
		}
	}
	for _, args := range [][]string{{"group", "describe", "fresh"}, {"group", "delete", "fresh"}} {
		out, err := gregor(t, append(args, "-b", c.addr(1))...)
		if err == nil || !strings.Contains(out, "GROUP_ID_NOT_FOUND") || strings.Contains(out, "COORDINATOR_NOT_AVAILABLE") {
			t.Errorf("gregor %s on a new cluster: %v\n%s\nwant GROUP_ID_NOT_FOUND", strings.Join(args, " "), err, out)
		}
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed")
	}
	kcat, err := exec.Command("kcat", "-b", strings.Join(c.bootstrap(), ","), "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, kcat)
	}
	if !strings.Contains(string(kcat), "3 brokers:") || !strings.Contains(string(kcat), `topic "orders" with 6 partitions`) {
		t.Fatalf("kcat -L:\n%s", kcat)
	}
}

// The controller's process paused (SIGSTOP): another node becomes the
// controller within seconds and topic creation works again; resumed
// (SIGCONT), the old controller cannot change metadata: a CreateTopics sent
// straight to its CONTROLLER listener is refused NOT_CONTROLLER and creates
// nothing, and it follows the new controller.
func TestPausedControllerCannotChangeMetadata(t *testing.T) {
	c := clusterUp(t, 3)
	md, err := c.metadata(1)
	if err != nil {
		t.Fatal(err)
	}
	old := int(md.ControllerID)
	if old < 1 || old > 3 {
		t.Fatalf("controller %d", old)
	}
	other := old%3 + 1
	pid := c.pid(old)
	resume := pauseProcess(t, pid)
	paused := time.Now()
	newController := -1
	waitFor(t, 20*time.Second, "a new controller", func() bool {
		md, err := c.metadata(other)
		if err == nil && md.ControllerID > 0 && int(md.ControllerID) != old {
			newController = int(md.ControllerID)
			return true
		}
		return false
	})
	t.Logf("node %d took over from the paused node %d in %v", newController, old, time.Since(paused))
	if out, err := gregor(t, "topic", "create", "-b", c.addr(other), "after-pause", "-p", "2", "-r", "2"); err != nil {
		t.Fatalf("topic create with the controller paused: %v\n%s", err, out)
	}

	// Resumed, the old controller is asked directly to create a topic.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.controllerAddr(old)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "from-old-controller", 1, 1
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10_000
	resume()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err == nil {
		code := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		if code != kerr.NotController.Code {
			t.Fatalf("the resumed old controller answered CreateTopics with %v, want NOT_CONTROLLER", kerr.ErrorForCode(code))
		}
	}
	waitFor(t, 20*time.Second, "the old controller to follow the new one", func() bool {
		md, err := c.metadata(old)
		return err == nil && int(md.ControllerID) == newController
	})
	for i := 1; i <= 3; i++ {
		var md *kmsg.MetadataResponse
		waitFor(t, 20*time.Second, fmt.Sprintf("node %d to apply after-pause", i), func() bool {
			var err error
			md, err = c.metadata(i, "from-old-controller", "after-pause")
			return err == nil && md.Topics[1].ErrorCode == 0
		})
		if md.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("node %d: from-old-controller %v", i, kerr.ErrorForCode(md.Topics[0].ErrorCode))
		}
	}
}

// brokerOnlyArgs are gregor serve's arguments for a broker-only node of the
// cluster, on ports from base.
func (c *localCluster) brokerOnlyArgs(t *testing.T, id int, base int) []string {
	var voters, seeds []string
	for i := 1; i <= c.nodes; i++ {
		voters = append(voters, fmt.Sprintf("%d@%s", i, c.controllerAddr(i)))
		seeds = append(seeds, "127.0.0.1:"+strconv.Itoa(c.basePort+200+i-1))
	}
	addr := func(offset int) string { return "127.0.0.1:" + strconv.Itoa(base+offset) }
	return []string{"serve", "--set", "node.id=" + strconv.Itoa(id), "--set", "process.roles=broker",
		"--set", "listeners=PLAINTEXT://" + addr(0),
		"--set", "controller.quorum.voters=" + strings.Join(voters, ","),
		"--set", "gossip.listener=" + addr(200), "--set", "gossip.seeds=" + strings.Join(seeds, ","),
		"--set", "log.dirs=" + t.TempDir(), "--set", "metrics.listener=" + addr(300)}
}

// A broker-only process joins the cluster (a learner of the metadata
// quorum); a second process with its node.id exits non-zero naming the
// conflict, and the cluster goes on.
func TestDuplicateNodeIDProcessRefused(t *testing.T) {
	c := clusterUp(t, 3)
	first := exec.Command(gregorBin, c.brokerOnlyArgs(t, 4, freeBasePort(t, 1))...)
	var firstLog lockedBuffer
	first.Stdout, first.Stderr = &firstLog, &firstLog
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = first.Process.Signal(syscall.SIGTERM)
		_ = first.Wait()
		if t.Failed() {
			t.Logf("broker 4 log:\n%s", tail(firstLog.String(), 40))
		}
	})
	waitFor(t, 30*time.Second, "broker 4 in the cluster", func() bool {
		md, err := c.metadata(1)
		return err == nil && len(md.Brokers) == 4
	})
	started := time.Now()
	out, err := gregor(t, c.brokerOnlyArgs(t, 4, freeBasePort(t, 1))...)
	if err == nil {
		t.Fatalf("a second node 4 ran and exited cleanly:\n%s", tail(out, 30))
	}
	if !strings.Contains(out, "node.id 4 is taken") {
		t.Fatalf("the second node 4 exited (%v) without naming the conflict:\n%s", err, tail(out, 30))
	}
	t.Logf("the second node 4 exited after %v: %v", time.Since(started), err)
	if out, err := gregor(t, "topic", "create", "-b", c.addr(1), "still-works", "-p", "4", "-r", "3"); err != nil {
		t.Fatalf("topic create after the duplicate: %v\n%s", err, out)
	}
	md, err := c.metadata(2)
	if err != nil || len(md.Brokers) != 4 {
		t.Fatalf("after the duplicate: %v %+v", err, md)
	}
}
