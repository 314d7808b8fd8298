// Coalesces concurrent bulkWrite calls into one request: calls queue here, and whenever a
// request slot is free, everything queued goes out together. A call aborted while it
// waits is dropped; one already sent completes.
import { TransientError } from '@troupe/core';

interface Pending<TItem, TResult> {
  readonly items: readonly TItem[];
  readonly resolve: (results: readonly TResult[]) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** One group as the sender sees it: every call's items, in call order. */
export type Group<TItem> = readonly (readonly TItem[])[];

/**
 * Sends a group; resolves with each call's results (or the error that call alone
 * rejects with), or rejects when the whole group failed.
 */
export type GroupSender<TItem, TResult> = (
  group: Group<TItem>,
) => Promise<readonly (readonly TResult[] | Error)[]>;

/** Statistics, for metrics, tests and benchmarks. */
export interface CoalescerStats {
  /** Groups sent (failed ones included). */
  requests: number;
  /** Of those, the ones that failed as a whole. */
  failures: number;
  /** Calls they carried. */
  calls: number;
  /** Items those calls carried (those `countsAsItem` accepts). */
  items: number;
  /** The most calls one group carried. */
  largest: number;
}

export class Coalescer<TItem, TResult> {
  readonly #send: GroupSender<TItem, TResult>;
  readonly #maxInFlight: number;
  readonly #countsAsItem: (item: TItem) => boolean;
  #queue: Pending<TItem, TResult>[] = [];
  #inFlight = 0;
  #scheduled = false;
  readonly stats: CoalescerStats = { requests: 0, failures: 0, calls: 0, items: 0, largest: 0 };

  constructor(
    send: GroupSender<TItem, TResult>,
    maxInFlight: number,
    countsAsItem: (item: TItem) => boolean = () => true,
  ) {
    this.#send = send;
    this.#maxInFlight = maxInFlight;
    this.#countsAsItem = countsAsItem;
  }

  submit(items: readonly TItem[], signal?: AbortSignal): Promise<readonly TResult[]> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(new TransientError('arango: aborted before its request', { cause: signal.reason }));
        return;
      }
      const pending: Pending<TItem, TResult> = {
        items,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.#queue.indexOf(pending);
          if (index < 0) return;
          this.#queue.splice(index, 1);
          reject(
            new TransientError('arango: aborted before its request', { cause: signal?.reason }),
          );
        },
      };
      signal?.addEventListener('abort', pending.onAbort, { once: true });
      this.#queue.push(pending);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight || this.#queue.length === 0) return;
    this.#scheduled = true;
    // One turn of the event loop first, so that calls made in the same turn share it.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#sendQueued();
    });
  }

  async #sendQueued(): Promise<void> {
    if (this.#inFlight >= this.#maxInFlight || this.#queue.length === 0) return;
    const group = this.#queue;
    this.#queue = [];
    for (const pending of group) pending.signal?.removeEventListener('abort', pending.onAbort);
    this.#inFlight += 1;
    this.stats.requests += 1;
    this.stats.calls += group.length;
    for (const pending of group) {
      for (const item of pending.items) if (this.#countsAsItem(item)) this.stats.items += 1;
    }
    this.stats.largest = Math.max(this.stats.largest, group.length);
    try {
      const results = await this.#send(group.map((pending) => pending.items));
      for (const [i, pending] of group.entries()) {
        const own = results[i];
        if (own === undefined) pending.reject(new TransientError('arango: no result'));
        else if (own instanceof Error) pending.reject(own);
        else pending.resolve(own);
      }
    } catch (error) {
      this.stats.failures += 1;
      for (const pending of group) {
        pending.reject(error instanceof Error ? error : new TransientError(String(error)));
      }
    } finally {
      this.#inFlight -= 1;
      this.#schedule();
    }
  }
}
