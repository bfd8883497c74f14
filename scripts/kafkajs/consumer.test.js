// KafkaJS's consumer groups against gregor: members joining and leaving,
// eachBatch, seek, pause and resume, fromBeginning, and commits.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { kafka, uniq, waitFor } = require('./common')

const client = kafka()
const admin = client.admin()
let producer
before(async () => {
  await admin.connect()
  producer = client.producer()
  await producer.connect()
})
after(async () => {
  await producer.disconnect()
  await admin.disconnect()
})

async function topicOf (partitions) {
  const topic = uniq('consumer')
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] })
  return topic
}

// produce sends n records to each partition, values `${tag}-${i}`.
async function produce (topic, partitions, n, tag) {
  const messages = []
  for (let p = 0; p < partitions; p++) {
    for (let i = 0; i < n; i++) messages.push({ partition: p, value: `${tag}-${i}` })
  }
  await producer.send({ topic, acks: -1, messages })
}

// member starts a consumer of topic in groupId that records every record
// it is given and each assignment it joins with.
async function member (groupId, topic, opts = {}) {
  const consumer = client.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 10000, heartbeatInterval: 500, rebalanceTimeout: 10000, ...opts })
  const m = { consumer, got: [], assignment: null, joins: 0 }
  consumer.on(consumer.events.GROUP_JOIN, e => {
    m.assignment = (e.payload.memberAssignment[topic] || []).slice().sort()
    m.joins++
  })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => { m.got.push(`${partition}:${message.value}`) }
  })
  return m
}

test('members joining and leaving share the partitions; every record read once', async () => {
  const topic = await topicOf(6)
  const groupId = uniq('group')
  await produce(topic, 6, 10, 'a')

  // committedTo waits until the group committed offset n on every partition.
  const committedTo = n => waitFor(`offsets ${n} committed`, async () =>
    (await admin.fetchOffsets({ groupId, topics: [topic] }))[0].partitions.every(p => p.offset === String(n)))

  const m1 = await member(groupId, topic)
  await waitFor('the first member given all 6 partitions', () => m1.assignment && m1.assignment.length === 6)
  // Each change of members waits for what was read to be committed: a
  // record read and not yet committed when the group rebalances is read
  // again by its next owner (at least once), which the count below would
  // take for a duplicate.
  await committedTo(10)
  const m2 = await member(groupId, topic)
  const m3 = await member(groupId, topic)
  const members = [m1, m2, m3]
  const split = () => members.every(m => m.assignment && m.assignment.length === 2) &&
    new Set(members.flatMap(m => m.assignment)).size === 6
  await waitFor('three members with two partitions each', split)
  await produce(topic, 6, 10, 'b')
  const all = () => members.flatMap(m => m.got)
  await waitFor('120 records read', () => new Set(all()).size === 120)
  await committedTo(20)

  // The third leaves: the other two take its partitions.
  await m3.consumer.disconnect()
  members.pop()
  await waitFor('two members with three partitions each', () =>
    members.every(m => m.assignment && m.assignment.length === 3) && new Set(members.flatMap(m => m.assignment)).size === 6)
  await produce(topic, 6, 10, 'c')
  await waitFor('180 records read', () => new Set([...all(), ...m3.got]).size === 180)
  await Promise.all(members.map(m => m.consumer.disconnect()))
  const every = [...m1.got, ...m2.got, ...m3.got]
  assert.equal(every.length, 180, 'each record read once')

  const { groups } = await admin.describeGroups([groupId])
  assert.equal(groups[0].state, 'Empty')
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
  assert.deepEqual(offsets[0].partitions.map(p => p.offset), Array(6).fill('30'))
})

