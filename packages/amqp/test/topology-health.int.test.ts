// Topology the broker lost while the app runs: an exchange deleted (its bindings go
// with it), a queue deleted. The transport verifies its topology on the actor clock and
// when a consumer is cancelled, declares again what is missing, and reports it.
import type { QueueTopology } from '@troupe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { AmqpTransport } from '../src/index.js';
import {
  BrokerAdmin,
  bytes,
  Collector,
  createTransport,
  eventually,
  uniqueName,
} from './helpers.js';

let admin: BrokerAdmin;
let transport: AmqpTransport;
let clock: SimulatedClock;
let exchange: string;
let queue: string;
let topology: QueueTopology[];

beforeEach(async () => {
  admin = new BrokerAdmin();
  exchange = uniqueName('companies');
  queue = uniqueName('queue');
  topology = [{ queue, bindings: [{ exchange, routingKey: 'company.#' }] }];
  admin.track(topology);
  clock = new SimulatedClock();
  transport = createTransport({ actorClock: clock, topologyCheckMs: 1000 });
  await transport.declare(topology);
});

afterEach(async () => {
  await transport.close();
  await admin.cleanup();
});

describe('a deleted exchange', () => {
  it('is declared and bound again at the next check on the actor clock', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) => delivery.ack();
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await admin.deleteExchange(exchange);
    clock.increment(1000);
    await eventually(
      () => admin.exchangeExists(exchange),
      (exists) => exists,
      5000,
    );
    await eventually(
      () => Promise.resolve(transport.topologyHealth),
      (health) => health.repaired.length > 0,
      5000,
    );
    expect(transport.topologyHealth).toMatchObject({
      ok: true,
      missing: [],
      repaired: [`exchange ${exchange}`, `binding ${exchange} → ${queue} (company.#)`],
    });
    await transport.publish(exchange, 'company.updated', bytes('{}'), { messageId: 'after' });
    await collector.until(1);
  });
});

describe('a deleted queue', () => {
  it('is declared again when the broker cancels its consumer, and reported', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) => delivery.ack();
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await admin.deleteQueue(queue);
    await eventually(
      () => Promise.resolve(transport.topologyHealth),
      (health) => health.repaired.includes(`queue ${queue}`) === true,
      5000,
    );
    await transport.publish(exchange, 'company.updated', bytes('{}'), { messageId: 'after' });
    await collector.until(1);
  });
});

describe('a queue that exists with other arguments', () => {
  it('is a configuration error naming the queue and both argument sets', async () => {
    const conflicting = uniqueName('conflict');
    admin.track([{ queue: conflicting, bindings: [] }]);
    // Declared as a classic queue first; then the configuration says quorum.
    await transport.declare([{ queue: conflicting, bindings: [] }]);
    const declared = transport.declare([{ queue: conflicting, bindings: [], queueType: 'quorum' }]);
    await expect(declared).rejects.toMatchObject({ name: 'ConfigurationError' });
    const message = await declared.catch((error: Error) => error.message);
    expect(message).toContain(`queue ${JSON.stringify(conflicting)} exists with other arguments`);
    expect(message).toContain('"x-queue-type":"quorum"');
    expect(message).toContain('"x-delivery-limit":20');
    expect(message).toContain('"x-queue-type":"classic"');
  });
});
