package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// clusterFile records, in a cluster's directory, what cluster up started:
// the node count, the base port and the settings given to every node
// (one "set" line each), in properties form.
const clusterFile = "cluster.properties"

// Port offsets from the base port, per node i (0-based): the client
// listener at base+i, CONTROLLER at base+100+i, gossip at base+200+i and
// metrics at base+300+i (the layout of issue 9's example).
const (
	controllerPortOffset = 100
	gossipPortOffset     = 200
	metricsPortOffset    = 300
	defaultBasePort      = 29901
	maxLocalNodes        = 99
)

func newClusterCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Start, stop and inspect a local cluster of gregor processes",
	}
	cmd.AddCommand(newClusterUpCommand(), newClusterDownCommand(), newClusterStatusCommand())
	return cmd
}

// localCluster is a cluster cluster up runs in a directory.
type localCluster struct {
	dir      string
	nodes    int
	basePort int
	// settings are the key=value settings every node is started with
	// (cluster up --set).
	settings []string
}

func (c localCluster) nodeDir(i int) string { return filepath.Join(c.dir, fmt.Sprintf("node-%d", i)) }
func (c localCluster) pidFile(i int) string { return filepath.Join(c.nodeDir(i), "gregor.pid") }
func (c localCluster) logFile(i int) string { return filepath.Join(c.nodeDir(i), "gregor.log") }
func (c localCluster) port(i, offset int) int {
	return c.basePort + offset + i - 1
}
func (c localCluster) address(i, offset int) string {
	return "127.0.0.1:" + strconv.Itoa(c.port(i, offset))
}

// bootstrap is the client listeners, comma-separated.
func (c localCluster) bootstrap() []string {
	var out []string
	for i := 1; i <= c.nodes; i++ {
		out = append(out, c.address(i, 0))
	}
	return out
}

// ports are the ports every node of c listens on.
func (c localCluster) ports() []int {
	var out []int
	for _, offset := range []int{0, controllerPortOffset, gossipPortOffset, metricsPortOffset} {
		for i := 1; i <= c.nodes; i++ {
			out = append(out, c.port(i, offset))
		}
	}
	return out
}

// serveArgs are node i's gregor serve arguments: combined roles, every
// node a voter, gossip seeded by every node, then c's settings.
func (c localCluster) serveArgs(i int) []string {
	var voters, seeds []string
	for j := 1; j <= c.nodes; j++ {
		voters = append(voters, fmt.Sprintf("%d@%s", j, c.address(j, controllerPortOffset)))
		seeds = append(seeds, c.address(j, gossipPortOffset))
	}
	args := []string{"serve",
		"--set", "node.id=" + strconv.Itoa(i),
		"--set", "process.roles=broker,controller",
		"--set", fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://%s", c.address(i, 0), c.address(i, controllerPortOffset)),
		"--set", "controller.quorum.voters=" + strings.Join(voters, ","),
		"--set", "gossip.listener=" + c.address(i, gossipPortOffset),
		"--set", "gossip.seeds=" + strings.Join(seeds, ","),
		"--set", "log.dirs=" + filepath.Join(c.nodeDir(i), "data"),
		"--set", "metrics.listener=" + c.address(i, metricsPortOffset),
	}
	for _, e := range c.settings {
		args = append(args, "--set", perNodeSetting(e, i))
	}
	return args
}

// perNodeSetting is setting (key=value, given to every node by cluster up
// --set) as node i gets it. A directory (log.dirs, metadata.log.dir) is
// locked by the node that uses it, so node i gets its own beneath the one
// given, DIR/node-I; a listener other than the client's and the quorum's
// (metrics.listener, debug.listener) binds its port, so node i gets the
// port given plus i-1, as the client ports go. Every other setting is the
// same on every node.
func perNodeSetting(setting string, i int) string {
	key, value, ok := strings.Cut(setting, "=")
	if !ok || strings.TrimSpace(value) == "" {
		return setting
	}
	switch strings.TrimSpace(key) {
	case "log.dirs", "log.dir", "metadata.log.dir":
		return key + "=" + filepath.Join(strings.TrimSpace(value), fmt.Sprintf("node-%d", i))
	case "metrics.listener", "debug.listener":
		host, port, err := net.SplitHostPort(strings.TrimSpace(value))
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n == 0 {
			return setting
		}
		return key + "=" + net.JoinHostPort(host, strconv.Itoa(n+i-1))
	}
	return setting
}

