package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceUntilStopped produces acks=all records numbered 0, 1, ... to topic
// across its partitions until stop closes, and returns the numbers each
// partition acknowledged, in acknowledgement order.
func produceUntilStopped(t *testing.T, b *broker, topic string, stop <-chan struct{}, ackedCount *atomic.Int64) map[int32][]int {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.RecordRetries(0),
		kgo.RecordDeliveryTimeout(5*time.Second), kgo.MaxBufferedRecords(2000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var mu sync.Mutex
	acked := map[int32][]int{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		select {
		case <-stop:
			cancel()
			wg.Wait()
			return acked
		default:
		}
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err == nil {
				mu.Lock()
				acked[r.Partition] = append(acked[r.Partition], i)
				mu.Unlock()
				ackedCount.Add(1)
			}
		})
	}
}

// checkAcknowledged verifies that every acknowledged record is in recs, and
// that within each partition the acknowledged ones appear in the order they
// were acknowledged, at increasing offsets.
func checkAcknowledged(t *testing.T, acked map[int32][]int, recs []*kgo.Record) {
	t.Helper()
	byPartition := map[int32][]int{}
	lastOffset := map[int32]int64{}
	for _, r := range recs {
		if last, ok := lastOffset[r.Partition]; ok && r.Offset <= last {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, last)
		}
		lastOffset[r.Partition] = r.Offset
		n, err := strconv.Atoi(string(r.Value))
		if err != nil {
			t.Fatalf("record %q", r.Value)
		}
		byPartition[r.Partition] = append(byPartition[r.Partition], n)
	}
	for p, want := range acked {
		got := byPartition[p]
		j := 0
		for _, n := range got {
			if j < len(want) && n == want[j] {
				j++
			}
		}
		if j != len(want) {
			t.Fatalf("partition %d: acknowledged record %d (%d of %d) missing or out of order after restart", p, want[j], j, len(want))
		}
	}
}

// cleanShutdownMarker is the file logstore leaves in a partition directory
// on a clean close.
const cleanShutdownMarker = ".kafka_cleanshutdown"

func totalAcked(acked map[int32][]int) int {
	n := 0
	for _, a := range acked {
		n += len(a)
	}
	return n
}

func testRestartKeepsAcknowledged(t *testing.T, sig syscall.Signal, extra ...string) {
	b := startBroker(t, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := b.admin(t)
	if _, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"segment.bytes": kadm.StringPtr("65536")}, "durable"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan map[int32][]int)
	var ackedCount atomic.Int64
	go func() { done <- produceUntilStopped(t, b, "durable", stop, &ackedCount) }()
	// The signal lands while records are in flight, once enough are
	// acknowledged for the check to mean something.
	waitFor(t, 30*time.Second, "2000 acknowledged records", func() bool { return ackedCount.Load() >= 2000 })
	b.stop(sig)
	close(stop)
	acked := <-done
	n := totalAcked(acked)
	if n < 100 {
		t.Fatalf("only %d records acknowledged before %v", n, sig)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "durable-0", cleanShutdownMarker)); (err == nil) != (sig == syscall.SIGTERM) {
		t.Fatalf("after %v, clean-shutdown marker: %v", sig, err)
	}
	b.start()
	ends, err := b.admin(t).ListEndOffsets(ctx, "durable")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	ends.Each(func(o kadm.ListedOffset) { total += int(o.Offset) })
	if total < n {
		t.Fatalf("after %v restart the log holds %d records, %d were acknowledged", sig, total, n)
	}
	checkAcknowledged(t, acked, b.consumeAll(t, "durable", total))
	t.Logf("%v: %d acknowledged, %d on disk after restart", sig, n, total)
}

func TestRestartAfterSIGTERM(t *testing.T) { testRestartKeepsAcknowledged(t, syscall.SIGTERM) }

func TestRestartAfterSIGKILL(t *testing.T) { testRestartKeepsAcknowledged(t, syscall.SIGKILL) }

// With flush.messages=1 every acknowledged record has been fsynced, which is
// what survives a machine crash; a kill -9 must keep them all the same.
func TestRestartAfterSIGKILLFlushEveryMessage(t *testing.T) {
	testRestartKeepsAcknowledged(t, syscall.SIGKILL, "log.flush.interval.messages=1")
}

