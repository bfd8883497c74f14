// KafkaJS's admin client against gregor: topics and their configs,
// partitions, offsets, records deleted, groups and the cluster.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { ConfigResourceTypes } = require('kafkajs')
const { kafka, uniq, waitFor } = require('./common')

const client = kafka()
const admin = client.admin()
before(() => admin.connect())
after(() => admin.disconnect())

function configOf (described, name) {
  const entry = described.resources[0].configEntries.find(e => e.configName === name)
  return entry && entry.configValue
}

test('createTopics with configs, listTopics, fetchTopicMetadata, describeConfigs, alterConfigs, createPartitions, deleteTopics', async () => {
  const topic = uniq('admin-topic')
  const created = await admin.createTopics({
    topics: [{
      topic,
      numPartitions: 3,
      configEntries: [
        { name: 'retention.ms', value: '86400000' },
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'max.message.bytes', value: '200000' }
      ]
    }]
  })
  assert.equal(created, true)
  // A second create of the same topic: KafkaJS answers false on TOPIC_ALREADY_EXISTS.
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }), false)
  assert.ok((await admin.listTopics()).includes(topic))

  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  assert.equal(topics.length, 1)
  assert.equal(topics[0].name, topic)
  assert.deepEqual(topics[0].partitions.map(p => p.partitionId).sort(), [0, 1, 2])
  for (const p of topics[0].partitions) {
    assert.equal(p.partitionErrorCode, 0)
    assert.ok(p.leader >= 0)
    assert.deepEqual(p.isr, p.replicas)
  }

  const resource = { type: ConfigResourceTypes.TOPIC, name: topic }
  let described = await admin.describeConfigs({ resources: [resource], includeSynonyms: false })
  assert.equal(described.resources[0].errorCode, 0)
  assert.equal(configOf(described, 'retention.ms'), '86400000')
  assert.equal(configOf(described, 'cleanup.policy'), 'compact')
  assert.equal(configOf(described, 'max.message.bytes'), '200000')
  // Only the names asked for, with their synonyms.
  described = await admin.describeConfigs({ resources: [{ ...resource, configNames: ['retention.ms'] }], includeSynonyms: true })
  assert.deepEqual(described.resources[0].configEntries.map(e => e.configName), ['retention.ms'])
  assert.ok(described.resources[0].configEntries[0].configSynonyms.length >= 1)

  // AlterConfigs replaces the topic's whole set of configs.
  await admin.alterConfigs({ resources: [{ ...resource, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] })
  described = await admin.describeConfigs({ resources: [resource], includeSynonyms: false })
  assert.equal(configOf(described, 'retention.ms'), '3600000')
  assert.equal(configOf(described, 'cleanup.policy'), 'delete')
  // validateOnly changes nothing; a bad value is refused.
  await admin.alterConfigs({ validateOnly: true, resources: [{ ...resource, configEntries: [{ name: 'retention.ms', value: '1000' }] }] })
  described = await admin.describeConfigs({ resources: [resource], includeSynonyms: false })
  assert.equal(configOf(described, 'retention.ms'), '3600000')
  await assert.rejects(admin.alterConfigs({ resources: [{ ...resource, configEntries: [{ name: 'cleanup.policy', value: 'nonsense' }] }] }))

  await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }] })
  await waitFor('5 partitions in the metadata', async () =>
    (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length === 5)
  // Fewer partitions than it has is refused.
  await assert.rejects(admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] }), /INVALID_PARTITIONS|partitions/i)

  await admin.deleteTopics({ topics: [topic] })
  await waitFor('the topic gone from listTopics', async () => !(await admin.listTopics()).includes(topic))
})

test('createTopics validateOnly creates nothing; invalid requests are refused', async () => {
  const topic = uniq('admin-validate')
  await admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic, numPartitions: 2 }] })
  assert.ok(!(await admin.listTopics()).includes(topic))
  await assert.rejects(admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'nonsense' }] }] }))
  await assert.rejects(admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 9 }] }))
  assert.ok(!(await admin.listTopics()).includes(topic))
})

test('describeConfigs of the broker', async () => {
  const { brokers } = await admin.describeCluster()
  const described = await admin.describeConfigs({
    resources: [{ type: ConfigResourceTypes.BROKER, name: String(brokers[0].nodeId), configNames: ['log.retention.ms', 'num.partitions'] }],
    includeSynonyms: false
  })
  assert.equal(described.resources[0].errorCode, 0)
  assert.deepEqual(described.resources[0].configEntries.map(e => e.configName).sort(), ['log.retention.ms', 'num.partitions'])
})

test('describeCluster', async () => {
  const cluster = await admin.describeCluster()
  assert.ok(cluster.brokers.length >= 1)
  assert.ok(typeof cluster.clusterId === 'string' && cluster.clusterId.length > 0)
  assert.ok(cluster.brokers.some(b => b.nodeId === cluster.controller))
  for (const b of cluster.brokers) assert.ok(b.host && b.port > 0)
})

async function produced (topic, perPartition, partitions) {
  const producer = client.producer()
  await producer.connect()
  const times = []
  for (let i = 0; i < perPartition; i++) {
    const timestamp = String(1700000000000 + i * 1000)
    times.push(timestamp)
    await producer.send({
      topic,
      messages: Array.from({ length: partitions }, (_, p) => ({ partition: p, value: `v${i}`, timestamp }))
    })
  }
  await producer.disconnect()
  return times
}

