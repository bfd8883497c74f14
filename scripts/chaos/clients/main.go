// Command clients drives Kafka clients nobody on the gregor project wrote
// (sarama, segmentio/kafka-go, franz-go's kadm) for scripts/chaos/run5:
//
//	prod TOPIC OUT RATE              sarama idempotent acks=all producer; OUT gets "ack P OFFSET VALUE MS LATENCYMS" and "err VALUE MS MSG"
//	cons TOPIC GROUP range|coop OUT  a sarama group member; OUT gets "setup GEN CLAIMS MS", "rec P OFFSET VALUE MS", "err MS MSG"
//	check PRODOUT CONSOUT...         acknowledged records never read, reads that disagree, reordering, longest stalls, client errors
//	admin reassign|createassigned|addparts|elect|desc TOPIC ...   kadm operator moves
//	kgo prod TOPIC OUT RATE | kgo cons TOPIC GROUP OUT             kafka-go Writer / group Reader
//	lat TOPIC NODE [PIDFILE]         acks=all produces straight to broker NODE every 5 ms while a preferred election (or a kill -9 of PIDFILE's process) moves the leader
//	ssync TOPIC OUT RATE             sarama SyncProducer (idempotent, acks=all, 4 senders); OUT as prod's
//	fcons TOPIC GROUP OUT [INSTANCE] a franz-go group member (cooperative-sticky; static with INSTANCE); OUT as cons's, plus "revoked"/"lost" lines
//	burst PREFIX WORKERS SECONDS     kadm CreateTopics, CreatePartitions and DeleteTopics in a loop; prints "OP TOPIC MS DURATIONMS RESULT"
//	verify PREFIX                    each broker's view of the topics named PREFIX-*: "T BROKER TOPIC PARTITIONS PROBLEMS"
//
// Brokers come from $GREGOR_BROKERS.
package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

func brokers() []string { return strings.Split(os.Getenv("GREGOR_BROKERS"), ",") }

func main() {
	switch os.Args[1] {
	case "prod":
		prod(os.Args[2], os.Args[3], atoi(os.Args[4]))
	case "cons":
		cons(os.Args[2], os.Args[3], os.Args[4], os.Args[5])
	case "check":
		check(os.Args[2], os.Args[3:])
	case "admin":
		admin(os.Args[2:])
	case "lat":
		lat(os.Args[2:])
	case "kgo":
		kafkago(os.Args[2:])
	case "ssync":
		ssync(os.Args[2], os.Args[3], atoi(os.Args[4]))
	case "fcons":
		instance := ""
		if len(os.Args) > 5 {
			instance = os.Args[5]
		}
		fcons(os.Args[2], os.Args[3], os.Args[4], instance)
	case "burst":
		burst(os.Args[2:])
	case "verify":
		verify(os.Args[2:])
	default:
		log.Fatal("unknown")
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func sigctx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-c; cancel() }()
	return ctx
}

// idempotentSaramaConfig is the sarama producer both chaos producers use:
// idempotent, acks=all, one request in flight, retrying for long.
func idempotentSaramaConfig(clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 1000
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Metadata.Retry.Max = 1000
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	cfg.ClientID = clientID
	return cfg
}

func prod(topic, out string, rate int) {
	cfg := idempotentSaramaConfig("chaos2-prod")
	p, err := sarama.NewAsyncProducer(brokers(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	f, _ := os.Create(out)
	w := bufio.NewWriter(f)
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range p.Successes() {
			v, _ := m.Value.Encode()
			mu.Lock()
			now := time.Now()
			fmt.Fprintf(w, "ack %d %d %s %d %d\n", m.Partition, m.Offset, v, now.UnixMilli(), now.Sub(m.Metadata.(time.Time)).Milliseconds())
			mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for e := range p.Errors() {
			v, _ := e.Msg.Value.Encode()
			mu.Lock()
			fmt.Fprintf(w, "err %s %d %q\n", v, time.Now().UnixMilli(), e.Err.Error())
			mu.Unlock()
		}
	}()
	ctx := sigctx()
	tk := time.NewTicker(time.Second / time.Duration(rate))
	seq := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tk.C:
		}
		v := fmt.Sprintf("v%d", seq)
		select {
		case p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", seq%1000)), Value: sarama.StringEncoder(v), Metadata: time.Now()}:
		case <-ctx.Done():
			break loop
		}
		seq++
	}
	p.AsyncClose()
	wg.Wait()
	w.Flush()
	f.Close()
	fmt.Fprintf(os.Stderr, "producer sent %d\n", seq)
}

type handler struct {
	mu *sync.Mutex
	w  *bufio.Writer
}

