// Delayed redelivery: `retryLater` parks the message in a retry queue whose TTL
// dead-letters it straight back to its queue (never through the exchange, so other
// bound queues get no copy), with the attempt count and the original routing key.
import type { Delivery, QueueTopology } from '@troupe/core';
import { connect, type ChannelModel } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
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

let admin: BrokerAdmin;
let transport: AmqpTransport;
let exchange: string;
let queue: string;
let other: string;

beforeEach(async () => {
  admin = new BrokerAdmin();
  exchange = uniqueName('events');
  queue = uniqueName('queue');
  other = uniqueName('other');
  const topology: QueueTopology[] = [
    { queue, bindings: [{ exchange, routingKey: 'company.#' }] },
    { queue: other, bindings: [{ exchange, routingKey: 'company.#' }] },
  ];
  admin.track(topology);
  admin.track([
    { queue: retryQueueName(queue, 200), bindings: [] },
    { queue: retryQueueName(queue, 300), bindings: [] },
  ]);
  transport = createTransport();
  await transport.declare(topology);
});

afterEach(async () => {
  await transport.close();
  await admin.cleanup();
});

describe('retryLater', () => {
  it('comes back after the delay with the attempt count and the original routing key', async () => {
    const collector = new Collector();
    const arrivals: number[] = [];
    collector.onEach = (delivery: Delivery) => {
      arrivals.push(Date.now());
      const round = collector.deliveries.length;
      if (round === 1) delivery.retryLater?.(200, 1);
      else if (round === 2) delivery.retryLater?.(300, 2);
      else delivery.ack();
    };
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('{"id":"1"}'), {
      messageId: 'slow',
      correlationId: 'c-9',
      contentType: 'application/json',
      headers: { tenant: 'acme' },
    });
    await collector.until(3);
    const [first, second, third] = collector.deliveries;
    expect(first).toMatchObject({ previousAttempts: 0, routingKey: 'company.updated' });
    for (const [delivery, attempts] of [
      [second, 1],
      [third, 2],
    ] as const) {
      expect(delivery).toMatchObject({
        messageId: 'slow',
        correlationId: 'c-9',
        contentType: 'application/json',
        routingKey: 'company.updated',
        redelivered: false,
        previousAttempts: attempts,
      });
      expect(delivery?.headers).toMatchObject({ tenant: 'acme' });
    }
    const [t1 = 0, t2 = 0, t3 = 0] = arrivals;
    expect(t2 - t1).toBeGreaterThanOrEqual(180);
    expect(t3 - t2).toBeGreaterThanOrEqual(280);
    await eventually(
      () => admin.messageCount(queue),
      (count) => count === 0,
    );
    expect(await admin.messageCount(retryQueueName(queue, 200))).toBe(0);
    // The other queue bound to the exchange got the original only, no retry copies.
    expect(await admin.messageCount(other)).toBe(1);
  });

  it('adds a quorum queue delivery count to the retry attempts', async () => {
    const quorum = uniqueName('quorum');
    const entries: QueueTopology[] = [{ queue: quorum, bindings: [], queueType: 'quorum' }];
    admin.track(entries);
    admin.track([{ queue: retryQueueName(quorum, 100, 'quorum'), bindings: [] }]);
    await transport.declare(entries);
    const collector = new Collector();
    collector.onEach = (delivery) => {
      const round = collector.deliveries.length;
      if (round === 1) delivery.retryLater?.(100, 3);
      else if (round === 2) delivery.requeue();
      else delivery.ack();
    };
    await transport.consume(quorum, { prefetch: 1 }, collector.onDelivery);
    await transport.publish('', quorum, bytes('q'), { messageId: 'q' });
    await collector.until(3);
    expect(collector.deliveries.map((d) => d.previousAttempts)).toEqual([0, 3, 4]);
  });

  it("declares the retry queue once for a batch's retries, not once per message", async () => {
    const n = 20;
    // amqplib's connection class (not exported), to count the channels the transport
    // opens; the calls pass through to it.
    const probe = await connect(brokerUrl);
    const model = Object.getPrototypeOf(probe) as ChannelModel;
    await probe.close();
    const opened = vi.spyOn(model, 'createChannel');
    const collector = new Collector();
    const held: Delivery[] = [];
    let before = 0;
    collector.onEach = (delivery) => {
      if (delivery.previousAttempts > 0) {
        delivery.ack();
        return;
      }
      held.push(delivery);
      if (held.length < n) return;
      // The whole batch at once, as a worker settles it.
      before = opened.mock.calls.length;
      for (const each of held) each.retryLater?.(200, 1);
    };
    try {
      await transport.consume(queue, { prefetch: n }, collector.onDelivery);
      for (let i = 0; i < n; i += 1) {
        await transport.publish(exchange, 'company.updated', bytes(`${i}`), {
          messageId: `b-${i}`,
        });
      }
      await collector.until(2 * n);
      const retried = collector.deliveries.slice(n);
      expect(new Set(retried.map((delivery) => delivery.messageId)).size).toBe(n);
      expect(retried.every((delivery) => delivery.previousAttempts === 1)).toBe(true);
      // One channel to declare the batch's retry queue, where it was one per message.
      expect(opened.mock.calls.length - before).toBe(1);
    } finally {
      opened.mockRestore();
    }
  });

  it('settles at most once: after ack, retryLater is a no-op', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) => {
      delivery.ack();
      delivery.retryLater?.(200, 1);
    };
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('x'), { messageId: 'once' });
    await collector.until(1);
    await eventually(
      () => admin.messageCount(queue),
      (count) => count === 0,
    );
    expect(await admin.messageCount(retryQueueName(queue, 200)).catch(() => 0)).toBe(0);
    expect(collector.deliveries).toHaveLength(1);
  });
});
