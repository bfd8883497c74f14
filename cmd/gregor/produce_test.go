package main

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordView is what a test checks of a produced record.
type recordView struct {
	Partition int32
	Offset    int64
	Key       *string
	Value     string
	Headers   string // k=v,k=v
}

func viewOf(r *kgo.Record) recordView {
	v := recordView{Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)}
	if r.Key != nil {
		k := string(r.Key)
		v.Key = &k
	}
	headers := make([]string, len(r.Headers))
	for i, h := range r.Headers {
		headers[i] = h.Key + "=" + string(h.Value)
	}
	v.Headers = strings.Join(headers, ",")
	return v
}

func strPtr(s string) *string { return &s }

func TestProduceLines(t *testing.T) {
	addr := startTestNode(t)
	// The topic does not exist: produce creates it (auto.create.topics.enable).
	inv := mustRun(t, "one\ntwo\r\n\nthree", "produce", "lines", "-b", addr)
	if want := "lines[0]@0\nlines[0]@1\nlines[0]@2\nlines[0]@3\n"; inv.stdout != want {
		t.Errorf("produce printed\n%s\nwant\n%s", inv.stdout, want)
	}
	if !strings.Contains(inv.stderr, "produced 4 records, 0 failed") {
		t.Errorf("stderr has no summary:\n%s", inv.stderr)
	}
	var got []recordView
	for _, r := range fetchRecords(t, addr, "lines", 4) {
		got = append(got, viewOf(r))
	}
	want := []recordView{{Offset: 0, Value: "one"}, {Offset: 1, Value: "two"}, {Offset: 2, Value: ""}, {Offset: 3, Value: "three"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records\n got %+v\nwant %+v", got, want)
	}
}

func TestProduceKeysHeadersAndDelimiter(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "k1::v1::more\nno separator\n::empty key\n", "produce", "keyed", "-b", addr, "-q",
		"-k", "::", "-H", "source=test", "-H", "empty=", "-H", "eq=a=b")
	mustRun(t, "a|b||c|", "produce", "delimited", "-b", addr, "-q", "--delimiter", "|", "-k", "=")
	// Escapes, as a shell passes them: -d '\t' splits at tabs.
	mustRun(t, "t1\tt2\\u\t", "produce", "tabbed", "-b", addr, "-q", "-d", `\t`)
	mustRun(t, "w1\\w2", "produce", "backslashed", "-b", addr, "-q", "-d", `\\`)

	var got []recordView
	for _, r := range fetchRecords(t, addr, "keyed", 3) {
		got = append(got, viewOf(r))
	}
	const headers = "source=test,empty=,eq=a=b"
	want := []recordView{
		{Offset: 0, Key: strPtr("k1"), Value: "v1::more", Headers: headers},
		{Offset: 1, Value: "no separator", Headers: headers},
		{Offset: 2, Key: strPtr(""), Value: "empty key", Headers: headers},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records\n got %+v\nwant %+v", got, want)
	}
	consumed := mustRun(t, "", "consume", "keyed", "-b", addr, "-F", `%o|%k|%v|%h\n`)
	if want := "0|k1|v1::more|" + headers + "\n1||no separator|" + headers + "\n2||empty key|" + headers + "\n"; consumed.stdout != want {
		t.Errorf("consume printed\n%s\nwant\n%s", consumed.stdout, want)
	}

	var values []string
	for _, r := range fetchRecords(t, addr, "delimited", 4) {
		values = append(values, string(r.Value))
	}
	if want := []string{"a", "b", "", "c"}; !reflect.DeepEqual(values, want) {
		t.Errorf("values split at | are %q, want %q", values, want)
	}
	for topic, want := range map[string][]string{"tabbed": {"t1", `t2\u`}, "backslashed": {"w1", "w2"}} {
		values = nil
		for _, r := range fetchRecords(t, addr, topic, len(want)) {
			values = append(values, string(r.Value))
		}
		if !reflect.DeepEqual(values, want) {
			t.Errorf("%s: values %q, want %q", topic, values, want)
		}
	}
}

