// Queue arguments and retry tiers, as pure functions.
import { describe, expect, it } from 'vitest';
import { defineProcessor } from '@troupe/core';
import { z } from 'zod';
import { processorTopology, queueArguments, retryQueueArguments, retryTier } from '../src/index.js';

const options = { deadLetterExchange: 'troupe.dead-letter', deliveryLimit: 20 };

describe('queueArguments', () => {
  it('dead-letters a classic queue into <queue>.dead through the dead-letter exchange', () => {
    expect(queueArguments({ queue: 'q', bindings: [] }, options)).toEqual({
      'x-dead-letter-exchange': 'troupe.dead-letter',
      'x-dead-letter-routing-key': 'q',
    });
  });

  it('declares quorum queues with a delivery limit, and single active consumers', () => {
    expect(
      queueArguments(
        { queue: 'q', bindings: [], queueType: 'quorum', singleActiveConsumer: true },
        options,
      ),
    ).toMatchObject({
      'x-queue-type': 'quorum',
      'x-delivery-limit': 20,
      'x-single-active-consumer': true,
    });
  });
});

describe('retry queues', () => {
  it('round delays to a ladder of a few steps per decade', () => {
    expect([1, 100, 140, 200, 260, 3000, 3200, 4100, 6000, 8600, 60_000].map(retryTier)).toEqual([
      1, 100, 150, 200, 250, 3000, 3000, 4000, 6000, 8000, 60_000,
    ]);
  });

  it('expire messages back to their queue through the default exchange', () => {
    expect(retryQueueArguments('q', 3000)).toEqual({
      'x-message-ttl': 3000,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'q',
      'x-expires': 66_000,
    });
  });
});

describe('processorTopology', () => {
  it('takes each processor queue, bindings, type and ordering flag', () => {
    const ordered = defineProcessor({
      name: 'ordered',
      queue: 'orders',
      bindings: [{ exchange: 'shop', routingKey: 'order.*' }],
      schema: z.object({}),
      handle: () => undefined,
      queueType: 'quorum',
      singleActiveConsumer: true,
    });
    expect(processorTopology([ordered])).toEqual([
      {
        queue: 'orders',
        bindings: [{ exchange: 'shop', routingKey: 'order.*' }],
        queueType: 'quorum',
        singleActiveConsumer: true,
      },
    ]);
  });
});
