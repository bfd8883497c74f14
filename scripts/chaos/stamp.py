# Part of scripts/chaos (see run): one process of a chaos scenario.
import sys, time
out = open(sys.argv[1], 'w')
for line in sys.stdin:
    out.write(line.rstrip('\n') + ' %.3f\n' % time.time()); out.flush()
