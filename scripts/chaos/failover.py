#!/usr/bin/env python3
"""failover.py OUTDIR: per producer of a scripts/chaos/judge run, the time
from each SIGKILL of a node (events kill9*, wipe) to the first
acknowledgement after the gap on the slowest partition: the partitions the
killed node led wait for a new leader and for the client to learn it, the
others answer at once. A partition's gap is its longest pause between two
acknowledgements that began up to 500 ms before the kill or within 5 s after
it and ended after it; pauses under 300 ms are not gaps. judge.py's "ack
stall" is the longest pause of the producer's whole stream instead, which a
producer that keeps writing to the other partitions shortens. Prints p50 and
max per producer, and each kill's figure."""
import sys, os, re, collections, statistics
d = sys.argv[1]
ev = []
for l in open(os.path.join(d, 'events.txt')):
    t, *rest = l.split(); ev.append((int(t), ' '.join(rest)))
kills = [(t, e) for t, e in ev if re.match(r'(kill9\w*|wipe) node', e)]
for f in ['ssync-prod.txt', 'sasync-prod.txt', 'kgo-prod.txt', 'py-prod.txt', 'eosin-prod.txt']:
    p = os.path.join(d, f)
    if not os.path.exists(p) or not kills: continue
    acks = collections.defaultdict(list)
    for l in open(p):
        fs = l.split()
        if len(fs) >= 5 and fs[0] == 'ack': acks[int(fs[1])].append(int(fs[4]))
    for a in acks.values(): a.sort()
    res = []
    for t, e in kills:
        worst = 0
        for ts in acks.values():
            g = [(b - a, b) for a, b in zip(ts, ts[1:]) if t - 500 <= a < t + 5000 and b > t]
            if not g: continue
            gap, b = max(g)
            if gap > 300: worst = max(worst, b - t)
        res.append((worst, e.split()[0]))
    v = [r[0] for r in res]
    print(f'failover {f[:-9]}: kills {len(v)}, p50 {statistics.median(v)/1000:.2f} s, max {max(v)/1000:.2f} s ('
          + ', '.join(f'{e} {w/1000:.2f}' for w, e in res) + ')')