test('eachBatch with resolveOffset, heartbeat and commitOffsetsIfNecessary', async () => {
  const topic = await topicOf(2)
  const groupId = uniq('group-batch')
  await produce(topic, 2, 50, 'r')
  const consumer = client.consumer({ groupId, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got = []
  let batches = 0
  await consumer.run({
    eachBatchAutoResolve: false,
    autoCommit: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      batches++
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break
        got.push(`${batch.partition}:${message.offset}:${message.value}`)
        resolveOffset(message.offset)
      }
      await heartbeat()
      assert.ok(Number(batch.highWatermark) >= 50)
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) }] }] })
    }
  })
  await waitFor('100 records', () => got.length >= 100)
  await waitFor('offsets 50 committed', async () =>
    (await admin.fetchOffsets({ groupId, topics: [topic] }))[0].partitions.every(p => p.offset === '50'))
  await consumer.disconnect()
  assert.equal(got.length, 100)
  assert.ok(batches >= 2)
  for (const p of [0, 1]) {
    assert.deepEqual(got.filter(g => g.startsWith(`${p}:`)), Array.from({ length: 50 }, (_, i) => `${p}:${i}:r-${i}`))
  }
})

test('seek moves a running consumer; pause stops delivery until resume', async () => {
  const topic = await topicOf(2)
  const groupId = uniq('group-seek')
  await produce(topic, 2, 20, 's')
  const m = await member(groupId, topic)
  await waitFor('40 records', () => m.got.length >= 40)

  m.consumer.seek({ topic, partition: 1, offset: '15' })
  await waitFor('partition 1 read again from 15', () => m.got.length >= 45)
  assert.deepEqual(m.got.slice(40), ['1:s-15', '1:s-16', '1:s-17', '1:s-18', '1:s-19'])

  m.consumer.pause([{ topic, partitions: [0] }])
  assert.deepEqual(m.consumer.paused(), [{ topic, partitions: [0] }])
  let fetches = 0
  m.consumer.on(m.consumer.events.FETCH, () => { fetches++ })
  await produce(topic, 2, 5, 't')
  await waitFor('partition 1 read while 0 is paused', () => m.got.length >= 50)
  // Several fetches after the records were there: none of partition 0's delivered.
  const after = fetches
  await waitFor('three more fetches', () => fetches >= after + 3)
  assert.deepEqual(m.got.slice(45).sort(), ['1:t-0', '1:t-1', '1:t-2', '1:t-3', '1:t-4'])

  m.consumer.resume([{ topic, partitions: [0] }])
  await waitFor('partition 0 read after resume', () => m.got.length >= 55)
  assert.deepEqual(m.got.slice(50), ['0:t-0', '0:t-1', '0:t-2', '0:t-3', '0:t-4'])
  await m.consumer.disconnect()
})

test('fromBeginning false reads only what is produced after the group starts', async () => {
  const topic = await topicOf(1)
  await produce(topic, 1, 5, 'old')
  const consumer = client.consumer({ groupId: uniq('group-latest'), maxWaitTimeInMs: 100 })
  const got = []
  let joined = false
  consumer.on(consumer.events.GROUP_JOIN, () => { joined = true })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: false })
  let fetched = 0
  consumer.on(consumer.events.FETCH, () => { fetched++ })
  await consumer.run({ eachMessage: async ({ message }) => { got.push(message.value.toString()) } })
  // Once it fetched (so it has looked up the end offset), produce more.
  await waitFor('joined and fetched', () => joined && fetched >= 1)
  await produce(topic, 1, 3, 'new')
  await waitFor('3 new records', () => got.length >= 3)
  await consumer.disconnect()
  assert.deepEqual(got, ['new-0', 'new-1', 'new-2'])
})

test('commitOffsets by hand; a later member resumes at the committed offset', async () => {
  const topic = await topicOf(1)
  const groupId = uniq('group-commit')
  await produce(topic, 1, 10, 'm')
  const consumer = client.consumer({ groupId, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got = []
  await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => { got.push(message.value.toString()) } })
  await waitFor('10 records', () => got.length >= 10)
  await consumer.commitOffsets([{ topic, partition: 0, offset: '4' }])
  let fetched = await admin.fetchOffsets({ groupId, topics: [topic] })
  assert.equal(fetched[0].partitions[0].offset, '4')
  await consumer.disconnect()
  // Not committed on leaving (autoCommit false): still 4.
  fetched = await admin.fetchOffsets({ groupId, topics: [topic] })
  assert.equal(fetched[0].partitions[0].offset, '4')

  const next = client.consumer({ groupId, maxWaitTimeInMs: 100 })
  await next.connect()
  await next.subscribe({ topic, fromBeginning: true })
  const again = []
  await next.run({ eachMessage: async ({ message }) => { again.push(message.value.toString()) } })
  await waitFor('6 records from offset 4', () => again.length >= 6)
  await next.disconnect()
  assert.deepEqual(again, ['m-4', 'm-5', 'm-6', 'm-7', 'm-8', 'm-9'])
  fetched = await admin.fetchOffsets({ groupId, topics: [topic] })
  assert.equal(fetched[0].partitions[0].offset, '10')
})

