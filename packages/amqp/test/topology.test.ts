// Queue arguments and retry tiers, as pure functions.
import { describe, expect, it } from 'vitest';
import { defineProcessor } from '@troupe/core';
import { z } from 'zod';
import {
  conflictError,
  processorTopology,
  queueArguments,
  retryQueueArguments,
  retryQueueName,
  retryTier,
  retryTiers,
} from '../src/index.js';

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

describe('a queue-specific delivery limit', () => {
  it('overrides the transport default on quorum queues only', () => {
    expect(
      queueArguments({ queue: 'q', bindings: [], queueType: 'quorum', deliveryLimit: 3 }, options),
    ).toMatchObject({ 'x-delivery-limit': 3 });
    expect(
      queueArguments({ queue: 'q', bindings: [], deliveryLimit: 3 }, options),
    ).not.toHaveProperty('x-delivery-limit');
  });
});

describe('conflictError', () => {
  const declared = { 'x-queue-type': 'quorum', 'x-delivery-limit': 20 };
  const refusal = (detail: string): Error & { code: number } =>
    Object.assign(
      new Error(
        `Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg ${detail}"`,
      ),
      { code: 406 },
    );

  it('names the queue, what Troupe declares and what the queue has', () => {
    const error = conflictError(
      'q',
      declared,
      refusal(
        `'x-queue-type' for queue 'q' in vhost '/': received 'quorum' but current is 'classic'`,
      ),
    );
    expect(error).toMatchObject({ name: 'ConfigurationError', field: 'topology' });
    expect(error?.message).toContain('queue "q" exists with other arguments');
    expect(error?.message).toContain(JSON.stringify(declared));
    expect(error?.message).toContain('the queue has {"x-queue-type":"classic"} where they differ');
  });

  it('reads typed values and absent arguments', () => {
    const limit = conflictError(
      'q',
      declared,
      refusal(
        `'x-delivery-limit' for queue 'q' in vhost '/': received the value '20' of type 'long' but current is the value '5' of type 'long'`,
      ),
    );
    expect(limit?.message).toContain('the queue has {"x-delivery-limit":5}');
    const none = conflictError(
      'q',
      declared,
      refusal(
        `'x-delivery-limit' for queue 'q' in vhost '/': received the value '20' of type 'long' but current is none`,
      ),
    );
    expect(none?.message).toContain('the queue has no "x-delivery-limit"');
    const untyped = conflictError(
      'q',
      declared,
      refusal(`'x-queue-type' for queue 'q' in vhost '/': received 'quorum' but current is none`),
    );
    expect(untyped?.message).toContain('the queue has {"x-queue-type":"classic"}');
  });

  it('is undefined for other errors', () => {
    expect(
      conflictError('q', declared, Object.assign(new Error('x'), { code: 404 })),
    ).toBeUndefined();
    expect(conflictError('q', declared, undefined)).toBeUndefined();
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

  it('of a quorum queue are quorum queues of their own name that dead-letter at least once', () => {
    expect(retryQueueName('q', 3000)).toBe('q.retry.3000');
    expect(retryQueueName('q', 3000, 'classic')).toBe('q.retry.3000');
    expect(retryQueueName('q', 3000, 'quorum')).toBe('q.retry.3000.quorum');
    // No x-expires: a quorum queue's expiry counts from its creation (a redeclaration
    // does not renew it), so it would delete the queue with messages parked in it.
    expect(retryQueueArguments('q', 3000, 'quorum')).toEqual({
      'x-message-ttl': 3000,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'q',
      'x-queue-type': 'quorum',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
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

describe('retryTiers', () => {
  it('lists every tier retryTier gives, in order, up to the bound', () => {
    const tiers = retryTiers();
    expect(tiers.slice(0, 12)).toEqual([1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30]);
    expect(tiers).toEqual([...tiers].sort((a, b) => a - b));
    for (let delay = 1; delay < 2 ** 32; delay = Math.ceil(delay * 1.37)) {
      if (retryTier(delay) < 2 ** 32) expect(tiers).toContain(retryTier(delay));
    }
    // The longest delay a retry policy takes (Node's timer limit), and the largest tier.
    expect(tiers).toContain(retryTier(2_147_483_647));
    expect(tiers.at(-1)).toBe(4_000_000_000);
    expect(retryTiers(1000).at(-1)).toBe(1000);
  });
});
