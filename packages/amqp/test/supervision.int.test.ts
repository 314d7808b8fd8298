// The connection under a root supervisor: ordered start waits for the broker before
// starting the pool (rest-for-one), and a connection that gives up reconnecting exits
// abnormally, is restarted with a fresh connection actor, and escalates past the
// supervisor's restart intensity.
import { createPool, defineProcessor, startSupervisor, type QueueTopology } from '@troupe/core';
import { MemoryStore } from '@troupe/memory';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectionChildSpec } from '../src/index.js';
import {
  BrokerAdmin,
  bytes,
  createTransport,
  eventually,
  testLogger,
  uniqueName,
} from './helpers.js';

const admin = new BrokerAdmin();

afterEach(async () => {
  await admin.cleanup();
});

describe('connectionChildSpec', () => {
  it('starts the pool once the connection is ready, and shuts down in reverse order', async () => {
    const exchange = uniqueName('events');
    const queue = uniqueName('items');
    const topology: QueueTopology[] = [{ queue, bindings: [{ exchange, routingKey: '#' }] }];
    admin.track(topology);
    const transport = createTransport();
    const store = new MemoryStore();
    const definition = defineProcessor({
      name: 'items',
      queue,
      bindings: topology[0]?.bindings ?? [],
      schema: z.object({ id: z.string() }),
      handle: (item) => ({ collection: 'items', key: item.id, document: item }),
    });
    const pool = createPool({ definition, transport, store, logger: testLogger });
    // Declared before the connection is up: remembered, and declared once connected.
    const declared = transport.declare(topology);
    const runtime = startSupervisor({
      strategy: 'rest-for-one',
      children: [connectionChildSpec(transport), pool.childSpec],
      logger: testLogger,
    });
    await declared;
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        transport.publish(exchange, 'item', bytes(JSON.stringify({ id: `i${i}` })), {
          contentType: 'application/json',
        }),
      ),
    );
    await eventually(
      () => store.count('items'),
      (count) => count === 50,
    );
    const children = runtime.actor.getSnapshot().context.children;
    expect(children['amqp-connection']?.status).toBe('running');
    expect((await runtime.shutdown()).exit).toBe('shutdown');
    await transport.close();
  });

  it('restarts a connection that gave up, then escalates past the restart intensity', async () => {
    const transport = createTransport({
      url: 'amqp://guest:guest@127.0.0.1:1', // nothing listens there
      maxReconnectAttempts: 1,
      reconnectBackoff: { kind: 'fixed', delayMs: 10 },
    });
    const runtime = startSupervisor({
      strategy: 'rest-for-one',
      children: [connectionChildSpec(transport)],
      intensity: { maxRestarts: 2, withinMs: 60_000 },
      restartBackoff: { backoff: { kind: 'fixed', delayMs: 10 }, resetAfterMs: 60_000 },
      logger: testLogger,
    });
    const output = await runtime.exited;
    expect(output.exit).toBe('failed');
    expect(transport.state).toBe('failed');
    expect(runtime.actor.getSnapshot().context.children['amqp-connection']?.totalRestarts).toBe(2);
    await transport.close();
  });
});
