package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// burst PREFIX WORKERS SECONDS: kadm CreateTopics (3 partitions RF3), CreatePartitions (to 6),
// DeleteTopics (every third topic) in a loop; logs "op topic ms dur result".
// Then: verify PREFIX.
func burst(args []string) {
	prefix := args[0]
	workers, secs := atoi(args[1]), atoi(args[2])
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers()...), kgo.RequestTimeoutOverhead(5*time.Second), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	var mu sync.Mutex
	out := func(op, topic string, t0 time.Time, res string) {
		mu.Lock()
		fmt.Printf("%s %s %d %d %s\n", op, topic, t0.UnixMilli(), time.Since(t0).Milliseconds(), res)
		mu.Unlock()
	}
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				topic := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				t0 := time.Now()
				r, err := adm.CreateTopic(ctx, 3, 3, nil, topic)
				out("create", topic, t0, res(err, r.Err, r.ErrMessage))
				t0 = time.Now()
				cr, err := adm.CreatePartitions(ctx, 3, topic)
				var e error
				var msg string
				if err == nil {
					if rr, ok := cr[topic]; ok {
						e, msg = rr.Err, rr.ErrMessage
					}
				}
				out("addparts", topic, t0, res(err, e, msg))
				if i%3 == 2 {
					t0 = time.Now()
					dr, err := adm.DeleteTopics(ctx, topic)
					e, msg = nil, ""
					if err == nil {
						if rr, ok := dr[topic]; ok {
							e, msg = rr.Err, rr.ErrMessage
						}
					}
					out("delete", topic, t0, res(err, e, msg))
				}
				cancel()
			}
		}(w)
	}
	wg.Wait()
}

func res(err, e error, msg string) string {
	if err != nil {
		return "REQERR " + strings.ReplaceAll(err.Error(), " ", "_")
	}
	if e != nil {
		var ke *kerr.Error
		if errors.As(e, &ke) {
			return fmt.Sprintf("%s retriable=%v %q", ke.Message, ke.Retriable, msg)
		}
		return "ERR " + e.Error()
	}
	return "OK"
}

// verify PREFIX: per node, the topics named PREFIX-*: partitions, leaders, replicas, ISR.
func verify(args []string) {
	prefix := args[0]
	for _, b := range brokers() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b))
		if err != nil {
			log.Fatal(err)
		}
		adm := kadm.NewClient(cl)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		md, err := adm.Metadata(ctx)
		cancel()
		if err != nil {
			fmt.Printf("node %s: metadata error %v\n", b, err)
			continue
		}
		var names []string
		for name := range md.Topics {
			if strings.HasPrefix(name, prefix+"-") {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		bad := 0
		for _, n := range names {
			td := md.Topics[n]
			problems := []string{}
			if td.Err != nil {
				problems = append(problems, td.Err.Error())
			}
			for _, p := range td.Partitions {
				if p.Leader < 0 || len(p.Replicas) != 3 || len(p.ISR) < 2 || p.Err != nil {
					problems = append(problems, fmt.Sprintf("p%d leader=%d replicas=%v isr=%v err=%v", p.Partition, p.Leader, p.Replicas, p.ISR, p.Err))
				}
			}
			fmt.Printf("T %s %s %d %s\n", b, n, len(td.Partitions), strings.Join(problems, ";"))
			if len(problems) > 0 {
				bad++
			}
		}
		fmt.Fprintf(os.Stderr, "node %s: %d topics, %d with problems\n", b, len(names), bad)
		cl.Close()
	}
}
