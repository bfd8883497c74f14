package main

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// The garbage collector's settings for gregor serve, unless GOGC or
// GOMEMLIMIT is set in the environment (then Go applies that one, as for any
// Go program, and the default below is not used).
//
// What a broker's heap holds: the block cache (log.cache.bytes), the free
// lists of the request buffer pool and the block pool (bounded), requests in
// flight, and metadata. The data path reuses its buffers, so the garbage per
// request is small (the benchmarks report a few to some tens of bytes
// allocated per produced or fetched record): the collector's cost is low at
// any pace, and what its settings decide is memory.
//
//   - gcPercent = 200: the heap may grow to three times the live heap
//     before a collection instead of twice. Garbage comes slowly, so this
//     costs little memory in practice and halves the number of cycles (and
//     of their stop-the-world pauses and write barriers) under bursts of
//     small requests; the soft limit below bounds it when the live heap is
//     large (a big block cache).
//   - The soft memory limit: the Go heap should stay at or under half the
//     memory the process may use (its cgroup's limit, else the machine's),
//     because the other half is the kernel's page cache, which holds the
//     segment files that consumers and followers read with sendfile and
//     that absorbs the log's writes; a broker whose heap squeezes it reads
//     the disk. It is never below what the configured block cache needs
//     (one and a half times log.cache.bytes, plus room for the rest), so a
//     large cache that was asked for does not make the collector run
//     without pause. Past the limit the collector runs more often; Go
//     bounds its CPU so that it cannot take the broker over.
const (
	gcPercent = 200
	// gcLimitFloorBytes is the room beside the cache that the limit
	// always leaves: pools, requests in flight, metadata.
	gcLimitFloorBytes = 512 << 20
)

// gcSettings are the collector settings serve applies.
type gcSettings struct {
	// percent is the GOGC value to apply; -1 when GOGC is set.
	percent int
	// limitBytes is the soft memory limit to apply; -1 when GOMEMLIMIT
	// is set, math.MaxInt64 for none.
	limitBytes int64
}

// gcDefaults works out serve's collector settings from the environment
// (getenv), the memory the process may use (memoryBytes, 0 when unknown)
// and the block cache's size.
func gcDefaults(getenv func(string) string, memoryBytes, cacheBytes int64) gcSettings {
	s := gcSettings{percent: gcPercent, limitBytes: math.MaxInt64}
	if getenv("GOGC") != "" {
		s.percent = -1
	}
	switch {
	case getenv("GOMEMLIMIT") != "":
		s.limitBytes = -1
	case memoryBytes > 0:
		s.limitBytes = max(memoryBytes/2, cacheBytes+cacheBytes/2+gcLimitFloorBytes)
	}
	return s
}

// applyGCDefaults sets the collector's pace and soft memory limit for serve
// (see gcPercent) and logs what it chose.
func applyGCDefaults(cacheBytes int64, logger *zap.Logger) {
	s := gcDefaults(os.Getenv, processMemoryBytes(os.ReadFile), cacheBytes)
	fields := []zap.Field{}
	if s.percent >= 0 {
		debug.SetGCPercent(s.percent)
		fields = append(fields, zap.Int("gogc", s.percent))
	} else {
		fields = append(fields, zap.String("gogc", "from GOGC"))
	}
	switch {
	case s.limitBytes < 0:
		fields = append(fields, zap.String("gomemlimit", "from GOMEMLIMIT"))
	case s.limitBytes < math.MaxInt64:
		debug.SetMemoryLimit(s.limitBytes)
		fields = append(fields, zap.Int64("gomemlimit_bytes", s.limitBytes))
	default:
		fields = append(fields, zap.String("gomemlimit", "none (memory size unknown)"))
	}
	logger.Info("garbage collector settings", fields...)
}

// processMemoryBytes is the memory the process may use: its cgroup's limit
// (v2 memory.max, or v1 memory.limit_in_bytes) when one is set and below the
// machine's, else the machine's (MemTotal in /proc/meminfo); 0 when neither
// can be read.
func processMemoryBytes(readFile func(string) ([]byte, error)) int64 {
	var total int64
	if raw, err := readFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb > 0 {
					total = kb << 10
				}
			}
		}
	}
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		raw, err := readFile(path)
		if err != nil {
			continue
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil || limit <= 0 {
			continue // "max": no limit
		}
		if total == 0 || limit < total {
			return limit
		}
	}
	return total
}
