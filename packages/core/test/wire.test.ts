// The wire contract: which attempt counts are trusted, what a copy carries, the
// nesting refused, and state names.
import { describe, expect, it } from 'vitest';
import {
  copyHeaders,
  headerProblem,
  maxHeaderDepth,
  nestingDepth,
  readDelivery,
  stateName,
  type DeliveryFacts,
} from '../src/index.js';

const fresh: DeliveryFacts = {
  queue: 'company.updated',
  headers: {},
  routingKey: 'company.updated',
  exchange: 'companies',
  redelivered: false,
  brokerCountsDeliveries: false,
};

const fromRetryQueue = (headers: Record<string, unknown>): DeliveryFacts => ({
  ...fresh,
  exchange: '',
  routingKey: 'company.updated',
  headers: {
    ...headers,
    'x-death': [
      { queue: 'company.updated.retry.2000', reason: 'expired', count: 1, exchange: '' },
      { queue: 'elsewhere', reason: 'rejected', count: 1, exchange: '' },
    ],
  },
});

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let level = 0; level < depth; level += 1) value = level % 2 === 0 ? { n: value } : [value];
  return value;
}

describe('readDelivery: attempt counts', () => {
  it('takes nothing a publisher wrote on a fresh message', () => {
    const reading = readDelivery({
      ...fresh,
      headers: {
        'x-troupe-retry-attempts': 999,
        'x-delivery-count': 4,
        'x-troupe-original-routing-key': 'forged.key',
        'x-death': [{ queue: 'company.updated.retry.100', reason: 'expired' }],
      },
    });
    expect(reading).toEqual({
      previousAttempts: 0,
      routingKey: 'company.updated',
      problem: undefined,
    });
  });

  it('takes the retry count and original routing key only back from its own retry queue', () => {
    const headers = {
      'x-troupe-retry-attempts': 3,
      'x-troupe-original-routing-key': 'company.renamed',
    };
    expect(readDelivery(fromRetryQueue(headers))).toMatchObject({
      previousAttempts: 3,
      routingKey: 'company.renamed',
    });
    // Another queue's retry queue, another reason, or through an application exchange.
    const other = fromRetryQueue(headers);
    expect(readDelivery({ ...other, queue: 'company' }).previousAttempts).toBe(0);
    expect(readDelivery({ ...other, exchange: 'companies' }).previousAttempts).toBe(0);
    const rejected = {
      ...other,
      headers: {
        ...headers,
        'x-death': [{ queue: 'company.updated.retry.2000', reason: 'rejected' }],
      },
    };
    expect(readDelivery(rejected).previousAttempts).toBe(0);
    const named = {
      ...other,
      headers: { ...headers, 'x-death': [{ queue: 'company.updated.retry.x', reason: 'expired' }] },
    };
    expect(readDelivery(named).previousAttempts).toBe(0);
  });

  it("takes them back from a quorum queue's quorum retry queue too", () => {
    const headers = { 'x-troupe-retry-attempts': 2 };
    const quorum = (queue: string): DeliveryFacts => ({
      ...fromRetryQueue(headers),
      brokerCountsDeliveries: true,
      headers: { ...headers, 'x-death': [{ queue, reason: 'expired' }] },
    });
    expect(readDelivery(quorum('company.updated.retry.2000.quorum')).previousAttempts).toBe(2);
    // And from its classic retry queues an earlier version made.
    expect(readDelivery(quorum('company.updated.retry.2000')).previousAttempts).toBe(2);
    // Only that suffix: a queue named like it otherwise is nobody's retry queue.
    expect(readDelivery(quorum('company.updated.retry.2000.q')).previousAttempts).toBe(0);
    expect(readDelivery(quorum('company.updated.retry.quorum')).previousAttempts).toBe(0);
    // A classic queue has no quorum retry queue.
    const classic = {
      ...quorum('company.updated.retry.2000.quorum'),
      brokerCountsDeliveries: false,
    };
    expect(readDelivery(classic).previousAttempts).toBe(0);
  });

  it('takes x-delivery-count only on a redelivery from a queue whose broker counts', () => {
    const headers = { 'x-delivery-count': 2 };
    expect(readDelivery({ ...fresh, headers, brokerCountsDeliveries: true }).previousAttempts).toBe(
      0,
    );
    expect(readDelivery({ ...fresh, headers, redelivered: true }).previousAttempts).toBe(0);
    expect(
      readDelivery({ ...fresh, headers, redelivered: true, brokerCountsDeliveries: true })
        .previousAttempts,
    ).toBe(2);
    const both = fromRetryQueue({ 'x-troupe-retry-attempts': 3, 'x-delivery-count': 1 });
    expect(
      readDelivery({ ...both, redelivered: true, brokerCountsDeliveries: true }).previousAttempts,
    ).toBe(4);
  });

  it('ignores counts that are not positive safe integers', () => {
    for (const value of [-1, 0.5, Number.NaN, '7', 2 ** 60, null]) {
      const reading = readDelivery({
        ...fromRetryQueue({ 'x-troupe-retry-attempts': value }),
      });
      expect(reading.previousAttempts).toBe(0);
    }
  });
});

describe('header nesting', () => {
  it('measures tables and arrays, iteratively, past any stack', () => {
    expect(nestingDepth(1)).toBe(0);
    expect(nestingDepth(Buffer.from('x'))).toBe(0);
    expect(nestingDepth({ a: 1 })).toBe(1);
    expect(nestingDepth([{ a: [1] }])).toBe(3);
    expect(nestingDepth(nested(maxHeaderDepth))).toBe(maxHeaderDepth);
    expect(nestingDepth(nested(100_000))).toBeGreaterThan(maxHeaderDepth);
  });

  it('refuses a header nested deeper than the limit, naming it', () => {
    expect(headerProblem({ ok: nested(maxHeaderDepth) })).toBeUndefined();
    expect(headerProblem({ ok: 1, deep: nested(maxHeaderDepth + 1) })).toBe(
      `header "deep" nested deeper than ${maxHeaderDepth} levels`,
    );
    expect(readDelivery({ ...fresh, headers: { deep: nested(6000) } }).problem).toMatch(/deep/);
  });
});

describe('copyHeaders', () => {
  it('keeps the publisher headers, drops routing, broker, Troupe and too-deep ones', () => {
    const copied = copyHeaders(
      {
        tenant: 'acme',
        traceparent: '00-abc',
        CC: ['other'],
        BCC: ['secret'],
        cc: ['lower'],
        'x-delivery-count': 3,
        'x-death': [{}],
        'x-first-death-queue': 'q',
        'x-last-death-reason': 'expired',
        'x-troupe-retry-attempts': 999,
        'x-troupe-reason': 'old',
        deep: nested(maxHeaderDepth + 1),
      },
      { 'x-troupe-reason': 'INVALID_MESSAGE: new' },
    );
    expect(copied).toEqual({
      tenant: 'acme',
      traceparent: '00-abc',
      'x-troupe-reason': 'INVALID_MESSAGE: new',
    });
    expect(copyHeaders(undefined)).toEqual({});
  });
});

describe('stateName', () => {
  it('names strings, nested and parallel states', () => {
    expect(stateName('idle')).toBe('idle');
    expect(stateName({ connected: 'flowing' })).toBe('connected.flowing');
    expect(stateName({ a: { b: 'c' } })).toBe('a.b.c');
    expect(stateName({ a: 'x', b: 'y' })).toBe('a.x,b.y');
    expect(stateName({})).toBe('unknown');
    expect(stateName(undefined)).toBe('unknown');
  });
});
