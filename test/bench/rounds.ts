// The rounds `pnpm bench` and the quick profiling harness share: the same prefilled
// in-memory queue consumed by a plain async function (the baseline) or by a
// supervised Troupe pool, with CPU and wall time measured around each.
import {
  applyProcessorOverrides,
  createPool,
  decodeDelivery,
  defineProcessor,
  persistWrites,
  startSupervisor,
  type Delivery,
  type HandlerContext,
} from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { pino } from 'pino';
import { z } from 'zod';

export const logger = pino({ level: 'silent' });
export const gc = (globalThis as { gc?: () => void }).gc;

export const noop = defineProcessor({
  name: 'noop',
  queue: 'bench.noop',
  bindings: [{ exchange: 'bench', routingKey: 'bench.noop' }],
  schema: z.object({ id: z.number() }),
  handle: () => undefined,
  concurrency: 4,
});

export interface Round {
  readonly messages: number;
  readonly wallMs: number;
  readonly cpuUs: number;
  /** Bytes allocated during the round (sampled), when TROUPE_BENCH_ALLOC=1. */
  readonly allocatedBytes?: number | undefined;
}

export async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** A new in-memory broker with the benchmark's queue declared. */
async function benchTransport(): Promise<MemoryTransport> {
  const transport = new MemoryTransport();
  await transport.declare([{ queue: noop.queue, bindings: noop.bindings }]);
  return transport;
}

/**
 * Publishes messages `first` to `first + count - 1`, all at once: the in-memory broker
 * enqueues each one at once and delivers on a later microtask, so nothing is consumed
 * before the caller yields.
 */
function enqueue(transport: MemoryTransport, first: number, count: number): void {
  for (let id = first; id < first + count; id += 1) {
    void transport.publish('bench', 'bench.noop', Buffer.from(`{"id":${id}}`), {
      messageId: `m${id}`,
      contentType: 'application/json',
    });
  }
}

/** A new in-memory broker whose queue holds `messages` messages. */
async function prefilled(messages: number): Promise<MemoryTransport> {
  const transport = await benchTransport();
  enqueue(transport, 0, messages);
  return transport;
}

interface ProfileNode {
  readonly selfSize: number;
  readonly children: readonly ProfileNode[];
}

function totalSize(node: ProfileNode): number {
  let total = node.selfSize;
  for (const child of node.children) total += totalSize(child);
  return total;
}

/**
 * Bytes allocated while `run` runs, from V8's sampling heap profiler counting the
 * objects garbage-collected since (an estimate; it slows the round, so its CPU figure
 * is not comparable with an unsampled round's).
 */
async function allocatedDuring(run: () => Promise<void>): Promise<number> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await run();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  // TROUPE_BENCH_ALLOC_PROFILE=file.heapprofile: the last round's samples, for DevTools.
  const file = process.env.TROUPE_BENCH_ALLOC_PROFILE;
  if (file !== undefined) writeFileSync(file, JSON.stringify(profile));
  return totalSize(profile.head);
}

export async function measure(run: () => Promise<void>, messages: number): Promise<Round> {
  gc?.();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  let allocatedBytes: number | undefined;
  if (process.env.TROUPE_BENCH_ALLOC === '1') allocatedBytes = await allocatedDuring(run);
  else await run();
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  return { messages, wallMs, cpuUs: used.user + used.system, allocatedBytes };
}

/** The baseline's work per delivery: what a plain async consumer does for each message. */
function plainWork(store: MemoryStore): (delivery: Delivery) => void {
  const signal = new AbortController().signal;
  const work = async (delivery: Delivery): Promise<void> => {
    try {
      const message = await decodeDelivery(delivery, noop.schema);
      const context: HandlerContext = {
        signal,
        log: logger,
        store,
        delivery: {
          messageId: delivery.messageId,
          correlationId: delivery.correlationId,
          routingKey: delivery.routingKey,
          headers: delivery.headers,
          redelivered: delivery.redelivered,
          attempt: 1,
        },
      };
      const result = await noop.handle(message, context);
      await persistWrites(result, store);
      delivery.ack();
    } catch (error) {
      delivery.deadLetter({ reason: String(error), processor: noop.name, attempts: 1 });
    }
  };
  return (delivery) => {
    void work(delivery);
  };
}

/** The baseline: a plain async function doing the same work on the same transport. */
export async function plainRound(messages: number, prefetch: number): Promise<Round> {
  const transport = await prefilled(messages);
  const store = new MemoryStore();
  return measure(async () => {
    const subscription = await transport.consume(noop.queue, { prefetch }, plainWork(store));
    await until(() => transport.acked >= messages);
    await subscription.cancel();
  }, messages);
}

/** A consumer that stays up between rounds, as a service's does: each round is one burst. */
export interface Steady {
  /** Enqueues `messages` (off the clock, all at once) and measures until all are acked. */
  round(messages: number): Promise<Round>;
  stop(): Promise<void>;
}

/**
 * Rounds of bursts on `transport`: each enqueues its messages off the clock, then
 * measures until every one of them is acked.
 */
function bursts(transport: MemoryTransport): Steady['round'] {
  let next = 0;
  return (messages) => {
    enqueue(transport, next, messages);
    next += messages;
    const target = transport.acked + messages;
    return measure(() => until(() => transport.acked >= target), messages);
  };
}

/** The baseline, subscribed once and kept: a plain async function per delivery. */
export async function steadyPlain(prefetch: number): Promise<Steady> {
  const transport = await benchTransport();
  const subscription = await transport.consume(
    noop.queue,
    { prefetch },
    plainWork(new MemoryStore()),
  );
  return {
    round: bursts(transport),
    stop: () => subscription.cancel(),
  };
}

/** A supervised pool started once and kept, taking batches of up to `maxBatch`. */
export async function steadyTroupe(concurrency: number, maxBatch: number): Promise<Steady> {
  const transport = await benchTransport();
  const definition = applyProcessorOverrides(noop, { maxBatch });
  const pool = createPool({ definition, transport, store: new MemoryStore(), logger, concurrency });
  const runtime = startSupervisor(pool.supervisorOptions());
  await until(() => runtime.actor.getSnapshot().value === 'running');
  return {
    round: bursts(transport),
    stop: async () => {
      await runtime.shutdown();
    },
  };
}

/**
 * The same work through a supervised pool of processor actors, each worker taking up to
 * `maxBatch` deliveries at once (the broker's prefetch is concurrency × maxBatch).
 */
export async function troupeRound(
  messages: number,
  concurrency: number,
  maxBatch = 1,
): Promise<Round> {
  const transport = await prefilled(messages);
  const store = new MemoryStore();
  // Always explicit: `noop` sets no maxBatch, so it takes core's default (not 1).
  const definition = applyProcessorOverrides(noop, { maxBatch });
  return measure(async () => {
    const pool = createPool({ definition, transport, store, logger, concurrency });
    const runtime = startSupervisor(pool.supervisorOptions());
    await until(() => transport.acked >= messages);
    await runtime.shutdown();
  }, messages);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
