// Drives kafkajs against a Strata node for e2e/clients_kafkajs_test.go.
// Usage: node kafkajs.js admin|produce|consume|auth
// Environment: BROKER, TOPIC, GROUP, PARTITIONS, COUNT (records to produce),
// EXPECT (records to consume before committing), FIRST (index of the first
// record to produce), and, all optional (e2e/security_clients_test.go):
// SECURITY_PROTOCOL (SSL or SASL_SSL turn TLS on), SASL_MECHANISM,
// SASL_USERNAME, SASL_PASSWORD, SSL_CA (a PEM file of CAs to trust). Prints
// one JSON object per line on stdout; kafkajs' own log goes to stderr.
'use strict';
const fs = require('fs');
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const env = (k, d) => process.env[k] ?? d;
const broker = env('BROKER');
const topic = env('TOPIC');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// security returns kafkajs' ssl and sasl options from the environment; none
// (plaintext, no SASL) when nothing is set.
function security() {
  const proto = env('SECURITY_PROTOCOL', 'PLAINTEXT').toUpperCase();
  const opts = {};
  if (proto === 'SSL' || proto === 'SASL_SSL') {
    opts.ssl = env('SSL_CA') ? { ca: [fs.readFileSync(env('SSL_CA'), 'utf8')] } : true;
  }
  if (env('SASL_MECHANISM')) {
    opts.sasl = {
      mechanism: env('SASL_MECHANISM').toLowerCase(),
      username: env('SASL_USERNAME'),
      password: env('SASL_PASSWORD'),
    };
  }
  return opts;
}

const kafka = new Kafka({
  clientId: 'strata-e2e-kafkajs',
  brokers: [broker],
  retry: { retries: 5, initialRetryTime: 100 },
  logLevel: logLevel.WARN,
  logCreator: () => ({ level, log }) => process.stderr.write(`${level} ${JSON.stringify(log)}\n`),
  ...security(),
});

function value(i) {
  return `kafkajs value ${i} ` + `padding-${i % 10} `.repeat(20);
}

async function admin() {
  const a = kafka.admin();
  await a.connect();
  const created = await a.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: Number(env('PARTITIONS', '3')), replicationFactor: 1 }],
  });
  const md = await a.fetchTopicMetadata({ topics: [topic] });
  out({ event: 'created', topic, count: md.topics[0].partitions.length, value: String(created) });
  await a.disconnect();
}

async function produce() {
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  const parts = Number(env('PARTITIONS', '3'));
  const first = Number(env('FIRST', '0'));
  const count = Number(env('COUNT'));
  const per = 50;
  for (let start = first; start < first + count; start += per) {
    const messages = [];
    for (let i = start; i < Math.min(start + per, first + count); i++) {
      messages.push({
        partition: i % parts,
        key: `k-${i}`,
        value: value(i),
        headers: { idx: String(i), src: 'kafkajs' },
      });
    }
    const res = await p.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages });
    for (const r of res) {
      if (r.errorCode !== 0) throw new Error(`produce error ${r.errorCode} on partition ${r.partition}`);
      out({ event: 'ack', topic: r.topicName, partition: r.partition, offset: Number(r.baseOffset) });
    }
  }
  await p.disconnect();
  out({ event: 'produced', count });
}

async function consume() {
  const expect = Number(env('EXPECT'));
  const c = kafka.consumer({
    groupId: env('GROUP'),
    sessionTimeout: 10000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200,
  });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  const last = new Map();
  let seen = 0;
  let resolveDone;
  const done = new Promise((r) => { resolveDone = r; });
  await c.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      const headers = {};
      for (const [k, v] of Object.entries(message.headers || {})) headers[k] = v.toString();
      out({
        event: 'record', topic, partition, offset: Number(message.offset),
        key: message.key.toString(), value: message.value.toString(), headers,
      });
      last.set(partition, Number(message.offset));
      seen++;
      if (seen === expect) resolveDone();
    },
  });
  const timer = setTimeout(() => { out({ event: 'error', error: `consumed ${seen} of ${expect}` }); process.exit(1); }, 30000);
  await done;
  // Linger so that a duplicate delivery, if any, would be seen.
  await new Promise((r) => setTimeout(r, 500));
  clearTimeout(timer);
  const offsets = [...last].map(([partition, off]) => ({ topic, partition, offset: String(off + 1) }));
  await c.commitOffsets(offsets);
  for (const o of offsets) out({ event: 'committed', topic, partition: o.partition, offset: Number(o.offset) });
  await c.disconnect();
  out({ event: 'consumed', count: seen });
}

// auth connects an admin client with the configured credentials and reports
// how the broker answered: "metadata" with the topic count, or "refused"
// with the error's name (key) and message (value).
async function auth() {
  const a = kafka.admin();
  try {
    await a.connect();
    const topics = await a.listTopics();
    out({ event: 'metadata', count: topics.length });
  } catch (e) {
    out({ event: 'refused', key: String(e && e.name), value: String(e && e.message) });
  } finally {
    await a.disconnect().catch(() => {});
  }
}

const phases = { admin, produce, consume, auth };
const phase = phases[process.argv[2]];
if (!phase) {
  out({ event: 'error', error: `unknown phase ${process.argv[2]}` });
  process.exit(2);
}
phase().then(() => process.exit(0), (e) => {
  out({ event: 'error', error: String(e && e.stack || e) });
  process.exit(1);
});
