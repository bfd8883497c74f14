package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
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
	"github.com/twmb/franz-go/pkg/kgo"
)

// gregorBin is the binary under test, built once by TestMain.
var gregorBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gregor-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gregorBin = filepath.Join(dir, "gregor")
	build := exec.Command("go", "build", "-o", gregorBin, "gregor/cmd/gregor")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gregor:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// broker is one gregor process.
type broker struct {
	t           *testing.T
	dir         string
	addr        string
	metricsAddr string
	extra       []string
	cmd         *exec.Cmd
	stderr      *lockedBuffer
	exited      chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// pythonScript is a python3 script a test runs beside the cluster: its
// standard input, its output (stdout and stderr) and its exit status once
// it ends.
type pythonScript struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *lockedBuffer
	done chan error
}

// startPython starts /usr/bin/python3 on script with args.
func startPython(t *testing.T, ctx context.Context, script string, args ...string) *pythonScript {
	t.Helper()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{script}, args...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	py := &pythonScript{cmd: cmd, in: in, out: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = py.out, py.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { py.done <- cmd.Wait() }()
	return py
}

// e2ePorts is the range of loopback ports the tests' brokers and clusters
// listen on: GREGOR_E2E_PORTS=LOW-HIGH when set (to keep several runs on
// one machine apart), else def.
func e2ePorts(t *testing.T, def [2]int) (low, high int) {
	t.Helper()
	v := os.Getenv("GREGOR_E2E_PORTS")
	if v == "" {
		return def[0], def[1]
	}
	lo, hi, _ := strings.Cut(v, "-")
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || h-l < 500 {
		t.Fatalf("GREGOR_E2E_PORTS=%s: want LOW-HIGH, at least 500 apart", v)
	}
	return l, h
}

// freeAddr reserves a loopback port (free when returned) below the
// kernel's ephemeral range (32768 and up by default): a broker listens on
// it only later, and again after a restart, and an ephemeral port could be
// taken meanwhile by some outgoing connection ("address already in use").
func freeAddr(t *testing.T) string {
	t.Helper()
	low, high := e2ePorts(t, [2]int{20000, 31999})
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

// startBroker runs gregor serve over a fresh data directory on free ports.
func startBroker(t *testing.T, extra ...string) *broker {
	t.Helper()
	b := &broker{t: t, dir: t.TempDir(), addr: freeAddr(t), metricsAddr: freeAddr(t), extra: extra}
	b.start()
	t.Cleanup(func() {
		b.kill()
		if t.Failed() {
			t.Logf("broker stderr:\n%s", b.stderr.String())
		}
	})
	return b
}

func (b *broker) start() {
	b.t.Helper()
	args := []string{"serve",
		"--set", "listeners=PLAINTEXT://" + b.addr,
		"--set", "log.dirs=" + b.dir,
		"--set", "metrics.listener=" + b.metricsAddr,
		"--set", "node.id=1"}
	for _, e := range b.extra {
		args = append(args, "--set", e)
	}
	b.cmd = exec.Command(gregorBin, args...)
	if b.stderr == nil {
		b.stderr = &lockedBuffer{}
	}
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(b.cmd, b.exited)
	deadline := time.Now().Add(20 * time.Second)
	for {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = cl.Ping(ctx)
			cancel()
			cl.Close()
			if err == nil {
				return
			}
		}
		select {
		case <-b.exited:
			b.t.Fatalf("gregor exited at start:\n%s", b.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("gregor did not answer within 20s:\n%s", b.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig and waits for the process to end.
func (b *broker) stop(sig syscall.Signal) {
	b.t.Helper()
	_ = b.cmd.Process.Signal(sig)
	select {
	case <-b.exited:
	case <-time.After(40 * time.Second):
		b.t.Fatalf("gregor did not exit on %v", sig)
	}
}

func (b *broker) kill() {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// client connects franz-go to the broker, asking for topics to be created
// on first use as Kafka clients may. Idempotent writes need
// InitProducerID, which comes with the transactions issue.
func (b *broker) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr), kgo.DisableIdempotentWrite(), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// admin connects kadm to the broker, with a client that never asks for
// topics to be auto-created.
func (b *broker) admin(t *testing.T) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// consumeAll reads n records of topic from the start.
func (b *broker) consumeAll(t *testing.T, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := b.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s", len(out), n, topic)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// metric reads one unlabelled sample from the broker's /metrics.
func (b *broker) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + b.metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, name+" "), &v)
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// pauseProcess stops process pid (SIGSTOP) and returns the function that
// resumes it (SIGCONT); a test that ends first resumes it at its cleanup.
func pauseProcess(t *testing.T, pid int) (resume func()) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	cont := func() (err error) {
		once.Do(func() { err = syscall.Kill(pid, syscall.SIGCONT) })
		return err
	}
	t.Cleanup(func() { _ = cont() })
	return func() {
		t.Helper()
		if err := cont(); err != nil {
			t.Fatal(err)
		}
	}
}
