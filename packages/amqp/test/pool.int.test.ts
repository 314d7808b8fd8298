// A whole processor pool (createPool from @troupe/core, MemoryStore from
// @troupe/memory) consuming from the real RabbitMQ: valid messages stored and acked,
// invalid ones dead-lettered with the reason; a shutdown under load loses nothing —
// every message is either stored or back in its queue.
import {
  createPool,
  defineProcessor,
  startSupervisor,
  TransientError,
  type QueueTopology,
  type SupervisorRuntime,
} from '@troupe/core';
import { MemoryStore } from '@troupe/memory';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AmqpTransport } from '../src/index.js';
import {
  BrokerAdmin,
  bytes,
  createTransport,
  eventually,
  testLogger,
  uniqueName,
} from './helpers.js';

let admin: BrokerAdmin;
let transport: AmqpTransport;
let store: MemoryStore;
let exchange: string;
let queue: string;
let runtime: SupervisorRuntime | undefined;

/** Simulated work: resolves after `ms`, or rejects when the signal is aborted. */
function work(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      },
      { once: true },
    );
  });
}

/** `before`: awaited by each handler first, when it returns a promise (a gate). */
function itemsProcessor(
  workMs: number,
  concurrency: number,
  options: { maxBatch?: number; before?: () => Promise<void> | undefined } = {},
) {
  return defineProcessor({
    name: 'items',
    queue,
    bindings: [{ exchange, routingKey: 'item.#' }],
    schema: z.object({ id: z.string(), n: z.number() }),
    handle: async (item, { signal }) => {
      await options.before?.();
      if (workMs > 0) await work(workMs, signal);
      return { collection: 'items', key: item.id, document: item };
    },
    concurrency,
    ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }),
  });
}

beforeEach(async () => {
  admin = new BrokerAdmin();
  exchange = uniqueName('events');
  queue = uniqueName('items');
  const topology: QueueTopology[] = [{ queue, bindings: [{ exchange, routingKey: 'item.#' }] }];
  admin.track(topology);
  transport = createTransport();
  store = new MemoryStore();
  await transport.declare(topology);
});

afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
  await transport.close();
  await admin.cleanup();
});

const publishItems = (ids: readonly string[]): Promise<void[]> =>
  Promise.all(
    ids.map((id, n) =>
      transport.publish(exchange, 'item.created', bytes(JSON.stringify({ id, n })), {
        messageId: id,
        contentType: 'application/json',
      }),
    ),
  );

