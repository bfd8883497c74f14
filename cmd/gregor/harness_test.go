package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"gregor/actors"
)

// commandTimeout bounds one gregor invocation in a test, so a hung client
// fails the test instead of the whole package timing out.
const commandTimeout = 30 * time.Second

// startTestNode starts a node on a free loopback port over a temporary
// directory, stopped when the test ends, and returns its address.
func startTestNode(t *testing.T) string {
	t.Helper()
	cfg := actors.Config{
		NodeID: 1, ListenAddress: "127.0.0.1:0", DataDir: t.TempDir(),
		AutoCreateTopics: true, NumPartitions: 1, DefaultReplicationFactor: 1, DeleteTopicEnable: true,
		CacheBytes: 4 << 20, StaticBrokerConfigs: map[string]string{},
	}
	node, err := actors.Start(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := node.Stop(ctx); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	return node.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for the command's goroutines (kgo
// promises, the progress bar, the node's logger) and the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// invocation is one finished run of the gregor command.
type invocation struct {
	stdout, stderr string
	err            error
}

// runGregorContext runs a fresh gregor command tree with args, stdin and ctx,
// and returns what it wrote and the error main would print.
func runGregorContext(ctx context.Context, stdin io.Reader, args ...string) invocation {
	var stdout, stderr syncBuffer
	err := execute(ctx, newTestCommand(stdin, &stdout, &stderr, args...))
	return invocation{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// newTestCommand builds a fresh gregor command tree with args, reading stdin
// (nil: empty) and writing to stdout and stderr.
func newTestCommand(stdin io.Reader, stdout, stderr io.Writer, args ...string) *cobra.Command {
	root := newRootCommand()
	root.SetArgs(args)
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root
}

// background is a gregor command running in its own goroutine.
type background struct {
	stdout, stderr syncBuffer
	done           chan error // receives the command's result
	cancel         context.CancelFunc
}

// startGregor runs gregor with args in the background until it ends by
// itself or the test cancels it; the test's cleanup cancels it and waits.
func startGregor(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	bg := &background{done: make(chan error, 1), cancel: cancel}
	root := newTestCommand(nil, &bg.stdout, &bg.stderr, args...)
	go func() { bg.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select { // wait and waitForLines put a result they take back
		case <-bg.done:
		case <-time.After(commandTimeout):
			t.Errorf("gregor %s did not stop within %s of its context ending", strings.Join(args, " "), commandTimeout)
		}
	})
	return bg
}

// wait returns the command's result, failing the test if it does not end
// within commandTimeout.
func (bg *background) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-bg.done:
		bg.done <- err // for cleanup
		return err
	case <-time.After(commandTimeout):
		t.Fatalf("command did not end within %s\nstdout:\n%s\nstderr:\n%s", commandTimeout, bg.stdout.String(), bg.stderr.String())
		return nil
	}
}

// waitForLines waits until out holds at least want lines, or until the
// command ends, or fails the test after commandTimeout.
func (bg *background) waitForLines(t *testing.T, out *syncBuffer, want int) {
	t.Helper()
	deadline := time.Now().Add(commandTimeout)
	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	for len(lines(out.String())) < want {
		select {
		case err := <-bg.done:
			bg.done <- err
			t.Fatalf("command ended (%v) with %d of %d lines:\n%s\nstderr:\n%s", err, len(lines(out.String())), want, out.String(), bg.stderr.String())
		case <-ticker.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("output has %d lines after %s, want %d:\n%s", len(lines(out.String())), commandTimeout, want, out.String())
		}
	}
}

// runGregor runs gregor with args and stdin under commandTimeout.
func runGregor(t *testing.T, stdin string, args ...string) invocation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return runGregorContext(ctx, strings.NewReader(stdin), args...)
}

// mustRun runs gregor and fails the test if the command fails.
func mustRun(t *testing.T, stdin string, args ...string) invocation {
	t.Helper()
	inv := runGregor(t, stdin, args...)
	if inv.err != nil {
		t.Fatalf("gregor %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), inv.err, inv.stdout, inv.stderr)
	}
	return inv
}

// mustFail runs gregor and fails the test unless the command fails with an
// error whose text, or whose output, contains every one of wants.
func mustFail(t *testing.T, stdin string, args []string, wants ...string) invocation {
	t.Helper()
	inv := runGregor(t, stdin, args...)
	if inv.err == nil {
		t.Fatalf("gregor %s succeeded, want an error\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), inv.stdout, inv.stderr)
	}
	all := inv.err.Error() + "\n" + inv.stdout + "\n" + inv.stderr
	for _, want := range wants {
		if !strings.Contains(all, want) {
			t.Errorf("gregor %s: error %q and output\n%s\ndo not contain %q", strings.Join(args, " "), inv.err, inv.stdout+inv.stderr, want)
		}
	}
	return inv
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// fetchRecords reads the first want records of topic with a kgo consumer of
// its own, so that produce is checked independently of gregor consume.
func fetchRecords(t *testing.T, addr, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, opts...)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	var records []*kgo.Record
	for len(records) < want {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("fetched %d of %d records of %s: %v", len(records), want, topic, ctx.Err())
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", topic, partition, err)
		})
		records = append(records, fetches.Records()...)
	}
	return records
}
