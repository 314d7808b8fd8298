// Demand-driven hand-off inside a pool: idle workers announce themselves, deliveries
// go only to an idle worker, and the broker's prefetch (= the pool's concurrency)
// bounds what waits here. Plain method calls, no actor messages on the hot path.
import type { WorkerDispatcher, WorkerHandle } from './processor.machine.js';
import type { Delivery } from './transport.js';

/** The consumer's side of a pool: offers deliveries, keeps the idle workers. */
export class Dispatcher implements WorkerDispatcher {
  readonly #idle = new Set<WorkerHandle>();
  #pending: Delivery[] = [];

  /** Hands the delivery to an idle worker, or holds it until one is idle. */
  offer(delivery: Delivery): void {
    for (const worker of this.#idle) {
      this.#idle.delete(worker);
      if (worker.getSnapshot().status === 'active') {
        worker.send({ type: 'delivery.received', delivery });
        return;
      }
    }
    this.#pending.push(delivery);
  }

  idle(worker: WorkerHandle): void {
    const delivery = this.#pending.shift();
    if (delivery === undefined) this.#idle.add(worker);
    else worker.send({ type: 'delivery.received', delivery });
  }

  withdraw(worker: WorkerHandle): void {
    this.#idle.delete(worker);
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
