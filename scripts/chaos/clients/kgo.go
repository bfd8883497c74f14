package main

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// kgo prod TOPIC OUT RATE | kgo cons TOPIC GROUP OUT
func kafkago(args []string) {
	ctx := sigctx()
	f, _ := os.Create(args[2+btoi(args[0] == "cons")])
	w := bufio.NewWriter(f)
	var mu sync.Mutex
	logf := func(format string, a ...any) {
		mu.Lock()
		fmt.Fprintf(w, format, a...)
		mu.Unlock()
	}
	go flushEverySecond(&mu, w)
	defer func() { mu.Lock(); w.Flush(); mu.Unlock() }()
	switch args[0] {
	case "prod":
		// The Writer sets each message's partition and offset in the
		// messages it hands Completion (not in those given to
		// WriteMessages), which runs before WriteMessages returns.
		wr := &kafka.Writer{Addr: kafka.TCP(brokers()...), Topic: args[1], RequiredAcks: kafka.RequireAll,
			Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 5, WriteBackoffMin: 100 * time.Millisecond,
			Completion: func(ms []kafka.Message, err error) {
				now := time.Now().UnixMilli()
				for _, m := range ms {
					if err != nil {
						logf("err %s %d %q\n", m.Value, now, err.Error())
					} else {
						logf("ack %d %d %s %d\n", m.Partition, m.Offset, m.Value, now)
					}
				}
			}}
		rate := atoi(args[3])
		seq := 0
		for ctx.Err() == nil {
			var ms []kafka.Message
			for i := 0; i < 10; i++ {
				ms = append(ms, kafka.Message{Key: []byte(fmt.Sprintf("k%d", seq%1000)), Value: []byte(fmt.Sprintf("v%d", seq))})
				seq++
			}
			_ = wr.WriteMessages(ctx, ms...) // each message's outcome goes through Completion
			time.Sleep(time.Duration(10*1000/rate) * time.Millisecond)
		}
		wr.Close()
	case "cons":
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers(), Topic: args[1], GroupID: args[2], StartOffset: kafka.FirstOffset,
			MaxWait: 500 * time.Millisecond, CommitInterval: time.Second,
			ErrorLogger: kafka.LoggerFunc(func(s string, a ...any) { logf("err %d %q\n", time.Now().UnixMilli(), fmt.Sprintf(s, a...)) })})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				logf("err %d %q\n", time.Now().UnixMilli(), err.Error())
				continue
			}
			logf("rec %d %d %s %d\n", m.Partition, m.Offset, m.Value, time.Now().UnixMilli())
		}
		r.Close()
	default:
		log.Fatal("kgo prod|cons")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
