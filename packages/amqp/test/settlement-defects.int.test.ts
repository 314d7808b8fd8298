// Settlement defects of issue 12 that happen on the broker, on the real RabbitMQ:
// escalation on a classic queue (the requeued copy carries no attempt count) and a pool
// scaled to zero (a delivery kept in the process with no worker to take it).
import {
  createPool,
  defineProcessor,
  scalePool,
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
let exchange: string;
let queue: string;
let runtime: SupervisorRuntime | undefined;

beforeEach(async () => {
  admin = new BrokerAdmin();
  exchange = uniqueName('events');
  queue = uniqueName('defects');
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

const itemSchema = z.object({ id: z.string() });

describe('issue 12, defect 3: onExhausted escalate on a classic queue', () => {
  it('ends in a dead letter within a bounded number of deliveries', async () => {
    let calls = 0;
    const definition = defineProcessor({
      name: 'escalating',
      queue,
      bindings: [{ exchange, routingKey: 'item.#' }],
      schema: itemSchema,
      handle: (): undefined => {
        calls += 1;
        throw new TransientError('always fails');
      },
      concurrency: 1,
      retry: {
        attempts: 2,
        backoff: { kind: 'fixed', delayMs: 0 },
        onExhausted: 'escalate',
        redeliverFromMs: Infinity,
      },
    });
    const pool = createPool({
      definition,
      transport,
      store: new MemoryStore(),
      logger: testLogger,
      // Restarts are cheap and never trip the intensity: only the message can end the loop.
      intensity: { maxRestarts: 1_000_000, withinMs: 1000 },
      restartBackoff: { backoff: { kind: 'fixed', delayMs: 0 }, resetAfterMs: 1 },
    });
    runtime = startSupervisor(pool.supervisorOptions(), { id: 'escalating-pool' });
    await transport.publish(exchange, 'item.created', bytes('{"id":"loop"}'), {
      messageId: 'loop',
      contentType: 'application/json',
    });
    // Either the message is dead-lettered, or it went round far more often than the
    // policy's attempts allow (the loop).
    await eventually(
      async () => ({ dead: await admin.messageCount(`${queue}.dead`), calls }),
      (seen) => seen.dead === 1 || seen.calls > 20,
      15_000,
    );
    expect(await admin.messageCount(`${queue}.dead`)).toBe(1);
    // One round of attempts, escalated, then at most one more round.
    expect(calls).toBeLessThanOrEqual(4);
    const dead = await admin.get(`${queue}.dead`);
    expect(String(dead?.properties.headers?.['x-troupe-reason'])).toMatch(/retries exhausted/);
  });
});

describe('issue 12, defect 5: a pool scaled to zero', () => {
  it('stops consuming: a message published afterwards waits in the queue, not in the process', async () => {
    const definition = defineProcessor({
      name: 'scaled',
      queue,
      bindings: [{ exchange, routingKey: 'item.#' }],
      schema: itemSchema,
      handle: (item) => ({ collection: 'items', key: item.id, document: item }),
      concurrency: 1,
    });
    const pool = createPool({
      definition,
      transport,
      store: new MemoryStore(),
      logger: testLogger,
    });
    runtime = startSupervisor(pool.supervisorOptions(), { id: 'scaled-pool' });
    await eventually(
      () => admin.consumerCount(queue),
      (count) => count === 1,
    );
    scalePool(runtime.actor, pool, 0);
    await eventually(
      () => admin.consumerCount(queue),
      (count) => count === 0,
      5000,
    );
    await transport.publish(exchange, 'item.created', bytes('{"id":"waiting"}'), {
      messageId: 'waiting',
      contentType: 'application/json',
    });
    expect(
      await eventually(
        () => admin.messageCount(queue),
        (count) => count === 1,
      ),
    ).toBe(1);
  });
});
