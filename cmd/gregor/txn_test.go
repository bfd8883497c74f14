package main

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTxnCommands(t *testing.T) {
	addr := startTestNode(t)
	b := []string{"-b", addr}
	txn := func(args ...string) []string { return append(append([]string{"txn"}, args...), b...) }
	if out := mustRun(t, "", txn("list")...).stdout; len(lines(out)) != 1 {
		t.Fatalf("txn list before any transactional id:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("cli-txn"), 30_000
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %+v", err, resp)
	}
	list := mustRun(t, "", txn("list")...).stdout
	if !strings.Contains(list, "cli-txn") || !strings.Contains(list, "Empty") {
		t.Fatalf("txn list:\n%s", list)
	}
	if out := mustRun(t, "", txn("list", "--state", "Ongoing")...).stdout; strings.Contains(out, "cli-txn") {
		t.Fatalf("txn list --state Ongoing:\n%s", out)
	}
	describe := mustRun(t, "", txn("describe", "cli-txn")...).stdout
	if !strings.Contains(describe, "cli-txn") || !strings.Contains(describe, "30s") || !strings.Contains(describe, "Empty") {
		t.Fatalf("txn describe:\n%s", describe)
	}
	mustFail(t, "", txn("describe", "nobody"), "TRANSACTIONAL_ID_NOT_FOUND")
	// produce --transactional-id: one transaction committed, one aborted;
	// read_committed sees the first only.
	// Each says how its transaction ended.
	if out := mustRun(t, "a\nb\n", "produce", "txt", "-b", addr, "-p", "0", "--transactional-id", "cli-producer").stderr; !strings.Contains(out, "produced 2 records, 0 failed; transaction committed\n") {
		t.Errorf("a committed transaction's summary:\n%s", out)
	}
	if out := mustRun(t, "c\n", "produce", "txt", "-b", addr, "-p", "0", "--transactional-id", "cli-producer", "--abort").stderr; !strings.Contains(out, "produced 1 record, 0 failed; transaction aborted (--abort)\n") {
		t.Errorf("an aborted transaction's summary:\n%s", out)
	}
	if got := readTxt(ctx, t, addr, kgo.ReadCommitted(), 2); got != "a b" {
		t.Fatalf("read_committed read %q", got)
	}
	if got := readTxt(ctx, t, addr, kgo.ReadUncommitted(), 3); got != "a b c" {
		t.Fatalf("read_uncommitted read %q", got)
	}
	// consume prints every record by default, as Kafka's console consumer
	// does; --read-committed leaves the aborted one out.
	consume := func(args ...string) string {
		return strings.Join(lines(mustRun(t, "", append([]string{"consume", "txt", "-b", addr, "--idle-timeout", "200ms"}, args...)...).stdout), " ")
	}
	if got := consume(); got != "a b c" {
		t.Errorf("consume printed %q, want a b c", got)
	}
	if got := consume("--read-committed"); got != "a b" {
		t.Errorf("consume --read-committed printed %q, want a b", got)
	}
	if out := mustRun(t, "", txn("describe", "cli-producer")...).stdout; !strings.Contains(out, "CompleteAbort") {
		t.Fatalf("txn describe after the abort:\n%s", out)
	}
	// --running-longer-than is Kafka's duration filter: it reads the start
	// of the last transaction in every state (cli-producer's aborted one
	// started just now), and an Empty id, which began none, passes it.
	if out := mustRun(t, "", txn("list", "--running-longer-than", "1h")...).stdout; !strings.Contains(out, "cli-txn") || strings.Contains(out, "cli-producer") {
		t.Errorf("txn list --running-longer-than 1h:\n%s", out)
	}
	if out := mustRun(t, "", txn("list", "--running-longer-than", "1ms", "--state", "Ongoing")...).stdout; len(lines(out)) != 1 {
		t.Errorf("txn list --running-longer-than 1ms --state Ongoing:\n%s", out)
	}
	mustFail(t, "x\n", []string{"produce", "t", "-b", addr, "--abort"}, "--abort needs --transactional-id")
	mustFail(t, "x\n", []string{"produce", "t", "-b", addr, "--acks", "1", "--transactional-id", "x"}, "--transactional-id needs --acks all")
}

// readTxt reads want records of topic txt at an isolation level and
// returns their values joined by spaces.
func readTxt(ctx context.Context, t *testing.T, addr string, iso kgo.IsolationLevel, want int) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("txt"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v, want %d records", got, want)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return strings.Join(got, " ")
}
