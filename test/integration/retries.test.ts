// `troupe retries` internals against the real broker, in a vhost of its own: messages
// parked by delayed retries of a classic and a quorum queue are listed by retry queue,
// with their delay, type and count, and nothing is taken from them.
import { AmqpTransport } from '@troupe/amqp';
import type { Delivery, QueueTopology } from '@troupe/core';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listRetryQueues, type RetrySummary } from '../../apps/supervisor/src/retries.js';
import { eventually, Vhost } from '../e2e/harness.js';

const vhost = new Vhost();

beforeAll(async () => {
  await vhost.create();
});
afterAll(async () => {
  await vhost.dispose();
});

/** Publishes `n` messages to `queue` and parks each in a retry of `delayMs`. */
async function park(
  transport: AmqpTransport,
  queue: string,
  n: number,
  delayMs: number,
): Promise<void> {
  let parked = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const subscription = await transport.consume(queue, { prefetch: n }, (delivery: Delivery) => {
    delivery.retryLater?.(delayMs, 1);
    parked += 1;
    if (parked === n) done();
  });
  for (let i = 0; i < n; i += 1) {
    await transport.publish('', queue, Buffer.from(`{"id":"${i}"}`), {
      messageId: `${queue}-${i}`,
    });
  }
  await all;
  await subscription.cancel();
}

it('lists the messages waiting in each retry queue, by delay, and takes none', async () => {
  const transport = new AmqpTransport({ url: vhost.url, logger: pino({ level: 'silent' }) });
  const topology: QueueTopology[] = [
    { queue: 'classic-q', bindings: [] },
    { queue: 'quorum-q', bindings: [], queueType: 'quorum' },
  ];
  try {
    await transport.declare(topology);
    // Long enough that nothing comes back while the test looks.
    await park(transport, 'classic-q', 3, 600_000);
    await park(transport, 'classic-q', 2, 1_500_000);
    await park(transport, 'quorum-q', 4, 600_000);
    const lines: string[] = [];
    const out = (line: string): void => {
      lines.push(line);
    };
    // Parked once each retry is confirmed: asked until the broker shows them all.
    const listed = async (queue: string, total: number): Promise<RetrySummary> => {
      let summary: RetrySummary | undefined;
      await eventually(
        async () => {
          summary = await listRetryQueues({ url: vhost.url, queue, out });
          return summary.total >= total;
        },
        30_000,
        `${total} messages parked for ${queue}`,
      );
      if (summary === undefined) throw new Error('never listed');
      return summary;
    };
    const classic = await listed('classic-q', 5);
    expect(classic.queues).toEqual([
      { name: 'classic-q.retry.600000', delayMs: 600_000, type: 'classic', messages: 3 },
      { name: 'classic-q.retry.1500000', delayMs: 1_500_000, type: 'classic', messages: 2 },
    ]);
    expect(lines.at(-3)).toBe('classic-q.retry.600000  waits 10 min  classic  3 messages');
    expect(lines.at(-2)).toBe('classic-q.retry.1500000  waits 25 min  classic  2 messages');
    expect(lines.at(-1)).toBe('classic-q: 5 messages waiting in 2 retry queues');
    const quorum = await listed('quorum-q', 4);
    expect(quorum.queues).toEqual([
      { name: 'quorum-q.retry.600000.quorum', delayMs: 600_000, type: 'quorum', messages: 4 },
    ]);
    // Listing took nothing.
    expect((await listRetryQueues({ url: vhost.url, queue: 'classic-q', out })).total).toBe(5);
    await transport.declare([{ queue: 'never-retried-q', bindings: [] }]);
    const none = await listRetryQueues({ url: vhost.url, queue: 'never-retried-q', out });
    expect(none).toEqual({ queues: [], total: 0 });
    expect(lines.at(-1)).toBe(
      'never-retried-q: no retry queues (no message has waited out a delayed retry here)',
    );
    // A queue that is not there (a typo, say) is an error, not an empty answer.
    await expect(listRetryQueues({ url: vhost.url, queue: 'no-such-q', out })).rejects.toThrow(
      'no queue no-such-q',
    );
  } finally {
    await transport.close();
  }
}, 60_000);
