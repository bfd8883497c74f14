"""A kafka-python group consumer reads part of a topic, commits and closes;
a second one in the same group resumes from the committed offsets."""
import sys
from kafka import KafkaConsumer

addr, topic, group, n, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])


def consumer():
    return KafkaConsumer(topic, bootstrap_servers=addr, group_id=group, enable_auto_commit=False,
                         auto_offset_reset='earliest', consumer_timeout_ms=20000)


c = consumer()
got = []
for m in c:
    got.append(m.value.decode())
    if len(got) == first:
        break
c.commit()
c.close()
c = consumer()
rest = []
for m in c:
    rest.append(m.value.decode())
    if len(got) + len(rest) == n:
        break
c.commit()
c.close()
if len(got) != first or len(got) + len(rest) != n or set(got) & set(rest) or len(set(got) | set(rest)) != n:
    print('first', got, 'then', rest)
    sys.exit(1)
print('ok', len(got), len(rest))
