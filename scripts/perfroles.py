#!/usr/bin/env python3
"""Splits a perf profile of gregor brokers into the roles replication plays:
what a leader does with a Produce (socket read, validation, append), what it
does for its followers (serving and sending their Fetch answers), what a
follower does (reading the answers, appending), scheduling, and the rest.

    perf record -a -g -o perf.data -- sleep 12     # while a benchmark runs
    perf script -i perf.data --comm BINARY -F pid,ip,sym > stacks.txt
    python3 scripts/perfroles.py stacks.txt [ROLE ...]

BINARY is the brokers' executable name (GREGOR_BENCH_BIN's base name in the
benchmarks). Samples whose stack creates, syncs, closes or removes files
(a benchmark's topic creation and deletion, outside its timed window) are
counted apart as "lifecycle" and left out of the shares. A sample goes to
the first role whose frames it holds, in the order of ROLES below; each
role's line gives its share of the other samples and how much of it ran in
the kernel. Naming roles prints their 25 most frequent leaf functions, each
with the first gregor frame above it."""
import collections
import sys

ROLES = [
    ("lifecycle", ["vfs.osFile.Close", "RemoveAll", "vfs.osFS.SyncDir", "vfs.osFile.Sync",
                   "vfs.osFS.OpenFile", "MkdirAll"]),
    ("gc", ["runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.bgsweep", "runtime.bgscavenge"]),
    ("follower append", ["AppendAsFollower", "performFollower"]),
    ("leader append", ["appendAsLeader", "AppendValidatedHeld"]),
    ("leader validate", ["cluster.(*Replica).produce", "startProduce"]),
    ("follower fetcher", ["replicaFetcher", "cluster.(*Fetcher)"]),
    ("follower reads answers", ["netio.(*clientConn).readLoop"]),
    ("follower sends fetches", ["netio.(*clientConn).writeLoop", "netio.(*Client)"]),
    ("server reads requests", ["netio.(*conn).readLoop"]),
    ("server writes answers", ["netio.(*conn).writeLoop", "netio.(*conn).write"]),
    ("fetch serving", ["api_fetch", "Fetch", "fetch"]),
    ("produce handling", ["Produce", "produce"]),
    ("partition actor, other", ["partitionActor"]),
    ("scheduler", ["runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.mcall",
                   "runtime.stopm", "runtime.notesleep", "runtime.futexsleep"]),
    ("sysmon", ["runtime.sysmon"]),
    ("gregor, other", ["gregor/"]),
]


def stacks(path):
    """Yields each sample's frames, leaf first; kernel frames start with k:."""
    frames = []
    for line in open(path):
        if not line.strip():
            if frames:
                yield frames
            frames = []
            continue
        if not line.startswith("\t"):
            if frames:
                yield frames
            frames = []
            continue
        parts = line.split(None, 1)
        if len(parts) == 2:
            addr, sym = parts[0], parts[1].strip()
            frames.append(("k:" if addr.startswith("ffffffff") else "") + sym)
    if frames:
        yield frames


def role(frames):
    for name, patterns in ROLES:
        if any(p in f for f in frames for p in patterns):
            return name
    return "other"


def main(path, wanted):
    counts, kernel = collections.Counter(), collections.Counter()
    leaves = collections.defaultdict(collections.Counter)
    for frames in stacks(path):
        r = role(frames)
        counts[r] += 1
        if frames[0].startswith("k:"):
            kernel[r] += 1
        if r in wanted:
            first = next((f for f in frames if f.startswith("gregor/")), "-")
            leaves[r][(frames[0], first)] += 1
    counted = sum(c for r, c in counts.items() if r != "lifecycle")
    print(f"{counted} samples ({counts['lifecycle']} lifecycle samples left out)")
    for r, c in counts.most_common():
        if r != "lifecycle":
            print(f"{r:28s} {c:7d} {100 * c / max(counted, 1):5.1f}%  kernel {100 * kernel[r] / c:3.0f}%")
    for r in wanted:
        print(f"== {r}")
        for (leaf, first), c in leaves[r].most_common(25):
            print(f"  {c:6d} {leaf[:50]:50s} {first}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
