// Hostile AMQP properties and headers on the real broker: header tables nested deeper
// than amqplib's recursive decoder survives, `CC`/`BCC` routing headers that copies
// would carry into other queues, and attempt counts forged by a publisher.
import type { QueueTopology } from '@troupe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { retryQueueName, type AmqpTransport } from '../src/index.js';
import {
  BrokerAdmin,
  brokerUrl,
  bytes,
  Collector,
  createTransport,
  eventually,
  uniqueName,
} from './helpers.js';
import { publishNested } from './hostile.js';

let admin: BrokerAdmin;
let transport: AmqpTransport;
let exchange: string;
let queue: string;
let other: string;

beforeEach(async () => {
  admin = new BrokerAdmin();
  exchange = uniqueName('hostile');
  queue = uniqueName('queue');
  other = uniqueName('other');
  const topology: QueueTopology[] = [
    { queue, bindings: [{ exchange, routingKey: 'company.#' }] },
    { queue: other, bindings: [{ exchange, routingKey: 'other.#' }] },
  ];
  admin.track(topology);
  admin.track([{ queue: retryQueueName(queue, 100), bindings: [] }]);
  transport = createTransport();
  await transport.declare(topology);
});

afterEach(async () => {
  await transport.close();
  await admin.cleanup();
});

describe('headers nested deeper than the decoder recursed', () => {
  it('dead-letters the message with its reason, processes the one behind it, on one connection', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) => delivery.ack();
    await transport.consume(queue, { prefetch: 10 }, collector.onDelivery);
    await publishNested({
      url: brokerUrl,
      exchange,
      routingKey: 'company.updated',
      messageId: 'deep',
      depth: 6000,
    });
    await transport.publish(exchange, 'company.updated', bytes('{"id":"ok"}'), {
      messageId: 'behind',
    });
    await collector.until(1, 8000);
    expect(collector.deliveries.map((delivery) => delivery.messageId)).toEqual(['behind']);
    await eventually(
      () => admin.messageCount(`${queue}.dead`),
      (count) => count === 1,
    );
    const dead = await admin.get(`${queue}.dead`);
    expect(dead?.properties.messageId).toBe('deep');
    expect(String(dead?.properties.headers?.['x-troupe-reason'])).toMatch(
      /^INVALID_MESSAGE: header "deep" nested deeper than 64/,
    );
    expect(dead?.properties.headers).not.toHaveProperty('deep');
    expect(transport.generation).toBe(1);
  });
});

describe('routing headers (CC, BCC) on copies Troupe makes', () => {
  it('a dead letter goes to its own dead queue only, without CC', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) =>
      delivery.deadLetter({ reason: 'INVALID_MESSAGE: test', processor: 'p', attempts: 1 });
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    // CC names the other queue's dead-letter routing key (its queue name) and the queue.
    await transport.publish(exchange, 'company.updated', bytes('{}'), {
      messageId: 'cc',
      headers: { CC: [other, `${other}.dead`], tenant: 'acme' },
    });
    await collector.until(1);
    await eventually(
      () => admin.messageCount(`${queue}.dead`),
      (count) => count === 1,
    );
    const dead = await admin.get(`${queue}.dead`);
    expect(dead?.properties.headers).toMatchObject({ tenant: 'acme' });
    expect(dead?.properties.headers).not.toHaveProperty('CC');
    expect(await admin.messageCount(`${other}.dead`)).toBe(0);
    expect(await admin.messageCount(other)).toBe(0);
  });

  it('a delayed retry comes back to its queue only, without CC', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) => {
      if (collector.deliveries.length === 1) delivery.retryLater?.(100, 1);
      else delivery.ack();
    };
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('{}'), {
      messageId: 'cc-retry',
      headers: { CC: [other] },
    });
    await collector.until(2);
    expect(collector.deliveries[1]?.headers).not.toHaveProperty('CC');
    expect(await admin.messageCount(other)).toBe(0);
  });
});

describe('attempt counts a publisher wrote', () => {
  const forged = {
    'x-troupe-retry-attempts': 999,
    'x-delivery-count': 4,
    'x-death': [
      { queue: 'x.retry.100', reason: 'expired', count: 1, exchange: '', 'routing-keys': ['x'] },
    ],
  };

  it('are not taken on a classic queue', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) => {
      if (collector.deliveries.length === 1) delivery.requeue();
      else delivery.ack();
    };
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('{}'), {
      messageId: 'forged',
      headers: forged,
    });
    await collector.until(2);
    expect(collector.deliveries.map((delivery) => delivery.previousAttempts)).toEqual([0, 0]);
  });

  it('are not taken on a quorum queue, where the broker counts redeliveries', async () => {
    const quorum = uniqueName('quorum');
    const entries: QueueTopology[] = [
      { queue: quorum, bindings: [{ exchange, routingKey: 'quorum.#' }], queueType: 'quorum' },
    ];
    admin.track(entries);
    await transport.declare(entries);
    const collector = new Collector();
    collector.onEach = (delivery) => {
      if (collector.deliveries.length === 1) delivery.requeue();
      else delivery.ack();
    };
    await transport.consume(quorum, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, 'quorum.updated', bytes('{}'), {
      messageId: 'forged-q',
      headers: forged,
    });
    await collector.until(2);
    expect(collector.deliveries.map((delivery) => delivery.previousAttempts)).toEqual([0, 1]);
  });

  it('a count Troupe wrote on a delayed retry is still taken', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) => {
      if (collector.deliveries.length === 1) delivery.retryLater?.(100, 3);
      else delivery.ack();
    };
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('{}'), { messageId: 'honest' });
    await collector.until(2);
    expect(collector.deliveries.map((delivery) => delivery.previousAttempts)).toEqual([0, 3]);
  });
});
