// What a worker reports to metrics: each settlement with its outcome and latency, each
// step's duration, each retry. Optional: without an observer a worker measures nothing.

/** How a delivery left a worker. */
export type SettlementOutcome = 'acked' | 'dead-lettered' | 'requeued' | 'redelivered-later';

/** Receives a worker's measurements. Calls are synchronous and must not throw. */
export interface ProcessorObserver {
  /** A delivery was settled, `elapsedMs` after the worker took it. */
  settled(outcome: SettlementOutcome, elapsedMs: number): void;
  /** A handler or persist step ended (either way) after `ms`. */
  step(step: 'handle' | 'persist', ms: number): void;
  /** A failed attempt will be retried. */
  retrying(step: 'handle' | 'persist'): void;
}
