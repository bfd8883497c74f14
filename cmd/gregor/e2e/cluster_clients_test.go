package e2e

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
)

// seenValues collects the values a consumer read, safe for concurrent use.
type seenValues struct {
	mu     sync.Mutex
	values []string
}

func (s *seenValues) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, v)
}

// missing is what of want s has not read, or that a producer's values were
// read out of order (by their first reading).
func (s *seenValues) missing(want []string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first []string
	seen := map[string]bool{}
	for _, v := range s.values {
		if !seen[v] {
			seen[v] = true
			first = append(first, v)
		}
	}
	var absent []string
	for _, w := range want {
		if !seen[w] {
			absent = append(absent, w)
		}
	}
	if len(absent) > 0 {
		return fmt.Sprintf("%d values not read, such as %v", len(absent), absent[:min(3, len(absent))])
	}
	for _, prefix := range []string{"kcat", "sarama", "kafkago", "confluent"} {
		var mine []string
		for _, v := range first {
			if strings.HasPrefix(v, prefix+"-") {
				mine = append(mine, v)
			}
		}
		if !slices.IsSortedFunc(mine, func(a, b string) int { return valueIndex(a) - valueIndex(b) }) {
			return fmt.Sprintf("%s's values read out of order: %v", prefix, mine)
		}
	}
	return ""
}

func valueIndex(v string) int {
	var i int
	fmt.Sscan(v[strings.LastIndex(v, "-")+1:], &i)
	return i
}

