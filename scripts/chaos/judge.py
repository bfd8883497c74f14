#!/usr/bin/env python3
"""judge.py OUTDIR: the check of scripts/chaos/judge kills.

Per producer and group: records acknowledged, read (distinct, and read
again), lost (acknowledged, never read; or not in the log read back at the
end), values at more than one offset in the log, assignments, the clients'
errors, and per event (events.txt) the longest gap in acknowledgements and in
reads from the event to the next, and the longest wait from a record's
acknowledgement in that span to its first read."""
import sys, glob, os, re, collections
d = sys.argv[1]
ev = []
for l in open(os.path.join(d, 'events.txt')):
    t, *rest = l.split(); ev.append((int(t), ' '.join(rest)))
# event windows: start events and their end markers
starts = [(t, e) for t, e in ev if re.match(r'(kill9|kill9ctrl|kill9ctrlcreate|kill9grow|grow|stop|stopctrl|term|termctrl|wipe) node|kill9 client', e)]
def end_of(i):
    t0 = starts[i][0]
    nxt = starts[i+1][0] if i+1 < len(starts) else [t for t, e in ev if e == 'stopprod'][0]
    return t0, nxt
ACKT = {}
def load_prod(f):
    acked = {}; ackt = []; errs = collections.Counter(); order = collections.defaultdict(list)
    for l in open(f):
        fs = l.split()
        if not fs: continue
        if fs[0] == 'ack':
            p, o, v, t = int(fs[1]), int(fs[2]), fs[3], int(fs[4])
            acked[v] = (p, o); ackt.append(t); ACKT[v] = t
        elif fs[0] == 'err':
            errs[' '.join(fs[3:])[:100]] += 1
    return acked, sorted(ackt), errs
READ = {}
def load_cons(files):
    READ.clear()
    seen = {}; rect = []; reads = 0; setups = 0; errs = collections.Counter(); revokes = 0; lost = 0
    for f in files:
        for l in open(f):
            fs = l.split()
            if not fs: continue
            if fs[0] == 'rec':
                reads += 1
                seen.setdefault(fs[3], set()).add((int(fs[1]), int(fs[2]))); rect.append(int(fs[4]))
                READ.setdefault(fs[3], int(fs[4]))
            elif fs[0] == 'setup': setups += 1
            elif fs[0] == 'revoked': revokes += 1
            elif fs[0] == 'lost': lost += 1
            elif fs[0] == 'err':
                errs[re.sub(r'\d+', 'N', ' '.join(fs[2:]))[:110]] += 1
    return seen, sorted(rect), reads, setups, revokes, lost, errs
def load_log(f):
    vals = collections.defaultdict(list)
    if not os.path.exists(f): return None
    for l in open(f):
        fs = l.split()
        if len(fs) >= 3: vals[fs[2]].append((int(fs[0]), int(fs[1])))
    return vals
def e2e(acktimes, readfirst, t0, t1):
    best = 0
    for v, ta in acktimes.items():
        if t0 <= ta < t1 and v in readfirst:
            best = max(best, readfirst[v] - ta)
    return best
def stall(ts, t0, t1):
    # A gap is the event's if it began in the event's window, or up to
    # 500 ms before it (the last acknowledgement before a kill comes just
    # before it); a gap that began just before the next event is the next
    # event's, not this one's.
    best = 0
    for a, b in zip(ts, ts[1:]):
        if t0 - 500 <= a < t1 - 500:
            best = max(best, b - a)
    return best
pairs = [
 ('sarama sync idem', 'ssync-prod.txt', 'sarama group range', 'sarama-cons-*.txt', 'log-ssync.txt', True),
 ('sarama sync idem', 'ssync-prod.txt', 'franz-go coop-sticky', 'fcoop-cons-*.txt', 'log-ssync.txt', True),
 ('sarama async idem', 'sasync-prod.txt', 'franz-go static', 'fstatic-cons-*.txt', 'log-sasync.txt', True),
 ('kafka-go Writer', 'kgo-prod.txt', 'kafka-go Reader group', 'kgo-cons-*.txt', 'log-kgo.txt', False),
 ('confluent-kafka idem', 'py-prod.txt', 'confluent-kafka group', 'py-cons-*.txt', 'log-py.txt', True),
 ('confluent-kafka idem', 'py-prod.txt', 'kcat -G group', 'kcat-cons-*.txt', 'log-py.txt', True),
 ('sarama sync idem', 'ssync-prod.txt', 'kafka-python group', 'kpy-cons-*.txt', 'log-ssync.txt', True),
]
t_stop = [t for t, e in ev if e == 'stopprod'][0]
base_t = [t for t, e in ev if e == 'start'][0]
for pn, pf, cn, cf, lf, idem in pairs:
    if not os.path.exists(os.path.join(d, pf)) or not glob.glob(os.path.join(d, cf)): continue
    ACKT.clear()
    acked, ackt, perr = load_prod(os.path.join(d, pf))
    seen, rect, reads, setups, revokes, lostp, cerr = load_cons(sorted(glob.glob(os.path.join(d, cf))))
    log = load_log(os.path.join(d, lf))
    lost_c = [v for v in acked if v not in seen]
    lost_l = [v for v in acked if log is not None and v not in log]
    wrong = [v for v, po in acked.items() if v in seen and po not in seen[v]]
    dup_log = sum(1 for v, l in (log or {}).items() if len(l) > 1)
    dup_log_acked = sum(1 for v, l in (log or {}).items() if len(l) > 1 and v in acked)
    print(f'== {pn} -> {cn}: acked {len(acked)}, produce errors {sum(perr.values())}, consumed distinct {len(seen)}, reads {reads}, rereads {reads-sum(len(s) for s in seen.values())}')
    print(f'   LOST(not consumed) {len(lost_c)} {lost_c[:5]}  LOST(not in final log) {len(lost_l)} {lost_l[:5]}  acked-offset-mismatch {len(wrong)} {wrong[:3]}')
    print(f'   values at >1 offset in log: {dup_log} (acked {dup_log_acked}) {"(idempotent: must be 0)" if idem else "(no idempotence: retries may duplicate)"}')
    print(f'   assignments {setups} revokes {revokes} lost {lostp}; last ack {(ackt[-1]-t_stop) if ackt else None} ms vs stopprod; last read {(rect[-1]-t_stop) if rect else None} ms')
    for e, n in perr.most_common(4): print(f'   prod err x{n}: {e}')
    for e, n in cerr.most_common(4): print(f'   cons err x{n}: {e}')
    for i, (t, e) in enumerate(starts):
        t0, t1 = end_of(i)
        print(f'   +{(t-base_t)/1000:6.1f}s {e:20s} ack stall {stall(ackt, t0, t1):6d} ms  consume stall {stall(rect, t0, t1):6d} ms  max ack->read {e2e(ACKT, READ, t0, t1):6d} ms')
