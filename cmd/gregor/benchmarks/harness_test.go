package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// target is one broker the benchmarks drive: gregor or a reference.
type target struct {
	name string // leaf name: "gregor", "ref-kfake" or "ref-kfake-process"
	addr string
	pid  int // broker process whose CPU is measured; 0 when in-process
	// pids are the processes of a cluster target, whose CPU is summed
	// (pid is then 0).
	pids []int
	// metricsAddr serves the broker's /metrics with the Go runtime's
	// allocation counters; "" when in-process.
	metricsAddr string
	admin       *kadm.Client
	logs        *tailBuffer // broker output, for failures; nil when in-process
	cmd         *exec.Cmd   // the broker process; nil when in-process
	done        chan struct{}
}

var (
	workDir     string // temporary: binary and data directory
	workDirOnce sync.Once
	workDirErr  error

	gregorOnce sync.Once
	gregor     *target
	gregorErr  error

	kfakeProcessOnce sync.Once
	kfakeProcess     *target
	kfakeProcessErr  error

	kfakeOnce    sync.Once
	kfakeTarget  *target
	kfakeErr     error
	kfakeCluster *kfake.Cluster

	sinkOnce sync.Once
	sinkAddr string
	sinkErr  error
	sinkLn   net.Listener
)

// clientHeapBallast is memory the benchmark process allocates and never
// touches (so it costs no resident memory) to fix the Go heap goal of the
// process the clients run in at a size that no broker's data moves much.
//
// Without it the clients' heap goal follows whatever the process holds:
// the in-process kfake reference keeps every record set it was sent (over
// 100 MB after its first cell), so a client running after it collects
// garbage rarely and reuses its memory, while a client running before it
// (gregor's first cells: go test runs all -count runs of one leaf before
// the next leaf) collects every few megabytes, the scavenger hands the
// freed pages back to the OS, and every Fetch answer's fresh 1 MiB buffer
// and record slab fault their pages in again (madvise and page faults were
// a quarter of the client's CPU). A consumer is latency-bound, one Fetch in
// flight per broker, so that client-side cost set the consume cells'
// throughput: 1M × 100 B from one partition read at about 1.5M records/s
// by either broker in the first regime and 5-7M records/s in the second.
var clientHeapBallast []byte

// clientHeapBallastBytes is the ballast's size: the heap goal is then at
// least twice that, a few hundred Fetch answers of garbage between
// collections.
const clientHeapBallastBytes = 256 << 20

// TestMain only cleans up: the broker is built and started lazily by the
// first benchmark that needs it, so `go test` without -bench does nothing.
func TestMain(m *testing.M) {
	ballast := clientHeapBallastBytes
	if mb, err := strconv.Atoi(os.Getenv("GREGOR_BENCH_BALLAST_MB")); err == nil && mb >= 0 {
		ballast = mb << 20 // 0: none, to see what it changes
	}
	clientHeapBallast = make([]byte, ballast)
	code := m.Run()
	runtime.KeepAlive(clientHeapBallast)
	stopCluster()
	for _, t := range []*target{gregor, kfakeProcess, groupGregor} {
		if t != nil && t.cmd != nil {
			_ = t.cmd.Process.Kill()
			<-t.done
		}
	}
	if kfakeCluster != nil {
		kfakeCluster.Close()
	}
	if groupKfakeCluster != nil {
		groupKfakeCluster.Close()
	}
	if sinkLn != nil {
		_ = sinkLn.Close()
	}
	if workDir != "" {
		_ = os.RemoveAll(workDir)
	}
	os.Exit(code)
}

func tempDir() (string, error) {
	workDirOnce.Do(func() { workDir, workDirErr = os.MkdirTemp("", "gregor-bench-") })
	return workDir, workDirErr
}

// tailBuffer keeps the last 64 KiB (at least) written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - 64<<10; over > 64<<10 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// nextBenchPort is the next port freeAddr tries under GREGOR_BENCH_PORTS.
var nextBenchPort atomic.Int64

// freeAddr returns a loopback address nothing listens on: a port the kernel
// picks, or with GREGOR_BENCH_PORTS=LOW-HIGH the next free one of that range
// (for machines where each user of loopback keeps to a range of its own).
func freeAddr() (string, error) {
	low, high, ok := strings.Cut(os.Getenv("GREGOR_BENCH_PORTS"), "-")
	if !ok {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer l.Close()
		return l.Addr().String(), nil
	}
	lo, err1 := strconv.Atoi(low)
	hi, err2 := strconv.Atoi(high)
	if err1 != nil || err2 != nil || lo <= 0 || hi < lo {
		return "", fmt.Errorf("GREGOR_BENCH_PORTS=%s: want LOW-HIGH", os.Getenv("GREGOR_BENCH_PORTS"))
	}
	for range hi - lo + 1 {
		port := lo + int(nextBenchPort.Add(1)-1)%(hi-lo+1)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr, nil
	}
	return "", fmt.Errorf("no free port in %s", os.Getenv("GREGOR_BENCH_PORTS"))
}

