// The one pure function that decides a failed delivery's fate from the error, the
// attempts made so far and the retry policy. The processor chart asks it; nothing
// else decides.
import { backoffDelay, type RandomSource } from './backoff.js';
import type { TroupeError } from './errors.js';
import type { RetryPolicy } from './retry.js';

/** The fate of a delivery whose last attempt failed. */
export type FailureDecision =
  | { readonly kind: 'retry'; readonly delayMs: number }
  | { readonly kind: 'dead-letter'; readonly reason: string }
  | { readonly kind: 'escalate'; readonly reason: string };

/**
 * Decides what to do after attempt number `attempt` (1-based) failed with `error`.
 * Non-retryable errors are dead-lettered at once; retryable ones are retried until
 * the policy's attempts are spent, then dead-lettered or escalated. A message whose
 * attempts are already past the policy's (it was escalated, and came back with its
 * count) is dead-lettered: escalation ends within a bounded number of deliveries.
 */
export function decideFailure(
  error: TroupeError,
  attempt: number,
  policy: RetryPolicy,
  random: RandomSource = Math.random,
): FailureDecision {
  if (!error.retryable) {
    return { kind: 'dead-letter', reason: `${error.code}: ${error.message}` };
  }
  if (attempt >= policy.attempts) {
    const reason = `retries exhausted after ${attempt} attempts: ${error.code}: ${error.message}`;
    // Past the policy's attempts, the message was escalated once already (it came back
    // with its count): escalating again would loop, so it is dead-lettered.
    return policy.onExhausted === 'escalate' && attempt === policy.attempts
      ? { kind: 'escalate', reason }
      : {
          kind: 'dead-letter',
          reason: policy.onExhausted === 'escalate' ? `${reason} (escalated once already)` : reason,
        };
  }
  return { kind: 'retry', delayMs: backoffDelay(policy.backoff, attempt - 1, random) };
}
