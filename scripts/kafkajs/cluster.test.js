// KafkaJS against a three-node gregor cluster: an idempotent producer
// (acks=-1) keeps producing while the leader of a partition is killed
// (SIGKILL) and started again; every record acknowledged is read back once
// and in order, and nothing is read twice. Then transactions over
// partitions led by several nodes, and a partition moved to other nodes
// (alterPartitionReassignments). Run by scripts/kafkajssuite
// with KAFKAJS_CLUSTER_DIR (the cluster's directory, gregor cluster up
// --dir) and KAFKAJS_GREGOR (the gregor binary); skipped without them.
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const { ConfigResourceTypes } = require('kafkajs')
const fs = require('node:fs')
const path = require('node:path')
const { kafka, uniq, waitFor, readAll, byPartition, fetchOffsets, exitWhenDone } = require('./common')

exitWhenDone()

const dir = process.env.KAFKAJS_CLUSTER_DIR
const gregor = process.env.KAFKAJS_GREGOR

test('a partition leader killed under an idempotent acks=-1 producer: every acknowledged record once, in order', { skip: !dir || !gregor }, async t => {
  const client = kafka({ retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
  const admin = client.admin()
  await admin.connect()
  const topic = uniq('cluster')
  const partitions = 3
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }] })
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  const leader = topics[0].partitions.find(p => p.partitionId === 0).leader

  const producer = client.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
  await producer.connect()
  const acked = Array.from({ length: partitions }, () => [])
  const failed = []
  const next = Array(partitions).fill(0)
  // send produces a batch of 5 records to partition p, values counting
  // up, and notes them if they were acknowledged. One partition a send:
  // KafkaJS 2.2.4 loses a send's records for a partition whose leader
  // moved to a broker that already answered for another partition of the
  // same send (it keeps one answer per broker across its retries and does
  // not send to a broker that has one: KafkaJS issue 1303), with any Kafka.
  const send = async p => {
    const values = Array.from({ length: 5 }, () => next[p]++)
    try {
      await producer.send({ topic, acks: -1, messages: values.map(v => ({ partition: p, key: `k${p}`, value: String(v) })) })
      acked[p].push(...values)
    } catch (e) {
      failed.push(`${p}/${values[0]}: ${e.message}`)
    }
  }
  const sends = async n => {
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < partitions; p++) await send(p)
    }
  }
  await sends(40)

  // Kill the leader of partition 0 between two sends, and keep producing
  // while it is down: leadership moves to another replica.
  const pidFile = path.join(dir, `node-${leader}`, 'gregor.pid')
  process.kill(Number(fs.readFileSync(pidFile, 'utf8').trim()), 'SIGKILL')
  const killedAt = Date.now()
  await sends(40)
  const downFor = Date.now() - killedAt
  // Start it again (only the nodes not running start) and produce on.
  execFileSync(gregor, ['cluster', 'up', '--dir', dir], { stdio: 'ignore', timeout: 60000 })
  await sends(40)
  await producer.disconnect()

  const lastAcked = acked.map(a => a.at(-1))
  const got = await readAll(client, topic, 1, {
    timeoutMs: 60000,
    until: rs => {
      const parts = byPartition(rs)
      return lastAcked.every((v, p) => parts.has(p) && parts.get(p).some(r => r.value === String(v)))
    }
  })
  await admin.disconnect()
  const parts = byPartition(got)
  for (let p = 0; p < partitions; p++) {
    const values = parts.get(p).map(r => Number(r.value))
    // Nothing twice, in the order produced (unacknowledged records may be there too).
    assert.equal(new Set(values).size, values.length, `partition ${p}: a record read twice`)
    assert.deepEqual(values, values.slice().sort((a, b) => a - b), `partition ${p}: out of order`)
    const have = new Set(values)
    const missing = acked[p].filter(v => !have.has(v))
    assert.deepEqual(missing, [], `partition ${p}: acknowledged records missing`)
    assert.deepEqual(parts.get(p).map(r => r.offset), values.map((_, i) => i), `partition ${p}: offsets`)
  }
  // Most sends were acknowledged (the producer retries through the leader change).
  assert.ok(acked[0].length >= 100 * 5, `only ${acked[0].length / 5} of partition 0's 120 sends acknowledged: ${failed.slice(0, 3)}`)
  t.diagnostic(`leader ${leader} killed; producing while it was down took ${downFor} ms; ${failed.length} sends failed`)
})

