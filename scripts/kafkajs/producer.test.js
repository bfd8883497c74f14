// KafkaJS's producer against gregor: acks 0, 1 and -1, gzip, keys,
// headers, timestamps, the idempotent producer, and records too large.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { CompressionTypes } = require('kafkajs')
const { kafka, uniq, readAll, byPartition } = require('./common')

const client = kafka()
const admin = client.admin()
before(() => admin.connect())
after(() => admin.disconnect())

async function topicOf (partitions, configEntries = []) {
  const topic = uniq('producer')
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, configEntries }] })
  return topic
}

for (const acks of [0, 1, -1]) {
  test(`acks=${acks}: keyed records land on their key's partition, in order`, async () => {
    const topic = await topicOf(3)
    const producer = client.producer()
    await producer.connect()
    const keys = ['a', 'b', 'c', 'd', 'e']
    for (let i = 0; i < 20; i++) {
      const res = await producer.send({ topic, acks, messages: keys.map(k => ({ key: k, value: `${k}-${i}` })) })
      if (acks !== 0) {
        assert.ok(res.every(r => r.errorCode === 0 && Number(r.baseOffset) >= 0))
      }
    }
    await producer.disconnect()
    const got = await readAll(client, topic, 100)
    assert.equal(got.length, 100)
    for (const k of keys) {
      const mine = got.filter(r => r.key === k)
      assert.equal(new Set(mine.map(r => r.partition)).size, 1, `key ${k} on one partition`)
      assert.deepEqual(mine.map(r => r.value), Array.from({ length: 20 }, (_, i) => `${k}-${i}`))
    }
  })
}

test('gzip batches with keys, headers and timestamps read back as sent', async () => {
  const topic = await topicOf(2)
  const producer = client.producer()
  await producer.connect()
  const sent = []
  for (let b = 0; b < 5; b++) {
    const messages = []
    for (let i = 0; i < 50; i++) {
      const n = b * 50 + i
      messages.push({
        partition: n % 2,
        key: `key-${n}`,
        value: `value-${n}-` + 'x'.repeat(n),
        timestamp: String(1600000000000 + n),
        headers: { n: String(n), kind: ['one', 'two'] }
      })
    }
    sent.push(...messages)
    await producer.send({ topic, compression: CompressionTypes.GZIP, acks: -1, messages })
  }
  // A null value (a tombstone) and an empty key.
  await producer.send({ topic, messages: [{ partition: 0, key: 'gone', value: null }, { partition: 1, key: '', value: 'empty key' }] })
  await producer.disconnect()

  const got = await readAll(client, topic, 252)
  const parts = byPartition(got)
  for (const p of [0, 1]) {
    const want = sent.filter(m => m.partition === p)
    const have = parts.get(p).slice(0, want.length)
    assert.deepEqual(have.map(r => r.offset), want.map((_, i) => i))
    assert.deepEqual(have.map(r => [r.key, r.value, r.timestamp]), want.map(m => [m.key, m.value, m.timestamp]))
    for (const [i, r] of have.entries()) {
      assert.equal(r.headers.n.toString(), want[i].headers.n)
      // Repeated header keys come back as an array.
      assert.deepEqual(r.headers.kind.map(String), ['one', 'two'])
    }
  }
  assert.deepEqual(parts.get(0).at(-1).key, 'gone')
  assert.equal(parts.get(0).at(-1).value, null)
  assert.deepEqual([parts.get(1).at(-1).key, parts.get(1).at(-1).value], ['', 'empty key'])
})

test('LogAppendTime topics stamp the broker time', async () => {
  const topic = await topicOf(1, [{ name: 'message.timestamp.type', value: 'LogAppendTime' }])
  const producer = client.producer()
  await producer.connect()
  const before = Date.now()
  const [res] = await producer.send({ topic, messages: [{ value: 'v', timestamp: '1000' }] })
  await producer.disconnect()
  assert.ok(Number(res.logAppendTime) >= before - 1000, `logAppendTime ${res.logAppendTime}`)
  const [got] = await readAll(client, topic, 1)
  assert.equal(got.timestamp, res.logAppendTime)
})

test('idempotent producer: many batches to every partition, each once and in order', async () => {
  const topic = await topicOf(4)
  const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const per = 200
  for (let i = 0; i < per; i += 10) {
    const messages = []
    for (let p = 0; p < 4; p++) {
      for (let j = i; j < i + 10; j++) messages.push({ partition: p, key: `p${p}`, value: String(j) })
    }
    await producer.send({ topic, acks: -1, compression: i % 20 === 0 ? CompressionTypes.GZIP : CompressionTypes.None, messages })
  }
  // sendBatch: several topics' records in one request.
  const other = await topicOf(1)
  await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages: [{ partition: 0, value: 'batch' }] }, { topic: other, messages: [{ value: 'other' }] }] })
  await producer.disconnect()

  const got = await readAll(client, topic, 4 * per + 1)
  const parts = byPartition(got)
  for (let p = 0; p < 4; p++) {
    const want = Array.from({ length: per }, (_, j) => String(j))
    if (p === 0) want.push('batch')
    assert.deepEqual(parts.get(p).map(r => r.value), want)
    assert.deepEqual(parts.get(p).map(r => r.offset), want.map((_, i) => i))
  }
  assert.deepEqual((await readAll(client, other, 1)).map(r => r.value), ['other'])
})

test('a record larger than max.message.bytes is refused', async () => {
  const topic = await topicOf(1, [{ name: 'max.message.bytes', value: '2000' }])
  const producer = client.producer({ retry: { retries: 0 } })
  await producer.connect()
  await assert.rejects(producer.send({ topic, messages: [{ value: 'x'.repeat(5000) }] }), e => {
    return /too large|MESSAGE_TOO_LARGE|larger/i.test(e.message + (e.cause ? e.cause.message : ''))
  })
  await producer.send({ topic, messages: [{ value: 'small' }] })
  await producer.disconnect()
  assert.deepEqual((await readAll(client, topic, 1)).map(r => [r.offset, r.value]), [[0, 'small']])
})

test('producing to a missing topic creates it (the producer allows automatic creation)', async () => {
  const topic = uniq('producer-auto')
  const producer = client.producer()
  await producer.connect()
  await producer.send({ topic, messages: [{ value: 'first' }] })
  await producer.disconnect()
  assert.deepEqual((await readAll(client, topic, 1)).map(r => r.value), ['first'])
})
