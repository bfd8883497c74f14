# Part of scripts/chaos (see run): one process of a chaos scenario.
# Checks an idempotent run: python3 checkidempotent.py DIR (producer log DIR/prod.jsonl, consumers DIR/cons-*.log, chaos DIR/chaos.jsonl)
import sys, json, glob, collections
d = sys.argv[1]
acked, failed, t_acks = {}, [], []
done = None
for line in open(f'{d}/prod.jsonl'):
    x = json.loads(line)
    if 'done' in x: done = x; continue
    if 'err' in x: failed.append(x); continue
    acked[(x['p'], x['o'])] = x['seq']; t_acks.append(x['t'])
seqs_acked = collections.Counter(acked.values())
dups_prod = [s for s, c in seqs_acked.items() if c > 1]
# order per partition
bad_order = 0
byp = collections.defaultdict(list)
for (p, o), s in acked.items(): byp[p].append((o, s))
for p, l in byp.items():
    l.sort()
    for (o1, s1), (o2, s2) in zip(l, l[1:]):
        if s2 <= s1: bad_order += 1
consumed = {}
conflict = 0
t_new = []
errors = collections.Counter()
order_viol = 0
for fn in sorted(glob.glob(f'{d}/cons-*.log')):
    last = {}
    for line in open(fn):
        if line.startswith('{'):
            x = json.loads(line)
            if 'error' in x or 'merror' in x: errors[(x.get('error') or x.get('merror'))[:120]] += 1
            if 'assign' in x or 'revoke' in x: last = {}
            continue
        p, o, s, t = line.split(); p, o, s, t = int(p), int(o), int(s), float(t)
        if p in last and o <= last[p]: order_viol += 1
        last[p] = o
        if (p, o) in consumed:
            if consumed[(p, o)] != s: conflict += 1
        else:
            consumed[(p, o)] = s; t_new.append(t)
missing = [k for k in acked if k not in consumed]
wrong = [k for k in acked if k in consumed and consumed[k] != acked[k]]
unacked_consumed = len(set(consumed) - set(acked))
def maxgap(ts):
    ts = sorted(ts)
    if len(ts) < 2: return (0, 0)
    g = max((b - a, a) for a, b in zip(ts, ts[1:]))
    return g
chaos = [json.loads(l) for l in open(f'{d}/chaos.jsonl')] if glob.glob(f'{d}/chaos.jsonl') else []
kills = [c for c in chaos if 'kill' in c]
t0 = min(t_acks) if t_acks else 0
print(f'produced={done and done["done"]} acked={len(acked)} failed={len(failed)} unflushed={done and done["unflushed"]}')
print('failed errors:', collections.Counter(f['err'][:100] for f in failed).most_common(5))
print(f'dup seqs acked at two offsets={len(dups_prod)} out-of-order acked pairs={bad_order}')
print(f'consumed distinct={len(consumed)} missing acked={len(missing)} wrong value={len(wrong)} conflicting values={conflict} consumed-not-acked={unacked_consumed} per-consumer order violations={order_viol}')
if missing: print(' missing sample', sorted(missing)[:10])
g, at = maxgap(t_acks); print(f'longest producer ack gap {g:.2f}s at +{at - t0:.1f}s')
g, at = maxgap(t_new); print(f'longest consumer progress gap {g:.2f}s at +{at - t0:.1f}s')
# gaps > 3 s
for name, ts in (('acks', t_acks), ('consume', t_new)):
    ts = sorted(ts)
    big = [(round(a - t0, 1), round(b - a, 2)) for a, b in zip(ts, ts[1:]) if b - a > 3]
    print(f' {name} gaps>3s:', big)
print('kills:', [(c['kill'], round(c['t'] - t0, 1)) for c in kills])
print('ups:', [(c['up'], c['rc'], round(c['took'], 1)) for c in chaos if 'up' in c])
print('consumer errors:', errors.most_common(12))
for fn in glob.glob(f'{d}/prod.jsonl.errors'):
    pe = collections.Counter(json.loads(l)['err'][:120] for l in open(fn))
    print('producer error_cb:', pe.most_common(12))
    print('  fatal:', [l for l in open(fn) if '"fatal": true' in l][:3])
