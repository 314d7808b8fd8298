// Latency at 1,000 msg/s on the local broker, for the benchmark report: publish → ack,
// measured the same way for a raw amqplib consumer (decode, validate, ack; prefetch 128)
// and for a batched Troupe pool with no batch timeout (4 × 32, prefetch 128), in
// alternating rounds of one run. The consumer under measure is this process and nothing
// else runs in it; the publisher is a process of its own (latency-publisher.ts) that
// stamps each message with the monotonic clock, which every process of the machine shares.
// Each round starts its consumer afresh, so the first second of a round (its first 1,000
// messages) includes V8 compiling the consumer's hot path: those are reported apart, and
// p50/p99/max are the steady state after them, the same for both consumers.
//
//   node --import tsx packages/amqp/test/latency.ts [seconds=5] [rounds=3]
//
// Prints one JSON line per consumer. Not part of the test suites.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createPool, defineProcessor, startSupervisor } from '@troupe/core';
import { MemoryStore } from '@troupe/memory';
import { connect } from 'amqplib';
import { pino } from 'pino';
import { AmqpTransport } from '../src/index.js';
import { decode, schema } from './bench-work.js';
import { brokerUrl } from './helpers.js';

const seconds = Number(process.argv[2] ?? '5');
const rounds = Number(process.argv[3] ?? '3');
const total = seconds * 1000;
if (!(seconds >= 2)) throw new Error('seconds must be 2 or more: the first is the warm-up');
const logger = pino({ level: 'silent' });
const publisherScript = fileURLToPath(new URL('./latency-publisher.ts', import.meta.url));

/** Publish → now, in ms, from a message id `<i>:<ns at publish>`. */
const since = (messageId: string): number =>
  Number(process.hrtime.bigint() - BigInt(messageId.slice(messageId.indexOf(':') + 1))) / 1e6;

/** Runs the publisher process to its end (every message handed to the broker). */
function publish(queue: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', publisherScript, queue, String(total)],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`publisher exited with ${code}`)),
    );
  });
}

type Start = (queue: string, acked: (messageId: string) => void) => Promise<() => Promise<void>>;

const raw: Start = async (queue, acked) => {
  // Nagle off, as Troupe's transport sets it (a lone ack could wait up to 40 ms for the
  // broker's delayed ACK otherwise).
  const consumer = await connect(brokerUrl, { noDelay: true });
  const channel = await consumer.createChannel();
  await channel.prefetch(128);
  await channel.consume(queue, (message) => {
    if (message === null) return;
    decode(message.content);
    channel.ack(message);
    acked(String(message.properties.messageId));
  });
  return () => consumer.close();
};

const pooled: Start = async (queue, acked) => {
  const transport = new AmqpTransport({ url: brokerUrl, logger });
  await transport.ready();
  const definition = defineProcessor({
    name: 'latency',
    queue,
    bindings: [],
    schema,
    handle: () => undefined,
    concurrency: 4,
    maxBatch: 32,
  });
  const pool = createPool({
    definition,
    transport,
    store: new MemoryStore(),
    logger,
    observer: {
      settled: (_outcome, _ms, messageId) => acked(messageId),
      step: () => undefined,
      retrying: () => undefined,
    },
  });
  const runtime = startSupervisor(pool.supervisorOptions(), { id: 'latency' });
  return async () => {
    await runtime.shutdown();
    await transport.close();
  };
};

/** The messages of each round, by publish order, that are its first second (warm-up). */
const warmUp = 1000;

interface Side {
  /** After each round's first second. */
  readonly latencies: number[];
  /** The first second of each round: the consumer just started, its code not compiled yet. */
  readonly first: number[];
  /** The p99 of a 1 ms timer's interval in this process, per round (ms). */
  readonly loop: number[];
  /** The same in an idle Node process beside the round (the machine's floor), per round. */
  readonly bystander: number[];
}

/**
 * An idle Node process that only watches its own 1 ms timer while a round runs: how late
 * the machine wakes a process that does nothing. Resolves with its p99 (ms) once stopped.
 */
function bystander(): { stop(): Promise<number> } {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const h = require('node:perf_hooks').monitorEventLoopDelay({ resolution: 1 });
       h.enable();
       process.stdin.resume();
       process.stdin.on('end', () => {
         h.disable();
         process.stdout.write(String(h.percentile(99) / 1e6));
         process.exit(0);
       });`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    async stop() {
      child.stdin.end();
      await exited;
      return Number(output);
    },
  };
}

/** One round: the consumer starts, the publisher runs, the round ends when all are acked. */
async function round(queue: string, start: Start, side: Side): Promise<void> {
  let count = 0;
  let finished: () => void = () => undefined;
  const allAcked = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const stop = await start(queue, (messageId) => {
    const latency = since(messageId);
    if (Number(messageId.slice(0, messageId.indexOf(':'))) < warmUp) side.first.push(latency);
    else side.latencies.push(latency);
    count += 1;
    if (count === total) finished();
  });
  const watcher = bystander();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  await publish(queue);
  await allAcked;
  delay.disable();
  side.loop.push(delay.percentile(99) / 1e6);
  side.bystander.push(await watcher.stop());
  await stop();
}

function quantiles(latencies: number[]): Record<string, number> {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number): number =>
    Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(2));
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}

const admin = await connect(brokerUrl);
const channel = await admin.createChannel();
const queue = `troupe-bench.latency.${randomUUID().slice(0, 8)}`;
await channel.assertQueue(queue, { durable: true });
const sides = {
  raw: { latencies: [], first: [], loop: [], bystander: [] } as Side,
  pool: { latencies: [], first: [], loop: [], bystander: [] } as Side,
};
for (let i = 0; i < rounds; i += 1) {
  // Alternating order: a slow moment of the shared machine hits both sides alike.
  const order: ['raw' | 'pool', Start][] = [
    ['raw', raw],
    ['pool', pooled],
  ];
  for (const [name, start] of i % 2 === 0 ? order : order.reverse()) {
    await round(queue, start, sides[name]);
  }
}
await channel.deleteQueue(queue);
await admin.close();
const common = { messages: (total - warmUp) * rounds, rounds, ratePerSecond: 1000, prefetch: 128 };
const worst = (values: number[]): number => Number(Math.max(...values).toFixed(2));
const loopP99 = (side: Side): Record<string, number> => ({
  warmUpMessages: side.first.length,
  firstSecondP99Ms: quantiles(side.first).p99Ms ?? NaN,
  loopP99Ms: worst(side.loop),
  bystanderP99Ms: worst(side.bystander),
});
process.stdout.write(
  `${JSON.stringify({ name: 'latency/raw-amqplib', ...common, ...quantiles(sides.raw.latencies), ...loopP99(sides.raw) })}\n`,
);
process.stdout.write(
  `${JSON.stringify({ name: 'latency/troupe-pool-batched', ...common, concurrency: 4, maxBatch: 32, ...quantiles(sides.pool.latencies), ...loopP99(sides.pool) })}\n`,
);
