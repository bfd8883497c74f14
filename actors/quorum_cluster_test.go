package actors

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"gregor/logstore/raftlog"
)

// testCluster is nodes of one cluster in this process, on loopback ports,
// each over its own directory, with fast timings.
type testCluster struct {
	t     *testing.T
	cfgs  []Config
	mu    sync.Mutex
	nodes []*Node
	// logs, when set before a node starts, also receives that node's log
	// entries (a zaptest/observer core, for tests that check a log line).
	logs zapcore.Core
}

// freeAddress reserves a loopback port (free when returned) below the
// kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 and up by
// default): a node listens on it only later, and an ephemeral port given
// up here could be taken meanwhile by some outgoing connection, failing
// the node's start with "address already in use" (seen once in 20 runs on
// a loaded machine). GREGOR_E2E_PORTS=LOW-HIGH, as for the end-to-end
// tests, keeps several runs on one machine apart (else 20000-31999).
func freeAddress(t *testing.T) string {
	t.Helper()
	low, high := 20000, 31999
	if v := os.Getenv("GREGOR_E2E_PORTS"); v != "" {
		lo, hi, _ := strings.Cut(v, "-")
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || h-l < 100 {
			t.Fatalf("GREGOR_E2E_PORTS=%s: want LOW-HIGH, at least 100 apart", v)
		}
		low, high = l, h
	}
	for range 100 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", low+rand.IntN(high-low+1)))
		if err != nil {
			continue
		}
		defer l.Close()
		return l.Addr().String()
	}
	t.Fatalf("no free loopback port in %d-%d", low, high)
	return ""
}

// newTestCluster configures voters combined nodes (ids 1..voters, every one
// a voter) and brokers broker-only nodes after them; edit adjusts each
// node's configuration.
func newTestCluster(t *testing.T, voters, brokers int, edit func(i int, c *Config)) *testCluster {
	c := &testCluster{t: t}
	var qv []QuorumVoter
	for i := range voters {
		qv = append(qv, QuorumVoter{NodeID: int32(i + 1), Address: freeAddress(t)})
	}
	for i := range voters + brokers {
		cfg := testNodeConfig(t.TempDir())
		cfg.NodeID = int32(i + 1)
		cfg.QuorumVoters = qv
		cfg.Roles = Roles{Broker: true, Controller: i < voters}
		if i < voters {
			cfg.ControllerListenAddress = qv[i].Address
		}
		cfg.QuorumElectionTimeoutMs, cfg.QuorumHeartbeatIntervalMs = 1000, 100
		cfg.BrokerHeartbeatIntervalMs, cfg.BrokerSessionTimeoutMs = 200, 3000
		cfg.ControllerRequestTimeoutMs = 10_000
		if edit != nil {
			edit(i, &cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	c.nodes = make([]*Node, len(c.cfgs))
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i, false)
		}
	})
	return c
}

// startAll starts every stopped node at once (each waits for a quorum).
func (c *testCluster) startAll() {
	c.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(c.cfgs))
	for i := range c.cfgs {
		if c.node(i) != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.tryStart(i)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			c.t.Fatalf("start node %d: %v", i+1, err)
		}
	}
}

func (c *testCluster) tryStart(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logger := zaptest.NewLogger(c.t, zaptest.Level(zap.InfoLevel)).With(zap.Int("test_node", i+1))
	if c.logs != nil {
		logger = logger.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core { return zapcore.NewTee(core, c.logs) }))
	}
	n, err := Start(ctx, c.cfgs[i], logger)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
	return nil
}

// seedAddrs are the client addresses of every node, in node order: a
// client's seed brokers.
func (c *testCluster) seedAddrs() []string {
	seeds := make([]string, len(c.nodes))
	for i := range c.nodes {
		seeds[i] = c.node(i).Addr().String()
	}
	return seeds
}

func (c *testCluster) node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// stop stops node i, gracefully (a controlled shutdown) or as if killed.
func (c *testCluster) stop(i int, graceful bool) {
	n := c.node(i)
	if n == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n.stop(ctx, graceful)
	c.mu.Lock()
	c.nodes[i] = nil
	c.mu.Unlock()
}

// activeController waits for a running node whose controller is active and
// returns its index.
func (c *testCluster) activeController() int {
	c.t.Helper()
	found := -1
	waitFor(c.t, 30*time.Second, "an active controller", func() bool {
		for i := range c.nodes {
			if n := c.node(i); n != nil && n.controllerActive.Load() {
				found = i
				return true
			}
		}
		return false
	})
	return found
}

// admin is a kadm client of node i.
func (c *testCluster) admin(i int) *kadm.Client {
	return kadm.NewClient(newClient(c.t, c.node(i)))
}

