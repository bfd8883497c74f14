"""Checks a judge eos run (see judge): every record of the input topic
(log-eosin.txt, read back with kcat at the end: partition offset value) is in
the output topic read read_committed (log-eosout.txt: partition offset
value) exactly once, as IN-PARTITION:OFFSET:VALUE, and nothing else is;
every record the input's producer had acknowledged (eosin-prod.txt) is in
the input; and per event (events.txt) the longest gap between the copiers'
committed transactions (eos-*.jsonl) from it to the next event."""
import collections
import json
import sys

out = sys.argv[1]
src = {}
inlog = set()
for line in open(out + '/log-eosin.txt'):
    p, o, v = line.split()
    src['%s:%s:%s' % (p, o, v)] = True
    inlog.add(v)
acked = [l.split()[3] for l in open(out + '/eosin-prod.txt') if l.startswith('ack ')]
lost = [v for v in acked if v not in inlog]
print('input: acknowledged %d, not in the input log %d %s' % (len(acked), len(lost), lost[:5]))
copies = collections.Counter()
for line in open(out + '/log-eosout.txt'):
    p, o, v = line.split()
    copies[v] += 1
missing = [k for k in src if k not in copies]
dups = {k: n for k, n in copies.items() if n > 1}
alien = [k for k in copies if k not in src]
print('eos: input records %d, copied %d, missing %d, copied more than once %d, copies of nothing in the input %d'
      % (len(src), sum(copies.values()), len(missing), len(dups), len(alien)))
for k in sorted(missing)[:10]:
    print('  missing', k)
for k in sorted(dups)[:10]:
    print('  duplicated', k, dups[k])
for k in sorted(alien)[:10]:
    print('  alien', k)
errs = collections.Counter()
commits = []
for i in (1, 2):
    try:
        for line in open('%s/eos-%d.jsonl' % (out, i)):
            d = json.loads(line)
            if 'committed' in d:
                commits.append(d['t'] * 1000)
            for key in ('err', 'commit_err', 'abort_err', 'init_err', 'consume_err'):
                if key in d:
                    errs['%s %s' % (key, d[key][:100])] += 1
    except FileNotFoundError:
        pass
for k, n in errs.most_common(15):
    print('  copier %s: %d' % (k, n))
commits.sort()
ev = [(int(t), e.strip()) for t, e in (l.split(' ', 1) for l in open(out + '/events.txt'))]
for i, (t0, e) in enumerate(ev):
    if ' node ' not in e and ' client ' not in e or e.startswith(('up ', 'cont ', 'exited ')):
        continue
    t1 = next((t for t, e2 in ev[i + 1:] if not e2.startswith(('up ', 'cont ', 'exited '))), t0 + 60000)
    ts = [t0] + [t for t in commits if t0 <= t < t1] + [t1]
    print('  %-28s longest gap between commits %6d ms' % (e, max(b - a for a, b in zip(ts, ts[1:]))))
sys.exit(1 if missing or dups or alien or lost else 0)
