// Helpers shared by the suite's test files: the brokers to reach, a KafkaJS
// client, unique topic and group names, waiting on a condition, and reading a
// topic's records back.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

// KAFKAJS_BROKERS names the node (or the cluster) the tests reach.
const brokers = (process.env.KAFKAJS_BROKERS || '127.0.0.1:9092').split(',')

const levels = { nothing: logLevel.NOTHING, error: logLevel.ERROR, warn: logLevel.WARN, info: logLevel.INFO, debug: logLevel.DEBUG }

// kafka returns a KafkaJS client of the brokers; KAFKAJS_LOG sets its log
// level (nothing by default: KafkaJS logs as errors the retriable answers it
// retries, such as a coordinator still loading).
function kafka (opts = {}) {
  return new Kafka({
    clientId: 'kafkajssuite',
    brokers,
    logLevel: levels[process.env.KAFKAJS_LOG || 'nothing'],
    ...opts
  })
}

let seq = 0
// uniq returns a name no other test of this run uses.
function uniq (prefix) {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq++}`
}

// waitFor polls cond (which may be async) until it returns a truthy value,
// and returns that value; it fails after timeoutMs, naming what it waited for.
async function waitFor (what, cond, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

// readAll consumes topic from its beginning in a group of its own until n
// records arrived (more may arrive), and returns them in the order each
// partition delivered them: {partition, offset, key, value, headers,
// timestamp}. opts are passed to the consumer (readUncommitted, ...);
// opts.until(records), when given, must also hold before it returns.
async function readAll (client, topic, n, opts = {}) {
  const { until, timeoutMs, ...copts } = opts
  const consumer = client.consumer({ groupId: uniq('readall'), maxWaitTimeInMs: 100, ...copts })
  const got = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.push({
          partition,
          offset: Number(message.offset),
          key: message.key && message.key.toString(),
          value: message.value && message.value.toString(),
          headers: message.headers,
          timestamp: message.timestamp
        })
      }
    })
    const ok = until || (() => true)
    await waitFor(`${n} records of ${topic}`, () => got.length >= n && ok(got), timeoutMs || 30000)
  } finally {
    await consumer.disconnect()
  }
  return got
}

// byPartition groups records by partition, each list in delivery order.
function byPartition (records) {
  const m = new Map()
  for (const r of records) {
    if (!m.has(r.partition)) m.set(r.partition, [])
    m.get(r.partition).push(r)
  }
  return m
}

const coordinatorMoving = ['NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE']

// fetchOffsets is admin.fetchOffsets asked again while the group's
// coordinator moves: KafkaJS's admin does not retry NOT_COORDINATOR (nor a
// coordinator loading), which any broker answers then (on a cluster whose
// nodes are killed and started again).
async function fetchOffsets (admin, args) {
  return waitFor(`the offsets of ${args.groupId}`, async () => {
    try {
      return await admin.fetchOffsets(args)
    } catch (e) {
      if (coordinatorMoving.includes(e.type)) return false
      throw e
    }
  })
}

// exitWhenDone ends the test file's process 10 s after its tests ended if
// something still keeps it alive, and names the sockets left open. After a
// node was killed and started again, now and then a KafkaJS client that was
// disconnected (and emitted no event after) leaves a connection to that
// node open, which keeps node running; seen in most runs of
// chaos.test.js, never in a file that kills no node.
function exitWhenDone () {
  require('node:test').after(() => {
    setTimeout(() => {
      const open = process._getActiveHandles().filter(h => h.remotePort).map(h => `${h.remoteAddress}:${h.remotePort}`)
      console.error(`# exiting: still open 10 s after the tests ended: ${open.join(', ') || 'no sockets'}`)
      process.exit()
    }, 10000).unref()
  })
}

module.exports = { kafka, brokers, uniq, waitFor, readAll, byPartition, fetchOffsets, exitWhenDone }