test('transactions over partitions led by several nodes, with sendOffsets', { skip: !dir || !gregor }, async () => {
  const client = kafka()
  const admin = client.admin()
  await admin.connect()
  const topic = uniq('cluster-txn')
  const groupId = uniq('cluster-txn-group')
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }] })
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  assert.ok(new Set(topics[0].partitions.map(p => p.leader)).size >= 2, 'leaders on several nodes')

  const producer = client.producer({ transactionalId: uniq('cluster-tid'), idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  for (let i = 0; i < 4; i++) {
    const txn = await producer.transaction()
    const outcome = i % 2 === 0 ? 'commit' : 'abort'
    await txn.send({ topic, messages: [0, 1, 2].map(p => ({ partition: p, value: `${outcome}-${i}` })) })
    await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: String(i + 1) }] }] })
    await txn[outcome]()
  }
  await producer.disconnect()
  const committed = await readAll(client, topic, 6, { until: rs => rs.filter(r => r.value === 'commit-2').length === 3 })
  for (const rs of byPartition(committed).values()) {
    assert.deepEqual(rs.map(r => r.value), ['commit-0', 'commit-2'])
  }
  // The group's offset is the last committed transaction's (3), not the aborted one's after it (4).
  const fetched = await fetchOffsets(admin, { groupId, topics: [topic] })
  assert.equal(fetched[0].partitions.find(p => p.partition === 0).offset, '3')
  await admin.disconnect()
})

test('alterPartitionReassignments moves a partition to other nodes; listPartitionReassignments', { skip: !dir || !gregor }, async () => {
  const client = kafka()
  const admin = client.admin()
  await admin.connect()
  const topic = uniq('cluster-move')
  const { brokers } = await admin.describeCluster()
  const ids = brokers.map(b => b.nodeId).sort()
  await admin.createTopics({ topics: [{ topic, replicaAssignment: [{ partition: 0, replicas: [ids[0]] }] }] })
  const producer = client.producer()
  await producer.connect()
  await producer.send({ topic, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: String(i) })) })

  await admin.alterPartitionReassignments({ topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [ids[1], ids[2]] }] }] })
  await waitFor('the partition on its new replicas, the move done', async () => {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    const p = topics[0].partitions[0]
    const ongoing = await admin.listPartitionReassignments({ topics: [{ topic, partitions: [0] }] })
    return p.replicas.slice().sort().join() === [ids[1], ids[2]].join() && p.isr.length === 2 && ongoing.topics.length === 0
  }, 60000)
  await producer.send({ topic, acks: -1, messages: [{ value: '10' }] })
  await producer.disconnect()
  const got = await readAll(client, topic, 11)
  assert.deepEqual(got.map(r => r.value), Array.from({ length: 11 }, (_, i) => String(i)))
  await admin.disconnect()
})

test('describeCluster names the three nodes; describeConfigs of each broker is answered by that broker', { skip: !dir || !gregor }, async () => {
  const client = kafka()
  const admin = client.admin()
  await admin.connect()
  const cluster = await admin.describeCluster()
  assert.deepEqual(cluster.brokers.map(b => b.nodeId).sort(), [1, 2, 3])
  assert.ok([1, 2, 3].includes(cluster.controller))
  const described = await admin.describeConfigs({
    resources: cluster.brokers.map(b => ({ type: ConfigResourceTypes.BROKER, name: String(b.nodeId), configNames: ['broker.id', 'node.id', 'log.dirs'] })),
    includeSynonyms: false
  })
  for (const r of described.resources) {
    assert.equal(r.errorCode, 0, `broker ${r.resourceName}: ${r.errorMessage}`)
    const logDirs = r.configEntries.find(e => e.configName === 'log.dirs')
    assert.ok(logDirs && logDirs.configValue.includes(`node-${r.resourceName}`), `broker ${r.resourceName}'s log.dirs: ${logDirs && logDirs.configValue}`)
  }
  await admin.disconnect()
})