// openFDs counts the broker's open file descriptors.
func (b *broker) openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("count the broker's file descriptors: %v", err)
	}
	return len(ents)
}

func apiVersionsFrame(corr int32) []byte {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "e2e"
	req.ClientSoftwareVersion = "1"
	body := req.AppendTo(nil)
	// Request header v2: api key, version, correlation id, client id, tags.
	hdr := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(req.Version))
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(corr))
	hdr = binary.BigEndian.AppendUint16(hdr, 3)
	hdr = append(hdr, "e2e"...)
	hdr = append(hdr, 0)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(hdr)+len(body)))
	return append(append(frame, hdr...), body...)
}

func TestThousandConnectionsLeaveNothingBehind(t *testing.T) {
	b := startBroker(t)
	// Warm up the broker (the first client starts its pools) and take a baseline.
	b.client(t).Ping(context.Background())
	// Settled: the goroutine count reads the same twice in a row.
	var baseGoroutines float64
	waitFor(t, 10*time.Second, "a steady goroutine count", func() bool {
		prev := baseGoroutines
		baseGoroutines = b.metric(t, "go_goroutines")
		return prev == baseGoroutines
	})
	baseFDs := b.openFDs(t)

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	conns := make(chan net.Conn, 1000)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", b.addr, 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			conns <- c
			if i%2 == 0 { // half of them talk, half only connect
				c.SetDeadline(time.Now().Add(20 * time.Second))
				if _, err := c.Write(apiVersionsFrame(int32(i))); err != nil {
					errs <- err
					return
				}
				var size [4]byte
				if _, err := io.ReadFull(c, size[:]); err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
				if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
					errs <- err
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if open := b.metric(t, "gregor_connections"); open < 900 {
		t.Fatalf("gregor_connections = %v with 1000 open", open)
	}
	close(conns)
	for c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		g, fds, open := b.metric(t, "go_goroutines"), b.openFDs(t), b.metric(t, "gregor_connections")
		if g <= baseGoroutines+5 && fds <= baseFDs+2 && open <= 1 {
			t.Logf("after 1000 connections: goroutines %v (baseline %v), fds %d (baseline %d)", g, baseGoroutines, fds, baseFDs)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s after closing 1000 connections: goroutines %v (baseline %v), fds %d (baseline %d), gregor_connections %v",
				g, baseGoroutines, fds, baseFDs, open)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMalformedFramesCloseOnlyThatConnection(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	good := b.client(t, kgo.DefaultProduceTopic("survivor"))
	if err := good.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	frame := func(payload []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
	}
	valid := apiVersionsFrame(1)
	cases := map[string][]byte{
		"garbage header":      frame([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 1}),
		"unknown api key":     frame([]byte{0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0}),
		"truncated header":    frame([]byte{0, 18}),
		"negative size":       {0xff, 0xff, 0xff, 0xfe},
		"over max size":       binary.BigEndian.AppendUint32(nil, 200<<20),
		"produce truncated":   frame([]byte{0, 0, 0, 7, 0, 0, 0, 7, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff}),
		"metadata bad length": frame([]byte{0, 3, 0, 1, 0, 0, 0, 3, 0, 0, 0x7f, 0xff, 0xff, 0xff}),
		"valid then garbage":  append(append([]byte{}, valid...), frame([]byte{1, 2, 3})...),
	}
	for name, bytes := range cases {
		c, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(bytes); err != nil {
			t.Fatalf("%s: write: %v", name, err)
		}
		// The broker answers what was valid, then closes: reading ends in EOF
		// or a reset, never a timeout.
		_, err = io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: connection still open after 10s", name)
		}
		c.Close()
		if err := good.ProduceSync(ctx, &kgo.Record{Value: []byte(name)}).FirstErr(); err != nil {
			t.Fatalf("after %s, the other connection fails: %v", name, err)
		}
	}
	if got := len(b.consumeAll(t, "survivor", len(cases)+1)); got != len(cases)+1 {
		t.Fatalf("read %d records", got)
	}
	select {
	case <-b.exited:
		t.Fatal("broker exited")
	default:
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
