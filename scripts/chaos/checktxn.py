# Part of scripts/chaos (see run): one process of a chaos scenario.
import sys, json, glob, collections
d = sys.argv[1]
committed, aborted, uncertain = [], [], []
times = []
errs = collections.Counter()
for l in open(f'{d}/txn.jsonl'):
    x = json.loads(l)
    if 'committed' in x: committed.append(x['committed']); times.append(x['t'])
    elif 'aborted' in x: aborted.append(x['aborted'])
    elif 'err' in x: uncertain.append(x['seqs']); errs[x['err'][:110]] += 1
    for k in ('commit_err', 'abort_err', 'init_err', 'cb'):
        if k in x: errs[k + ': ' + x[k][:100]] += 1
consumed = collections.Counter()
order_viol = 0
t_new = []
for fn in glob.glob(f'{d}/cons-*.log'):
    last = {}
    for line in open(fn):
        if line.startswith('{'):
            x = json.loads(line)
            if 'assign' in x or 'revoke' in x: last = {}
            if 'error' in x or 'merror' in x: errs['consumer: ' + (x.get('error') or x.get('merror'))[:100]] += 1
            continue
        p, o, s, t = line.split(); p, o, s = int(p), int(o), int(s)
        if p in last and o <= last[p]: order_viol += 1
        last[p] = o
        if s not in consumed: t_new.append(float(t))
        consumed[s] += 1
cs = set(consumed)
aborted_ids = {s for a, b in aborted for s in range(a, b + 1)}
committed_ids = {s for a, b in committed for s in range(a, b + 1)}
missing = committed_ids - cs
aborted_read = aborted_ids & cs
torn = [(a, b, len(set(range(a, b + 1)) & cs)) for a, b in uncertain + aborted if 0 < len(set(range(a, b + 1)) & cs) < b - a + 1]
print(f'txns committed={len(committed)} aborted={len(aborted)} failed/uncertain={len(uncertain)}')
print(f'committed records={len(committed_ids)} missing={len(missing)} aborted records read={len(aborted_read)} torn txns={torn[:5]} order violations={order_viol}')
def gaps(ts):
    ts = sorted(ts); return sorted(((round(b - a, 2), round(a - ts[0], 1)) for a, b in zip(ts, ts[1:])), reverse=True)[:5]
print('longest gaps between commits (s, at):', gaps(times))
print('longest consumer progress gaps:', gaps(t_new))
chaos = [json.loads(l) for l in open(f'{d}/chaos.jsonl')]
print('kills:', [(c['kill'], round(c['t'] - times[0], 1)) for c in chaos if 'kill' in c] if times else chaos)
for e, c in errs.most_common(25): print(f'  {c:4d} {e}')
