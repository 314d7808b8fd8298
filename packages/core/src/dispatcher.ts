// Demand-driven hand-off inside a pool: idle workers announce how many deliveries they
// take (their batch size), deliveries go only to an idle worker, and the broker's
// prefetch (concurrency × maxBatch) bounds what waits here. Deliveries that arrive
// together (one socket read) are handed out together: the dispatcher gathers them and
// shares them among the idle workers on the next microtask, so a worker takes what has
// arrived as one batch and at low load a batch is one delivery. Plain method calls, no
// actor messages on the hot path.
import type { WorkerDispatcher, WorkerHandle } from './processor.machine.js';
import type { Delivery } from './transport.js';

/** The consumer's side of a pool: offers deliveries, keeps the idle workers. */
export class Dispatcher implements WorkerDispatcher {
  /** Idle workers and how many deliveries each takes. */
  readonly #idle = new Map<WorkerHandle, number>();
  #pending: Delivery[] = [];
  #scheduled = false;

  /** Holds the delivery; it goes to an idle worker on the next microtask, or when one is idle. */
  offer(delivery: Delivery): void {
    this.#pending.push(delivery);
    if (this.#scheduled || this.#idle.size === 0) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#share();
    });
  }

  idle(worker: WorkerHandle, capacity: number): void {
    if (this.#pending.length === 0) {
      this.#idle.set(worker, capacity);
      return;
    }
    this.#give(worker, capacity);
  }

  withdraw(worker: WorkerHandle): void {
    this.#idle.delete(worker);
  }

  /** Shares what waits among the idle workers, evenly, each up to its capacity. */
  #share(): void {
    while (this.#pending.length > 0 && this.#idle.size > 0) {
      const share = Math.ceil(this.#pending.length / this.#idle.size);
      for (const [worker, capacity] of this.#idle) {
        this.#idle.delete(worker);
        if (worker.getSnapshot().status !== 'active') continue;
        this.#give(worker, Math.min(capacity, share));
        if (this.#pending.length === 0) return;
      }
    }
  }

  #give(worker: WorkerHandle, count: number): void {
    const pending = this.#pending;
    const deliveries = count >= pending.length ? pending : pending.slice(0, count);
    this.#pending = count >= pending.length ? [] : pending.slice(count);
    worker.send({
      type: 'batch.received',
      deliveries,
      messageIds: deliveries.map((delivery) => delivery.messageId),
    });
  }

  /** Returns what no worker took yet to the broker (the consumer is stopping). */
  requeuePending(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const delivery of pending) delivery.requeue();
  }

  get idleWorkers(): number {
    return this.#idle.size;
  }

  get pendingDeliveries(): number {
    return this.#pending.length;
  }
}
