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

export async function prefill(transport: MemoryTransport, messages: number): Promise<void> {
  await transport.declare([{ queue: noop.queue, bindings: noop.bindings }]);
  for (let i = 0; i < messages; i += 1) {
    await transport.publish('bench', 'bench.noop', Buffer.from(`{"id":${i}}`), {
      messageId: `m${i}`,
      contentType: 'application/json',
    });
  }
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

/** The baseline: a plain async function doing the same work on the same transport. */
export async function plainRound(messages: number, prefetch: number): Promise<Round> {
  const transport = new MemoryTransport();
  const store = new MemoryStore();
  await prefill(transport, messages);
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
  return measure(async () => {
    const subscription = await transport.consume(noop.queue, { prefetch }, (delivery) => {
      void work(delivery);
    });
    await until(() => transport.acked >= messages);
    await subscription.cancel();
  }, messages);
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
  const transport = new MemoryTransport();
  const store = new MemoryStore();
  await prefill(transport, messages);
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
