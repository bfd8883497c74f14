package sim

import (
	crand "crypto/rand"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"sync"
)

// The run's randomness: one seed, split into a stream per subsystem, so a
// draw added in one subsystem never reshuffles the others (TigerBeetle's
// discipline, CORRECTNESS.md §4).
type stream uint64

const (
	streamNetwork stream = iota + 1
	streamDisk
	streamFaults
	streamWorkload
	streamRaft
	streamMembership
	streamIDs
	streamProfile
	streamClock
	streamTimestamps
	streamSlowDisk
	streamSlowLeader
	streamCheckpointLoss
	streamMixed
	streamMetadataLogLoss
	streamDeleteRecords
	streamStretchPrefix
	streamRecreateTopic
	streamLeaderBalance
	streamRetention
)

// newRand is the PRNG of one subsystem of the run seeded with seed.
func newRand(seed uint64, s stream) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(s)*0x9e3779b97f4a7c15+0x5eed))
}

// chachaSeed spreads a 64-bit seed and a stream over a ChaCha8 key.
func chachaSeed(seed uint64, s stream) [32]byte {
	var key [32]byte
	r := newRand(seed, s)
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint64(key[8*i:], r.Uint64())
	}
	return key
}

// entropy is an io.Reader of the run's randomness (topic ids, incarnation
// ids, the controller's placement draws).
func entropy(seed uint64, s stream) io.Reader {
	return rand.NewChaCha8(chachaSeed(seed, s))
}

// cryptoRandMu serialises simulations in one process: etcd raft draws its
// election jitter from the package variable crypto/rand.Reader, which a run
// replaces for its whole duration. Runs in parallel go to separate
// processes (gregor sim swarm --parallel).
var cryptoRandMu sync.Mutex

// seedCryptoRand replaces crypto/rand.Reader with a reader seeded from the
// run's seed (DEPENDENCIES.md pitfall 20), until the returned function
// restores it. Nothing else in the process may read crypto/rand.Reader
// meanwhile and expect secrets; a second run waits.
func seedCryptoRand(seed uint64) (restore func()) {
	cryptoRandMu.Lock()
	saved := crand.Reader
	crand.Reader = rand.NewChaCha8(chachaSeed(seed, streamRaft))
	return func() {
		crand.Reader = saved
		cryptoRandMu.Unlock()
	}
}

// expMs draws an exponential duration of the given mean, capped at 20 means.
func expMs(r *rand.Rand, meanMs float64) int64 {
	if meanMs <= 0 {
		return 0
	}
	return int64(min(r.ExpFloat64(), 20) * meanMs)
}

// chance is true with probability p.
func chance(r *rand.Rand, p float64) bool { return p > 0 && r.Float64() < p }
