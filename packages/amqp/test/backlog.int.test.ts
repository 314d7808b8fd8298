// The publisher's backlog is bounded: while no broker answers, publishes wait in memory
// up to maxPublishBacklog, and past it they are refused with a TransientError at once.
import { TransientError } from '@troupe/core';
import { expect, it } from 'vitest';
import { AmqpTransport } from '../src/index.js';
import { bytes, testLogger } from './helpers.js';

it('refuses publishes past maxPublishBacklog while the broker is unreachable', async () => {
  const transport = new AmqpTransport({
    // Nothing listens on port 1: the connection keeps recovering.
    url: 'amqp://guest:guest@127.0.0.1:1',
    logger: testLogger,
    maxPublishBacklog: 2,
    reconnectBackoff: { kind: 'fixed', delayMs: 60_000 },
  });
  const waiting = [transport.publish('', 'q', bytes('1')), transport.publish('', 'q', bytes('2'))];
  for (const publish of waiting) publish.catch(() => undefined);
  await expect(transport.publish('', 'q', bytes('3'))).rejects.toBeInstanceOf(TransientError);
  expect(transport.publishBacklog).toBe(2);
  await transport.close();
  // Closing rejects what was still waiting: nothing is left hanging.
  await expect(Promise.allSettled(waiting)).resolves.toEqual([
    expect.objectContaining({ status: 'rejected' }),
    expect.objectContaining({ status: 'rejected' }),
  ]);
});
