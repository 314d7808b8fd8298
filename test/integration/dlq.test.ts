// `troupe dlq list` / `dlq replay` internals against the real broker, in a vhost of
// their own: hostile dead letters (headers nested too deep, CC routing headers) and a
// running app that dead-letters replayed messages again.
import { connect, type ChannelModel } from 'amqplib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listDeadLetters, replayDeadLetters } from '../../apps/supervisor/src/dlq.js';
import { publishNested } from '../../packages/amqp/test/hostile.js';
import { Vhost } from '../e2e/harness.js';

const vhost = new Vhost();
let model: ChannelModel;
let queue: string;
let counter = 0;

beforeAll(async () => {
  await vhost.create();
});
afterAll(async () => {
  await vhost.dispose();
});
beforeEach(async () => {
  counter += 1;
  queue = `dlq-test-${counter}`;
  model = await connect(vhost.url);
  const channel = await model.createChannel();
  await channel.assertQueue(queue, { durable: true });
  await channel.assertQueue(`${queue}.dead`, { durable: true });
  await channel.close();
});
afterEach(async () => {
  await model.close().catch(() => undefined);
});

async function deadLetters(
  messages: { id: string; headers?: Record<string, unknown> }[],
): Promise<void> {
  const channel = await model.createConfirmChannel();
  for (const { id, headers } of messages) {
    channel.sendToQueue(`${queue}.dead`, Buffer.from(`{"id":"${id}"}`), {
      messageId: id,
      persistent: true,
      headers: {
        'x-troupe-reason': 'INVALID_MESSAGE: test',
        'x-troupe-processor': 'p',
        'x-troupe-attempts': 1,
        'x-troupe-original-routing-key': 'company.updated',
        ...headers,
      },
    });
  }
  await channel.waitForConfirms();
  await channel.close();
}

async function depth(name: string): Promise<number> {
  const channel = await model.createChannel();
  try {
    return (await channel.checkQueue(name)).messageCount;
  } finally {
    await channel.close();
  }
}

async function drain(name: string): Promise<{ id: unknown; headers: Record<string, unknown> }[]> {
  const channel = await model.createChannel();
  const messages = [];
  for (;;) {
    const message = await channel.get(name, { noAck: true });
    if (message === false) break;
    messages.push({
      id: message.properties.messageId as unknown,
      headers: message.properties.headers ?? {},
    });
  }
  await channel.close();
  return messages;
}

async function withDeepOneInTheMiddle(): Promise<void> {
  await deadLetters([{ id: 'a' }]);
  await publishNested({
    url: vhost.url,
    exchange: '',
    routingKey: `${queue}.dead`,
    messageId: 'deep',
    depth: 6000,
  });
  await deadLetters([{ id: 'b' }]);
}

describe('dlq list', () => {
  it('lists every dead letter, one with headers nested 6,000 deep included', async () => {
    await withDeepOneInTheMiddle();
    const lines: string[] = [];
    const { count } = await listDeadLetters({ url: vhost.url, queue, out: (l) => lines.push(l) });
    expect(count).toBe(3);
    const ids = lines
      .slice(0, 3)
      .map((line) => (JSON.parse(line) as { messageId: string }).messageId);
    expect(ids).toEqual(['a', 'deep', 'b']);
    expect(await depth(`${queue}.dead`)).toBe(3);
  }, 20_000);
});

describe('dlq replay', () => {
  it('replays every dead letter, the deeply nested one without that header', async () => {
    await withDeepOneInTheMiddle();
    const lines: string[] = [];
    const { count } = await replayDeadLetters({
      url: vhost.url,
      queue,
      out: (l) => lines.push(l),
    });
    expect(count).toBe(3);
    const replayed = await drain(queue);
    expect(replayed.map((message) => message.id)).toEqual(['a', 'deep', 'b']);
    expect(replayed[1]?.headers).not.toHaveProperty('deep');
    expect(await depth(`${queue}.dead`)).toBe(0);
  }, 20_000);

  it('replays into the queue only: a CC header is not carried over', async () => {
    const victim = `${queue}-victim`;
    const channel = await model.createChannel();
    await channel.assertQueue(victim, { durable: true });
    await channel.close();
    await deadLetters([{ id: 'cc', headers: { CC: [victim], tenant: 'acme' } }]);
    // Publishing it with CC already put a copy into the victim queue: that one is not ours.
    expect(await drain(victim)).toHaveLength(1);
    const { count } = await replayDeadLetters({ url: vhost.url, queue, out: () => undefined });
    expect(count).toBe(1);
    const [replayed] = await drain(queue);
    expect(replayed?.headers).toEqual({ tenant: 'acme' });
    expect(await depth(victim)).toBe(0);
  });

  it('takes at most the depth it found while the app dead-letters replayed messages again', async () => {
    await deadLetters([1, 2, 3, 4, 5].map((n) => ({ id: `m${n}` })));
    // The running app: every message is still invalid and goes straight back to the
    // dead-letter queue (it stops after 60, so that a replay that never ends does).
    const app = await model.createConfirmChannel();
    let deadLettered = 0;
    await app.consume(queue, (message) => {
      if (message === null) return;
      deadLettered += 1;
      if (deadLettered <= 60) {
        app.sendToQueue(`${queue}.dead`, message.content, message.properties);
      }
      app.ack(message);
    });
    const lines: string[] = [];
    const { count } = await replayDeadLetters({
      url: vhost.url,
      queue,
      out: (l) => lines.push(l),
    });
    expect(count).toBe(5);
    expect(lines.at(-1)).toMatch(/replayed 5 of 5 message\(s\)/);
    expect(lines.some((line) => /^replayed 1 of 5/.test(line))).toBe(true);
  }, 20_000);
});
