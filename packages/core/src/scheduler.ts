// The scheduler grants handler permits under an optional global cap. Each processor
// has a lane with a weight; when permits are scarce, the waiting lane with the least
// "pass" (permits received divided by weight — stride scheduling) goes first, so
// work completes in proportion to weights and no lane starves. Grants are callbacks,
// not promises: a worker waits in a state, not on an await.
import { ConfigurationError } from './errors.js';

/** A pending permit request; pass it to {@link SchedulerLane.withdraw} to give up waiting. */
export interface PermitRequest {
  readonly grant: () => void;
}

/** One processor's access to the scheduler. */
export interface SchedulerLane {
  readonly name: string;
  readonly weight: number;
  /** Takes a permit at once if one is free (and no one waits); false otherwise. */
  tryAcquire(): boolean;
  /** Queues for a permit; `grant` is called once, when it is this request's turn. */
  enqueue(grant: () => void): PermitRequest;
  /** Removes a queued request that no longer wants a permit. */
  withdraw(request: PermitRequest): void;
  /** Returns a permit; the next waiter, by weighted fairness, receives it. */
  release(): void;
}

/** Counters for metrics and the inspector. */
export interface SchedulerStats {
  readonly capacity: number;
  readonly inUse: number;
  readonly waiting: number;
  readonly granted: Readonly<Record<string, number>>;
}

class Lane implements SchedulerLane {
  readonly name: string;
  readonly weight: number;
  readonly #scheduler: Scheduler;
  pass = 0;
  granted = 0;
  readonly waiting: PermitRequest[] = [];

  constructor(scheduler: Scheduler, name: string, weight: number) {
    this.#scheduler = scheduler;
    this.name = name;
    this.weight = weight;
  }
  tryAcquire(): boolean {
    return this.#scheduler.tryAcquire(this);
  }
  enqueue(grant: () => void): PermitRequest {
    return this.#scheduler.enqueue(this, grant);
  }
  withdraw(request: PermitRequest): void {
    const index = this.waiting.indexOf(request);
    if (index >= 0) this.waiting.splice(index, 1);
  }
  release(): void {
    this.#scheduler.release();
  }
}

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /** The global cap on concurrent handlers. */
  readonly capacity: number;
}

/** Weighted-fair permits under a global cap. Create one per process; one lane per processor. */
export class Scheduler {
  readonly capacity: number;
  #inUse = 0;
  #virtualTime = 0;
  readonly #lanes = new Map<string, Lane>();

  constructor(options: SchedulerOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new ConfigurationError(
        'scheduler.capacity',
        `must be an integer >= 1, got ${String(options.capacity)}`,
      );
    }
    this.capacity = options.capacity;
  }

  /** The lane of processor `name`, created on first use. */
  lane(name: string, weight = 1): SchedulerLane {
    if (!Number.isInteger(weight) || weight < 1) {
      throw new ConfigurationError(
        `processors.${name}.weight`,
        `must be an integer >= 1, got ${String(weight)}`,
      );
    }
    let lane = this.#lanes.get(name);
    if (lane === undefined) {
      lane = new Lane(this, name, weight);
      this.#lanes.set(name, lane);
    }
    return lane;
  }

  stats(): SchedulerStats {
    let waiting = 0;
    const granted: Record<string, number> = {};
    for (const lane of this.#lanes.values()) {
      waiting += lane.waiting.length;
      granted[lane.name] = lane.granted;
    }
    return { capacity: this.capacity, inUse: this.#inUse, waiting, granted };
  }

  /** @internal */
  tryAcquire(lane: Lane): boolean {
    if (this.#inUse >= this.capacity || this.#anyoneWaiting()) return false;
    this.#take(lane);
    return true;
  }

  /** @internal */
  enqueue(lane: Lane, grant: () => void): PermitRequest {
    const request: PermitRequest = { grant };
    if (lane.waiting.length === 0) {
      // A lane that was idle does not bank credit: it rejoins at the current virtual time.
      lane.pass = Math.max(lane.pass, this.#virtualTime);
    }
    lane.waiting.push(request);
    return request;
  }

  /** @internal */
  release(): void {
    this.#inUse -= 1;
    this.#grantNext();
  }

  #take(lane: Lane): void {
    this.#inUse += 1;
    lane.granted += 1;
    this.#virtualTime = Math.max(this.#virtualTime, lane.pass);
    lane.pass += 1 / lane.weight;
  }

  #anyoneWaiting(): boolean {
    for (const lane of this.#lanes.values()) if (lane.waiting.length > 0) return true;
    return false;
  }

  #grantNext(): void {
    while (this.#inUse < this.capacity) {
      let next: Lane | undefined;
      for (const lane of this.#lanes.values()) {
        if (lane.waiting.length > 0 && (next === undefined || lane.pass < next.pass)) next = lane;
      }
      const request = next?.waiting.shift();
      if (next === undefined || request === undefined) return;
      this.#take(next);
      request.grant();
    }
  }
}
