package actors

import (
	"io"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// fetchSessionCache is the node's fetch session cache (KIP-227,
// cluster.FetchSessions) behind a lock: Fetches begin on their connections'
// readers and are answered on other goroutines.
type fetchSessionCache struct {
	mu   sync.Mutex
	core *cluster.FetchSessions
}

// newFetchSessionCache sizes the cache by
// max.incremental.fetch.session.cache.slots (Kafka's default when unset)
// and draws session ids from the node's entropy.
func newFetchSessionCache(cfg Config) *fetchSessionCache {
	slots := cluster.DefaultFetchSessionCacheSlots
	if v, err := strconv.Atoi(cfg.StaticBrokerConfigs["max.incremental.fetch.session.cache.slots"]); err == nil && v >= 0 {
		slots = v
	}
	// Ids from a generator seeded once from the node's entropy (called
	// under the cache's lock): random, so that a client of this broker's
	// previous run does not find its session id handed to another client.
	var rng *rand.ChaCha8
	newID := func() int32 {
		if rng == nil {
			var seed [32]byte
			if _, err := io.ReadFull(cfg.Entropy, seed[:]); err != nil {
				return 0 // drawn again; after enough failures the fetch gets no session
			}
			rng = rand.NewChaCha8(seed)
		}
		return int32(rng.Uint64() &^ (1 << 63) >> 32)
	}
	return &fetchSessionCache{core: cluster.NewFetchSessions(cluster.FetchSessionsConfig{Slots: slots}, newID)}
}

func (c *fetchSessionCache) begin(body *kmsg.FetchRequest, replica bool, nowMs int64) cluster.FetchSessionContext {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.Begin(body, replica, nowMs)
}

func (c *fetchSessionCache) answer(ctx *cluster.FetchSessionContext, answers []cluster.FetchSessionAnswer) ([]bool, int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.Answer(ctx, answers)
}

// responsePartitions is, by target, the response entry its answer goes in,
// nil for a partition the session's answer leaves out; an answer the
// session refuses (a later request of the session came) is an error code.
// A Fetch outside a session carries every partition.
func (st *fetchShell) responsePartitions(ans *cluster.FetchAnswer, results []fetchPartitionResult) ([]*kmsg.FetchResponseTopicPartition, int16) {
	out := make([]*kmsg.FetchResponseTopicPartition, len(st.targets))
	if st.session.SessionID == 0 {
		for i, t := range st.targets {
			out[i] = &st.resp.Topics[t.ti].Partitions[t.pi]
		}
		return out, 0
	}
	answers := make([]cluster.FetchSessionAnswer, len(st.targets))
	for i := range st.targets {
		pa := ans.Partitions[i]
		answers[i] = cluster.FetchSessionAnswer{ErrorCode: pa.ErrorCode, HighWatermark: pa.HighWatermark, LastStableOffset: pa.LastStableOffset,
			LogStartOffset: pa.LogStartOffset, Records: pa.IncludeRecords && results != nil && results[i].records != nil, Diverging: pa.Diverging != nil}
	}
	keep, code := st.r.sessions.answer(&st.session, answers)
	if code != 0 {
		st.resp.Topics = nil
		return out, code
	}
	if st.session.Incremental() {
		st.r.node.metrics.fetchSessionsIncremental.Inc()
		st.r.node.metrics.fetchSessionPartitionsLeftOut.Add(float64(len(keep) - countTrue(keep)))
	}
	// The kept partitions in a response of their own, built whole before
	// any pointer into it is taken.
	topics := make([]kmsg.FetchResponseTopic, 0, len(st.resp.Topics))
	at := make([][2]int, len(st.targets))
	lastTopic := -1
	for i, t := range st.targets {
		if !keep[i] {
			continue
		}
		if t.ti != lastTopic {
			src := &st.resp.Topics[t.ti]
			topics = append(topics, kmsg.FetchResponseTopic{Topic: src.Topic, TopicID: src.TopicID, UnknownTags: src.UnknownTags})
			lastTopic = t.ti
		}
		k := len(topics) - 1
		topics[k].Partitions = append(topics[k].Partitions, st.resp.Topics[t.ti].Partitions[t.pi])
		at[i] = [2]int{k, len(topics[k].Partitions) - 1}
	}
	for i := range st.targets {
		if keep[i] {
			out[i] = &topics[at[i][0]].Partitions[at[i][1]]
		}
	}
	st.resp.Topics = topics
	return out, 0
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
