// A processor's retry policy: how many attempts a delivery gets, how long to wait
// between them, and what happens when they run out.
import type { Backoff } from './backoff.js';
import { ConfigurationError } from './errors.js';

/** What to do with a delivery whose attempts are exhausted. */
export type ExhaustedAction = 'dead-letter' | 'escalate';

/** A complete retry policy. See {@link defaultRetryPolicy}. */
export interface RetryPolicy {
  /** Total attempts, the first included. @default 5 */
  readonly attempts: number;
  /** Delay between attempts. @default fixed 3000 ms, as the loop Troupe replaces */
  readonly backoff: Backoff;
  /**
   * `dead-letter` (default) parks the delivery in `<queue>.dead` and carries on;
   * `escalate` sends the worker to `failed` and lets its supervisor decide.
   * @default 'dead-letter'
   */
  readonly onExhausted: ExhaustedAction;
  /**
   * Retry delays of at least this many milliseconds go through the broker's delayed
   * redelivery (a retry queue whose TTL returns the message) when the transport offers
   * it, so that the worker is free while the message waits; shorter delays are waited
   * out in the worker's `retrying` state. `Infinity` keeps every retry inline.
   * @default 10000
   */
  readonly redeliverFromMs: number;
}

/** Options accepted where a retry policy is configured: any field may be left out. */
export type RetryOptions = Partial<RetryPolicy>;

/** 5 attempts, 3 s apart, then dead-letter. */
export const defaultRetryPolicy: RetryPolicy = {
  attempts: 5,
  backoff: { kind: 'fixed', delayMs: 3000 },
  onExhausted: 'dead-letter',
  redeliverFromMs: 10_000,
};

function assertNonNegative(field: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(field, `must be a finite number >= 0, got ${String(value)}`);
  }
}

/**
 * Fills the defaults in and validates a retry policy.
 *
 * @param field - the configuration path reported in errors
 * @throws ConfigurationError naming the field at fault
 */
export function resolveRetryPolicy(options: RetryOptions = {}, field = 'retry'): RetryPolicy {
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...options };
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1) {
    throw new ConfigurationError(
      `${field}.attempts`,
      `must be an integer >= 1, got ${String(policy.attempts)}`,
    );
  }
  const { backoff } = policy;
  switch (backoff.kind) {
    case 'fixed':
      assertNonNegative(`${field}.backoff.delayMs`, backoff.delayMs);
      break;
    case 'exponential':
      assertNonNegative(`${field}.backoff.minMs`, backoff.minMs);
      assertNonNegative(`${field}.backoff.maxMs`, backoff.maxMs);
      if (backoff.maxMs < backoff.minMs) {
        throw new ConfigurationError(`${field}.backoff.maxMs`, 'must be >= backoff.minMs');
      }
      break;
    default: {
      const unknownKind: never = backoff;
      throw new ConfigurationError(
        `${field}.backoff.kind`,
        `must be 'fixed' or 'exponential', got ${JSON.stringify(unknownKind)}`,
      );
    }
  }
  if (backoff.randomFactor !== undefined) {
    assertNonNegative(`${field}.backoff.randomFactor`, backoff.randomFactor);
  }
  if (Number.isNaN(policy.redeliverFromMs) || policy.redeliverFromMs < 0) {
    throw new ConfigurationError(
      `${field}.redeliverFromMs`,
      `must be a number of milliseconds >= 0 (or Infinity), got ${String(policy.redeliverFromMs)}`,
    );
  }
  if (policy.onExhausted !== 'dead-letter' && policy.onExhausted !== 'escalate') {
    throw new ConfigurationError(
      `${field}.onExhausted`,
      `must be 'dead-letter' or 'escalate', got ${JSON.stringify(policy.onExhausted)}`,
    );
  }
  return policy;
}