// kcat, sarama, kafka-go and confluent-kafka produce and consume across a
// three-node cluster (RF=3, min.insync.replicas=2) while the leader of
// their partition moves: each client's producer writes half its records,
// the leader is killed with SIGKILL, the same producers (kcat: a second
// kcat -P, bootstrapping from a list that names the dead node) write the
// other half, and each client's consumer, reading since before the kill,
// reads every record of every client, each producer's in order.
func TestClientsFollowALeaderMove(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed")
	}
	c := clusterUp(t, 3)
	const topic, half = "movers", 5
	bootstrap := c.bootstrap()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.admin(t).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	// Every node must know the topic before the clients start: kcat -C
	// bootstraps from any of them, and one that had not applied the
	// topic's creation yet answered UNKNOWN_TOPIC_OR_PARTITION, on which
	// kcat exits at once (the test then waited 30 s for kcat to read the
	// first half, at load 15, with nothing to say why).
	waitFor(t, 30*time.Second, "every node seeing every replica in the ISR", func() bool {
		for i := 1; i <= 3; i++ {
			ps, _, ok := c.partitionState(i, topic)
			if !ok || len(ps) != 1 || len(ps[0].ISR) != 3 || ps[0].Leader <= 0 {
				return false
			}
		}
		return true
	})
	var want []string
	for _, prefix := range []string{"kcat", "sarama", "kafkago", "confluent"} {
		for i := range 2 * half {
			want = append(want, fmt.Sprintf("%s-%d", prefix, i))
		}
	}
	values := func(prefix string, lo, hi int) []string {
		var out []string
		for i := lo; i < hi; i++ {
			out = append(out, fmt.Sprintf("%s-%d", prefix, i))
		}
		return out
	}

	// kcat: a producer per half (kcat -P sends stdin's lines only at its
	// end), and one consumer writing stdout since before the move.
	var kcatProdOut lockedBuffer
	kcatProduce := func(vs []string) {
		cmd := exec.CommandContext(ctx, "kcat", "-P", "-b", strings.Join(bootstrap, ","), "-t", topic, "-p", "0",
			"-X", "acks=all", "-X", "linger.ms=0", "-X", "retry.backoff.ms=50", "-X", "topic.metadata.refresh.interval.ms=1000")
		cmd.Stdin = strings.NewReader(strings.Join(vs, "\n") + "\n")
		cmd.Stdout, cmd.Stderr = &kcatProdOut, &kcatProdOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("kcat produce: %v\n%s", err, kcatProdOut.String())
		}
	}
	kcatCons := exec.CommandContext(ctx, "kcat", "-C", "-u", "-b", strings.Join(bootstrap, ","), "-t", topic, "-p", "0",
		"-o", "beginning", "-f", "%s\n", "-X", "topic.metadata.refresh.interval.ms=1000")
	var kcatOut, kcatErr lockedBuffer
	kcatCons.Stdout, kcatCons.Stderr = &kcatOut, &kcatErr
	if err := kcatCons.Start(); err != nil {
		t.Fatal(err)
	}
	kcatExited := make(chan error, 1)
	go func() { kcatExited <- kcatCons.Wait() }()
	defer func() {
		_ = kcatCons.Process.Kill()
		<-kcatExited
	}()
	kcatSeen := func() *seenValues {
		s := &seenValues{}
		for _, line := range strings.Split(kcatOut.String(), "\n") {
			if line != "" {
				s.add(line)
			}
		}
		return s
	}

	// sarama: a sync producer and a partition consumer.
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Retry.Max, cfg.Producer.Retry.Backoff = 100, 50*time.Millisecond
	cfg.Consumer.Retry.Backoff = 50 * time.Millisecond
	cfg.Metadata.Retry.Max, cfg.Metadata.Retry.Backoff = 100, 50*time.Millisecond
	saramaProd, err := sarama.NewSyncProducer(bootstrap, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer saramaProd.Close()
	saramaCons, err := sarama.NewConsumer(bootstrap, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer saramaCons.Close()
	pc, err := saramaCons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.AsyncClose()
	saramaSeen := &seenValues{}
	go func() {
		for m := range pc.Messages() {
			saramaSeen.add(string(m.Value))
		}
	}()
	go func() {
		for range pc.Errors() {
		}
	}()
	saramaSend := func(vs []string) {
		for _, v := range vs {
			if _, _, err := saramaProd.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)}); err != nil {
				t.Fatalf("sarama produce %s: %v", v, err)
			}
		}
	}

	// kafka-go: a writer and a partition reader.
	w := &kafka.Writer{Addr: kafka.TCP(bootstrap...), Topic: topic, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, MaxAttempts: 50, WriteBackoffMin: 50 * time.Millisecond, WriteBackoffMax: 500 * time.Millisecond,
		Transport: &kafka.Transport{MetadataTTL: time.Second}}
	defer w.Close()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: bootstrap, Topic: topic, Partition: 0, MaxWait: 200 * time.Millisecond,
		ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 200 * time.Millisecond})
	defer r.Close()
	kafkaGoSeen := &seenValues{}
	go func() {
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				if ctx.Err() != nil || err == io.EOF {
					return
				}
				continue
			}
			kafkaGoSeen.add(string(m.Value))
		}
	}()
	kafkaGoSend := func(vs []string) {
		var msgs []kafka.Message
		for _, v := range vs {
			msgs = append(msgs, kafka.Message{Value: []byte(v)})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("kafka-go produce: %v", err)
		}
	}

	// confluent-kafka: a script that produces and consumes its own values
	// around a line on stdin.
	py := startPython(t, ctx, "testdata/leader_move_confluent.py", strings.Join(bootstrap, ","), topic, "confluent", fmt.Sprint(2*half))

	// The first halves.
	kcatProduce(values("kcat", 0, half))
	saramaSend(values("sarama", 0, half))
	kafkaGoSend(values("kafkago", 0, half))
	waitFor(t, 60*time.Second, "confluent-kafka's first half", func() bool {
		return strings.Contains(py.out.String(), "first half")
	})
	var firstHalves []string
	for _, prefix := range []string{"kcat", "sarama", "kafkago"} {
		firstHalves = append(firstHalves, values(prefix, 0, half)...)
	}
	defer func() {
		if t.Failed() {
			t.Logf("kcat producer:\n%s\nkcat consumer:\n%s\nkcat consumer's stderr:\n%s\nconfluent-kafka:\n%s", kcatProdOut.String(), kcatOut.String(), kcatErr.String(), py.out.String())
		}
	}()
	waitFor(t, 30*time.Second, "kcat's first half read", func() bool {
		select {
		case err := <-kcatExited:
			kcatExited <- err
			t.Fatalf("the kcat consumer exited: %v\n%s", err, kcatErr.String())
		default:
		}
		return kcatSeen().missing(firstHalves) == ""
	})

	// The leader moves.
	ps, _, _ := c.partitionState(1, topic)
	victim := int(ps[0].Leader)
	survivor := victim%3 + 1
	if err := syscall.Kill(c.pid(victim), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	defer c.restart(victim)
	waitFor(t, 30*time.Second, "a new leader", func() bool {
		ps, _, ok := c.partitionState(survivor, topic)
		return ok && ps[0].Leader > 0 && int(ps[0].Leader) != victim
	})
	t.Logf("node %d, the leader, killed; a new leader within %v", victim, time.Since(killed))

	// The second halves, through the same producers.
	kcatProduce(values("kcat", half, 2*half))
	saramaSend(values("sarama", half, 2*half))
	kafkaGoSend(values("kafkago", half, 2*half))
	if _, err := io.WriteString(py.in, "go\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-py.done:
		if err != nil || !strings.Contains(py.out.String(), "ok 10") {
			t.Fatalf("confluent-kafka: %v\n%s", err, py.out.String())
		}
	case <-ctx.Done():
		t.Fatalf("confluent-kafka did not finish:\n%s", py.out.String())
	}
	for name, seen := range map[string]func() *seenValues{
		"kcat":     kcatSeen,
		"sarama":   func() *seenValues { return saramaSeen },
		"kafka-go": func() *seenValues { return kafkaGoSeen },
	} {
		why := ""
		defer func() {
			if t.Failed() && why != "" {
				t.Logf("%s: %s", name, why)
			}
		}()
		waitFor(t, 60*time.Second, name+" reading every record", func() bool {
			why = seen().missing(want)
			return why == ""
		})
	}
	t.Logf("every client wrote and read across the move; %v from the kill", time.Since(killed))
}
