package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The node coordinating three groups is paused (SIGSTOP) until the
// controller fences it and the groups' __consumer_offsets partitions move,
// or stopped gracefully (SIGTERM: a controlled shutdown moves them at
// once, and the node answers NOT_COORDINATOR until its members heard it,
// then closes; no member joins again, sarama's included): a franz-go KIP-848 member, a franz-go classic (cooperative-sticky)
// member and a sarama classic (range) member, each alone in its group. The
// new coordinator loads each group with its member and gives it a whole
// session from the load (as Kafka's coordinator does on load), so a member
// that finds it (at once after a graceful stop; once its requests to the
// paused node time out after a pause) keeps its member id past the session
// timeout from the move: no member is expired, and the records written
// after the move are read by the same members. The members' clients time
// out requests after 3 s (sarama 1 s) and refresh metadata often (a paused
// node's connections stay open: only a request timeout or a metadata
// refresh that no longer lists the fenced node sends a client to
// FindCoordinator).
func TestCoordinatorMoveKeepsGroupMembers(t *testing.T) {
	t.Run("paused", func(t *testing.T) { testCoordinatorMoveKeepsGroupMembers(t, false) })
	t.Run("stopped", func(t *testing.T) { testCoordinatorMoveKeepsGroupMembers(t, true) })
}