func TestParseDelimiter(t *testing.T) {
	for _, tt := range []struct{ flag, want string }{
		{"\n", "\n"}, {`\n`, "\n"}, {`\t`, "\t"}, {`\\`, `\`}, {"|", "|"}, {`--\n`, "--\n"}, {"\x00", "\x00"},
	} {
		if got, err := parseDelimiter(tt.flag); err != nil || got != tt.want {
			t.Errorf("parseDelimiter(%q) = %q, %v; want %q", tt.flag, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ flag, want string }{
		{"", "must not be empty"}, {`\`, "lone"}, {`\q`, `unknown escape \q`},
	} {
		if _, err := parseDelimiter(tt.flag); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseDelimiter(%q): error %v, want one containing %q", tt.flag, err, tt.want)
		}
	}
}

func TestProduceAcks(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "acks", "-b", addr)
	for i, acks := range []string{"all", "-1", "1"} {
		inv := mustRun(t, acks+"\n", "produce", "acks", "-b", addr, "--acks", acks)
		if want := fmt.Sprintf("acks[0]@%d\n", i); inv.stdout != want {
			t.Errorf("--acks %s printed %q, want %q", acks, inv.stdout, want)
		}
	}
	// acks=0 gets no response, so there is no offset to print.
	inv := mustRun(t, "0\n", "produce", "acks", "-b", addr, "--acks", "0")
	if want := "acks[0]\n"; inv.stdout != want {
		t.Errorf("--acks 0 printed %q, want %q", inv.stdout, want)
	}
	var values []string
	for _, r := range fetchRecords(t, addr, "acks", 4) {
		values = append(values, string(r.Value))
	}
	if want := []string{"all", "-1", "1", "0"}; !reflect.DeepEqual(values, want) {
		t.Errorf("values %q, want %q", values, want)
	}
	if consumed := mustRun(t, "", "consume", "acks", "-b", addr, "-F", `%o:%v\n`); consumed.stdout != "0:all\n1:-1\n2:1\n3:0\n" {
		t.Errorf("consume printed %q", consumed.stdout)
	}
	mustFail(t, "x\n", []string{"produce", "acks", "-b", addr, "--acks", "2"}, `--acks "2": want all, -1, 1 or 0`)
	mustFail(t, "x\n", []string{"produce", "acks", "-b", addr, "--acks", "1", "--idempotent"}, "--idempotent needs --acks all")
}

// compressionTypes records the codec of every batch a consumer reads.
type compressionTypes struct {
	mu    sync.Mutex
	codes map[uint8]int
}

// OnFetchBatchRead implements kgo.HookFetchBatchRead.
func (c *compressionTypes) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.codes[m.CompressionType]++
}

func TestProduceCompression(t *testing.T) {
	addr := startTestNode(t)
	codecs := []struct {
		name string
		code uint8 // the batch attribute's compression bits
	}{{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}}
	// Each value compresses on its own, in every codec: franz-go sends a
	// batch uncompressed when compressing does not make it smaller, as
	// it would a lone short record flushed by the linger on a busy machine.
	value := strings.Repeat("a compressible value, ", 12)
	var input strings.Builder
	for i := range 50 {
		fmt.Fprintf(&input, "key-%d=%s%d\n", i%5, value, i)
	}
	for _, codec := range codecs {
		t.Run(codec.name, func(t *testing.T) {
			topic := "z-" + codec.name
			mustRun(t, input.String(), "produce", topic, "-b", addr, "-q", "-z", codec.name, "-k", "=", "--linger", "50ms")
			hook := &compressionTypes{codes: map[uint8]int{}}
			records := fetchRecords(t, addr, topic, 50, kgo.WithHooks(hook))
			for i, r := range records {
				wantKey, wantValue := fmt.Sprintf("key-%d", i%5), fmt.Sprintf("%s%d", value, i)
				if string(r.Key) != wantKey || string(r.Value) != wantValue {
					t.Fatalf("record %d is %q=%q, want %q=%q", i, r.Key, r.Value, wantKey, wantValue)
				}
			}
			hook.mu.Lock()
			defer hook.mu.Unlock()
			if len(hook.codes) != 1 || hook.codes[codec.code] == 0 {
				t.Errorf("batches were stored with codecs %v, want only %d (%s)", hook.codes, codec.code, codec.name)
			}
			// gregor consume reads them back too.
			consumed := mustRun(t, "", "consume", topic, "-b", addr, "-F", `%k=%v\n`)
			if consumed.stdout != input.String() {
				t.Errorf("consume printed\n%s\nwant\n%s", consumed.stdout, input.String())
			}
		})
	}
	mustFail(t, "x\n", []string{"produce", "z", "-b", addr, "-z", "brotli"}, `--compression "brotli": want none, gzip, snappy, lz4 or zstd`)
}

func TestProducePartition(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "parts", "-p", "3", "-b", addr)
	inv := mustRun(t, "a\nb\n", "produce", "parts", "-b", addr, "-p", "2")
	if want := "parts[2]@0\nparts[2]@1\n"; inv.stdout != want {
		t.Errorf("produce -p 2 printed\n%s\nwant\n%s", inv.stdout, want)
	}
	// Without -p, the key picks the partition: the same key, the same one.
	inv = mustRun(t, "k=1\nk=2\nk=3\n", "produce", "parts", "-b", addr, "-k", "=")
	acks := lines(inv.stdout)
	if len(acks) != 3 {
		t.Fatalf("produce printed %q, want three acknowledgements", inv.stdout)
	}
	partition := func(ack string) string { return ack[:strings.Index(ack, "@")] }
	if partition(acks[0]) != partition(acks[1]) || partition(acks[1]) != partition(acks[2]) {
		t.Errorf("records with one key went to different partitions: %q", acks)
	}
	consumed := mustRun(t, "", "consume", "parts", "-b", addr, "-p", "2", "-F", `%p:%o:%v\n`)
	if !strings.HasPrefix(consumed.stdout, "2:0:a\n2:1:b\n") {
		t.Errorf("partition 2 holds\n%s\nwant a and b first", consumed.stdout)
	}

	inv = mustFail(t, "x\n", []string{"produce", "parts", "-b", addr, "-p", "5"}, "1 of 1 records failed", "partition")
	if !strings.Contains(inv.stderr, "produced 0 records, 1 failed") {
		t.Errorf("stderr has no failure summary:\n%s", inv.stderr)
	}
	mustFail(t, "x\n", []string{"produce", "parts", "-b", addr, "-p", "-2"}, "--partition -2: want -1 or a partition number")
}

func TestProduceInputErrors(t *testing.T) {
	addr := startTestNode(t)
	inv := mustFail(t, "short\n"+strings.Repeat("x", 100)+"\n", []string{"produce", "long", "-b", addr, "--max-line-bytes", "10"}, "read input", "too long")
	if inv.stdout != "long[0]@0\n" {
		t.Errorf("the record before the long line should be produced, got %q", inv.stdout)
	}
	mustFail(t, "x\n", []string{"produce", "t", "-b", addr, "-H", "novalue"}, `--header "novalue": want key=value`)
	mustFail(t, "x\n", []string{"produce", "t", "-b", addr, "--delimiter", ""}, "--delimiter must not be empty")
	mustFail(t, "x\n", []string{"produce", "-b", addr}, "accepts 1 arg(s)")
}

// --idempotent produces with a producer id and sequence numbers the broker
// checks (its InitProducerId hands the id out).
func TestProduceIdempotent(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "idem", "-b", addr)
	inv := mustRun(t, "a\nb\nc\n", "produce", "idem", "-b", addr, "--idempotent")
	if want := "idem[0]@0\nidem[0]@1\nidem[0]@2\n"; inv.stdout != want {
		t.Errorf("--idempotent printed %q, want %q", inv.stdout, want)
	}
	for _, r := range fetchRecords(t, addr, "idem", 3) {
		if r.ProducerID < 0 {
			t.Errorf("record %d has no producer id", r.Offset)
		}
	}
}

// TestProduceToAMissingTopicSaysHowToCreateIt produces, and perf-produces,
// to a topic a broker without auto.create.topics.enable does not have:
// the error must say to create it.
func TestProduceToAMissingTopicSaysHowToCreateIt(t *testing.T) {
	addr := startServe(t, "--set", "listeners=PLAINTEXT://127.0.0.1:0", "--set", "metrics.listener=",
		"--set", "log.dirs="+t.TempDir(), "--set", "auto.create.topics.enable=false")
	mustFail(t, "x\n", []string{"produce", "absent", "-b", addr, "--delivery-timeout", "2s"},
		"UNKNOWN_TOPIC_OR_PARTITION", "create it with gregor topic create")
	mustFail(t, "", []string{"perf", "produce", "absent", "-b", addr, "-n", "1", "--no-progress", "--delivery-timeout", "2s"},
		"UNKNOWN_TOPIC_OR_PARTITION", "create it with gregor topic create")
}

// TestProduceBatchesWithinTopicsMaxMessageBytes checks that produce and perf
// produce build batches to the topic's max.message.bytes: a record larger
// than kgo's own 1 MB cap goes to a topic that takes it, and small records
// to a topic with a small limit go in batches the broker accepts (kgo does
// not split a batch the broker refused, as Kafka's Java producer does).
func TestProduceBatchesWithinTopicsMaxMessageBytes(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "big", "-c", "max.message.bytes=3000000", "-b", addr)
	mustRun(t, "", "topic", "create", "tiny", "-c", "max.message.bytes=600", "-b", addr)

	huge := strings.Repeat("h", 2_000_000)
	inv := mustRun(t, huge+"\n", "produce", "big", "--max-line-bytes", "3000000", "-b", addr)
	if inv.stdout != "big[0]@0\n" {
		t.Errorf("produce of a 2 MB record printed %q, want big[0]@0", inv.stdout)
	}
	if got := fetchRecords(t, addr, "big", 1); len(got[0].Value) != len(huge) {
		t.Errorf("read back a record of %d bytes, want %d", len(got[0].Value), len(huge))
	}
	perf := parsePerfSummary(t, mustRun(t, "", "perf", "produce", "big", "-n", "2", "-s", "2000000", "--no-progress", "-b", addr).stdout)
	if perf.records != 2 || perf.failed != 0 {
		t.Errorf("perf produce of 2 MB records: %+v, want 2 records, none failed", perf)
	}

	var small strings.Builder
	for i := range 100 {
		fmt.Fprintf(&small, "%050d\n", i)
	}
	mustRun(t, small.String(), "produce", "tiny", "-q", "-b", addr)
	if got := fetchRecords(t, addr, "tiny", 100); len(got) != 100 {
		t.Errorf("read back %d records of tiny, want 100", len(got))
	}
	// A record over the topic's limit is still refused.
	mustFail(t, strings.Repeat("x", 1000)+"\n", []string{"produce", "tiny", "-b", addr}, "MESSAGE_TOO_LARGE")
}

// TestProduceTimeoutBelowMinISRSaysWhy produces acks=all to a topic whose
// min.insync.replicas its single replica can never reach: kgo retries the
// brokers' NOT_ENOUGH_REPLICAS until the delivery timeout and reports a
// timeout, so the error names the partitions below the minimum.
func TestProduceTimeoutBelowMinISRSaysWhy(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "strict", "-c", "min.insync.replicas=2", "-b", addr)
	mustFail(t, "x\n", []string{"produce", "strict", "--delivery-timeout", "1s", "-b", addr},
		"timed out", "strict partitions [0] have fewer in-sync replicas than the topic's min.insync.replicas (2)", "NOT_ENOUGH_REPLICAS")
	// acks=1 does not wait for the ISR.
	mustRun(t, "x\n", "produce", "strict", "--acks", "1", "-b", addr)
}
