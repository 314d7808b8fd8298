// A queue changed under a running app (deleted and declared again with other
// arguments), then the connection lost: the reconnection declares the rest, reports the
// conflict with both argument sets, and does not fail and retry forever over it.
import type { QueueTopology } from '@troupe/core';
import { connect } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AmqpTransport } from '../src/index.js';
import {
  BrokerAdmin,
  brokerUrl,
  closeConnectionsNamed,
  createTransport,
  uniqueName,
  whenState,
} from './helpers.js';

let admin: BrokerAdmin;
let transport: AmqpTransport;
let connectionName: string;
let queue: string;
let calm: string;
let topology: QueueTopology[];

beforeEach(async () => {
  admin = new BrokerAdmin();
  connectionName = uniqueName('conn');
  queue = uniqueName('changed');
  calm = uniqueName('calm');
  topology = [
    { queue, bindings: [] },
    { queue: calm, bindings: [] },
  ];
  admin.track(topology);
  transport = createTransport({ connectionName, topologyCheckMs: 0 });
  await transport.declare(topology);
});

afterEach(async () => {
  await transport.close();
  await admin.cleanup();
});

describe('a queue redeclared elsewhere with other arguments', () => {
  it('is reported on reconnection, and the connection comes up', async () => {
    const model = await connect(brokerUrl);
    const channel = await model.createChannel();
    await channel.deleteQueue(queue);
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await channel.deleteQueue(calm);
    await model.close();
    expect(await closeConnectionsNamed(connectionName)).toBe(1);
    await whenState(
      transport,
      (state, generation) => state === 'connected.flowing' && generation === 2,
    );
    const health = transport.topologyHealth;
    expect(health.ok).toBe(false);
    expect(health.conflicts).toHaveLength(1);
    expect(health.conflicts[0]).toContain(
      `queue ${JSON.stringify(queue)} exists with other arguments`,
    );
    expect(health.conflicts[0]).toContain('the queue has no "x-dead-letter-exchange"');
    // The other queue was declared again all the same.
    expect(await admin.messageCount(calm)).toBe(0);
  });
});
