// The worker's delivery slot (InFlight): a settlement that cannot happen must leave the
// delivery in its slot, so that it is still settled (requeued) later and never lost.
import { describe, expect, it } from 'vitest';
import { InFlight } from '../src/internal/in-flight.js';
import type { Delivery } from '../src/transport.js';
import { TransientError } from '../src/errors.js';
import { defaultRetryPolicy } from '../src/retry.js';

function delivery(): Delivery & { settlements: string[] } {
  const settlements: string[] = [];
  return {
    settlements,
    messageId: 'm-1',
    correlationId: undefined,
    routingKey: 'r',
    contentType: 'application/json',
    body: new Uint8Array(),
    headers: {},
    redelivered: false,
    previousAttempts: 0,
    ack: () => settlements.push('ack'),
    requeue: () => settlements.push('requeue'),
    deadLetter: () => settlements.push('dead-letter'),
  };
}

describe('issue 12, defect 6: redeliverLater on a transport without delayed redelivery', () => {
  it('keeps the delivery in its batch to retry inline, so that it is never dropped', () => {
    const slot = new InFlight(undefined);
    const held = delivery();
    slot.begin([held]);
    const [entry] = slot.entries;
    if (entry === undefined) throw new Error('no entry');
    entry.error = new TransientError('try later');
    // A delay past redeliverFromMs would go to the broker, if the transport could.
    const plan = slot.conclude(
      { ...defaultRetryPolicy, backoff: { kind: 'fixed', delayMs: 20_000 } },
      () => 0,
    );
    expect(plan.later).toEqual([]);
    expect(plan.retry).toEqual([entry]);
    expect(held.settlements).toEqual([]);
    slot.release();
    expect(held.settlements).toEqual(['requeue']);
  });
});
