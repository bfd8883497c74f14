# Commits an offset of a topic that does not exist for a group that does
# not exist, as an application's confluent-kafka (librdkafka) consumer
# would, and prints "ok" and the answer's error name. It asks again while
# the coordinator is being found or loads __consumer_offsets.
import sys, time
from confluent_kafka import Consumer, TopicPartition, KafkaException
bootstrap, group, topic = sys.argv[1:4]
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': group, 'enable.auto.commit': False})
name = ''
for _ in range(60):
    try:
        res = c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
        name = res[0].error.name() if res[0].error else 'NO_ERROR'
    except KafkaException as e:
        name = e.args[0].name()
    if name not in ('COORDINATOR_LOAD_IN_PROGRESS', 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', '_TRANSPORT', '_TIMED_OUT'):
        break
    time.sleep(0.2)
c.close()
print('ok', name)
