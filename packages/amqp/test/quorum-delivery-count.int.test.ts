// What this broker does with a quorum queue's delivery count, measured (the README and
// ADR 0006 quote it): which requeue operations it counts in `x-delivery-count`, whether
// a publisher's own `x-delivery-count` survives, and the delivery limit. Then the
// transport on top: a requeue is a `basic.reject`, which every RabbitMQ version counts.
import type { QueueTopology } from '@troupe/core';
import { connect, type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AmqpTransport } from '../src/index.js';
import {
  BrokerAdmin,
  brokerUrl,
  bytes,
  Collector,
  createTransport,
  eventually,
  uniqueName,
} from './helpers.js';

let model: ChannelModel;
let channel: Channel;
let queue: string;
let major: number;

async function next(): Promise<GetMessage> {
  const message = await eventually(
    () => channel.get(queue, { noAck: false }),
    (got) => got !== false,
  );
  return message as GetMessage;
}

const countOf = (message: GetMessage): unknown => message.properties.headers?.['x-delivery-count'];

beforeEach(async () => {
  model = await connect(brokerUrl);
  const version = String(
    (model.connection as unknown as { serverProperties: { version: string } }).serverProperties
      .version,
  );
  major = Number(version.split('.')[0]);
  channel = await model.createChannel();
  queue = uniqueName('quorum-count');
  await channel.assertQueue(queue, {
    durable: true,
    arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 3 },
  });
});

afterEach(async () => {
  const cleanup = await model.createChannel();
  await cleanup.deleteQueue(queue);
  await model.close();
});

describe('this broker: quorum queue delivery counts', () => {
  it('overwrites a publisher x-delivery-count; counts reject (and on 3.x nack too)', async () => {
    channel.sendToQueue(queue, Buffer.from('m'), { headers: { 'x-delivery-count': 4 } });
    const first = await next();
    // RabbitMQ 3.10 writes 0 on the first delivery; later versions may leave it out.
    // Either way, the publisher's 4 is gone.
    expect([0, undefined]).toContain(countOf(first));
    channel.reject(first, true);
    const afterReject = await next();
    expect(afterReject.fields.redelivered).toBe(true);
    expect(countOf(afterReject)).toBe(1);
    channel.nack(afterReject, false, true);
    const afterNack = await next();
    expect(afterNack.fields.redelivered).toBe(true);
    // Measured on 3.10.8: nack is counted like reject. RabbitMQ 4.x counts reject only.
    if (major < 4) expect(countOf(afterNack)).toBe(2);
    channel.ack(afterNack);
  });

  it('counts a delivery whose channel closed unsettled', async () => {
    channel.sendToQueue(queue, Buffer.from('m'));
    const other = await model.createChannel();
    const held = await eventually(
      () => other.get(queue, { noAck: false }),
      (got) => got !== false,
    );
    expect(held).not.toBe(false);
    await other.close();
    const again = await next();
    expect(again.fields.redelivered).toBe(true);
    expect(countOf(again)).toBe(1);
    channel.ack(again);
  });

  it('dead-letters past the delivery limit: three requeues allowed, the fourth drops it', async () => {
    channel.sendToQueue(queue, Buffer.from('m'));
    for (let delivery = 1; delivery <= 4; delivery += 1) channel.reject(await next(), true);
    // Past the limit the broker drops (no dead-letter exchange here) rather than redeliver.
    await eventually(
      () => channel.checkQueue(queue),
      (ok) => ok.messageCount === 0,
    );
    expect(await channel.get(queue, { noAck: true })).toBe(false);
  });
});

describe('AmqpTransport on a quorum queue', () => {
  let admin: BrokerAdmin;
  let transport: AmqpTransport;

  beforeEach(() => {
    admin = new BrokerAdmin();
    transport = createTransport();
  });
  afterEach(async () => {
    await transport.close();
    await admin.cleanup();
  });

  it('requeues with the operation the broker counts, and reads the count back', async () => {
    const name = uniqueName('quorum-transport');
    const entries: QueueTopology[] = [
      { queue: name, bindings: [], queueType: 'quorum', deliveryLimit: 3 },
    ];
    admin.track(entries);
    await transport.declare(entries);
    const collector = new Collector();
    collector.onEach = (delivery) => delivery.requeue();
    await transport.consume(name, { prefetch: 1 }, collector.onDelivery);
    await transport.publish('', name, bytes('m'), { messageId: 'counted' });
    // Delivered 4 times (limit 3), then dead-lettered by the broker into <queue>.dead.
    await collector.until(4);
    expect(collector.deliveries.map((delivery) => delivery.previousAttempts)).toEqual([0, 1, 2, 3]);
    await eventually(
      () => admin.messageCount(`${name}.dead`),
      (count) => count === 1,
    );
    const dead = await admin.get(`${name}.dead`);
    const deaths = dead?.properties.headers?.['x-death'] as { reason: string }[] | undefined;
    expect(deaths?.[0]?.reason).toBe('delivery_limit');
  });
});