// absoluteDirs is settings with every directory setting's path made
// absolute, so that a node started again by a later cluster up, from
// another working directory, finds the same directory.
func absoluteDirs(settings []string) []string {
	out := make([]string, len(settings))
	for j, s := range settings {
		out[j] = s
		key, value, ok := strings.Cut(s, "=")
		switch strings.TrimSpace(key) {
		case "log.dirs", "log.dir", "metadata.log.dir":
			if v := strings.TrimSpace(value); ok && v != "" && !strings.Contains(v, ",") {
				if abs, err := filepath.Abs(v); err == nil {
					out[j] = key + "=" + abs
				}
			}
		}
	}
	return out
}

// readLocalCluster reads what cluster up recorded in dir.
func readLocalCluster(dir string) (localCluster, error) {
	props, err := readServerProperties(filepath.Join(dir, clusterFile))
	if err != nil {
		return localCluster{}, fmt.Errorf("%s holds no cluster started by gregor cluster up: %w", dir, err)
	}
	c := localCluster{dir: dir}
	for _, p := range props {
		switch p.Key {
		case "nodes":
			c.nodes, err = strconv.Atoi(strings.TrimSpace(p.Value))
		case "base.port":
			c.basePort, err = strconv.Atoi(strings.TrimSpace(p.Value))
		case "set":
			c.settings = append(c.settings, p.Value)
		}
		if err != nil {
			return c, fmt.Errorf("%s: %s: %w", clusterFile, p.Key, err)
		}
	}
	if c.nodes < 1 || c.basePort < 1 {
		return c, fmt.Errorf("%s: nodes %d, base.port %d", clusterFile, c.nodes, c.basePort)
	}
	return c, nil
}

// running lists the nodes whose process runs.
func (c localCluster) running() []int {
	var out []int
	for i := 1; i <= c.nodes; i++ {
		if c.runningPID(i) != 0 {
			out = append(out, i)
		}
	}
	return out
}

// runningPID is the pid of node i's process if it runs, else 0.
func (c localCluster) runningPID(i int) int {
	p, err := os.ReadFile(c.pidFile(i))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(p)))
	if err != nil || pid <= 0 || !alive(pid) {
		return 0
	}
	return pid
}

// alive says process pid runs: signal 0 reaches it and it is no zombie.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil && !zombie(pid) }

// zombie says whether process pid exited and waits to be reaped (Linux's
// /proc; elsewhere it says no). Signal 0 still reaches a zombie, and a node
// killed after the cluster up that started it ended is reaped by whoever
// adopted it, which in a container may be nobody.
func zombie(pid int) bool { return processState(pid) == 'Z' }

// processState is the state letter Linux's /proc gives process pid (R, S,
// T for stopped by a signal, Z for a zombie, ...), 0 where it cannot tell.
func processState(pid int) byte {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return 0
	}
	return stat[i+2]
}

