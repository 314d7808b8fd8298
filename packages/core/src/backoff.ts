// Backoff delays, shared by the processor's retry policy and the supervisor's restart
// policy. Akka's formula: min(max, min·2ⁿ) × (1 + random·randomFactor), with the
// random source injected so that tests are deterministic.

/** How long to wait before the n-th retry or restart. */
export type Backoff =
  | { readonly kind: 'fixed'; readonly delayMs: number; readonly randomFactor?: number }
  | {
      readonly kind: 'exponential';
      readonly minMs: number;
      readonly maxMs: number;
      readonly randomFactor?: number;
    };

/** A source of uniform numbers in [0, 1). `Math.random` by default. */
export type RandomSource = () => number;

/**
 * The delay before retry or restart number `n` (0 for the first).
 *
 * @example
 * backoffDelay({ kind: 'exponential', minMs: 100, maxMs: 10_000 }, 3) // 800
 */
export function backoffDelay(
  backoff: Backoff,
  n: number,
  random: RandomSource = Math.random,
): number {
  const base =
    backoff.kind === 'fixed'
      ? backoff.delayMs
      : Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(n, 52));
  const factor = backoff.randomFactor ?? 0;
  return factor > 0 ? Math.round(base * (1 + random() * factor)) : base;
}
