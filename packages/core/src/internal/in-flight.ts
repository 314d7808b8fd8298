// The worker's resource handle for the delivery it holds: the delivery itself, the
// abort controller of the running step, the decoded message and the handler's
// result. Kept out of the actor's context because it is a resource, not state, and
// because XState runs no exit actions on stop: the worker's invoked guard releases
// it from its cleanup, which does run.
import type { Delivery, DeadLetterInfo } from '../transport.js';
import { CancelledError } from '../errors.js';
import type { ProcessorObserver, SettlementOutcome } from '../observer.js';
import type { DeliveryInfo } from '../processor.js';
import type { PermitRequest, SchedulerLane } from '../scheduler.js';

export class InFlight {
  delivery: Delivery | undefined = undefined;
  message: unknown = undefined;
  decoded = false;
  result: unknown = undefined;
  /** The run whose handler returned synchronously (its result is in `result`). */
  returned = -1;
  /** What the steps of the current attempt see of the delivery: one object per attempt. */
  #info: DeliveryInfo | undefined = undefined;
  /** Incremented for every step started; results of older steps are stale. */
  run = 0;
  /**
   * The abort controller of the current delivery's steps, made on first use: a handler
   * that never reads its signal costs no allocation. Steps that end normally hand it on
   * to the next step; only an abandoned step (timeout, cancel, stop) aborts it.
   */
  #controller: AbortController | undefined = undefined;
  permit = false;
  request: PermitRequest | undefined = undefined;
  readonly lane: SchedulerLane | undefined;
  readonly #observer: ProcessorObserver | undefined;
  #startedAt = 0;

  constructor(lane: SchedulerLane | undefined, observer?: ProcessorObserver) {
    this.lane = lane;
    this.#observer = observer;
  }

  begin(delivery: Delivery): void {
    if (this.#observer !== undefined) this.#startedAt = performance.now();
    this.delivery = delivery;
    this.message = undefined;
    this.decoded = false;
    this.result = undefined;
    this.#info = undefined;
  }

  /** The delivery as its steps see it, at `attempt`: shared by the steps of one attempt. */
  infoFor(delivery: Delivery, attempt: number): DeliveryInfo {
    const known = this.#info;
    if (known !== undefined && known.attempt === attempt) return known;
    const info: DeliveryInfo = {
      messageId: delivery.messageId,
      correlationId: delivery.correlationId,
      routingKey: delivery.routingKey,
      headers: delivery.headers,
      redelivered: delivery.redelivered,
      attempt,
    };
    this.#info = info;
    return info;
  }

  /** Starts a new step; returns its run number. The previous step has ended. */
  nextRun(): number {
    this.run += 1;
    return this.run;
  }

  /** The abort signal of step `run`; already aborted if that step is no longer current. */
  signalFor(run: number): AbortSignal {
    if (run !== this.run) return AbortSignal.abort(new CancelledError('step superseded'));
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /** Abandons the running step: its signal is aborted with `reason`. */
  abort(reason: unknown): void {
    const controller = this.#controller;
    this.#controller = undefined;
    if (controller !== undefined && !controller.signal.aborted) controller.abort(reason);
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

  #take(): Delivery | undefined {
    const delivery = this.delivery;
    this.delivery = undefined;
    this.run += 1;
    // Settled after its steps ended: the signal is dropped, not aborted.
    this.#controller = undefined;
    return delivery;
  }

  #settled(outcome: SettlementOutcome): void {
    this.#observer?.settled(outcome, performance.now() - this.#startedAt);
  }

  ack(): void {
    const delivery = this.#take();
    if (delivery === undefined) return;
    delivery.ack();
    this.#settled('acked');
  }

  deadLetter(info: DeadLetterInfo): void {
    const delivery = this.#take();
    if (delivery === undefined) return;
    delivery.deadLetter(info);
    this.#settled('dead-lettered');
  }

  /** True when the held delivery can be parked for a delayed redelivery. */
  get canRedeliverLater(): boolean {
    return this.delivery?.retryLater !== undefined;
  }

  /** Parks the delivery in the broker's retry queue for `delayMs`; `attempts` made so far. */
  redeliverLater(delayMs: number, attempts: number): void {
    const delivery = this.#take();
    if (delivery?.retryLater === undefined) return;
    delivery.retryLater(delayMs, attempts);
    this.#settled('redelivered-later');
  }

  /** Gives the delivery back to the broker, if one is held. Safe to call any time. */
  requeue(): void {
    if (this.delivery === undefined) return;
    this.abort(new CancelledError('delivery requeued'));
    this.#take()?.requeue();
    this.#settled('requeued');
  }

  /** Cleanup on stop or failure: abort the running step, return the permit, requeue. */
  release(): void {
    this.releasePermit();
    this.requeue();
  }
}
