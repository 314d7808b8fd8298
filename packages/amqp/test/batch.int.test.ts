// Worker batches on the real RabbitMQ: a batch mixing valid, invalid, transient and
// permanent messages; each message's attempts across retries; a batch of one at low
// load; a shutdown in the middle of batches that loses nothing; and the channel
// acknowledger itself (one `multiple` ack for the oldest deliveries, dead letters
// published before their deliveries are acked).
import {
  createPool,
  defineProcessor,
  PermanentError,
  settleAll,
  startSupervisor,
  TransientError,
  type Delivery,
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
  Collector,
  createTransport,
  eventually,
  testLogger,
  uniqueName,
} from './helpers.js';

let admin: BrokerAdmin;
let transport: AmqpTransport;
let exchange: string;
let queue: string;
let runtime: SupervisorRuntime | undefined;

beforeEach(async () => {
  admin = new BrokerAdmin();
  exchange = uniqueName('events');
  queue = uniqueName('batch');
  const topology: QueueTopology[] = [{ queue, bindings: [{ exchange, routingKey: 'item.#' }] }];
  admin.track(topology);
  transport = createTransport();
  await transport.declare(topology);
});

afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
  await transport.close();
  await admin.cleanup();
});

const itemSchema = z.object({ id: z.string(), kind: z.string() });

const publish = (items: readonly (z.infer<typeof itemSchema> | string)[]): Promise<void[]> =>
  Promise.all(
    items.map((item, n) =>
      transport.publish(
        exchange,
        'item.created',
        bytes(typeof item === 'string' ? item : JSON.stringify(item)),
        {
          messageId: typeof item === 'string' ? `raw-${n}` : item.id,
          contentType: 'application/json',
        },
      ),
    ),
  );