func newClusterUpCommand() *cobra.Command {
	var (
		c       localCluster
		timeout time.Duration
		extra   []string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a local cluster: N gregor processes, each a broker and a controller voter",
		Long: `Start N gregor processes on 127.0.0.1, each with combined roles (broker and
controller) and every one a voter of the metadata quorum, over DIR/node-I.
Ports from --base-port P: node I listens for clients on P+I-1, for the quorum
(CONTROLLER) on P+100+I-1, gossips on P+200+I-1 and serves metrics on
P+300+I-1. It waits until the nodes formed a cluster, prints the bootstrap
list, and leaves them running: stop them with gregor cluster down --dir DIR.
Each node logs to DIR/node-I/gregor.log. Starting again over the same DIR
restarts the same cluster, with the node count, base port and settings it
was started with unless given again: while some of its nodes run, only the
others start (a node killed is restarted this way), and their layout
cannot change. A --set is given to every node, but for those no two nodes
can share: a directory (--set metadata.log.dir=D, log.dirs=D) becomes D/node-I
for node I, and a metrics.listener or debug.listener port Q becomes Q+I-1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.settings = absoluteDirs(extra)
			return clusterUp(cmd, c, timeout)
		},
	}
	cmd.Flags().IntVarP(&c.nodes, "nodes", "n", 3, "number of nodes")
	cmd.Flags().StringVar(&c.dir, "dir", "", "directory of the nodes' data and logs (required)")
	cmd.Flags().IntVar(&c.basePort, "base-port", defaultBasePort, "first client port")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long to wait for the cluster to form")
	cmd.Flags().StringArrayVar(&extra, "set", nil, "a setting for every node, key=value (repeatable)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func clusterUp(cmd *cobra.Command, c localCluster, timeout time.Duration) error {
	var running map[int]bool
	if prev, err := readLocalCluster(c.dir); err == nil {
		if c, running, err = c.over(cmd, prev); err != nil {
			return err
		}
	}
	if c.nodes < 1 || c.nodes > maxLocalNodes {
		return fmt.Errorf("--nodes %d: want 1 to %d", c.nodes, maxLocalNodes)
	}
	if c.basePort < 1 || c.basePort+metricsPortOffset+c.nodes > 65535 {
		return fmt.Errorf("--base-port %d: the ports of %d nodes must stay below 65536", c.basePort, c.nodes)
	}
	bootstrap := strings.Join(c.bootstrap(), ",")
	if len(running) == c.nodes {
		fmt.Fprintf(cmd.OutOrStdout(), "all %d nodes of the cluster in %s already run\nbootstrap: %s\nexport %s=%s\n", c.nodes, c.dir, bootstrap, brokersEnv, bootstrap)
		return nil
	}
	if err := c.checkSettings(); err != nil {
		return err
	}
	if lo, hi, ok := ephemeralPorts(); ok {
		if warning := ephemeralWarning(c.ports(), lo, hi); warning != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", warning)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the gregor binary: %w", err)
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if err := c.record(); err != nil {
		return err
	}
	var started []int
	// A cluster that was not running is started whole or not at all. One
	// some of whose nodes run keeps those started that run, though another
	// failed (its port taken, say): stopping them too took a second node
	// of three away and with it the metadata quorum.
	stopStarted := func() {
		if len(running) == 0 {
			c.stop(cmd.ErrOrStderr(), started, 10*time.Second)
			return
		}
		var up []int
		for _, i := range started {
			if c.runningPID(i) != 0 {
				up = append(up, i)
			}
		}
		if len(up) > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s of the cluster in %s started and keep running\n", nodeList(up), c.dir)
		}
	}
	for i := 1; i <= c.nodes; i++ {
		if running[i] {
			continue
		}
		if err := c.startNode(self, i); err != nil {
			stopStarted()
			return err
		}
		started = append(started, i)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	if err := c.waitFormed(ctx); err != nil {
		stopStarted()
		return err
	}
	if len(running) == 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "cluster of %d nodes up in %s\n", c.nodes, c.dir)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "started %s of the cluster in %s (the others ran)\n", nodeList(started), c.dir)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "bootstrap: %s\nexport %s=%s\n", bootstrap, brokersEnv, bootstrap)
	return nil
}

// checkSettings reads node 1's serve settings as gregor serve does, so
// that a --set value no node would start with fails here, before any node
// starts and before the cluster's record keeps it for the next cluster up.
func (c localCluster) checkSettings() error {
	args := c.serveArgs(1)
	var overrides []string
	for j := 1; j+1 < len(args); j += 2 {
		if args[j] == "--set" {
			overrides = append(overrides, args[j+1])
		}
	}
	settings, err := collectSettings("(cluster up)", nil, overrides)
	if err != nil {
		return err
	}
	cfg, err := buildBrokerConfig(settings, configOptions{hostname: os.Hostname}, zap.NewNop())
	if err == nil {
		_, err = nodeConfig(cfg)
	}
	if err != nil {
		return fmt.Errorf("the nodes' configuration: %w", err)
	}
	return nil
}

// over is c, asked for over prev, the cluster an earlier cluster up
// recorded in the same directory, with the nodes of prev that still run:
// the node count, base port and settings not given again (by flag) are
// prev's, and while a node runs none may differ from prev's.
func (c localCluster) over(cmd *cobra.Command, prev localCluster) (localCluster, map[int]bool, error) {
	flags := cmd.Flags()
	if !flags.Changed("nodes") {
		c.nodes = prev.nodes
	}
	if !flags.Changed("base-port") {
		c.basePort = prev.basePort
	}
	if !flags.Changed("set") {
		c.settings = prev.settings
	}
	running := map[int]bool{}
	for i := 1; i <= prev.nodes; i++ {
		if prev.runningPID(i) != 0 {
			running[i] = true
		}
	}
	if len(running) > 0 && (c.nodes != prev.nodes || c.basePort != prev.basePort || !slices.Equal(c.settings, prev.settings)) {
		return c, nil, fmt.Errorf("%s of the cluster in %s still run%s with --nodes %d --base-port %d%s: give no other, or gregor cluster down --dir %s first",
			nodeList(slices.Sorted(maps.Keys(running))), c.dir, map[bool]string{true: "s"}[len(running) == 1], prev.nodes, prev.basePort, setFlags(prev.settings), c.dir)
	}
	return c, running, nil
}

// record writes c's layout and settings to the directory's clusterFile.
func (c localCluster) record() error {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by gregor cluster up\nnodes=%d\nbase.port=%d\n", c.nodes, c.basePort)
	for _, s := range c.settings {
		b.WriteString(formatProperty("set", s) + "\n")
	}
	return os.WriteFile(filepath.Join(c.dir, clusterFile), []byte(b.String()), 0o644)
}

// nodeList names nodes for a message: "node 2", "nodes 1, 3".
func nodeList(nodes []int) string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = strconv.Itoa(n)
	}
	if len(nodes) == 1 {
		return "node " + names[0]
	}
	return "nodes " + strings.Join(names, ", ")
}

// setFlags is settings as the --set flags that give them.
func setFlags(settings []string) string {
	var b strings.Builder
	for _, s := range settings {
		b.WriteString(" --set " + s)
	}
	return b.String()
}

// startNode starts node i (self serve ...) in a session of its own, so it
// outlives this command, logging to its file.
func (c localCluster) startNode(self string, i int) error {
	if err := os.MkdirAll(c.nodeDir(i), 0o755); err != nil {
		return err
	}
	logFile, err := os.OpenFile(c.logFile(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	proc := exec.Command(self, c.serveArgs(i)...)
	proc.Stdout, proc.Stderr = logFile, logFile
	proc.SysProcAttr = detachedProcess()
	if err := proc.Start(); err != nil {
		return fmt.Errorf("start node %d: %w", i, err)
	}
	if err := os.WriteFile(c.pidFile(i), []byte(strconv.Itoa(proc.Process.Pid)+"\n"), 0o644); err != nil {
		_ = proc.Process.Kill()
		_ = proc.Wait()
		return err
	}
	// Reap the node if it exits while this command runs: a child that
	// exited stays a zombie until waited for, and signal 0 reaches a
	// zombie, so runningPID would count a node that failed at startup
	// (a port in use) as running, and cluster up would wait out its
	// --timeout instead of showing the node's log at once.
	go func() { _ = proc.Wait() }()
	return nil
}

// waitFormed waits until every node answers Metadata listing every node as
// a live broker, with a controller; a node that exits meanwhile fails it.
func (c localCluster) waitFormed(ctx context.Context) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		formed := true
		for i := 1; i <= c.nodes; i++ {
			if c.runningPID(i) == 0 {
				return fmt.Errorf("node %d exited; its log (%s) ends:\n%s", i, c.logFile(i), tailOf(c.logFile(i), 20))
			}
			if !c.nodeSeesCluster(ctx, i) {
				formed = false
			}
		}
		if formed {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the %d nodes did not form a cluster: %w (logs in %s/node-*/gregor.log)", c.nodes, ctx.Err(), c.dir)
		case <-tick.C:
		}
	}
}

// nodeSeesCluster says node i lists every node as a live broker and knows
// a controller.
func (c localCluster) nodeSeesCluster(ctx context.Context, i int) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.address(i, 0)))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err == nil && c.formedIn(resp)
}

// formedIn says whether a Metadata answer shows this layout formed: a
// controller, and each of its nodes among the brokers. Brokers added to
// the cluster by hand may be listed beside them.
func (c localCluster) formedIn(resp *kmsg.MetadataResponse) bool {
	if resp.ControllerID < 0 {
		return false
	}
	for i := 1; i <= c.nodes; i++ {
		if !slices.ContainsFunc(resp.Brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == int32(i) }) {
			return false
		}
	}
	return true
}

// tailOf is the last n lines of a file.
func tailOf(path string, n int) string {
	p, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(p), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func newClusterDownCommand() *cobra.Command {
	var (
		dir     string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the nodes gregor cluster up started in --dir (gracefully, then by force)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := readLocalCluster(dir)
			if err != nil {
				return err
			}
			if len(c.running()) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no node of the cluster in %s runs\n", dir)
				return nil
			}
			c.stopAll(cmd.OutOrStdout(), timeout)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory of the cluster (required)")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long each node may take to stop before it is killed")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// stopAll stops every running node: SIGTERM to all at once, SIGKILL to
// those still running after timeout.
func (c localCluster) stopAll(out io.Writer, timeout time.Duration) {
	all := make([]int, c.nodes)
	for i := range all {
		all[i] = i + 1
	}
	c.stop(out, all, timeout)
}

// stop stops those of nodes that run: SIGTERM to all at once, SIGKILL to
// those still running after timeout.
func (c localCluster) stop(out io.Writer, nodes []int, timeout time.Duration) {
	pids := map[int]int{}
	for _, i := range nodes {
		if pid := c.runningPID(i); pid != 0 {
			pids[i] = pid
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(timeout)
	for _, i := range nodes {
		pid, ok := pids[i]
		if !ok {
			continue
		}
		// A node that exited is a zombie until whoever adopted it reaps
		// it (in a container, up to seconds later): it has stopped.
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		how := "stopped"
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			how = "killed (it did not stop within " + timeout.String() + ")"
		}
		if err := os.Remove(c.pidFile(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(out, "node %d: %v\n", i, err)
		}
		fmt.Fprintf(out, "node %d %s\n", i, how)
	}
}