// gregorBroker builds the binary and starts one gregor node, once per process.
func gregorBroker(b *testing.B) *target {
	b.Helper()
	gregorOnce.Do(func() { gregor, gregorErr = startGregor() })
	if gregorErr != nil {
		b.Fatal(gregorErr)
	}
	if err := gregor.alive(); err != nil {
		b.Fatal(err)
	}
	return gregor
}

func startGregor() (*target, error) {
	dir, err := tempDir()
	if err != nil {
		return nil, err
	}
	bin, err := gregorBinary(dir)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve",
		"--set", "listeners=PLAINTEXT://" + addr,
		"--set", "log.dirs=" + filepath.Join(dir, "data"),
		"--set", "metrics.listener=" + metricsAddr,
		"--set", "node.id=1"}
	t, err := startProcess("gregor", addr, bin, withBenchSet(args)...)
	if err != nil {
		return nil, err
	}
	t.metricsAddr = metricsAddr
	return t, nil
}

// kfakeProcessBroker starts kfake as a process of its own (testdata/
// kfakeserver), once per process: the reference on gregor's own terms, a
// process boundary away from the client, with its CPU measured.
func kfakeProcessBroker(b *testing.B) *target {
	b.Helper()
	kfakeProcessOnce.Do(func() {
		dir, err := tempDir()
		if err != nil {
			kfakeProcessErr = err
			return
		}
		bin := filepath.Join(dir, "kfakeserver")
		if kfakeProcessErr = goBuild(bin, "./testdata/kfakeserver"); kfakeProcessErr != nil {
			return
		}
		addr, err := freeAddr()
		if err != nil {
			kfakeProcessErr = err
			return
		}
		metricsAddr, err := freeAddr()
		if err != nil {
			kfakeProcessErr = err
			return
		}
		kfakeProcess, kfakeProcessErr = startProcess("ref-kfake-process", addr, bin, addr, metricsAddr)
		if kfakeProcessErr == nil {
			kfakeProcess.metricsAddr = metricsAddr
		}
	})
	if kfakeProcessErr != nil {
		b.Fatal(kfakeProcessErr)
	}
	if err := kfakeProcess.alive(); err != nil {
		b.Fatal(err)
	}
	return kfakeProcess
}

// gregorBinary is the gregor binary the benchmarks run: GREGOR_BENCH_BIN's
// (another revision's, for an A/B run), or this tree's, built into dir once.
func gregorBinary(dir string) (string, error) {
	if prebuilt := os.Getenv("GREGOR_BENCH_BIN"); prebuilt != "" {
		return prebuilt, nil
	}
	bin := filepath.Join(dir, "gregor")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	return bin, goBuild(bin, "gregor/cmd/gregor")
}

// withBenchSet adds GREGOR_BENCH_SET's settings ("key=value key=value",
// each a --set) to a gregor command line, after its own: they win.
func withBenchSet(args []string) []string {
	for _, kv := range strings.Fields(os.Getenv("GREGOR_BENCH_SET")) {
		args = append(args, "--set", kv)
	}
	return args
}

func goBuild(out, pkg string) error {
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	return nil
}