func testCoordinatorMoveKeepsGroupMembers(t *testing.T, graceful bool) {
	const topic, sessionMs = "held", 20000
	c := clusterUp(t, 3, "offsets.topic.num.partitions=6", "group.initial.rebalance.delay.ms=0",
		"group.consumer.heartbeat.interval.ms=500", fmt.Sprintf("group.consumer.session.timeout.ms=%d", sessionMs))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	md, err := c.metadata(1)
	if err != nil {
		t.Fatal(err)
	}
	adm := c.admin(t)
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	// Three groups coordinated by one node that is not the controller (its
	// pause then moves no controller).
	coordinator := int32(-1)
	name := func(kind string) string {
		for i := 0; ; i++ {
			g := fmt.Sprintf("%s-%s-%d", topic, kind, i)
			found := groupCoordinator(t, ctx, adm, g)
			if found != md.ControllerID && (coordinator < 0 || found == coordinator) {
				coordinator = found
				return g
			}
		}
	}
	g848, gClassic, gSarama := name("848"), name("classic"), name("sarama")
	t.Logf("groups %s, %s, %s: coordinator node %d, controller node %d", g848, gClassic, gSarama, coordinator, md.ControllerID)

	var mu sync.Mutex
	seen := map[string]map[string]bool{g848: {}, gClassic: {}, gSarama: {}}
	var lost []string
	clientLog := &lockedBuffer{}
	sarama.Logger = log.New(clientLog, "sarama ", log.Lmicroseconds)
	defer func() {
		sarama.Logger = log.New(io.Discard, "", 0)
		if t.Failed() {
			t.Logf("members' log:\n%s", clientLog.String())
			for i := 1; i <= 3; i++ {
				log, _ := os.ReadFile(c.logFile(i))
				t.Logf("node %d log:\n%s", i, tail(string(log), 60))
			}
		}
	}()
	see := func(group, value string) {
		mu.Lock()
		seen[group][value] = true
		mu.Unlock()
	}
	clientOpts := func(group string) []kgo.Opt {
		note := func(what string) func(context.Context, *kgo.Client, map[string][]int32) {
			return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
				if len(ps) > 0 {
					mu.Lock()
					lost = append(lost, fmt.Sprintf("%s %s %v", group, what, ps))
					mu.Unlock()
				}
			}
		}
		return []kgo.Opt{kgo.SeedBrokers(c.bootstrap()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequestTimeoutOverhead(3 * time.Second),
			kgo.MetadataMinAge(250 * time.Millisecond), kgo.MetadataMaxAge(time.Second),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
			kgo.OnPartitionsRevoked(note("revoked")), kgo.OnPartitionsLost(note("lost")),
			kgo.WithLogger(kgo.BasicLogger(clientLog, kgo.LogLevelInfo, func() string { return group + " " }))}
	}
	poll := func(cl *kgo.Client, group string) {
		go func() {
			for ctx.Err() == nil {
				cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { see(group, string(r.Value)) })
			}
		}()
	}
	k848, err := kgo.NewClient(append(clientOpts(g848), kgo.ServerSideBalancer())...)
	if err != nil {
		t.Fatal(err)
	}
	defer k848.Close()
	classic, err := kgo.NewClient(append(clientOpts(gClassic), kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(sessionMs*time.Millisecond), kgo.HeartbeatInterval(time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	defer classic.Close()
	poll(k848, g848)
	poll(classic, gClassic)
	sh := &sessionsHandler{see: func(v string) { see(gSarama, v) }}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Session.Timeout = sessionMs * time.Millisecond
	cfg.Consumer.Group.Heartbeat.Interval = time.Second
	// sarama's heartbeat loop retries its cached coordinator (Metadata.Retry.Max
	// times) before it ends its session and looks again: with a paused
	// node each try waits out ApiVersions twice and the request, so three
	// read timeouts.
	cfg.Net.ReadTimeout = time.Second
	cfg.Metadata.RefreshFrequency = time.Second
	sg, err := sarama.NewConsumerGroup(c.bootstrap(), gSarama, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sg.Close()
	go func() {
		for ctx.Err() == nil {
			err := sg.Consume(ctx, []string{topic}, sh)
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return
			}
			if err != nil && ctx.Err() == nil {
				t.Logf("sarama consume: %v", err)
			}
		}
	}()

	// The producer, like the members, times its requests out after 3 s and
	// refreshes metadata often: with franz-go's defaults, a produce sent to
	// the paused node's partition (its leadership moved with the fence)
	// waited 50 s before it went to the new leader.
	producer, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RequestTimeoutOverhead(3*time.Second),
		kgo.MetadataMinAge(250*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	produceAndRead := func(prefix string) {
		t.Helper()
		for i := range 6 {
			if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(prefix, i))}).FirstErr(); err != nil {
				t.Fatalf("produce %s%d: %v", prefix, i, err)
			}
		}
		waitFor(t, 60*time.Second, fmt.Sprintf("every group to read the %s records", prefix), func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, s := range seen {
				for i := range 6 {
					if !s[fmt.Sprint(prefix, i)] {
						return false
					}
				}
			}
			return true
		})
	}
	produceAndRead("before")
	id848, epoch848 := k848.GroupMetadata()
	idClassic, genClassic := classic.GroupMetadata()
	saramaSessions, saramaMember, saramaGen := sh.current()
	mu.Lock()
	lost = nil
	mu.Unlock()

	resume := func() {}
	stopped := make(chan time.Duration, 1)
	if graceful {
		pid, start := c.pid(int(coordinator)), time.Now()
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		go func() {
			for processRuns(pid) && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond) // polling a process's exit; nothing to wait on
			}
			stopped <- time.Since(start)
		}()
	} else {
		resume = pauseProcess(t, c.pid(int(coordinator)))
	}
	paused := time.Now()
	waitFor(t, 60*time.Second, "the groups' coordinator to move", func() bool {
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		for _, found := range adm.FindGroupCoordinators(fctx, g848, gClassic, gSarama) {
			if found.Err != nil || found.NodeID == coordinator {
				return false
			}
		}
		return true
	})
	moved := time.Now()
	t.Logf("the groups' coordinator moved %v after the pause or stop", moved.Sub(paused).Round(time.Millisecond))
	produceAndRead("after")
	if graceful {
		// The stopped node answered until its members were told
		// NOT_COORDINATOR (within a heartbeat interval, 1 s here), then
		// closed: well within controlled.shutdown.drain.ms.
		select {
		case took := <-stopped:
			t.Logf("the coordinator's node stopped %v after SIGTERM", took.Round(time.Millisecond))
			if took > 15*time.Second {
				t.Errorf("the graceful stop took %v", took)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the coordinator's node still runs 30 s after SIGTERM")
		}
	}
	// Past a session from the move: a member the new coordinator had not
	// heard from by then is gone.
	waitFor(t, 2*sessionMs*time.Millisecond, "a session's time from the move", func() bool {
		return time.Since(moved) > sessionMs*time.Millisecond+2*time.Second
	})
	produceAndRead("later")
	// No member was expired: each kept its member id. The KIP-848 member
	// also kept its epoch (nothing in its group moved); a classic member
	// that gave up on the paused node's connection and joined again (with
	// its id) made its group rebalance, as Kafka's coordinator does when
	// a group's leader joins again: that is the client's doing, logged.
	if id, epoch := k848.GroupMetadata(); id != id848 || epoch != epoch848 {
		t.Errorf("KIP-848 member is %s at epoch %d after the move, was %s at %d", id, epoch, id848, epoch848)
	}
	if id, gen := classic.GroupMetadata(); id != idClassic {
		t.Errorf("franz-go classic member is %s in generation %d after the move, was %s in %d", id, gen, idClassic, genClassic)
	} else if gen != genClassic {
		t.Logf("franz-go classic member joined again: generation %d, was %d", gen, genClassic)
	}
	// After a graceful stop sarama keeps its generation too: the stopping
	// node answered its heartbeat NOT_COORDINATOR before closing, and
	// sarama then looks its coordinator up; a closed connection made it
	// retry the stopped node at once, three times, and end its session.
	if sessions, member, gen := sh.current(); member != saramaMember {
		t.Errorf("sarama member is %s in generation %d (session %d) after the move, was %s in %d (session %d)",
			member, gen, sessions, saramaMember, saramaGen, saramaSessions)
	} else if gen != saramaGen && graceful {
		t.Errorf("sarama member joined again after a graceful stop: generation %d (session %d), was %d (session %d)",
			gen, sessions, saramaGen, saramaSessions)
	} else if gen != saramaGen {
		t.Logf("sarama member joined again: generation %d, was %d", gen, saramaGen)
	}
	mu.Lock()
	if len(lost) > 0 {
		t.Logf("partitions revoked or lost across the move: %v", lost)
	}
	mu.Unlock()
	resume()
}

// sessionsHandler is a sarama group handler that counts its sessions.
type sessionsHandler struct {
	see        func(string)
	mu         sync.Mutex
	sessions   int
	member     string
	generation int32
}

func (h *sessionsHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sessions++
	h.member, h.generation = s.MemberID(), s.GenerationID()
	return nil
}

func (h *sessionsHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *sessionsHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.see(string(m.Value))
		s.MarkMessage(m, "")
	}
	return nil
}

func (h *sessionsHandler) current() (int, string, int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions, h.member, h.generation
}

// processRuns says whether pid is a process that has not exited: one that
// exited but was not reaped yet (a zombie, state Z) has not run since.
func processRuns(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}