test('fetchTopicOffsets, fetchTopicOffsetsByTimestamp, deleteTopicRecords', async () => {
  const topic = uniq('admin-offsets')
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
  let offsets = await admin.fetchTopicOffsets(topic)
  assert.deepEqual(offsets.map(o => [o.partition, o.low, o.high]).sort(), [[0, '0', '0'], [1, '0', '0']])

  const times = await produced(topic, 10, 2)
  offsets = await admin.fetchTopicOffsets(topic)
  assert.deepEqual(offsets.map(o => [o.partition, o.low, o.high]).sort(), [[0, '0', '10'], [1, '0', '10']])

  // The first offset whose timestamp is at or after the one asked for.
  let byTime = await admin.fetchTopicOffsetsByTimestamp(topic, Number(times[4]))
  assert.deepEqual(byTime.map(o => [o.partition, o.offset]).sort(), [[0, '4'], [1, '4']])
  byTime = await admin.fetchTopicOffsetsByTimestamp(topic, Number(times[4]) + 1)
  assert.deepEqual(byTime.map(o => [o.partition, o.offset]).sort(), [[0, '5'], [1, '5']])
  // Later than every record: KafkaJS reads -1 as the end offset.
  byTime = await admin.fetchTopicOffsetsByTimestamp(topic, Number(times[9]) + 1)
  assert.deepEqual(byTime.map(o => [o.partition, o.offset]).sort(), [[0, '10'], [1, '10']])

  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '3' }, { partition: 1, offset: '-1' }] })
  offsets = await admin.fetchTopicOffsets(topic)
  assert.deepEqual(offsets.map(o => [o.partition, o.low, o.high]).sort(), [[0, '3', '10'], [1, '10', '10']])
  // Past the high watermark is refused.
  await assert.rejects(admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '11' }] }))
})

test('groups: fetchOffsets, setOffsets, resetOffsets, describeGroups, listGroups, deleteGroups', async () => {
  const topic = uniq('admin-groups')
  const groupId = uniq('admin-group')
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
  await produced(topic, 5, 2)

  // A group that committed nothing yet: -1 for each partition.
  let fetched = await admin.fetchOffsets({ groupId, topics: [topic] })
  assert.deepEqual(fetched[0].partitions.map(p => [p.partition, p.offset]).sort(), [[0, '-1'], [1, '-1']])

  // A member reads everything and commits.
  const consumer = client.consumer({ groupId, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  let n = 0
  await consumer.run({ autoCommitThreshold: 1, eachMessage: async () => { n++ } })
  await waitFor('10 records read', () => n >= 10)
  await waitFor('offsets 5 and 5 committed', async () => {
    const f = await admin.fetchOffsets({ groupId, topics: [topic] })
    return f[0].partitions.every(p => p.offset === '5')
  })

  const listed = await admin.listGroups()
  assert.ok(listed.groups.some(g => g.groupId === groupId && g.protocolType === 'consumer'))
  let { groups } = await admin.describeGroups([groupId])
  assert.equal(groups[0].state, 'Stable')
  assert.equal(groups[0].protocolType, 'consumer')
  assert.equal(groups[0].members.length, 1)
  assert.ok(groups[0].members[0].memberAssignment.length > 0)

  // setOffsets needs an empty group: KafkaJS describes the group first and refuses while a member is in it.
  await assert.rejects(admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '1' }] }))
  await consumer.disconnect()
  ;({ groups } = await admin.describeGroups([groupId]))
  assert.equal(groups[0].state, 'Empty')
  assert.equal(groups[0].members.length, 0)

  // resetOffsets commits KafkaJS's -2 (earliest) or -1 (latest); resolveOffsets reads them as offsets.
  await admin.resetOffsets({ groupId, topic, earliest: true })
  fetched = await admin.fetchOffsets({ groupId, topics: [topic], resolveOffsets: true })
  assert.deepEqual(fetched[0].partitions.map(p => [p.partition, p.offset]).sort(), [[0, '0'], [1, '0']])
  await admin.resetOffsets({ groupId, topic })
  fetched = await admin.fetchOffsets({ groupId, topics: [topic], resolveOffsets: true })
  assert.deepEqual(fetched[0].partitions.map(p => [p.partition, p.offset]).sort(), [[0, '5'], [1, '5']])

  // (KafkaJS's setOffsets joins the group with a consumer whose partitions
  // are all paused and leaves after its first fetch: it waits the 5 s of
  // maxWaitTimeInMs each time, with any broker.)
  // A new member of the group starts where the group's offsets are.
  await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '3' }, { partition: 1, offset: '4' }] })
  fetched = await admin.fetchOffsets({ groupId, topics: [topic] })
  assert.deepEqual(fetched[0].partitions.map(p => [p.partition, p.offset]).sort(), [[0, '3'], [1, '4']])
  // Every topic the group committed, when none is named.
  fetched = await admin.fetchOffsets({ groupId })
  assert.deepEqual(fetched.map(t => t.topic), [topic])
  const again = client.consumer({ groupId, maxWaitTimeInMs: 100 })
  await again.connect()
  await again.subscribe({ topic })
  const seen = []
  await again.run({ eachMessage: async ({ partition, message }) => { seen.push([partition, message.offset]) } })
  await waitFor('3 records from the set offsets', () => seen.length >= 3)
  await again.disconnect()
  assert.deepEqual(seen.sort(), [[0, '3'], [0, '4'], [1, '4']])

  await admin.deleteGroups([groupId])
  ;({ groups } = await admin.describeGroups([groupId]))
  assert.equal(groups[0].state, 'Dead')
  assert.ok(!(await admin.listGroups()).groups.some(g => g.groupId === groupId))
  // Deleting it again: GROUP_ID_NOT_FOUND.
  await assert.rejects(admin.deleteGroups([groupId]), /group/i)
})