// waitForTopic waits until every running node's routes hold the topic with
// its partitions, and returns the topic's partition leaders as node 1's
// (or the first running node's) image has them.
func (c *testCluster) waitForTopic(name string, partitions int32) []int32 {
	c.t.Helper()
	var leaders []int32
	waitFor(c.t, 30*time.Second, "topic "+name+" on every node", func() bool {
		leaders = nil
		for i := range c.nodes {
			n := c.node(i)
			if n == nil {
				continue
			}
			topic, ok := n.routes.load().image.Topic(name)
			if !ok || topic.PartitionCount() != partitions {
				return false
			}
			if leaders == nil {
				for _, p := range topic.Partitions {
					leaders = append(leaders, p.Leader)
				}
			}
		}
		return true
	})
	return leaders
}

// A cluster of three forms by itself: one active controller, every broker
// registered and unfenced. A topic created through any node appears on every
// node, its partitions led across the brokers; clients of any node see
// every broker and the controller.
func TestClusterFormsAndCreatesTopics(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 60*time.Second)
	other := (active + 1) % 3
	if _, err := c.admin(other).CreateTopic(ctx, 6, 3, nil, "spread"); err != nil {
		t.Fatal(err)
	}
	leaders := c.waitForTopic("spread", 6)
	if distinct := slices.Compact(slices.Sorted(slices.Values(leaders))); len(distinct) != 3 {
		t.Fatalf("partition leaders %v: not spread over the three brokers", leaders)
	}
	for i := range 3 {
		if got := c.node(i).ClusterID(); got == "" || got != c.node(active).ClusterID() {
			t.Fatalf("node %d cluster id %q, the controller's %q", i+1, got, c.node(active).ClusterID())
		}
		cl := newClient(t, c.node(i))
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) != 3 || md.ControllerID != int32(active+1) || md.ClusterID == nil || *md.ClusterID != c.node(i).ClusterID() {
			t.Fatalf("node %d metadata: %d brokers, controller %d, cluster %v", i+1, len(md.Brokers), md.ControllerID, md.ClusterID)
		}
		for _, b := range md.Brokers {
			if want := c.node(int(b.NodeID - 1)).Addr().(*net.TCPAddr).Port; int(b.Port) != want {
				t.Fatalf("broker %d at port %d, listening on %d", b.NodeID, b.Port, want)
			}
		}
	}
	// A topic of one replica per partition, created through the third
	// node, takes records through every node.
	third := (active + 2) % 3
	if _, err := c.admin(third).CreateTopic(ctx, 3, 1, nil, "single"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("single", 3)
	cl := newClient(t, c.node(third), kgo.DefaultProduceTopic("single"))
	for i := range 30 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	if vals := kgoRecordValues(t, c.node(active), "single", 30); len(vals) != 30 {
		t.Fatalf("read %d records", len(vals))
	}
	// DescribeQuorum through any broker: the leader and three voters.
	dq, err := describeQuorumRequest().RequestWith(ctx, newClient(t, c.node(third)))
	if err != nil {
		t.Fatal(err)
	}
	p := dq.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.LeaderID != int32(active+1) || len(p.CurrentVoters) != 3 {
		t.Fatalf("describe quorum: %+v", p)
	}
}

// createTopicEventually creates a topic through node i, retrying while the
// cluster has no controller (or it is not yet known).
func (c *testCluster) createTopicEventually(i int, name string, partitions int32, rf int16) {
	c.t.Helper()
	adm := c.admin(i)
	var last error
	waitFor(c.t, 30*time.Second, "topic "+name+" created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := adm.CreateTopic(ctx, partitions, rf, nil, name)
		if err == nil {
			err = resp.Err
		}
		last = err
		return err == nil
	})
	if last != nil {
		c.t.Fatal(last)
	}
}

// A second node with the node.id of a live broker is refused: its start
// fails naming the conflict, and the cluster goes on.
func TestClusterRefusesDuplicateNodeID(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	dup := c.cfgs[1]
	dup.DataDir = t.TempDir()
	dup.ControllerListenAddress = "127.0.0.1:0"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, dup, zaptest.NewLogger(t).With(zap.String("test_node", "duplicate")))
	if err == nil {
		stopNode(t, n)
		t.Fatal("a second node 2 started")
	}
	if !errorContains(err, "node.id 2 is taken by a live broker") {
		t.Fatalf("duplicate refused with: %v", err)
	}
	c.createTopicEventually(c.activeController(), "still-works", 1, 3)
}

// describeQuorumRequest is the DescribeQuorum of the metadata partition.
func describeQuorumRequest() *kmsg.DescribeQuorumRequest {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = raftlog.DirName
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}
