// A pool under a root supervisor, after the connection (rest-for-one), consuming from
// RabbitMQ while the broker closes the connection twice: the consumer resumes by
// itself (nothing is restarted), work in flight on the dead
// channel is redelivered and stored again idempotently, nothing is lost, and no
// delivery is ever settled on a channel other than its own (no channel error).
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

it('a pool keeps consuming across broker-side connection closes and loses nothing', async () => {
  const connectionName = uniqueName('pool-conn');
  const exchange = uniqueName('events');
  const queue = uniqueName('items');
  const topology: QueueTopology[] = [{ queue, bindings: [{ exchange, routingKey: 'item.#' }] }];
  admin.track(topology);
  const { logger, logs } = captureLogger();
  const transport = createTransport({ connectionName, logger });
  const store = new MemoryStore();
  await transport.declare(topology);
  const handled = new Map<string, number>();
  const definition = defineProcessor({
    name: 'items',
    queue,
    bindings: topology[0]?.bindings ?? [],
    schema: z.object({ id: z.string() }),
    handle: async (item, { signal }) => {
      handled.set(item.id, (handled.get(item.id) ?? 0) + 1);
      // A little work, so that deliveries are in flight when the connection drops.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, 2);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('aborted'));
        });
      });
      return { collection: 'items', key: item.id, document: item };
    },
    concurrency: 8,
  });
  const pool = createPool({ definition, transport, store, logger });
  const runtime = startSupervisor({
    strategy: 'rest-for-one',
    children: [connectionChildSpec(transport), pool.childSpec],
    logger,
  });
  const ids = Array.from({ length: 20_000 }, (_, i) => `i-${i}`);
  await Promise.all(
    ids.map((id) =>
      transport.publish(exchange, 'item.created', bytes(JSON.stringify({ id })), {
        messageId: id,
        contentType: 'application/json',
      }),
    ),
  );

  // How much was stored when each connection was lost: the losses must be mid-stream.
  const storedWhenLost: number[] = [];
  const watch = transport.connection.subscribe(() => {
    if (transport.state === 'recovering' && storedWhenLost.length < transport.generation) {
      void store.count('items').then((count) => storedWhenLost.push(count));
    }
  });
  for (const generation of [2, 3]) {
    await eventually(
      () => store.count('items'),
      (count) => count >= (generation - 1) * 2000,
    );
    expect(await closeConnectionsNamed(connectionName)).toBe(1);
    await whenState(transport, (state, g) => state === 'connected.flowing' && g === generation);
  }
  watch.unsubscribe();
  expect(storedWhenLost).toHaveLength(2);
  for (const stored of storedWhenLost) expect(stored).toBeLessThan(ids.length);
  await eventually(
    () => store.count('items'),
    (count) => count === ids.length,
    45_000,
  );
  await eventually(
    () => admin.messageCount(queue),
    (count) => count === 0,
  );

  // Nothing was restarted: the connection recovered by itself and the pool's consumer
  // resumed with the transport.
  const children = runtime.actor.getSnapshot().context.children;
  expect(children['amqp-connection']?.totalRestarts).toBe(0);
  expect(children['pool:items']?.totalRestarts).toBe(0);
  expect(logs.filter((log) => log.msg === 'channel error')).toEqual([]);
  expect(logs.filter((log) => log.msg === 'consumer channel lost; resuming')).toEqual([]);
  const output = await runtime.shutdown();
  expect(output.exit).toBe('shutdown');
  await transport.close();
  // Every message handled; those in flight when a connection dropped were redelivered
  // and handled again (at least once), never lost.
  expect(handled.size).toBe(ids.length);
  expect([...handled.values()].filter((count) => count > 1).length).toBeGreaterThan(0);
});