func (h handler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	fmt.Fprintf(h.w, "setup %d %v %d\n", s.GenerationID(), s.Claims(), time.Now().UnixMilli())
	h.mu.Unlock()
	return nil
}
func (h handler) Cleanup(s sarama.ConsumerGroupSession) error { return nil }
func (h handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		fmt.Fprintf(h.w, "rec %d %d %s %d\n", m.Partition, m.Offset, m.Value, time.Now().UnixMilli())
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func cons(topic, group, strategy, out string) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "chaos2-cons"
	// sarama looks for added partitions at each metadata refresh (10 min
	// by default): every 5 s here, so that the operator scenario's new
	// partitions are read.
	cfg.Metadata.RefreshFrequency = 5 * time.Second
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Return.Errors = true
	cfg.Metadata.Retry.Max = 1000
	switch strategy {
	case "range":
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	case "coop":
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyCooperativeSticky()}
	}
	g, err := sarama.NewConsumerGroup(brokers(), group, cfg)
	if err != nil {
		log.Fatal(err)
	}
	f, _ := os.Create(out)
	w := bufio.NewWriter(f)
	mu := &sync.Mutex{}
	go func() {
		for e := range g.Errors() {
			mu.Lock()
			fmt.Fprintf(w, "err %d %q\n", time.Now().UnixMilli(), e.Error())
			mu.Unlock()
		}
	}()
	go flushEverySecond(mu, w)
	ctx := sigctx()
	for ctx.Err() == nil {
		if err := g.Consume(ctx, []string{topic}, handler{mu, w}); err != nil {
			mu.Lock()
			fmt.Fprintf(w, "err %d %q\n", time.Now().UnixMilli(), "consume: "+err.Error())
			mu.Unlock()
			time.Sleep(200 * time.Millisecond)
		}
	}
	g.Close()
	mu.Lock()
	w.Flush()
	mu.Unlock()
}

type pr struct {
	p   int
	off int64
}

func check(prodFile string, consFiles []string) {
	acked := map[pr]string{}
	var ackTimes []int64
	seqs := map[int][][2]int64{} // partition -> (seq, offset)
	errs := map[string]int{}
	nerr := 0
	sc := bufio.NewScanner(must(os.Open(prodFile)))
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch fs[0] {
		case "ack":
			p, off := atoi(fs[1]), int64(atoi(fs[2]))
			acked[pr{p, off}] = fs[3]
			ackTimes = append(ackTimes, int64(atoi(fs[4])))
			seqs[p] = append(seqs[p], [2]int64{int64(atoi(fs[3][1:])), off})
		case "err":
			nerr++
			errs[strings.Join(fs[3:], " ")]++
		}
	}
	reorder := 0
	for _, l := range seqs {
		sort.Slice(l, func(i, j int) bool { return l[i][0] < l[j][0] })
		for i := 1; i < len(l); i++ {
			if l[i][1] <= l[i-1][1] {
				reorder++
			}
		}
	}
	seen := map[pr]string{}
	mismatch, dupReads, backsteps := 0, 0, 0
	var recTimes []int64
	cerrs := map[string]int{}
	setups := 0
	for _, cf := range consFiles {
		sc := bufio.NewScanner(must(os.Open(cf)))
		last := map[int]int64{}
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			switch fs[0] {
			case "rec":
				p, off := atoi(fs[1]), int64(atoi(fs[2]))
				k := pr{p, off}
				if v, ok := seen[k]; ok {
					dupReads++
					if v != fs[3] {
						mismatch++
					}
				}
				seen[k] = fs[3]
				if l, ok := last[p]; ok && off <= l {
					backsteps++
				}
				last[p] = off
				recTimes = append(recTimes, int64(atoi(fs[4])))
			case "setup":
				setups++
				last = map[int]int64{}
			case "err":
				e := strings.Join(fs[2:], " ")
				if len(e) > 120 {
					e = e[:120]
				}
				cerrs[e]++
			}
		}
	}
	lost, wrong := 0, 0
	var lostEx []string
	for k, v := range acked {
		sv, ok := seen[k]
		if !ok {
			lost++
			if len(lostEx) < 10 {
				lostEx = append(lostEx, fmt.Sprintf("p%d@%d=%s", k.p, k.off, v))
			}
		} else if sv != v {
			wrong++
		}
	}
	fmt.Printf("acked %d, produce errors %d, consumed distinct %d, re-reads %d\n", len(acked), nerr, len(seen), dupReads)
	fmt.Printf("LOST %d %v, WRONG VALUE %d, value mismatch on reread %d, reorder(acked seq vs offset) %d, backsteps within a session %d, setups %d\n", lost, lostEx, wrong, mismatch, reorder, backsteps, setups)
	fmt.Printf("longest ack stall %s, longest consume stall %s\n", stall(ackTimes), stall(recTimes))
	for e, n := range errs {
		fmt.Printf("  producer error x%d: %s\n", n, e)
	}
	for e, n := range cerrs {
		fmt.Printf("  consumer error x%d: %s\n", n, e)
	}
}

func stall(ts []int64) string {
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	var best, at int64
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d > best {
			best, at = d, ts[i-1]
		}
	}
	return fmt.Sprintf("%dms at %s", best, time.UnixMilli(at).UTC().Format("15:04:05.000"))
}

func must(f *os.File, err error) *os.File {
	if err != nil {
		log.Fatal(err)
	}
	return f
}

// flushEverySecond flushes w, under mu, once a second, so that a client
// killed at the end of a run leaves at most its last second unwritten.
func flushEverySecond(mu *sync.Mutex, w *bufio.Writer) {
	for range time.Tick(time.Second) {
		mu.Lock()
		w.Flush()
		mu.Unlock()
	}
}
