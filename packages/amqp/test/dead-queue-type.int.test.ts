// A quorum queue's dead-letter queue is a quorum queue too: on a cluster a classic
// `.dead` queue lives on one node, and while that node is down no replica can declare
// its topology on another node (the cluster suite, test/cluster/, found it). A classic
// queue's dead-letter queue stays classic. A dead letter of a quorum queue reaches it
// with its reason (the dead-letter path declares the queue the same way). The same goes
// for the retry queues a delayed retry parks a message in: a quorum queue's message
// waits in a quorum queue, and comes back with its attempt count.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { QueueTopology } from '@troupe/core';
import { afterEach, expect, it } from 'vitest';
import { deadQueueName, retryQueueName, type AmqpTransport } from '../src/index.js';
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

/** The broker's queues and their types, of those `wanted` picks by name. */
async function typesOf(wanted: (name: string) => boolean): Promise<Record<string, string>> {
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
    if (name !== undefined && type !== undefined && wanted(name)) types[name] = type.trim();
  }
  return types;
}

const queueTypes = (names: readonly string[]): Promise<Record<string, string>> =>
  typesOf((name) => names.includes(name));

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

it('parks a quorum queue message for a delayed retry in a quorum queue, a classic one in a classic queue', async () => {
  const exchange = uniqueName('rq-events');
  const quorum = uniqueName('rq-quorum');
  const classic = uniqueName('rq-classic');
  const entries: QueueTopology[] = [
    { queue: quorum, bindings: [{ exchange, routingKey: 'quorum.#' }], queueType: 'quorum' },
    { queue: classic, bindings: [{ exchange, routingKey: 'classic.#' }], queueType: 'classic' },
  ];
  // Removed afterwards whatever happens (a quorum retry queue does not expire).
  admin.track([
    ...entries,
    { queue: retryQueueName(quorum, 100, 'quorum'), bindings: [] },
    { queue: retryQueueName(classic, 100), bindings: [] },
  ]);
  transport = createTransport();
  await transport.declare(entries);
  const retryQueues = (queue: string): Promise<Record<string, string>> =>
    typesOf((name) => name.startsWith(`${queue}.retry.`));
  for (const [queue, kind] of [
    [quorum, 'quorum'],
    [classic, 'classic'],
  ] as const) {
    const collector = new Collector();
    collector.onEach = (delivery) => {
      const round = collector.deliveries.length;
      if (round < 3) delivery.retryLater?.(100, round);
      else delivery.ack();
    };
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, `${kind}.updated`, bytes('later'), {
      messageId: `retry-${queue}`,
    });
    await collector.until(3);
    // Back from the retry queue twice, with the attempts each retry wrote and the
    // routing key the message was first published with.
    expect(
      collector.deliveries.map((delivery) => [delivery.previousAttempts, delivery.routingKey]),
    ).toEqual([
      [0, `${kind}.updated`],
      [1, `${kind}.updated`],
      [2, `${kind}.updated`],
    ]);
  }
  expect(await retryQueues(quorum)).toEqual({ [`${quorum}.retry.100.quorum`]: 'quorum' });
  expect(await retryQueues(classic)).toEqual({ [`${classic}.retry.100`]: 'classic' });
});
