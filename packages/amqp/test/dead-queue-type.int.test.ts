// A quorum queue's dead-letter queue is a quorum queue too: on a cluster a classic
// `.dead` queue lives on one node, and while that node is down no replica can declare
// its topology on another node (the cluster suite, test/cluster/, found it). A classic
// queue's dead-letter queue stays classic. A dead letter of a quorum queue reaches it
// with its reason (the dead-letter path declares the queue the same way).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { QueueTopology } from '@troupe/core';
import { afterEach, expect, it } from 'vitest';
import { deadQueueName, type AmqpTransport } from '../src/index.js';
import {
  BrokerAdmin,
  bytes,
  Collector,
  createTransport,
  eventually,
  uniqueName,
} from './helpers.js';

const run = promisify(execFile);
let transport: AmqpTransport | undefined;
const admin = new BrokerAdmin();

afterEach(async () => {
  await transport?.close();
  await admin.cleanup();
});

async function queueTypes(names: readonly string[]): Promise<Record<string, string>> {
  const { stdout } = await run('rabbitmqctl', [
    'list_queues',
    'name',
    'type',
    '--quiet',
    '--no-table-headers',
  ]);
  const types: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const [name, type] = line.split('\t');
    if (name !== undefined && type !== undefined && names.includes(name)) types[name] = type.trim();
  }
  return types;
}

it('declares the dead-letter queue of a quorum queue as quorum, of a classic one as classic', async () => {
  const quorum = uniqueName('dq-quorum');
  const classic = uniqueName('dq-classic');
  const entries: QueueTopology[] = [
    { queue: quorum, bindings: [], queueType: 'quorum' },
    { queue: classic, bindings: [], queueType: 'classic' },
  ];
  admin.track(entries);
  transport = createTransport();
  await transport.declare(entries);
  const names = [quorum, classic, deadQueueName(quorum), deadQueueName(classic)];
  expect(await queueTypes(names)).toEqual({
    [quorum]: 'quorum',
    [deadQueueName(quorum)]: 'quorum',
    [classic]: 'classic',
    [deadQueueName(classic)]: 'classic',
  });
});

it('dead-letters a quorum queue message into its quorum .dead queue, with the reason', async () => {
  const queue = uniqueName('dq-dead-letter');
  const entries: QueueTopology[] = [{ queue, bindings: [], queueType: 'quorum' }];
  admin.track(entries);
  transport = createTransport();
  await transport.declare(entries);
  const collector = new Collector();
  collector.onEach = (delivery) =>
    delivery.deadLetter({ reason: 'INVALID_MESSAGE: bad json', processor: 'p', attempts: 1 });
  await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
  await transport.publish('', queue, bytes('not json'), { messageId: 'poison-q' });
  const dead = await eventually(
    () => admin.get(deadQueueName(queue)),
    (message) => message !== undefined,
  );
  expect(dead?.properties.messageId).toBe('poison-q');
  expect(dead?.properties.headers).toMatchObject({
    'x-troupe-reason': 'INVALID_MESSAGE: bad json',
  });
});
