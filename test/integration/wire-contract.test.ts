// The wire contract (@troupe/core `wire.ts`) held by both transports, side by side: the
// same hostile message (forged attempt counts and routing key, CC, BCC) is consumed,
// counted and dead-lettered by the in-process transport and by the AMQP one on the real
// broker, and both give the same attempts and write the same dead-letter headers.
import { randomUUID } from 'node:crypto';
import {
  copyHeaders,
  deadLetterHeaders,
  type Delivery,
  type QueueTopology,
  type Transport,
} from '@troupe/core';
import { MemoryTransport } from '@troupe/memory';
import { connect } from 'amqplib';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { AmqpTransport } from '../../packages/amqp/src/index.js';

const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const suffix = randomUUID().slice(0, 8);
const exchange = `troupe-test.wire.${suffix}`;
const queue = `troupe-test.wire-queue.${suffix}`;
const topology: QueueTopology[] = [{ queue, bindings: [{ exchange, routingKey: 'company.#' }] }];

const published = {
  tenant: 'acme',
  CC: [`${queue}.elsewhere`],
  'x-troupe-retry-attempts': 999,
  'x-troupe-original-routing-key': 'forged.key',
  'x-delivery-count': 4,
  'x-death': [{ queue: `${queue}.retry.100`, reason: 'expired', count: 1, exchange: '' }],
};

afterAll(async () => {
  const model = await connect(url);
  const channel = await model.createChannel();
  await channel.deleteQueue(queue);
  await channel.deleteQueue(`${queue}.dead`);
  await channel.deleteExchange(exchange);
  await model.close();
});

/** Consumes one message, then dead-letters it; resolves with the delivery. */
async function deadLetterOne(transport: Transport): Promise<Delivery> {
  await transport.declare(topology);
  const delivered = new Promise<Delivery>((resolve) => {
    void transport.consume(queue, { prefetch: 1 }, (delivery) => {
      delivery.deadLetter({ reason: 'INVALID_MESSAGE: test', processor: 'p', attempts: 1 });
      resolve(delivery);
    });
  });
  await transport.publish(exchange, 'company.updated', Buffer.from('{}'), {
    messageId: 'hostile',
    headers: published,
  });
  return delivered;
}

const expectedDeadLetterHeaders = copyHeaders(published, {
  [deadLetterHeaders.reason]: 'INVALID_MESSAGE: test',
  [deadLetterHeaders.processor]: 'p',
  [deadLetterHeaders.attempts]: 1,
  [deadLetterHeaders.routingKey]: 'company.updated',
});

describe('one wire contract, two transports', () => {
  it('in-process: no forged attempts, the dead letter carries what the contract says', async () => {
    const transport = new MemoryTransport();
    const delivery = await deadLetterOne(transport);
    expect(delivery).toMatchObject({ previousAttempts: 0, routingKey: 'company.updated' });
    const [dead] = transport.peek(`${queue}.dead`);
    expect(dead?.headers).toEqual(expectedDeadLetterHeaders);
    await transport.close();
  });

  it('AMQP: the same attempts and the same dead-letter headers', async () => {
    const transport = new AmqpTransport({ url, logger: pino({ level: 'silent' }) });
    try {
      const delivery = await deadLetterOne(transport);
      expect(delivery).toMatchObject({ previousAttempts: 0, routingKey: 'company.updated' });
      const model = await connect(url);
      const channel = await model.createChannel();
      let dead = await channel.get(`${queue}.dead`, { noAck: true });
      while (dead === false) {
        // The dead letter is published after the settle call returns: wait for it.
        await new Promise((resolve) => setImmediate(resolve));
        dead = await channel.get(`${queue}.dead`, { noAck: true });
      }
      expect(dead.properties.headers).toEqual(expectedDeadLetterHeaders);
      await model.close();
    } finally {
      await transport.close();
    }
  });
});