test('a consumer of several topics by regular expression', async () => {
  const prefix = uniq('regex')
  const topics = [`${prefix}-x`, `${prefix}-y`]
  await admin.createTopics({ topics: topics.map(topic => ({ topic, numPartitions: 1 })) })
  for (const topic of topics) await producer.send({ topic, messages: [{ value: topic }] })
  const consumer = client.consumer({ groupId: uniq('group-regex'), maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [new RegExp(`^${prefix}-`)], fromBeginning: true })
  const got = []
  await consumer.run({ eachMessage: async ({ topic, message }) => { got.push([topic, message.value.toString()]) } })
  await waitFor('both topics read', () => got.length >= 2)
  await consumer.disconnect()
  assert.deepEqual(got.sort(), topics.map(t => [t, t]))
})

test('records larger than maxBytesPerPartition and maxBytes still arrive, one batch at a time', async () => {
  const topic = await topicOf(2)
  const big = 'x'.repeat(20000)
  for (let i = 0; i < 4; i++) {
    await producer.send({ topic, messages: [0, 1].map(p => ({ partition: p, value: `${i}-${big}` })) })
  }
  const consumer = client.consumer({ groupId: uniq('group-big'), maxWaitTimeInMs: 100, maxBytesPerPartition: 1000, maxBytes: 5000 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got = []
  await consumer.run({ partitionsConsumedConcurrently: 2, eachMessage: async ({ partition, message }) => { got.push(`${partition}:${message.value.toString().split('-')[0]}:${message.value.length}`) } })
  await waitFor('8 large records', () => got.length >= 8)
  await consumer.disconnect()
  for (const p of [0, 1]) {
    assert.deepEqual(got.filter(g => g.startsWith(`${p}:`)), [0, 1, 2, 3].map(i => `${p}:${i}:${big.length + 2}`))
  }
})

test('a member stuck in eachMessage is removed when it does not rejoin in time; another takes its partitions', async () => {
  const topic = await topicOf(2)
  const groupId = uniq('group-session')
  await produce(topic, 2, 1, 'first')
  // The first member blocks in eachMessage (KafkaJS heartbeats and
  // rejoins between records) longer than its session and rebalance
  // timeouts.
  let release
  const blocked = new Promise(resolve => { release = resolve })
  const stuck = client.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 6000 })
  await stuck.connect()
  await stuck.subscribe({ topic, fromBeginning: true })
  let entered = 0
  await stuck.run({ eachMessage: async () => { entered++; await blocked } })
  await waitFor('the first member stuck in eachMessage', () => entered >= 1)

  // The second member's join starts a rebalance the first never joins: it
  // is removed at the rebalance timeout (its session timeout too).
  const startedAt = Date.now()
  const other = await member(groupId, topic, { sessionTimeout: 6000, rebalanceTimeout: 6000 })
  await waitFor('the second member given both partitions', () => other.assignment && other.assignment.length === 2, 30000)
  const tookMs = Date.now() - startedAt
  // It reads both partitions' records (the stuck member committed none).
  await waitFor('both records read by the second member', () => other.got.length >= 2)
  assert.deepEqual(other.got.slice().sort(), ['0:first-0', '1:first-0'])
  release()
  await Promise.all([stuck.disconnect(), other.consumer.disconnect()])
  assert.ok(tookMs >= 5000, `the stuck member was removed after ${tookMs} ms, before its timeouts`)
})
