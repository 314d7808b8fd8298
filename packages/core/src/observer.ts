// What a worker reports to metrics: each message's settlement with its outcome, latency
// and id; each step's duration; each retry; and each batch a worker takes. Optional:
// without an observer a worker measures nothing. Kept small and stable: metrics and
// tracing are built on it.

/** How a delivery left a worker. */
export type SettlementOutcome = 'acked' | 'dead-lettered' | 'requeued' | 'redelivered-later';

/** A worker's step: a message's handler, or a batch's persist step. */
export type StepKind = 'handle' | 'persist';

/** Receives a worker's measurements. Calls are synchronous and must not throw. */
export interface ProcessorObserver {
  /**
   * A delivery was settled, `elapsedMs` after the worker took it (once per message,
   * whatever the size of its batch).
   */
  settled(outcome: SettlementOutcome, elapsedMs: number, messageId: string): void;
  /**
   * A step ended (either way) after `ms`: a handler step covers one message (`size`
   * 1); a persist step covers the `size` messages of its batch it stored.
   */
  step(step: StepKind, ms: number, size: number): void;
  /** A failed attempt of message `messageId` will be retried. */
  retrying(step: StepKind, messageId: string): void;
  /** A worker took a batch of `messageIds.length` deliveries (optional). */
  batch?(messageIds: readonly string[]): void;
}
