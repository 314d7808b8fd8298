// A batched pool whose connection the broker closes while a batch is in its handlers:
// the batch settles on a closed channel (a no-op, never a second settlement on the new
// channel, which the broker would answer with PRECONDITION_FAILED), its messages are
// redelivered and stored again idempotently, and nothing is lost or dead-lettered.
import { createPool, defineProcessor, startSupervisor, type QueueTopology } from '@troupe/core';
import { MemoryStore } from '@troupe/memory';
import { afterEach, expect, it } from 'vitest';
import { z } from 'zod';
import { connectionChildSpec } from '../src/index.js';
import {
  BrokerAdmin,
  bytes,
  captureLogger,
  closeConnectionsNamed,
  createTransport,
  eventually,
  uniqueName,
  whenState,
} from './helpers.js';

const admin = new BrokerAdmin();

afterEach(async () => {
  await admin.cleanup();
});

it('a batch in flight when the broker closes the connection is redelivered, settled once, and nothing is lost', async () => {
  const connectionName = uniqueName('batch-conn');
  const exchange = uniqueName('events');
  const queue = uniqueName('items');
  const topology: QueueTopology[] = [{ queue, bindings: [{ exchange, routingKey: 'item.#' }] }];
  admin.track(topology);
  const { logger, logs } = captureLogger();
  const transport = createTransport({ connectionName, logger });
  const store = new MemoryStore();
  await transport.declare(topology);
  const handled = new Map<string, number>();
  let holding: (() => void) | undefined;
  const held = new Promise<void>((resolve) => {
    holding = resolve;
  });
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const definition = defineProcessor({
    name: 'items',
    queue,
    bindings: topology[0]?.bindings ?? [],
    schema: z.object({ id: z.string() }),
    concurrency: 2,
    maxBatch: 50,
    handle: async (item) => {
      const seen = (handled.get(item.id) ?? 0) + 1;
      handled.set(item.id, seen);
      // The first delivery of i-0 holds its batch until the connection is gone.
      if (item.id === 'i-0' && seen === 1) {
        holding?.();
        await gate;
      }
      return { collection: 'items', key: item.id, document: item };
    },
  });
  const pool = createPool({ definition, transport, store, logger });
  const runtime = startSupervisor({
    strategy: 'rest-for-one',
    children: [connectionChildSpec(transport), pool.childSpec],
    logger,
  });
  await eventually(
    () => admin.consumerCount(queue),
    (count) => count === 1,
  );
  const ids = Array.from({ length: 500 }, (_, i) => `i-${i}`);
  await Promise.all(
    ids.map((id) =>
      transport.publish(exchange, 'item.created', bytes(JSON.stringify({ id })), {
        messageId: id,
        contentType: 'application/json',
      }),
    ),
  );
  await held;
  expect(await closeConnectionsNamed(connectionName)).toBe(1);
  await whenState(
    transport,
    (state, generation) => state === 'connected.flowing' && generation === 2,
  );
  // The held batch finishes now, on its closed channel: settling it does nothing.
  release();
  await eventually(
    () => store.count('items'),
    (count) => count === ids.length,
    30_000,
  );
  await eventually(
    () => admin.messageCount(queue),
    (count) => count === 0,
  );
  expect(await admin.messageCount(`${queue}.dead`)).toBe(0);
  // i-0 was redelivered on the new channel and handled again: at least once, not lost.
  expect(handled.get('i-0')).toBeGreaterThanOrEqual(2);
  expect(handled.size).toBe(ids.length);
  // No delivery was settled on a channel other than its own.
  expect(logs.filter((log) => log.msg === 'channel error')).toEqual([]);
  const output = await runtime.shutdown();
  expect(output.exit).toBe('shutdown');
  await transport.close();
});
