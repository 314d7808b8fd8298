// The worker's resource handle for the batch it holds: each delivery with its attempt
// count, decoded message, result and outcome; the step running now (to abort it); the
// scheduler permit. Kept out of the actor's context because it is a resource, not
// state, and because XState runs no exit actions on stop: the worker's invoked guard
// releases it from its cleanup, which does run. `conclude` turns the outcomes of a
// round into a plan (ack, dead-letter, retry, escalate); the chart carries it out.
import { CancelledError, TransientError, type TroupeError } from '../errors.js';
import type { ProcessorObserver, SettlementOutcome } from '../observer.js';
import type { DeliveryInfo } from '../processor.js';
import type { RetryPolicy } from '../retry.js';
import type { RandomSource } from '../backoff.js';
import { decideFailure, type FailureDecision } from '../settlement.js';
import type { PermitRequest, SchedulerLane } from '../scheduler.js';
import { settleAll, type Delivery, type Settlement } from '../transport.js';

/** One delivery of a batch. */
export interface Entry {
  readonly delivery: Delivery;
  /** 1-based attempt number of the current round. */
  attempt: number;
  message: unknown;
  decoded: boolean;
  result: unknown;
  /** What the next round does with it: run its handler, or only persist its result. */
  stage: 'handle' | 'persist';
  /** The failure of the current round, if it failed. */
  error: TroupeError | undefined;
  failedStep: 'handle' | 'persist';
  decision: FailureDecision | undefined;
  /** Its error's stack was logged already: once per message, not once per attempt. */
  stackLogged: boolean;
  /** What the steps of the current attempt see of the delivery: one object per attempt. */
  info: DeliveryInfo | undefined;
  readonly startedAt: number;
}

/** The settlements of a batch, each with its entry and how the observer counts it. */
export class SettleList {
  readonly entries: Entry[] = [];
  readonly settlements: Settlement[] = [];
  readonly outcomes: SettlementOutcome[] = [];

  add(entry: Entry, settlement: Settlement, outcome: SettlementOutcome): void {
    this.entries.push(entry);
    this.settlements.push(settlement);
    this.outcomes.push(outcome);
  }
}

/** A running step, as far as the batch needs to know it: something to abandon. */
export interface RunningStep {
  /** The step is abandoned (timeout, cancel, stop): its signal is aborted with `reason`. */
  abandon(reason: unknown): void;
}

/** What a round of a batch comes to, once every entry's outcome is known. */
export interface Plan {
  readonly acks: Entry[];
  readonly deadLetters: Entry[];
  /** Retries handed to the broker (delayed redelivery). */
  readonly later: Entry[];
  /** Retries waited out by the worker. */
  readonly retry: Entry[];
  readonly escalate: Entry[];
  /** The retry delay of the batch: the longest of its entries'. */
  delayMs: number;
  /** Its acks, dead letters and delayed retries went out. */
  settled: boolean;
}

export class InFlight {
  entries: Entry[] = [];
  /** Handling position: entries before it have been handled this round. */
  cursor = 0;
  /** Incremented for every step started; results of older steps are stale. */
  run = 0;
  current: RunningStep | undefined = undefined;
  /** The plan of the round, once concluded. */
  plan: Plan | undefined = undefined;
  permit = false;
  /** A handler or persist timeout is armed in the actor system's scheduler. */
  handlerTimer = false;
  persistTimer = false;
  request: PermitRequest | undefined = undefined;
  readonly lane: SchedulerLane | undefined;
  readonly #observer: ProcessorObserver | undefined;

  constructor(lane: SchedulerLane | undefined, observer?: ProcessorObserver) {
    this.lane = lane;
    this.#observer = observer;
  }

  get size(): number {
    return this.entries.length;
  }

  get messageIds(): string[] {
    return this.entries.map((entry) => entry.delivery.messageId);
  }

  /**
   * The worker is idle: the settled batch's plan, which holds its entries (settling
   * already dropped them from `entries`), is let go of.
   */
  idle(): void {
    this.plan = undefined;
  }

  /** Takes a new batch (the previous one is settled). */
  begin(deliveries: readonly Delivery[]): void {
    this.entries = [];
    this.add(deliveries);
  }

  /** Adds deliveries to the batch being collected. */
  add(deliveries: readonly Delivery[]): void {
    const startedAt = this.#observer === undefined ? 0 : performance.now();
    for (const delivery of deliveries) {
      this.entries.push({
        delivery,
        attempt: delivery.previousAttempts + 1,
        message: undefined,
        decoded: false,
        result: undefined,
        stage: 'handle',
        error: undefined,
        failedStep: 'handle',
        decision: undefined,
        stackLogged: false,
        info: undefined,
        startedAt,
      });
    }
    this.cursor = 0;
    this.plan = undefined;
  }

  /** Starts the next round of the entries left to retry: one more attempt each. */
  nextRound(): void {
    for (const entry of this.entries) {
      entry.attempt += 1;
      entry.error = undefined;
      entry.decision = undefined;
    }
    this.cursor = 0;
    this.plan = undefined;
  }

