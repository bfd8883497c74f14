#!/usr/bin/env python3
"""returns.py OUTDIR: the check of scripts/chaos/judge returns. Per producer
and per kill (events kill9*, each followed by the node's "up"): the longest
pause between two acknowledgements of one partition that begins between
1.5 s after the kill (past the failover's own gap) and 4 s after the node
is up again, when the restarted node's replicas come back; and, as a
control, the longest that begins 10-16 s after it is up (nothing happens
then). Prints each kill's figures and, per producer, the median, p90 and
maximum of both windows and how many kills paused a partition over 1 s at
the return."""
import sys, os, collections, statistics
d = sys.argv[1]
ev = [(int(l.split()[0]), ' '.join(l.split()[1:])) for l in open(os.path.join(d, 'events.txt'))]
pairs = [(t, e, ev[i + 1][0]) for i, (t, e) in enumerate(ev)
         if e.startswith('kill9') and i + 1 < len(ev) and ev[i + 1][1].startswith('up')]
def worst(acks, lo, hi):
    w = 0
    for ts in acks.values():
        g = [b - a for a, b in zip(ts, ts[1:]) if lo <= a <= hi]
        w = max([w] + g)
    return w
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]
for f in ['ssync-prod.txt', 'sasync-prod.txt']:
    p = os.path.join(d, f)
    if not os.path.exists(p) or not pairs:
        continue
    acks = collections.defaultdict(list)
    for l in open(p):
        fs = l.split()
        if len(fs) >= 5 and fs[0] == 'ack':
            acks[int(fs[1])].append(int(fs[4]))
    for a in acks.values():
        a.sort()
    ret, ctl = [], []
    for k, e, up in pairs:
        ret.append(worst(acks, k + 1500, up + 4000))
        ctl.append(worst(acks, up + 10000, up + 16000))
        print(f'{f[:-9]}: {e}, up after {(up - k) / 1000:.1f} s: return {ret[-1]} ms, control {ctl[-1]} ms')
    print(f'{f[:-9]}: kills {len(ret)}, return median {statistics.median(ret):.0f} p90 {q(ret, .9)} max {max(ret)} ms, '
          f'over 1 s {sum(x > 1000 for x in ret)}; control median {statistics.median(ctl):.0f} max {max(ctl)} ms')
