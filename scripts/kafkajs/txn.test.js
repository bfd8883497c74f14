// KafkaJS's transactions against gregor: send, sendOffsets, commit and
// abort; a read_committed consumer never sees an aborted record, a
// read_uncommitted one does.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { kafka, uniq, waitFor, readAll, byPartition } = require('./common')

const client = kafka()
const admin = client.admin()
before(() => admin.connect())
after(() => admin.disconnect())

async function topicOf (partitions) {
  const topic = uniq('txn')
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] })
  return topic
}

function txnProducer () {
  return client.producer({ transactionalId: uniq('tid'), idempotent: true, maxInFlightRequests: 1 })
}

test('committed and aborted transactions over two topics: read_committed sees only the committed', async () => {
  const [t1, t2] = [await topicOf(3), await topicOf(1)]
  const producer = txnProducer()
  await producer.connect()
  for (let i = 0; i < 6; i++) {
    const txn = await producer.transaction()
    const outcome = i % 2 === 0 ? 'commit' : 'abort'
    await txn.send({ topic: t1, messages: [0, 1, 2].map(p => ({ partition: p, value: `${outcome}-${i}` })) })
    await txn.send({ topic: t2, messages: [{ value: `${outcome}-${i}` }, { value: `${outcome}-${i}b` }] })
    await txn[outcome]()
  }
  // Records outside any transaction after them: the end to read up to.
  const plain = client.producer()
  await plain.connect()
  await plain.send({ topic: t1, messages: [0, 1, 2].map(p => ({ partition: p, value: 'end' })) })
  await plain.send({ topic: t2, messages: [{ value: 'end' }] })
  await plain.disconnect()
  await producer.disconnect()

  const upToEnd = records => [...byPartition(records).values()].every(rs => rs.at(-1).value === 'end')
  const committed = await readAll(client, t1, 3 * 4, { until: rs => upToEnd(rs) && byPartition(rs).size === 3 })
  for (const rs of byPartition(committed).values()) {
    assert.deepEqual(rs.map(r => r.value), ['commit-0', 'commit-2', 'commit-4', 'end'])
  }
  const committed2 = await readAll(client, t2, 7, { until: upToEnd })
  assert.deepEqual(committed2.map(r => r.value), ['commit-0', 'commit-0b', 'commit-2', 'commit-2b', 'commit-4', 'commit-4b', 'end'])

  const everything = await readAll(client, t2, 13, { readUncommitted: true, until: upToEnd })
  assert.deepEqual(everything.map(r => r.value), [0, 1, 2, 3, 4, 5].flatMap(i => {
    const o = i % 2 === 0 ? 'commit' : 'abort'
    return [`${o}-${i}`, `${o}-${i}b`]
  }).concat(['end']))
  // Offsets count the markers: 6 transactions of 2 records and a marker each.
  assert.equal(everything.at(-1).offset, 18)
})

test('consume-transform-produce with sendOffsets: offsets commit with the transaction, not with an abort', async () => {
  const input = await topicOf(2)
  const output = await topicOf(1)
  const groupId = uniq('txn-group')
  const plain = client.producer()
  await plain.connect()
  await plain.send({ topic: input, messages: [0, 1].flatMap(p => [0, 1, 2, 3, 4].map(i => ({ partition: p, value: `in-${p}-${i}` }))) })
  await plain.disconnect()

  const producer = txnProducer()
  await producer.connect()
  const consumer = client.consumer({ groupId, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic: input, fromBeginning: true })
  let round = 0
  const done = []
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const txn = await producer.transaction()
      await txn.send({ topic: output, messages: batch.messages.map(m => ({ value: `out-${m.value}` })) })
      const next = String(Number(batch.lastOffset()) + 1)
      await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: batch.partition, offset: next }] }] })
      // The first batch's transaction is aborted, and its records are read again.
      if (round++ === 0) {
        await txn.abort()
        consumer.seek({ topic: input, partition: batch.partition, offset: batch.firstOffset() })
        done.push(`abort-${batch.partition}`)
        return
      }
      await txn.commit()
      done.push(`commit-${batch.partition}-${next}`)
    }
  })
  await waitFor(`both partitions committed to offset 5 (${done})`, async () => {
    const f = await admin.fetchOffsets({ groupId, topics: [input] })
    return f[0].partitions.every(p => p.offset === '5')
  })
  await consumer.disconnect()
  await producer.disconnect()
  assert.equal(done[0].startsWith('abort-'), true)

  const out = await readAll(client, output, 10)
  assert.deepEqual(out.map(r => r.value).sort(), [0, 1].flatMap(p => [0, 1, 2, 3, 4].map(i => `out-in-${p}-${i}`)).sort())
})

test('a transaction left open is aborted by the timeout; a new producer with the same id fences the old one', async () => {
  const topic = await topicOf(1)
  const transactionalId = uniq('tid-fence')
  const old = client.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60000, retry: { retries: 1 } })
  await old.connect()
  const open = await old.transaction()
  await open.send({ topic, messages: [{ value: 'zombie' }] })

  // The new producer's InitProducerId aborts the open transaction and bumps the epoch.
  const fresh = client.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 })
  await fresh.connect()
  const txn = await fresh.transaction()
  await txn.send({ topic, messages: [{ value: 'fresh' }] })
  await txn.commit()
  await assert.rejects(open.commit(), /fenced|epoch|PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/i)
  await fresh.disconnect()
  await old.disconnect().catch(() => {})

  const got = await readAll(client, topic, 1, { until: rs => rs.some(r => r.value === 'fresh') })
  assert.deepEqual(got.map(r => r.value), ['fresh'])
  const all = await readAll(client, topic, 2, { readUncommitted: true })
  assert.deepEqual(all.map(r => r.value), ['zombie', 'fresh'])

  // A transaction left open past transactionTimeout is aborted by the coordinator.
  const slow = client.producer({ transactionalId: uniq('tid-timeout'), idempotent: true, maxInFlightRequests: 1, transactionTimeout: 1000 })
  await slow.connect()
  const abandoned = await slow.transaction()
  await abandoned.send({ topic, messages: [{ value: 'abandoned' }] })
  const plain = client.producer()
  await plain.connect()
  await plain.send({ topic, messages: [{ value: 'after' }] })
  await plain.disconnect()
  // read_committed reads past the abandoned record once the coordinator aborted it.
  const committed = await readAll(client, topic, 2, { until: rs => rs.some(r => r.value === 'after') })
  assert.deepEqual(committed.map(r => r.value), ['fresh', 'after'])
  await assert.rejects(abandoned.commit())
  await slow.disconnect().catch(() => {})
})