  /** The delivery as its steps see it, at its current attempt. */
  infoFor(entry: Entry): DeliveryInfo {
    const known = entry.info;
    if (known !== undefined && known.attempt === entry.attempt) return known;
    const { delivery } = entry;
    const info: DeliveryInfo = {
      messageId: delivery.messageId,
      correlationId: delivery.correlationId,
      routingKey: delivery.routingKey,
      headers: delivery.headers,
      redelivered: delivery.redelivered,
      attempt: entry.attempt,
    };
    entry.info = info;
    return info;
  }

  /** Starts a new step; returns its run number. The previous step has ended. */
  nextRun(): number {
    this.run += 1;
    return this.run;
  }

  /** Abandons the running step, if any: its signal is aborted with `reason`. */
  abandon(reason: unknown): void {
    const step = this.current;
    this.current = undefined;
    this.run += 1;
    step?.abandon(reason);
  }

  /** True once every entry of the round has been handled (or has failed). */
  get handled(): boolean {
    return this.cursor >= this.entries.length;
  }

  /** Decides every entry's fate from its outcome of this round. */
  conclude(policy: RetryPolicy, random: RandomSource): Plan {
    const plan: Plan = {
      acks: [],
      deadLetters: [],
      later: [],
      retry: [],
      escalate: [],
      delayMs: 0,
      settled: false,
    };
    for (const entry of this.entries) {
      if (entry.error === undefined && entry.stage === 'handle') {
        // Never handled (a step abandoned without an outcome): tried again, never acked.
        entry.error = new TransientError('message not handled (its step was abandoned)');
      }
      const { error } = entry;
      if (error === undefined) {
        plan.acks.push(entry);
        continue;
      }
      const decision = decideFailure(error, entry.attempt, policy, random);
      entry.decision = decision;
      switch (decision.kind) {
        case 'dead-letter':
          plan.deadLetters.push(entry);
          break;
        case 'escalate':
          plan.escalate.push(entry);
          break;
        case 'retry':
          // A long delay is waited out in the broker, not in a worker: checked before the
          // delivery leaves the batch, so a transport without it keeps it here.
          if (
            decision.delayMs >= policy.redeliverFromMs &&
            entry.delivery.retryLater !== undefined
          ) {
            plan.later.push(entry);
          } else {
            plan.retry.push(entry);
            plan.delayMs = Math.max(plan.delayMs, decision.delayMs);
          }
          break;
      }
    }
    this.plan = plan;
    return plan;
  }

  /** True once concluded with every entry of the batch acked (nothing else to settle). */
  get acksAll(): boolean {
    return this.plan !== undefined && this.plan.acks.length === this.entries.length;
  }

  /**
   * Settles `items` in one pass per acknowledger and keeps `keep` (the entries to
   * retry) as the batch.
   */
  settle(items: SettleList, keep: Entry[]): void {
    this.#endRound(keep);
    const { entries, outcomes } = items;
    if (entries.length === 0) return;
    settleAll(items.settlements);
    this.#report(entries, (i) => outcomes[i] as SettlementOutcome);
  }

  /**
   * Acks every entry of the batch in one pass (see `acksAll`): the settlements are the
   * only list made, no per-entry outcome is kept.
   */
  ackAll(): void {
    const entries = this.entries;
    this.#endRound([]);
    if (entries.length === 0) return;
    const settlements: Settlement[] = new Array<Settlement>(entries.length);
    for (let i = 0; i < entries.length; i += 1) {
      settlements[i] = { kind: 'ack', delivery: (entries[i] as Entry).delivery };
    }
    settleAll(settlements);
    this.#report(entries, () => 'acked');
  }

  /** The round's settlements went out: `keep` is the batch now, and no step runs. */
  #endRound(keep: Entry[]): void {
    this.entries = keep;
    this.cursor = 0;
    this.run += 1;
    this.current = undefined;
  }

  /** Tells the observer how each of `entries` was settled. */
  #report(entries: readonly Entry[], outcome: (index: number) => SettlementOutcome): void {
    const observer = this.#observer;
    if (observer === undefined) return;
    const now = performance.now();
    for (let i = 0; i < entries.length; i += 1) {
      const entry = entries[i] as Entry;
      observer.settled(outcome(i), now - entry.startedAt, entry.delivery.messageId);
    }
  }

  /** Asks the scheduler for a permit; true when held at once. */
  requestPermit(onGrant: () => void): boolean {
    const lane = this.lane;
    if (lane === undefined || lane.tryAcquire()) {
      this.permit = true;
      return true;
    }
    this.request = lane.enqueue(() => {
      this.request = undefined;
      this.permit = true;
      onGrant();
    });
    return false;
  }

  releasePermit(): void {
    if (this.request !== undefined) {
      this.lane?.withdraw(this.request);
      this.request = undefined;
    }
    if (this.permit) {
      this.permit = false;
      this.lane?.release();
    }
  }

  /** Gives every held delivery back to the broker. Safe to call any time. */
  requeue(): void {
    if (this.entries.length === 0) return;
    this.abandon(new CancelledError('delivery requeued'));
    const items = new SettleList();
    for (const entry of this.entries) {
      items.add(entry, { kind: 'requeue', delivery: entry.delivery }, 'requeued');
    }
    this.settle(items, []);
  }

  /** Cleanup on stop or failure: abort the running step, return the permit, requeue. */
  release(): void {
    this.releasePermit();
    this.requeue();
  }
}