describe('a pool on RabbitMQ', () => {
  it('stores valid messages, dead-letters invalid ones with the reason, acks everything', async () => {
    const definition = itemsProcessor(0, 4);
    const pool = createPool({ definition, transport, store, logger: testLogger });
    runtime = startSupervisor(pool.supervisorOptions(), { id: 'items-pool' });
    const ids = Array.from({ length: 200 }, (_, i) => `item-${i}`);
    await publishItems(ids);
    await transport.publish(exchange, 'item.bad', bytes('not json'), { messageId: 'bad-json' });
    await transport.publish(exchange, 'item.bad', bytes('{"id":5}'), { messageId: 'bad-schema' });

    await eventually(
      () => store.count('items'),
      (count) => count === 200,
    );
    await eventually(
      () => admin.messageCount(`${queue}.dead`),
      (count) => count === 2,
    );
    const dead = [await admin.get(`${queue}.dead`), await admin.get(`${queue}.dead`)];
    const byId = new Map(dead.map((message) => [message?.properties.messageId, message]));
    expect(byId.get('bad-json')?.properties.headers).toMatchObject({
      'x-troupe-processor': 'items',
      'x-troupe-attempts': 1,
      'x-troupe-original-routing-key': 'item.bad',
    });
    expect(String(byId.get('bad-json')?.properties.headers?.['x-troupe-reason'])).toMatch(
      /^INVALID_MESSAGE/,
    );
    expect(String(byId.get('bad-schema')?.properties.headers?.['x-troupe-reason'])).toMatch(
      /^INVALID_MESSAGE/,
    );
    await eventually(
      () => admin.messageCount(queue),
      (count) => count === 0,
    );
    const output = await runtime.shutdown();
    runtime = undefined;
    expect(output.exit).toBe('shutdown');
  });

  it('retries transient failures inline, and dead-letters when the attempts run out', async () => {
    const calls = new Map<string, number>();
    const definition = defineProcessor({
      name: 'flaky',
      queue,
      bindings: [{ exchange, routingKey: 'item.#' }],
      schema: z.object({ id: z.string(), failures: z.number() }),
      handle: (item) => {
        const call = (calls.get(item.id) ?? 0) + 1;
        calls.set(item.id, call);
        if (call <= item.failures) throw new TransientError(`flaky ${item.id} (${call})`);
        return { collection: 'items', key: item.id, document: item };
      },
      retry: { attempts: 3, backoff: { kind: 'fixed', delayMs: 20 } },
      concurrency: 2,
    });
    const pool = createPool({ definition, transport, store, logger: testLogger });
    runtime = startSupervisor(pool.supervisorOptions(), { id: 'flaky-pool' });
    for (const [id, failures] of [
      ['recovers', 2],
      ['doomed', 5],
    ] as const) {
      await transport.publish(exchange, 'item.x', bytes(JSON.stringify({ id, failures })), {
        messageId: id,
        contentType: 'application/json',
      });
    }
    await eventually(
      () => store.count('items'),
      (count) => count === 1,
    );
    expect(await store.get('items', 'recovers')).toBeDefined();
    const dead = await eventually(
      () => admin.get(`${queue}.dead`),
      (message) => message !== undefined,
    );
    expect(dead?.properties.messageId).toBe('doomed');
    expect(dead?.properties.headers).toMatchObject({
      'x-troupe-processor': 'flaky',
      'x-troupe-attempts': 3,
    });
    expect(String(dead?.properties.headers?.['x-troupe-reason'])).toMatch(/TRANSIENT/);
    expect(calls.get('recovers')).toBe(3);
    expect(calls.get('doomed')).toBe(3);
    await eventually(
      () => admin.messageCount(queue),
      (count) => count === 0,
    );
  });

  it('shuts down under load and loses nothing: each message is stored or back in the queue', async () => {
    // Past the first 200 messages, handlers wait until the shutdown is asked for: it then
    // always comes mid-stream, however fast the machine drains the queue (at most the
    // prefetch, 8 × 8, is in the workers' hands when it does).
    let handled = 0;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const definition = itemsProcessor(0, 8, {
      maxBatch: 8,
      before: () => ((handled += 1) > 200 ? released : undefined),
    });
    const pool = createPool({ definition, transport, store, logger: testLogger, drainMs: 5000 });
    const ids = Array.from({ length: 1000 }, (_, i) => `load-${i}`);
    await publishItems(ids);
    runtime = startSupervisor(pool.supervisorOptions(), { id: 'items-pool' });
    await eventually(
      () => store.count('items'),
      (count) => count >= 100,
    );
    const stopping = runtime.shutdown();
    release();
    const output = await stopping;
    runtime = undefined;
    expect(output.exit).toBe('shutdown');
    // Whatever was in flight went back to the broker when the channel closed.
    await transport.close();
    await eventually(
      () => admin.consumerCount(queue),
      (count) => count === 0,
    );

    const stored = new Set<string>();
    for (const id of ids) if ((await store.get('items', id)) !== undefined) stored.add(id);
    const queued = new Set<string>();
    for (;;) {
      const message = await admin.get(queue);
      if (message === undefined) break;
      queued.add(String(message.properties.messageId));
    }
    expect(stored.size).toBeGreaterThanOrEqual(100);
    expect(stored.size).toBeLessThan(ids.length);
    const missing = ids.filter((id) => !stored.has(id) && !queued.has(id));
    expect(missing).toEqual([]);
    expect(await admin.messageCount(`${queue}.dead`)).toBe(0);
  });
});
