// The transport against the real broker: publish → consume → settle, dead letters
// with their reason headers, requeue and redelivery, and guarded settlement (twice, or
// after the channel closed, is a no-op that never closes a channel).
import type { Delivery, QueueTopology } from '@troupe/core';
import type { Channel, Message } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AmqpTransport } from '../src/index.js';
import {
  BrokerAdmin,
  bytes,
  captureLogger,
  Collector,
  createTransport,
  eventually,
  text,
  uniqueName,
  whenState,
} from './helpers.js';

let admin: BrokerAdmin;
let transport: AmqpTransport;
let topology: QueueTopology[];
let exchange: string;
let queue: string;

beforeEach(async () => {
  admin = new BrokerAdmin();
  exchange = uniqueName('events');
  queue = uniqueName('queue');
  topology = [{ queue, bindings: [{ exchange, routingKey: 'company.*' }] }];
  admin.track(topology);
  transport = createTransport();
  await transport.declare(topology);
});

afterEach(async () => {
  await transport.close();
  await admin.cleanup();
});

/** White box: the channel a delivery came from. */
const channelOf = (delivery: Delivery): Channel =>
  (delivery as unknown as { state: { channel: Channel } }).state.channel;

describe('AmqpTransport', () => {
  it('connects, and reports its state', async () => {
    await transport.ready();
    expect(transport.state).toBe('connected.flowing');
    expect(transport.generation).toBe(1);
  });

  it('feeds the connection chart to an inspector', async () => {
    const events: string[] = [];
    const inspected = createTransport({ inspect: (event) => events.push(event.type) });
    await inspected.ready();
    await inspected.close();
    expect(events).toContain('@xstate.actor');
    expect(events).toContain('@xstate.snapshot');
  });

  it('publishes through the topic exchange, consumes and acks', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) => delivery.ack();
    const subscription = await transport.consume(queue, { prefetch: 5 }, collector.onDelivery);
    await Promise.all([
      transport.publish(exchange, 'company.updated', bytes('{"id":"1"}'), {
        messageId: 'm-1',
        correlationId: 'c-1',
        contentType: 'application/json',
        headers: { tenant: 'acme' },
      }),
      transport.publish(exchange, 'company.created', bytes('{"id":"2"}')),
      transport.publish(exchange, 'person.updated', bytes('{"id":"3"}')), // not bound
    ]);
    await collector.until(2);
    const [first, second] = collector.deliveries;
    expect(first).toMatchObject({
      messageId: 'm-1',
      correlationId: 'c-1',
      routingKey: 'company.updated',
      contentType: 'application/json',
      redelivered: false,
      previousAttempts: 0,
    });
    expect(first?.headers).toMatchObject({ tenant: 'acme' });
    expect(text(first?.body ?? new Uint8Array())).toBe('{"id":"1"}');
    expect(second?.messageId).toMatch(/\S/);
    await subscription.cancel();
    await eventually(
      () => admin.consumerCount(queue),
      (count) => count === 0,
    );
    expect(await admin.messageCount(queue)).toBe(0);
  });

  it('dead-letters into <queue>.dead with the reason, processor, attempts and routing key', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) =>
      delivery.deadLetter({ reason: 'INVALID_MESSAGE: bad json', processor: 'p1', attempts: 1 });
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('not json'), {
      messageId: 'poison',
      headers: { tenant: 'acme' },
    });
    const dead = await eventually(
      () => admin.get(`${queue}.dead`),
      (message) => message !== undefined,
    );
    expect(dead?.properties.messageId).toBe('poison');
    expect(dead?.content.toString()).toBe('not json');
    expect(dead?.properties.headers).toMatchObject({
      tenant: 'acme',
      'x-troupe-reason': 'INVALID_MESSAGE: bad json',
      'x-troupe-processor': 'p1',
      'x-troupe-attempts': 1,
      'x-troupe-original-routing-key': 'company.updated',
    });
    // The original was acked once the dead letter was confirmed.
    await eventually(
      async () => (await admin.messageCount(queue)) + transport.publishBacklog,
      (count) => count === 0,
    );
    expect(collector.deliveries).toHaveLength(1);
  });

  it('dead-letters from a queue it never declared, declaring its dead queue first', async () => {
    const foreign = uniqueName('foreign');
    admin.track([{ queue: foreign, bindings: [] }]);
    await admin.assertQueue(foreign);
    const collector = new Collector();
    collector.onEach = (delivery) =>
      delivery.deadLetter({ reason: 'PERMANENT: no', processor: 'p', attempts: 1 });
    await transport.consume(foreign, { prefetch: 1 }, collector.onDelivery);
    await transport.publish('', foreign, bytes('x'), { messageId: 'f-1' });
    const dead = await eventually(
      () => admin.get(`${foreign}.dead`).catch(() => undefined),
      (message) => message !== undefined,
    );
    expect(dead?.properties.messageId).toBe('f-1');
    await eventually(
      () => admin.messageCount(foreign),
      (count) => count === 0,
    );
  });

  it('requeues, and the broker redelivers with redelivered = true', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) => {
      if (delivery.redelivered) delivery.ack();
      else delivery.requeue();
    };
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('again'), { messageId: 'r-1' });
    await collector.until(2);
    expect(collector.deliveries.map((d) => [d.messageId, d.redelivered])).toEqual([
      ['r-1', false],
      ['r-1', true],
    ]);
  });

  it('settling twice is a no-op and does not close the channel', async () => {
    const collector = new Collector();
    await transport.consume(queue, { prefetch: 2 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('one'), { messageId: 'once' });
    await collector.until(1);
    const delivery = collector.deliveries[0] as Delivery;
    const channel = channelOf(delivery);
    let closed = false;
    channel.on('close', () => {
      closed = true;
    });
    delivery.ack();
    delivery.ack();
    delivery.requeue();
    delivery.deadLetter({ reason: 'PERMANENT: x', processor: 'p', attempts: 1 });
    // The channel still works: the next message comes on it and is acked.
    collector.onEach = (next) => next.ack();
    await transport.publish(exchange, 'company.updated', bytes('two'), { messageId: 'next' });
    await collector.until(2);
    expect(collector.deliveries[1]?.messageId).toBe('next');
    expect(channelOf(collector.deliveries[1] as Delivery)).toBe(channel);
    await eventually(
      () => admin.messageCount(`${queue}.dead`),
      (count) => count === 0,
    );
    expect(closed).toBe(false);
    expect(await admin.messageCount(queue)).toBe(0);
    expect(transport.generation).toBe(1);
  });

  it('settling after the channel closed is a no-op; the consumer resumes and the broker redelivers', async () => {
    const collector = new Collector();
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('x'), { messageId: 'orphan' });
    await collector.until(1);
    const orphan = collector.deliveries[0] as Delivery;
    const channel = channelOf(orphan);
    await channel.close();
    orphan.ack(); // no-op: its channel is gone
    orphan.deadLetter({ reason: 'PERMANENT: x', processor: 'p', attempts: 1 });
    collector.onEach = (delivery) => delivery.ack();
    await collector.until(2);
    const again = collector.deliveries[1] as Delivery;
    expect(again).toMatchObject({ messageId: 'orphan', redelivered: true });
    expect(channelOf(again)).not.toBe(channel);
    // Same connection: a channel loss does not restart it.
    expect(transport.generation).toBe(1);
    await eventually(
      () => admin.messageCount(queue),
      (count) => count === 0,
    );
    expect(await admin.messageCount(`${queue}.dead`)).toBe(0);
  });

  it('recovers from a channel error (PRECONDITION_FAILED) without restarting the connection', async () => {
    const collector = new Collector();
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('x'), { messageId: 'tagged' });
    await collector.until(1);
    const first = collector.deliveries[0] as Delivery;
    // The classic failure, provoked on purpose: an unknown delivery tag closes the channel.
    channelOf(first).ack({ fields: { deliveryTag: 999_999 } } as unknown as Message);
    collector.onEach = (delivery) => delivery.ack();
    await collector.until(2);
    first.ack(); // its channel is gone: a no-op
    expect(collector.deliveries[1]).toMatchObject({ messageId: 'tagged', redelivered: true });
    await eventually(
      () => admin.messageCount(queue),
      (count) => count === 0,
    );
    expect(transport.generation).toBe(1);
    expect(transport.state).toBe('connected.flowing');
  });

  it('recovers a consumer whose queue was deleted, on the same connection', async () => {
    const collector = new Collector();
    collector.onEach = (delivery) => delivery.ack();
    await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
    await admin.deleteQueue(queue);
    // The broker cancels the consumer; the transport declares the queue again and resumes.
    await eventually(
      () => admin.consumerCount(queue).catch(() => 0),
      (count) => count === 1,
    );
    await transport.publish(exchange, 'company.updated', bytes('after'), { messageId: 'after' });
    await collector.until(1);
    expect(collector.deliveries[0]?.messageId).toBe('after');
    expect(transport.generation).toBe(1);
  });

  it('leaves a consumer of a vanished unknown queue idle, without taking the connection down', async () => {
    const { logger, logs } = captureLogger();
    const watched = createTransport({ logger });
    const foreign = uniqueName('foreign');
    admin.track([{ queue: foreign, bindings: [] }]);
    await admin.assertQueue(foreign);
    try {
      await watched.consume(foreign, { prefetch: 1 }, () => undefined);
      const healthy = new Collector();
      healthy.onEach = (delivery) => delivery.ack();
      await watched.consume(queue, { prefetch: 1 }, healthy.onDelivery);
      await admin.deleteQueue(foreign);
      await eventually(
        () => Promise.resolve(logs.map((log) => log.msg)),
        (messages) => messages.includes('queue not found; consumer idle until the next connection'),
      );
      await watched.publish(exchange, 'company.updated', bytes('still'), { messageId: 'still' });
      await healthy.until(1);
      expect(watched.generation).toBe(1);
      expect(watched.state).toBe('connected.flowing');
    } finally {
      await watched.close();
    }
  });

  it('cancel stops new deliveries and keeps the channel until in-flight ones settle', async () => {
    const collector = new Collector();
    const subscription = await transport.consume(queue, { prefetch: 2 }, collector.onDelivery);
    await transport.publish(exchange, 'company.updated', bytes('a'), { messageId: 'a' });
    await collector.until(1);
    await subscription.cancel();
    await transport.publish(exchange, 'company.updated', bytes('b'), { messageId: 'b' });
    await eventually(
      () => admin.messageCount(queue),
      (count) => count === 1,
    );
    collector.deliveries[0]?.ack();
    await eventually(
      () => admin.consumerCount(queue),
      (count) => count === 0,
    );
    expect(collector.deliveries).toHaveLength(1);
    expect(await admin.messageCount(queue)).toBe(1); // only b, a was acked
  });

  it('pipelines many publishes with confirms', async () => {
    const count = 2000;
    const body = bytes('x'.repeat(256));
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        transport.publish(exchange, 'company.updated', body, { messageId: String(i) }),
      ),
    );
    expect(await admin.messageCount(queue)).toBe(count);
    expect(transport.publishBacklog).toBe(0);
  });

  it('fails a publish to a missing exchange alone; the others go through on a new channel', async () => {
    await transport.ready();
    const missing = uniqueName('missing');
    const good = Array.from({ length: 200 }, (_, i) =>
      transport.publish(exchange, 'company.updated', bytes('ok'), { messageId: `g${i}` }),
    );
    const bad = transport.publish(missing, 'x', bytes('lost'), { messageId: 'bad' });
    const more = Array.from({ length: 200 }, (_, i) =>
      transport.publish(exchange, 'company.updated', bytes('ok'), { messageId: `h${i}` }),
    );
    await expect(bad).rejects.toThrow(`no exchange "${missing}"`);
    await Promise.all([...good, ...more]);
    // Those in flight with the bad one may have been written twice (at least once).
    await eventually(
      () => admin.messageCount(queue),
      (count) => count >= 400,
    );
    await transport.publish(exchange, 'company.updated', bytes('after'), { messageId: 'after' });
    expect(transport.generation).toBe(1);
    expect(transport.state).toBe('connected.flowing');
  });

  it('respects back-pressure: publishes wait for drain in order, and all are confirmed', async () => {
    await transport.ready();
    // More frames than the channel's write buffer holds (amqplib: 1024 frames).
    const count = 3000;
    const body = new Uint8Array(256).fill(120);
    const published = Array.from({ length: count }, (_, i) =>
      transport.publish(exchange, 'company.updated', body, { messageId: String(i) }),
    );
    // The channel's buffer filled up: the rest wait in the backlog for `drain`.
    expect(transport.publishBacklog).toBeGreaterThan(0);
    await Promise.all(published);
    expect(transport.publishBacklog).toBe(0);
    expect(await admin.messageCount(queue)).toBe(count);
    const first = await admin.get(queue);
    expect(first?.properties.messageId).toBe('0');
    expect(first?.content.byteLength).toBe(body.byteLength);
  });

  it('reports a queue that exists with other arguments as a configuration error', async () => {
    await expect(
      transport.declare([{ queue, bindings: [], queueType: 'quorum' }]),
    ).rejects.toMatchObject({ code: 'CONFIGURATION', field: 'topology' });
    expect(transport.state).toBe('connected.flowing');
    // Not remembered: the next declaration (and reconnection) uses the accepted one.
    await transport.declare(topology);
  });

  it('declares quorum queues with a delivery limit and single-active-consumer', async () => {
    const quorum = uniqueName('quorum');
    const entries: QueueTopology[] = [
      { queue: quorum, bindings: [], queueType: 'quorum', singleActiveConsumer: true },
    ];
    admin.track(entries);
    await transport.declare(entries);
    const collector = new Collector();
    collector.onEach = (delivery) => {
      if (delivery.redelivered) delivery.ack();
      else delivery.requeue();
    };
    await transport.consume(quorum, { prefetch: 1 }, collector.onDelivery);
    await transport.publish('', quorum, bytes('q'), { messageId: 'q-1' });
    await collector.until(2);
    expect(collector.deliveries[0]?.previousAttempts).toBe(0);
    expect(collector.deliveries[1]?.previousAttempts).toBe(1); // x-delivery-count
  });

  it('closes: pending publishes reject, state is closed', async () => {
    await transport.ready();
    await transport.close();
    expect(transport.state).toBe('closed');
    await expect(transport.publish(exchange, 'company.updated', bytes('late'))).rejects.toThrow(
      'transport closed',
    );
    await expect(whenState(transport, (state) => state === 'closed', 100)).resolves.toBe(undefined);
  });
});