describe('a batched pool on RabbitMQ', () => {
  it('settles a mixed batch: valid stored, invalid and permanent dead-lettered, transient retried with its attempts', async () => {
    const store = new MemoryStore();
    const attempts = new Map<string, number[]>();
    const definition = defineProcessor({
      name: 'mixed',
      queue,
      bindings: [{ exchange, routingKey: 'item.#' }],
      schema: itemSchema,
      concurrency: 1,
      maxBatch: 32,
      retry: { attempts: 5, backoff: { kind: 'fixed', delayMs: 20 } },
      handle: (item, { delivery }) => {
        attempts.set(item.id, [...(attempts.get(item.id) ?? []), delivery.attempt]);
        if (item.kind === 'transient' && delivery.attempt < 3) throw new TransientError('busy');
        if (item.kind === 'permanent') throw new PermanentError('refused');
        return { collection: 'items', key: item.id, document: item };
      },
    });
    const pool = createPool({ definition, transport, store, logger: testLogger });
    runtime = startSupervisor(pool.supervisorOptions(), { id: 'mixed-pool' });
    await eventually(
      () => admin.consumerCount(queue),
      (count) => count === 1,
    );
    const valid = Array.from({ length: 20 }, (_, i) => ({ id: `v-${i}`, kind: 'ok' }));
    await publish([
      ...valid,
      { id: 't-1', kind: 'transient' },
      { id: 'p-1', kind: 'permanent' },
      'not json',
      { id: 't-2', kind: 'transient' },
    ]);
    await eventually(
      () => store.count('items'),
      (count) => count === 22,
    );
    await eventually(
      () => admin.messageCount(`${queue}.dead`),
      (count) => count === 2,
    );
    const dead = [await admin.get(`${queue}.dead`), await admin.get(`${queue}.dead`)];
    const reasons: Record<string, string> = Object.fromEntries(
      dead.map((message) => [
        String(message?.properties.messageId),
        String(message?.properties.headers?.['x-troupe-reason']),
      ]),
    );
    expect(reasons['p-1']).toMatch(/^PERMANENT: refused/);
    expect(reasons['raw-22']).toMatch(/^INVALID_MESSAGE: body is not valid JSON/);
    expect(attempts.get('t-1')).toEqual([1, 2, 3]);
    expect(attempts.get('t-2')).toEqual([1, 2, 3]);
    expect(attempts.get('v-0')).toEqual([1]);
    await eventually(
      () => admin.messageCount(queue),
      (count) => count === 0,
    );
  });

  it('takes a batch of one at low load', async () => {
    const store = new MemoryStore();
    const batches: string[][] = [];
    const definition = defineProcessor({
      name: 'low',
      queue,
      bindings: [{ exchange, routingKey: 'item.#' }],
      schema: itemSchema,
      concurrency: 2,
      maxBatch: 64,
      handle: (item) => ({ collection: 'items', key: item.id, document: item }),
    });
    const pool = createPool({
      definition,
      transport,
      store,
      logger: testLogger,
      observer: {
        settled: () => undefined,
        step: () => undefined,
        retrying: () => undefined,
        batch: (ids) => batches.push([...ids]),
      },
    });
    runtime = startSupervisor(pool.supervisorOptions(), { id: 'low-pool' });
    await eventually(
      () => admin.consumerCount(queue),
      (count) => count === 1,
    );
    for (const id of ['one', 'two', 'three']) {
      await publish([{ id, kind: 'ok' }]);
      await eventually(
        () => store.count('items'),
        (count) => count === batches.length && batches.at(-1)?.[0] === id,
      );
    }
    expect(batches).toEqual([['one'], ['two'], ['three']]);
  });

  it('shut down in the middle of batches: what finishes is acked, the rest requeued, nothing dead-lettered', async () => {
    const store = new MemoryStore();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const definition = defineProcessor({
      name: 'draining',
      queue,
      bindings: [{ exchange, routingKey: 'item.#' }],
      schema: itemSchema,
      concurrency: 2,
      maxBatch: 16,
      handle: async (item) => {
        if (item.kind === 'slow') await gate;
        return { collection: 'items', key: item.id, document: item };
      },
    });
    const pool = createPool({ definition, transport, store, logger: testLogger });
    runtime = startSupervisor(pool.supervisorOptions(), { id: 'draining-pool' });
    await eventually(
      () => admin.consumerCount(queue),
      (count) => count === 1,
    );
    const items = Array.from({ length: 200 }, (_, i) => ({
      id: `d-${i}`,
      kind: i % 10 === 0 ? 'slow' : 'ok',
    }));
    await publish(items);
    // Both workers are held mid-batch by a slow message.
    await eventually(
      () => Promise.resolve(pool.dispatcher.idleWorkers),
      (idle) => idle === 0,
    );
    const stopping = runtime.shutdown();
    release();
    expect((await stopping).exit).toBe('shutdown');
    runtime = undefined;
    const stored = await store.count('items');
    expect(stored).toBeGreaterThan(0);
    expect(await admin.messageCount(`${queue}.dead`)).toBe(0);
    await eventually(
      () => admin.messageCount(queue),
      (count) => count + stored === items.length,
    );
  });
});

describe('the channel acknowledger', () => {
  it('acks the oldest deliveries of a channel with one multiple ack, and publishes dead letters before acking them', async () => {
    const collector = new Collector();
    const subscription = await transport.consume(queue, { prefetch: 10 }, collector.onDelivery);
    await publish(Array.from({ length: 10 }, (_, i) => ({ id: `a-${i}`, kind: 'ok' })));
    await collector.until(10);
    const deliveries: Delivery[] = collector.deliveries;
    const acknowledger = deliveries[0]?.acknowledger as
      { multipleAcks: number; coveredByMultiple: number } | undefined;
    expect(acknowledger).toBeDefined();
    settleAll([
      ...deliveries.slice(0, 6).map((delivery) => ({ kind: 'ack' as const, delivery })),
      {
        kind: 'dead-letter',
        delivery: deliveries[6] as Delivery,
        info: { reason: 'PERMANENT: no', processor: 'test', attempts: 1 },
      },
      ...deliveries.slice(7).map((delivery) => ({ kind: 'ack' as const, delivery })),
    ]);
    // The six oldest in one frame; the three after the dead letter one by one.
    expect(acknowledger?.multipleAcks).toBe(1);
    expect(acknowledger?.coveredByMultiple).toBe(6);
    await eventually(
      () => admin.messageCount(`${queue}.dead`),
      (count) => count === 1,
    );
    // Settling again changes nothing (at most once), and nothing comes back.
    settleAll(deliveries.map((delivery) => ({ kind: 'requeue' as const, delivery })));
    await subscription.cancel();
    await eventually(
      () => admin.messageCount(queue),
      (count) => count === 0,
    );
    expect(collector.deliveries).toHaveLength(10);
  });
});
