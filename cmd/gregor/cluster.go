package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterFile records, in a cluster's directory, what cluster up started:
// the node count and the base port, in properties form.
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

// serveArgs are node i's gregor serve arguments: combined roles, every
// node a voter, gossip seeded by every node.
func (c localCluster) serveArgs(i int, extra []string) []string {
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
	for _, e := range extra {
		args = append(args, "--set", e)
	}
	return args
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

// runningPID is the pid of node i's process if it runs, else 0.
func (c localCluster) runningPID(i int) int {
	p, err := os.ReadFile(c.pidFile(i))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(p)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
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
restarts the same cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clusterUp(cmd, c, timeout, extra)
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

func clusterUp(cmd *cobra.Command, c localCluster, timeout time.Duration, extra []string) error {
	if c.nodes < 1 || c.nodes > maxLocalNodes {
		return fmt.Errorf("--nodes %d: want 1 to %d", c.nodes, maxLocalNodes)
	}
	if c.basePort < 1 || c.basePort+metricsPortOffset+c.nodes > 65535 {
		return fmt.Errorf("--base-port %d: the ports of %d nodes must stay below 65536", c.basePort, c.nodes)
	}
	if prev, err := readLocalCluster(c.dir); err == nil {
		for i := 1; i <= prev.nodes; i++ {
			if pid := prev.runningPID(i); pid != 0 {
				return fmt.Errorf("node %d of the cluster in %s still runs (pid %d): gregor cluster down --dir %s first", i, c.dir, pid, c.dir)
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the gregor binary: %w", err)
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	record := fmt.Sprintf("# written by gregor cluster up\nnodes=%d\nbase.port=%d\n", c.nodes, c.basePort)
	if err := os.WriteFile(filepath.Join(c.dir, clusterFile), []byte(record), 0o644); err != nil {
		return err
	}
	for i := 1; i <= c.nodes; i++ {
		if err := c.startNode(self, i, extra); err != nil {
			c.stopAll(cmd.ErrOrStderr(), 10*time.Second)
			return err
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	if err := c.waitFormed(ctx); err != nil {
		c.stopAll(cmd.ErrOrStderr(), 10*time.Second)
		return err
	}
	bootstrap := strings.Join(c.bootstrap(), ",")
	fmt.Fprintf(cmd.OutOrStdout(), "cluster of %d nodes up in %s\nbootstrap: %s\nexport %s=%s\n", c.nodes, c.dir, bootstrap, brokersEnv, bootstrap)
	return nil
}

// startNode starts node i in a session of its own, so it outlives this
// command, logging to its file.
func (c localCluster) startNode(self string, i int, extra []string) error {
	if err := os.MkdirAll(c.nodeDir(i), 0o755); err != nil {
		return err
	}
	logFile, err := os.OpenFile(c.logFile(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	proc := exec.Command(self, c.serveArgs(i, extra)...)
	proc.Stdout, proc.Stderr = logFile, logFile
	proc.SysProcAttr = detachedProcess()
	if err := proc.Start(); err != nil {
		return fmt.Errorf("start node %d: %w", i, err)
	}
	if err := os.WriteFile(c.pidFile(i), []byte(strconv.Itoa(proc.Process.Pid)+"\n"), 0o644); err != nil {
		_ = proc.Process.Kill()
		return err
	}
	return proc.Process.Release()
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
	return err == nil && len(resp.Brokers) == c.nodes && resp.ControllerID >= 0
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
		Short: "Stop the local cluster cluster up started in --dir (gracefully, then by force)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := readLocalCluster(dir)
			if err != nil {
				return err
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
	pids := map[int]int{}
	for i := 1; i <= c.nodes; i++ {
		if pid := c.runningPID(i); pid != 0 {
			pids[i] = pid
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(timeout)
	for i := 1; i <= c.nodes; i++ {
		pid, ok := pids[i]
		if !ok {
			continue
		}
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		how := "stopped"
		if syscall.Kill(pid, 0) == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			how = "killed (it did not stop within " + timeout.String() + ")"
		}
		if err := os.Remove(c.pidFile(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(out, "node %d: %v\n", i, err)
		}
		fmt.Fprintf(out, "node %d %s\n", i, how)
	}
}
