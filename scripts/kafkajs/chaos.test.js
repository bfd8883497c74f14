// KafkaJS against a three-node gregor cluster whose coordinators' nodes
// are killed (SIGKILL) and started again: a consumer group's, while two
// members consume, and a transactional producer's, while it commits and
// aborts. Run by scripts/kafkajssuite with KAFKAJS_CLUSTER_DIR and
// KAFKAJS_GREGOR (as cluster.test.js); skipped without them.
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { kafka, uniq, waitFor, readAll, byPartition, fetchOffsets, exitWhenDone } = require('./common')

exitWhenDone()

const dir = process.env.KAFKAJS_CLUSTER_DIR
const gregor = process.env.KAFKAJS_GREGOR
const retry = { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 }

// coordinatorPartition is the partition of __consumer_offsets or
// __transaction_state (50 each) that coordinates id: Kafka's choice, the
// Java hash of the id.
function coordinatorPartition (id, partitions = 50) {
  let h = 0
  for (const c of id) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0
  return (h & 0x7fffffff) % partitions
}

async function leaderOf (admin, topic, partition) {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  return topics[0].partitions.find(p => p.partitionId === partition).leader
}

function kill (node) {
  const pid = Number(fs.readFileSync(path.join(dir, `node-${node}`, 'gregor.pid'), 'utf8').trim())
  process.kill(pid, 'SIGKILL')
}

function restart () {
  execFileSync(gregor, ['cluster', 'up', '--dir', dir], { stdio: 'ignore', timeout: 60000 })
}

// produceTo sends n records to each partition, one partition a send
// (cluster.test.js says why), values `${tag}-${i}`.
async function produceTo (producer, topic, partitions, n, tag) {
  for (let p = 0; p < partitions; p++) {
    await producer.send({ topic, acks: -1, messages: Array.from({ length: n }, (_, i) => ({ partition: p, value: `${tag}-${i}` })) })
  }
}

test('the group coordinator killed while two members consume: every record read, offsets committed to the end', { skip: !dir || !gregor }, async t => {
  const client = kafka({ retry })
  const admin = client.admin()
  await admin.connect()
  const topic = uniq('chaos-group')
  const groupId = uniq('chaos-group')
  const partitions = 4
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }] })
  const producer = client.producer({ retry })
  await producer.connect()
  await produceTo(producer, topic, partitions, 100, 'a')

  const seen = new Set()
  let reads = 0
  const members = []
  for (let i = 0; i < 2; i++) {
    const c = client.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 10000, heartbeatInterval: 500, rebalanceTimeout: 10000, retry })
    await c.connect()
    await c.subscribe({ topic, fromBeginning: true })
    await c.run({ eachMessage: async ({ partition, message }) => { reads++; seen.add(`${partition}:${message.value}`) } })
    members.push(c)
  }
  await waitFor('records read', () => seen.size >= 100, 30000)
  const coordinator = await leaderOf(admin, '__consumer_offsets', coordinatorPartition(groupId))
  kill(coordinator)
  await produceTo(producer, topic, partitions, 100, 'b')
  restart()
  await produceTo(producer, topic, partitions, 100, 'c')
  await waitFor(`all ${partitions * 300} records read`, () => seen.size === partitions * 300, 60000)
  await waitFor('offsets committed to the end', async () => {
    const f = await fetchOffsets(admin, { groupId, topics: [topic] })
    return f[0].partitions.every(p => p.offset === '300')
  }, 60000)
  await Promise.all(members.map(m => m.disconnect()))
  await producer.disconnect()
  await admin.disconnect()
  // Records read again after the coordinator moved are allowed (at least once).
  assert.ok(reads >= partitions * 300)
  t.diagnostic(`group coordinator ${coordinator} killed; ${reads} reads of ${partitions * 300} records`)
})

test('the transaction coordinator killed while transactions commit and abort: committed ones read once, aborted ones never, each all or nothing', { skip: !dir || !gregor }, async t => {
  const client = kafka({ retry })
  const admin = client.admin()
  await admin.connect()
  const topic = uniq('chaos-txn')
  const partitions = 3
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }] })
  const transactionalId = uniq('chaos-tid')
  const producer = client.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, retry })
  await producer.connect()

  const committed = []
  const aborted = []
  const unknown = []
  const run = async (from, to) => {
    for (let i = from; i < to; i++) {
      const outcome = i % 3 === 2 ? 'abort' : 'commit'
      let txn
      try {
        txn = await producer.transaction()
        for (let p = 0; p < partitions; p++) {
          await txn.send({ topic, acks: -1, messages: [{ partition: p, value: String(i) }] })
        }
        await txn[outcome]()
        ;(outcome === 'commit' ? committed : aborted).push(i)
      } catch (e) {
        unknown.push(`${i}: ${e.message}`)
        if (txn && txn.isActive()) await txn.abort().catch(() => {})
      }
    }
  }
  await run(0, 15)
  const coordinator = await leaderOf(admin, '__transaction_state', coordinatorPartition(transactionalId))
  kill(coordinator)
  await run(15, 30)
  restart()
  await run(30, 45)
  await producer.disconnect()

  // A last committed record outside any transaction marks the end.
  const plain = client.producer({ retry })
  await plain.connect()
  await produceTo(plain, topic, partitions, 1, 'end')
  await plain.disconnect()
  const got = await readAll(client, topic, 1, {
    timeoutMs: 60000,
    until: rs => byPartition(rs).size === partitions && [...byPartition(rs).values()].every(r => r.at(-1).value === 'end-0')
  })
  await admin.disconnect()
  const parts = byPartition(got)
  const per = [...parts.values()].map(rs => rs.filter(r => r.value !== 'end-0').map(r => Number(r.value)))
  for (const values of per) {
    assert.equal(new Set(values).size, values.length, 'a record read twice')
    assert.deepEqual(values, values.slice().sort((a, b) => a - b), 'out of order')
    for (const i of committed) assert.ok(values.includes(i), `committed transaction ${i} missing`)
    for (const i of aborted) assert.ok(!values.includes(i), `aborted transaction ${i} read`)
  }
  // All or nothing: a transaction's record is on every partition or on none.
  for (const values of per) assert.deepEqual(values, per[0], 'a transaction on some partitions only')
  assert.ok(committed.length >= 20, `only ${committed.length} of 30 commits acknowledged: ${unknown.slice(0, 3)}`)
  t.diagnostic(`transaction coordinator ${coordinator} killed; ${committed.length} commits and ${aborted.length} aborts acknowledged, ${unknown.length} failed: ${unknown.slice(0, 3)}`)
})
