# Part of scripts/chaos (see run): one process of a chaos scenario.
# Writes "key:seq" lines at RATE/s to stdout until SIGTERM; records the count in OUT.
import sys, time, signal
rate, out = float(sys.argv[1]), sys.argv[2]
stop = False
def h(*a):
    global stop; stop = True
signal.signal(signal.SIGTERM, h)
seq, start = 0, time.time()
while not stop:
    target = int((time.time() - start) * rate)
    while seq < target:
        sys.stdout.write('%d:%d\n' % (seq % 97, seq)); seq += 1
    sys.stdout.flush(); time.sleep(0.01)
open(out, 'w').write(str(seq))