// startProcess runs a broker binary and waits until it answers on addr.
func startProcess(name, addr, bin string, args ...string) (*target, error) {
	logs := &tailBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &target{name: name, addr: addr, pid: cmd.Process.Pid, logs: logs, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(t.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := ping(addr); err == nil {
			break
		} else if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not answer within 30s: %v\n%s", name, err, logs)
		}
		if err := t.alive(); err != nil {
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	var err error
	if t.admin, err = newAdmin(addr); err != nil {
		return nil, err
	}
	return t, nil
}

// alive fails when the broker process has exited.
func (t *target) alive() error {
	if t.cmd == nil {
		return nil
	}
	select {
	case <-t.done:
		return fmt.Errorf("%s exited: %v\n%s", t.name, t.cmd.ProcessState, t.logs)
	default:
		return nil
	}
}

// kfakeBroker starts franz-go's in-memory fake, one node, once per process.
func kfakeBroker(b *testing.B) *target {
	b.Helper()
	kfakeOnce.Do(func() {
		kfakeCluster, kfakeErr = kfake.NewCluster(kfake.NumBrokers(1))
		if kfakeErr != nil {
			return
		}
		addr := kfakeCluster.ListenAddrs()[0]
		kfakeTarget = &target{name: "ref-kfake", addr: addr}
		kfakeTarget.admin, kfakeErr = newAdmin(addr)
	})
	if kfakeErr != nil {
		b.Fatal(kfakeErr)
	}
	return kfakeTarget
}

func ping(addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func newAdmin(addr string) (*kadm.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// cpu is the broker's user+system CPU time so far; 0 for in-process brokers.
func (t *target) cpu(b *testing.B) time.Duration {
	var total time.Duration
	for _, pid := range t.processes() {
		d, err := procCPU(pid)
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	return total
}

// processes are the broker processes whose CPU is measured: none when
// in-process.
func (t *target) processes() []int {
	if t.pid != 0 {
		return []int{t.pid}
	}
	return t.pids
}

// procCPU is the CPU time pid's threads have run: the sum of the first
// field of /proc/<pid>/task/*/schedstat (nanoseconds) where the kernel has
// it, else utime+stime of /proc/<pid>/stat in 10 ms clock ticks. (A thread
// that exits takes its time with it from schedstat; Go runtimes keep theirs.)
func procCPU(pid int) (time.Duration, error) {
	if d, err := schedstatCPU(pid); err == nil {
		return d, nil
	}
	return statCPU(pid)
}

func schedstatCPU(pid int) (time.Duration, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, task := range tasks {
		raw, err := os.ReadFile(dir + "/" + task.Name() + "/schedstat")
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited meanwhile
		}
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(raw))
		if len(f) == 0 {
			return 0, errors.New("broker CPU: empty schedstat")
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("broker CPU: schedstat: %w", err)
		}
		total += ns
	}
	if total == 0 {
		return 0, errors.New("broker CPU: schedstat reads 0")
	}
	return time.Duration(total), nil
}

func statCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("broker CPU: %w", err)
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("broker CPU: malformed /proc stat")
	}
	// After "pid (comm) " the fields start at 3 (state); utime is 14, stime 15.
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("broker CPU: short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("broker CPU: malformed utime/stime")
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// fail stops the benchmark with err and, for gregor, the tail of its log.
func (t *target) fail(b *testing.B, format string, args ...any) {
	b.Helper()
	msg := fmt.Sprintf(format, args...)
	if t.logs != nil {
		msg += "\n" + t.name + " log tail:\n" + lastLines(t.logs.String(), 30)
	}
	b.Fatal(msg)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var topicSeq struct {
	mu sync.Mutex
	n  int
}

// createTopic makes a fresh topic and waits until every partition has a
// leader in the metadata.
func (t *target) createTopic(b *testing.B, prefix string, parts int) string {
	b.Helper()
	topicSeq.mu.Lock()
	topicSeq.n++
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), topicSeq.n)
	topicSeq.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := t.admin.CreateTopic(ctx, int32(parts), 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.fail(b, "%s: create topic %s: %v", t.name, name, err)
	}
	for {
		md, err := t.admin.Metadata(ctx, name)
		if err == nil {
			td, ok := md.Topics[name]
			if ok && td.Err == nil && len(td.Partitions) == parts {
				ready := true
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
				if ready {
					return name
				}
			}
		}
		if ctx.Err() != nil {
			t.fail(b, "%s: topic %s has no leaders after 30s (last error %v)", t.name, name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (t *target) deleteTopic(b *testing.B, name string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := t.admin.DeleteTopic(ctx, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.fail(b, "%s: delete topic %s: %v", t.name, name, err)
	}
}

// tcpSink listens on loopback; each connection sends an 8-byte count, then
// that many bytes, which the sink reads and drops before answering one byte.
func tcpSink(b *testing.B) string {
	b.Helper()
	sinkOnce.Do(func() {
		sinkLn, sinkErr = net.Listen("tcp", "127.0.0.1:0")
		if sinkErr != nil {
			return
		}
		sinkAddr = sinkLn.Addr().String()
		go func() {
			for {
				c, err := sinkLn.Accept()
				if err != nil {
					return
				}
				go drain(c)
			}
		}()
	})
	if sinkErr != nil {
		b.Fatal(sinkErr)
	}
	return sinkAddr
}

func drain(c net.Conn) {
	defer c.Close()
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	var n int64
	for _, x := range hdr {
		n = n<<8 | int64(x)
	}
	buf := make([]byte, 1<<20)
	for n > 0 {
		k, err := c.Read(buf[:min(int64(len(buf)), n)])
		n -= int64(k)
		if err != nil {
			return
		}
	}
	_, _ = c.Write([]byte{1})
}

// tcpChunk is the size of each write of the raw TCP reference.
const tcpChunk = 64 << 10

// tcpOverhead is what Kafka's v2 record format adds to a value without key
// or headers (length, attributes, timestamp and offset deltas, key and value
// lengths, header count), give or take a byte.
const tcpOverhead = 10

// sendTCP pushes total bytes through the loopback sink and waits for it to
// confirm it read them all.
func sendTCP(b *testing.B, addr string, total int64, chunk []byte) {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var hdr [8]byte
	for i := range hdr {
		hdr[i] = byte(total >> (56 - 8*i))
	}
	if _, err := c.Write(hdr[:]); err != nil {
		b.Fatal(err)
	}
	for left := total; left > 0; {
		k := min(int64(len(chunk)), left)
		if _, err := c.Write(chunk[:k]); err != nil {
			b.Fatal(err)
		}
		left -= k
	}
	var ack [1]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		b.Fatal(err)
	}
}
