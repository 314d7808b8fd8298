// The worker's delivery slot (InFlight): a settlement that cannot happen must leave the
// delivery in its slot, so that it is still settled (requeued) later and never lost.
import { describe, expect, it } from 'vitest';
import { InFlight } from '../src/internal/in-flight.js';
import type { Delivery } from '../src/transport.js';

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
  it.fails('keeps the delivery in its slot, so that it is requeued when the worker lets go', () => {
    const slot = new InFlight(undefined);
    const held = delivery();
    slot.begin(held);
    slot.redeliverLater(20_000, 1);
    expect(held.settlements).toEqual([]);
    expect(slot.delivery).toBe(held);
    slot.release();
    expect(held.settlements).toEqual(['requeue']);
  });
});
