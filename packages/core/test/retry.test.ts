import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  ConfigurationError,
  decideFailure,
  defaultRetryPolicy,
  InvalidMessageError,
  PermanentError,
  resolveRetryPolicy,
  toTroupeError,
  TransientError,
} from '../src/index.js';

describe('backoff', () => {
  it('is fixed, or exponential and capped (Akka formula)', () => {
    expect(backoffDelay({ kind: 'fixed', delayMs: 3000 }, 7)).toBe(3000);
    const exp = { kind: 'exponential', minMs: 100, maxMs: 1000 } as const;
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(exp, n))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it('adds jitter from the injected random source', () => {
    const backoff = { kind: 'exponential', minMs: 100, maxMs: 1000, randomFactor: 0.5 } as const;
    expect(backoffDelay(backoff, 1, () => 0)).toBe(200);
    expect(backoffDelay(backoff, 1, () => 0.5)).toBe(250);
  });
});

describe('retry policy', () => {
  it('defaults to 5 attempts, 3 s apart, then dead-letter; broker redelivery from 10 s', () => {
    expect(resolveRetryPolicy()).toEqual({
      attempts: 5,
      backoff: { kind: 'fixed', delayMs: 3000 },
      onExhausted: 'dead-letter',
      redeliverFromMs: 10_000,
    });
    expect(() => resolveRetryPolicy({ redeliverFromMs: -1 }, 'r')).toThrow(
      expect.objectContaining({ field: 'r.redeliverFromMs' }),
    );
    expect(resolveRetryPolicy({ redeliverFromMs: Infinity }).redeliverFromMs).toBe(Infinity);
  });

  it('names the field at fault', () => {
    expect(() => resolveRetryPolicy({ attempts: 0 }, 'processors.x.retry')).toThrow(
      expect.objectContaining({ field: 'processors.x.retry.attempts' }),
    );
    expect(() =>
      resolveRetryPolicy({ backoff: { kind: 'exponential', minMs: 10, maxMs: 5 } }),
    ).toThrow(ConfigurationError);
    expect(() => resolveRetryPolicy({ backoff: { kind: 'fixed', delayMs: -1 } })).toThrow(
      /retry\.backoff\.delayMs/,
    );
  });
});

describe('decideFailure', () => {
  const policy = defaultRetryPolicy;

  it('dead-letters what retrying cannot fix, at once', () => {
    expect(decideFailure(new InvalidMessageError('bad'), 1, policy).kind).toBe('dead-letter');
    expect(decideFailure(new PermanentError('no'), 1, policy)).toEqual({
      kind: 'dead-letter',
      reason: 'PERMANENT: no',
    });
  });

  it('retries transient failures until the attempts are spent', () => {
    expect(decideFailure(new TransientError('t'), 1, policy)).toEqual({
      kind: 'retry',
      delayMs: 3000,
    });
    expect(decideFailure(new TransientError('t'), 4, policy).kind).toBe('retry');
    const exhausted = decideFailure(new TransientError('t'), 5, policy);
    expect(exhausted.kind).toBe('dead-letter');
    expect(exhausted.kind === 'dead-letter' && exhausted.reason).toContain(
      'retries exhausted after 5 attempts',
    );
    expect(
      decideFailure(new TransientError('t'), 5, { ...policy, onExhausted: 'escalate' }).kind,
    ).toBe('escalate');
  });

  it('treats unknown thrown values as transient, keeping the cause', () => {
    const cause = new Error('socket hang up');
    const error = toTroupeError(cause);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.cause).toBe(cause);
    expect(toTroupeError('oops').retryable).toBe(true);
  });
});
