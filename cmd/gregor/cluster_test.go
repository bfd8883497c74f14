package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStoppedLocalCluster runs cluster down and cluster status over the
// directory of a cluster none of whose nodes runs (node 2's pid file names
// a process gone): down says there is nothing to stop, and status says to
// start the cluster instead of retrying its brokers until --timeout.
func TestStoppedLocalCluster(t *testing.T) {
	dir := t.TempDir()
	c := localCluster{dir: dir, nodes: 3, basePort: 1}
	if err := os.MkdirAll(c.nodeDir(2), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.record(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.pidFile(2), []byte("999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	down := mustRun(t, "", "cluster", "down", "--dir", dir)
	if want := "no node of the cluster in " + dir + " runs\n"; down.stdout != want {
		t.Errorf("cluster down printed %q, want %q", down.stdout, want)
	}
	mustFail(t, "", []string{"cluster", "status", "--dir", dir, "--timeout", "1s"},
		"no node of the cluster in "+dir+" runs: start it with gregor cluster up --dir "+dir)
	if _, err := os.Stat(filepath.Join(dir, clusterFile)); err != nil {
		t.Errorf("the cluster's record is gone: %v", err)
	}
}

// TestClusterUpSeesANodeExit starts a node that exits at once (/bin/false
// in place of gregor, as a node whose port is taken exits): runningPID
// must stop counting it promptly, so that cluster up reports the node's
// exit instead of waiting out --timeout for a zombie.
func TestClusterUpSeesANodeExit(t *testing.T) {
	c := localCluster{dir: t.TempDir(), nodes: 1, basePort: 1}
	if err := c.startNode("/bin/false", 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.runningPID(1) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a node that exited still counts as running after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.waitFormed(ctx); err == nil || !strings.Contains(err.Error(), "node 1 exited") {
		t.Fatalf("waitFormed: %v, want node 1 exited", err)
	}
}

// TestClusterFormedWithABrokerAdded: a broker added by hand to a cluster
// that cluster up started (node 4 beside nodes 1 to 3) does not keep the
// next cluster up, restarting a node, from seeing the cluster formed.
func TestClusterFormedWithABrokerAdded(t *testing.T) {
	c := localCluster{nodes: 3}
	resp := kmsg.NewPtrMetadataResponse()
	resp.ControllerID = 1
	for _, id := range []int32{1, 2, 4} {
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID = id
		resp.Brokers = append(resp.Brokers, b)
	}
	if c.formedIn(resp) {
		t.Fatal("formed without node 3")
	}
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID = 3
	resp.Brokers = append(resp.Brokers, b)
	if !c.formedIn(resp) {
		t.Fatal("nodes 1 to 3 and a broker added by hand: not formed")
	}
	resp.ControllerID = -1
	if c.formedIn(resp) {
		t.Fatal("formed without a controller")
	}
}

// TestClusterUpRefusesABadSetting gives cluster up a --set no node would
// start with: it must fail before starting a node or recording the
// setting, which the next cluster up over the directory would reuse.
func TestClusterUpRefusesABadSetting(t *testing.T) {
	dir := t.TempDir()
	mustFail(t, "", []string{"cluster", "up", "--dir", dir, "--nodes", "1", "--set", "num.partitions=abc"},
		`the nodes' configuration: invalid value "abc" for num.partitions (from --set)`)
	mustFail(t, "", []string{"cluster", "up", "--dir", dir, "--nodes", "1", "--set", "log.dirs=/a,/b"},
		"the nodes' configuration: log.dirs: gregor uses exactly one log directory")
	if names, err := os.ReadDir(dir); err != nil || len(names) != 0 {
		t.Errorf("cluster up left %v (%v) in the directory", names, err)
	}
}

// TestZombieIsNotRunning starts a child that exits and is not waited for:
// runningPID must not count it, though signal 0 still reaches it.
func TestZombieIsNotRunning(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	proc := exec.Command("/bin/true")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proc.Wait() }()
	c := localCluster{dir: t.TempDir(), nodes: 1, basePort: 1}
	if err := os.MkdirAll(c.nodeDir(1), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.pidFile(1), []byte(strconv.Itoa(proc.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !zombie(proc.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("the child never became a zombie")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if syscall.Kill(proc.Process.Pid, 0) != nil {
		t.Fatal("signal 0 no longer reaches the zombie: the test shows nothing")
	}
	if pid := c.runningPID(1); pid != 0 {
		t.Errorf("runningPID counts the zombie %d as running", pid)
	}
	if zombie(os.Getpid()) {
		t.Error("this process counts as a zombie")
	}
}

// TestEphemeralPortWarning checks the warning cluster up gives for a
// layout whose ports lie in the kernel's range for outgoing connections,
// where a node's restart can find its port taken by a client's connection,
// and the hint a node's "address already in use" gets for such a port.
func TestEphemeralPortWarning(t *testing.T) {
	lo, hi, ok := parsePortRange("32768\t60999\n")
	if !ok || lo != 32768 || hi != 60999 {
		t.Fatalf("parsePortRange: %d, %d, %t", lo, hi, ok)
	}
	if _, _, ok := parsePortRange("60999 32768"); ok {
		t.Error("parsePortRange took a range whose end is below its start")
	}
	inRange := localCluster{nodes: 3, basePort: 32900}
	warning := ephemeralWarning(inRange.ports(), lo, hi)
	for _, want := range []string{"ports 32900, 32901, 32902, 33000, ...", "32768-60999", "--base-port", "address already in use"} {
		if !strings.Contains(warning, want) {
			t.Errorf("warning for base port 32900 does not say %q: %s", want, warning)
		}
	}
	if w := ephemeralWarning(localCluster{nodes: 3, basePort: defaultBasePort}.ports(), lo, hi); w != "" {
		t.Errorf("warning for the default base port: %s", w)
	}
	if w := ephemeralWarning([]int{33000}, lo, hi); !strings.HasPrefix(w, "port 33000 lies in") {
		t.Errorf("warning for one port: %s", w)
	}
	if got := len(inRange.ports()); got != 12 {
		t.Errorf("a 3-node cluster listens on %d ports, want 12", got)
	}
}

// TestPartitionHealthNamesTheFirstFew checks that cluster status names at
// most healthListMax under-replicated partitions and counts the rest, as
// while a node is down every partition it holds is under-replicated.
func TestPartitionHealthNamesTheFirstFew(t *testing.T) {
	md := kmsg.NewPtrMetadataResponse()
	topic := kmsg.NewMetadataResponseTopic()
	topic.Topic = kmsg.StringPtr("orders")
	for p := range int32(25) {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.Replicas, mp.ISR = p, 1, []int32{1, 2, 3}, []int32{1, 3}
		topic.Partitions = append(topic.Partitions, mp)
	}
	md.Topics = append(md.Topics, topic)
	var out strings.Builder
	writePartitionHealth(&out, md)
	line := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "UNDER-REPLICATED") {
			line = l
		}
	}
	if !strings.HasPrefix(line, "UNDER-REPLICATED\t25\torders-0 (isr [1 3] of [1 2 3])") || !strings.HasSuffix(line, " ... and 15 more") ||
		strings.Count(line, "(isr") != healthListMax {
		t.Errorf("under-replicated line: %q", line)
	}
	// By partition number: orders-0 to orders-9, not orders-0, orders-1,
	// orders-10, ... as names sort.
	if !strings.Contains(line, "orders-9 (isr") || strings.Contains(line, "orders-10 ") {
		t.Errorf("under-replicated line not in partition order: %q", line)
	}
	if !strings.Contains(out.String(), "OUT OF ISR\t25\treplicas; broker 2: 25\n") {
		t.Errorf("no line naming broker 2 out of the ISR of 25 partitions:\n%s", out.String())
	}
}

// TestQuorumMembersMarkUnreachable: the quorum table says how long ago the
// leader heard from each member and marks those it has not heard from for
// quorumUnreachableAfter, or at all, as unreachable; the status lines end
// without trailing spaces, also where no partition is offline.
func TestQuorumMembersMarkUnreachable(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	ago := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = 2, 4, 100
	state := func(id int32, leo int64, fetch, caughtUp int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp, r.LastCaughtUpTimestamp = id, leo, fetch, caughtUp
		return r
	}
	p.CurrentVoters = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{
		state(1, 100, ago(80*time.Millisecond), ago(180*time.Millisecond)),
		state(2, 100, ago(0), ago(0)),
		state(3, 99, ago(4200*time.Millisecond), ago(4300*time.Millisecond)), // killed a moment ago
		state(5, -1, -1, -1), // never heard from
	}
	p.Observers = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{state(4, 100, ago(95*time.Second), ago(95*time.Second))}
	var out strings.Builder
	tw := tabwriter.NewWriter(&out, 0, 4, 2, ' ', 0)
	writeQuorumMembers(tw, p, now)
	writePartitionHealth(tw, kmsg.NewPtrMetadataResponse())
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `
QUORUM LEADER   2
QUORUM EPOCH    4
HIGH WATERMARK  100

QUORUM MEMBER  ROLE                   LOG-END-OFFSET  LAG  LAST-FETCH  LAST-CAUGHT-UP
1              voter                  100             0    80ms ago    180ms ago
2              leader                 100             0    0ms ago     0ms ago
3              voter, unreachable     99              1    4.2s ago    4.3s ago
5              voter, unreachable     -1              -    -           -
4              observer, unreachable  100             0    1m35s ago   1m35s ago

PARTITIONS        0
OFFLINE           0
UNDER-REPLICATED  0
`
	if out.String() != want {
		t.Errorf("status printed\n%s\nwant\n%s", out.String(), want)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.TrimRight(line, " ") != line {
			t.Errorf("line %q ends with spaces", line)
		}
	}
}

// TestPartitionHealthNamesOfflineReplicas: cluster status names the
// replicas offline on running brokers (a failed log, reported in
// Metadata's offline replicas), by broker and partition number; those of a
// broker that is down count only as out of the ISR.
func TestPartitionHealthNamesOfflineReplicas(t *testing.T) {
	md := kmsg.NewPtrMetadataResponse()
	for _, id := range []int32{1, 2} {
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID = id
		md.Brokers = append(md.Brokers, b)
	}
	topic := kmsg.NewMetadataResponseTopic()
	topic.Topic = kmsg.StringPtr("orders")
	for _, p := range []int32{10, 2, 3} {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.Replicas, mp.ISR, mp.OfflineReplicas = p, 1, []int32{1, 2, 3}, []int32{1}, []int32{2, 3}
		if p == 3 {
			mp.ISR, mp.OfflineReplicas = []int32{1, 2}, []int32{3}
		}
		topic.Partitions = append(topic.Partitions, mp)
	}
	md.Topics = append(md.Topics, topic)
	var out strings.Builder
	writePartitionHealth(&out, md)
	if !strings.Contains(out.String(), "OFFLINE REPLICAS\t2\t") || !strings.Contains(out.String(), "\tbroker 2: orders-2 orders-10 (") {
		t.Errorf("no line naming broker 2's offline replicas of orders-2 and orders-10:\n%s", out.String())
	}
}

// TestStoppedProcessIsShown: a node paused with SIGSTOP still has a process,
// but cluster status must not call it running (it answers nothing).
func TestStoppedProcessIsShown(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	proc := exec.Command("/bin/sleep", "60")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proc.Process.Kill(); _ = proc.Wait() }()
	pid := proc.Process.Pid
	c := localCluster{dir: t.TempDir(), nodes: 1, basePort: 1}
	if err := os.MkdirAll(c.nodeDir(1), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.pidFile(1), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for processState(pid) != 'T' {
		if time.Now().After(deadline) {
			t.Fatalf("the child never showed as stopped (state %q)", processState(pid))
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := "node 1 STOPPED by a signal (pid " + strconv.Itoa(pid) + "; kill -CONT " + strconv.Itoa(pid) + " resumes it)"
	if got := c.processes(); got != want {
		t.Errorf("processes: %q, want %q", got, want)
	}
}

// TestLocalProcesses checks the PROCESSES line cluster status --dir adds:
// which nodes have a process running, by their pid files, so that a node
// killed a moment ago shows before the controller fences it.
func TestLocalProcesses(t *testing.T) {
	c := localCluster{dir: t.TempDir(), nodes: 3, basePort: 1}
	for i, pid := range map[int]string{1: strconv.Itoa(os.Getpid()), 2: "999999999"} {
		if err := os.MkdirAll(c.nodeDir(i), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.pidFile(i), []byte(pid+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := "node 1 running (pid " + strconv.Itoa(os.Getpid()) + "), node 2 NOT RUNNING, node 3 NOT RUNNING"
	if got := c.processes(); got != want {
		t.Errorf("processes: %q, want %q", got, want)
	}
}

// TestPerNodeSetting: what no two nodes can share (a directory a node
// locks, a port it binds) is made node I's own; the rest is as given.
func TestPerNodeSetting(t *testing.T) {
	for _, tc := range []struct {
		setting string
		node    int
		want    string
	}{
		{"metadata.log.dir=/m", 2, "metadata.log.dir=/m/node-2"},
		{"log.dirs=/d", 3, "log.dirs=/d/node-3"},
		{"log.dir=/d/", 1, "log.dir=/d/node-1"},
		{"debug.listener=127.0.0.1:9645", 3, "debug.listener=127.0.0.1:9647"},
		{"metrics.listener=127.0.0.1:9700", 1, "metrics.listener=127.0.0.1:9700"},
		{"metrics.listener=", 2, "metrics.listener="},
		{"debug.listener=127.0.0.1:0", 2, "debug.listener=127.0.0.1:0"},
		{"log.retention.ms=1000", 2, "log.retention.ms=1000"},
	} {
		if got := perNodeSetting(tc.setting, tc.node); got != tc.want {
			t.Errorf("perNodeSetting(%q, %d) = %q, want %q", tc.setting, tc.node, got, tc.want)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	got := absoluteDirs([]string{"metadata.log.dir=meta", "log.retention.ms=5", "log.dirs=/abs"})
	want := []string{"metadata.log.dir=" + filepath.Join(wd, "meta"), "log.retention.ms=5", "log.dirs=/abs"}
	if !slices.Equal(got, want) {
		t.Errorf("absoluteDirs = %q, want %q", got, want)
	}
}

// TestClusterDownCountsAZombieStopped: a node that exited on cluster down's
// SIGTERM is a zombie until whoever adopted it reaps it (in a container,
// seconds later, or never); cluster down must count it stopped then, not
// wait for the reaping or out its --timeout and report it killed. The
// "node" here is a sleep this test starts and never waits for.
func TestClusterDownCountsAZombieStopped(t *testing.T) {
	c := localCluster{dir: t.TempDir(), nodes: 1, basePort: 1}
	if err := os.MkdirAll(c.nodeDir(1), 0o755); err != nil {
		t.Fatal(err)
	}
	proc := exec.Command("sleep", "60")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Process.Kill(); _ = proc.Wait() })
	if err := os.WriteFile(c.pidFile(1), []byte(strconv.Itoa(proc.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	c.stop(&out, []int{1}, 10*time.Second)
	if want := "node 1 stopped\n"; out.String() != want {
		t.Fatalf("cluster down printed %q, want %q", out.String(), want)
	}
}
