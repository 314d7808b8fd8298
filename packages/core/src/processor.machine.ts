// The processor chart: one worker, one delivery at a time. Top-level states are
// exactly idle, consuming, persisting, retrying and failed (DESIGN.md). The chart is
// driven by events: handler and persist steps run in actions and report back with
// `*.succeeded` / `*.failed` events stamped with a run number, so that a result that
// arrives after a timeout or a cancel is recognised as stale and ignored. Time is
// delayed transitions only (handler timeout, retry delay), so tests use a simulated clock.
import type { Logger } from 'pino';
import { and, assign, fromCallback, setup, type EventObject } from 'xstate';
import type { RandomSource } from './backoff.js';
import { decodeDelivery } from './decode.js';
import { HandlerTimeoutError, toTroupeError, type TroupeError } from './errors.js';
import { InFlight } from './internal/in-flight.js';
import type { ProcessorObserver } from './observer.js';
import type { DeliveryInfo, HandlerContext, ProcessorDefinition } from './processor.js';
import type { SchedulerLane } from './scheduler.js';
import { decideFailure, type FailureDecision } from './settlement.js';
import type { Store } from './store.js';
import type { Delivery } from './transport.js';

/**
 * Any processor definition. The message and result types are erased at the pool
 * boundary; the definition was type-checked where it was written.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- handler parameter types are contravariant; `unknown` would reject every concrete processor
export type AnyProcessorDefinition = ProcessorDefinition<any, any>;

/** The side of a worker its pool's consumer sees. */
export interface WorkerHandle {
  send(event: { type: 'delivery.received'; delivery: Delivery }): void;
  getSnapshot(): { readonly status: string };
}

/** Where an idle worker announces itself: the pool's consumer. */
export interface WorkerDispatcher {
  idle(worker: WorkerHandle): void;
  withdraw(worker: WorkerHandle): void;
}

/** Input of {@link processorMachine}. */
export interface ProcessorInput {
  readonly definition: AnyProcessorDefinition;
  readonly store: Store;
  /** Bound to the actor and processor already; the worker adds message id and attempt. */
  readonly logger: Logger;
  /** The processor's scheduler lane, when a global cap is set. */
  readonly lane?: SchedulerLane | undefined;
  readonly dispatcher?: WorkerDispatcher | undefined;
  /** Jitter source for retry delays. @default Math.random */
  readonly random?: RandomSource | undefined;
  /** Receives settlements, step durations and retries (metrics). */
  readonly observer?: ProcessorObserver | undefined;
}

/** A worker's state, as the inspector and tests see it. */
export interface ProcessorContext {
  readonly definition: AnyProcessorDefinition;
  readonly store: Store;
  readonly log: Logger;
  readonly dispatcher: WorkerDispatcher | undefined;
  readonly random: RandomSource;
  readonly observer: ProcessorObserver | undefined;
  /** The delivery and step in progress: a resource handle, see InFlight. */
  readonly slot: InFlight;
  readonly messageId: string | undefined;
  /** 1-based attempt number of the current delivery. */
  readonly attempt: number;
  readonly failedStep: 'handle' | 'persist';
  readonly lastError: TroupeError | undefined;
  readonly decision: FailureDecision | undefined;
  readonly retryDelayMs: number;
  readonly draining: boolean;
}

/** Events a worker understands. */
export type ProcessorEvent =
  | { readonly type: 'delivery.received'; readonly delivery: Delivery }
  | { readonly type: 'permit.granted' }
  | { readonly type: 'handler.succeeded'; readonly run: number }
  | { readonly type: 'handler.failed'; readonly run: number; readonly error: unknown }
  | { readonly type: 'persist.succeeded'; readonly run: number }
  | { readonly type: 'persist.failed'; readonly run: number; readonly error: unknown }
  /** Abandon the current delivery (requeued) and go back to idle. */
  | { readonly type: 'cancel' }
  /** Stop taking deliveries; finish the current one. */
  | { readonly type: 'shutdown' };

/** How a worker ended: only by failing (escalation); otherwise its supervisor stops it. */
export interface ProcessorOutput {
  readonly exit: 'failed';
  readonly reason: string;
}

/** What a step reports to: the worker itself. */
interface StepOwner {
  send(event: ProcessorEvent): void;
}

/**
 * One step (the handler or the persist step) of one delivery: the context the step
 * sees, and where its result goes. One object per step, its methods on the prototype:
 * a step that returns at once allocates no closure, and its log and signal are made
 * only when read (both are accessors on the prototype, not own properties).
 */
class Step implements HandlerContext {
  readonly store: Store;
  readonly delivery: DeliveryInfo;
  readonly #context: ProcessorContext;
  readonly #self: StepOwner;
  readonly #kind: 'handle' | 'persist';
  readonly #run: number;
  readonly #startedAt: number;
  #log: Logger | undefined = undefined;
  #signal: AbortSignal | undefined = undefined;

  constructor(
    context: ProcessorContext,
    self: StepOwner,
    kind: 'handle' | 'persist',
    delivery: Delivery,
  ) {
    const { slot } = context;
    this.store = context.store;
    this.delivery = slot.infoFor(delivery, context.attempt);
    this.#context = context;
    this.#self = self;
    this.#kind = kind;
    this.#run = slot.nextRun();
    this.#startedAt = context.observer === undefined ? 0 : performance.now();
  }

  /** Made on first read: a step that never looks at its signal allocates none. */
  get signal(): AbortSignal {
    this.#signal ??= this.#context.slot.signalFor(this.#run);
    return this.#signal;
  }

  /** A child logger costs an allocation: made only when the step logs. */
  get log(): Logger {
    this.#log ??= this.#context.log.child({
      messageId: this.delivery.messageId,
      attempt: this.delivery.attempt,
    });
    return this.#log;
  }

  /**
   * The step ended well. A handler that returned at once (`sync`) is taken on by the
   * `handlerReturned` guard in the same macrostep; a later result is an event.
   */
  succeeded(result: unknown, sync: boolean): void {
    const { slot, observer } = this.#context;
    const run = this.#run;
    if (run !== slot.run) return;
    observer?.step(this.#kind, performance.now() - this.#startedAt);
    if (this.#kind === 'persist') {
      this.#self.send({ type: 'persist.succeeded', run });
      return;
    }
    slot.result = result;
    if (sync) slot.returned = run;
    else this.#self.send({ type: 'handler.succeeded', run });
  }

  failed(error: unknown): void {
    const { slot, observer } = this.#context;
    const run = this.#run;
    if (run !== slot.run) return;
    observer?.step(this.#kind, performance.now() - this.#startedAt);
    this.#self.send({
      type: this.#kind === 'persist' ? 'persist.failed' : 'handler.failed',
      run,
      error,
    });
  }

  /** Reports the outcome of the step, now or when its promise settles. */
  settle(outcome: unknown): void {
    if (isPromiseLike(outcome)) {
      outcome.then(
        (result) => this.succeeded(result, false),
        (error: unknown) => this.failed(error),
      );
    } else {
      this.succeeded(outcome, true);
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

function isCurrent(context: ProcessorContext, event: ProcessorEvent): boolean {
  return 'run' in event && event.run === context.slot.run;
}

/** The processor chart. Create workers through a pool, or directly with {@link ProcessorInput}. */
export const processorMachine = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as {
    context: ProcessorContext;
    input: ProcessorInput;
    events: ProcessorEvent;
    output: ProcessorOutput;
  },
  delays: {
    // A handler that has already returned cannot time out, so it gets no timer: XState
    // raises an `after` event whose delay is not a number in the same macrostep instead
    // of scheduling it, and by then `handlerReturned` (eventless transitions are taken
    // before raised events) has moved the chart to `persisting`, where the event means
    // nothing. Arming and cancelling a timer cost about 2 µs of every message.
    handlerTimeout: ({ context }) =>
      context.slot.returned === context.slot.run
        ? (undefined as unknown as number)
        : context.definition.timeoutMs,
    retryDelay: ({ context }) => context.retryDelayMs,
  },
  actors: {
    // Its cleanup is the one hook XState runs when a worker is stopped or fails.
    inFlightGuard: fromCallback<EventObject, InFlight>(
      ({ input }) =>
        () =>
          input.release(),
    ),
  },
  guards: {
    isCurrentRun: ({ context, event }) => isCurrent(context, event),
    isNotRetryable: ({ event }) =>
      (event.type === 'handler.failed' || event.type === 'persist.failed') &&
      !toTroupeError(event.error).retryable,
    holdsPermit: ({ context }) => context.slot.permit,
    handlerReturned: ({ context }) => context.slot.returned === context.slot.run,
    isUnscheduled: ({ context }) => context.slot.lane === undefined,
    isDraining: ({ context }) => context.draining,
    shouldEscalate: ({ context }) => context.decision?.kind === 'escalate',
    shouldDeadLetter: ({ context }) => context.decision?.kind === 'dead-letter',
    shouldRedeliverLater: ({ context }) =>
      context.decision?.kind === 'retry' &&
      context.decision.delayMs >= context.definition.retry.redeliverFromMs &&
      context.slot.canRedeliverLater,
    failedWhilePersisting: ({ context }) => context.failedStep === 'persist',
  },
  actions: {
    announceIdle: ({ context, self }) => {
      if (!context.draining) context.dispatcher?.idle(self);
    },
    withdraw: ({ context, self }) => context.dispatcher?.withdraw(self),
    beginDelivery: ({ context, event }) => {
      if (event.type === 'delivery.received') context.slot.begin(event.delivery);
    },
    startAttempts: assign(({ event }) =>
      event.type === 'delivery.received'
        ? {
            messageId: event.delivery.messageId,
            attempt: event.delivery.previousAttempts + 1,
            decision: undefined,
            lastError: undefined,
          }
        : {},
    ),
    refuseDelivery: ({ event }) => {
      if (event.type === 'delivery.received') event.delivery.requeue();
    },
    countAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
    requestPermit: ({ context, self }) => {
      context.slot.requestPermit(() => self.send({ type: 'permit.granted' }));
    },
    releasePermit: ({ context }) => context.slot.releasePermit(),
    runHandler: ({ context, self }) => {
      const { slot, definition } = context;
      const delivery = slot.delivery;
      if (delivery === undefined) return;
      const step = new Step(context, self, 'handle', delivery);
      try {
        if (slot.decoded) {
          step.settle(definition.handle(slot.message, step));
          return;
        }
        const decoded: unknown = decodeDelivery<unknown>(delivery, definition.schema);
        if (isPromiseLike(decoded)) {
          step.settle(
            decoded.then((message: unknown) => {
              slot.message = message;
              slot.decoded = true;
              const outcome: unknown = definition.handle(message, step);
              return outcome;
            }),
          );
        } else {
          slot.message = decoded;
          slot.decoded = true;
          step.settle(definition.handle(decoded, step));
        }
      } catch (error) {
        step.failed(error);
      }
    },
    runPersist: ({ context, self }) => {
      const { slot, definition } = context;
      const delivery = slot.delivery;
      if (delivery === undefined) return;
      const step = new Step(context, self, 'persist', delivery);
      try {
        step.settle(definition.persist(slot.result, step));
      } catch (error) {
        step.failed(error);
      }
    },
    abortStep: ({ context }) =>
      context.slot.abort(new HandlerTimeoutError(context.definition.timeoutMs)),
    recordFailure: assign(({ context, event }) => {
      const error =
        event.type === 'handler.failed' || event.type === 'persist.failed'
          ? toTroupeError(event.error)
          : new HandlerTimeoutError(context.definition.timeoutMs);
      const decision = decideFailure(
        error,
        context.attempt,
        context.definition.retry,
        context.random,
      );
      return {
        lastError: error,
        decision,
        failedStep: event.type === 'persist.failed' ? ('persist' as const) : ('handle' as const),
        retryDelayMs: decision.kind === 'retry' ? decision.delayMs : 0,
      };
    }),
    logFailure: ({ context }) => {
      const { decision, lastError } = context;
      if (decision?.kind !== 'retry') return;
      context.observer?.retrying(context.failedStep);
      context.log.warn(
        {
          err: lastError,
          messageId: context.messageId,
          attempt: context.attempt,
          retryInMs: decision.delayMs,
          step: context.failedStep,
        },
        'attempt failed; retrying',
      );
    },
    ackDelivery: ({ context }) => context.slot.ack(),
    deadLetterDelivery: ({ context, event }) => {
      const error =
        event.type === 'handler.failed' || event.type === 'persist.failed'
          ? toTroupeError(event.error)
          : context.lastError;
      const reason =
        context.decision !== undefined && context.decision.kind !== 'retry'
          ? context.decision.reason
          : `${error?.code ?? 'UNKNOWN'}: ${error?.message ?? 'no reason'}`;
      // An invalid message is the sender's problem: its reason says it all, a stack
      // trace into the decoder would only bury it.
      context.log.warn(
        {
          ...(error?.code === 'INVALID_MESSAGE' ? {} : { err: error }),
          messageId: context.messageId,
          attempt: context.attempt,
          reason,
        },
        'message dead-lettered',
      );
      context.slot.deadLetter({
        reason,
        processor: context.definition.name,
        attempts: context.attempt,
      });
    },
    requeueDelivery: ({ context }) => context.slot.requeue(),
    redeliverLater: ({ context }) => {
      const { decision } = context;
      if (decision?.kind !== 'retry') return;
      context.log.info(
        { messageId: context.messageId, attempt: context.attempt, retryInMs: decision.delayMs },
        'retry handed to the broker (delayed redelivery)',
      );
      context.slot.redeliverLater(decision.delayMs, context.attempt);
    },
    markDraining: assign({ draining: true }),
    logEscalation: ({ context }) => {
      context.log.error(
        { err: context.lastError, messageId: context.messageId, attempt: context.attempt },
        'retries exhausted; worker failed, escalating to its supervisor',
      );
    },
  },
}).createMachine({
  id: 'processor',
  context: ({ input }) => ({
    definition: input.definition,
    store: input.store,
    log: input.logger,
    dispatcher: input.dispatcher,
    random: input.random ?? Math.random,
    observer: input.observer,
    slot: new InFlight(input.lane, input.observer),
    messageId: undefined,
    attempt: 0,
    failedStep: 'handle',
    lastError: undefined,
    decision: undefined,
    retryDelayMs: 0,
    draining: false,
  }),
  invoke: { src: 'inFlightGuard', input: ({ context }) => context.slot },
  initial: 'idle',
  on: {
    cancel: { target: '.idle', actions: 'requeueDelivery' },
    shutdown: { actions: ['markDraining', 'withdraw'] },
    'delivery.received': { actions: 'refuseDelivery' },
  },
  states: {
    idle: {
      entry: 'announceIdle',
      on: {
        'delivery.received': [
          { guard: 'isDraining', actions: 'refuseDelivery' },
          // No global cap: nothing to admit, so no admitting step (it costs a microstep).
          {
            guard: 'isUnscheduled',
            target: 'consuming.handling',
            actions: ['beginDelivery', 'startAttempts'],
          },
          { target: 'consuming', actions: ['beginDelivery', 'startAttempts'] },
        ],
      },
    },
    consuming: {
      initial: 'admitting',
      exit: 'releasePermit',
      states: {
        admitting: {
          entry: 'requestPermit',
          always: { guard: 'holdsPermit', target: 'handling' },
          on: { 'permit.granted': { target: 'handling' } },
        },
        handling: {
          entry: 'runHandler',
          // A handler that returned synchronously: on to persisting in the same
          // macrostep, as `admitting` does with a permit held at once.
          always: { guard: 'handlerReturned', target: '#processor.persisting' },
          on: {
            'handler.succeeded': { guard: 'isCurrentRun', target: '#processor.persisting' },
            'handler.failed': [
              {
                guard: and(['isCurrentRun', 'isNotRetryable']),
                target: '#processor.idle',
                actions: 'deadLetterDelivery',
              },
              {
                guard: 'isCurrentRun',
                target: '#processor.retrying',
                actions: ['recordFailure', 'logFailure'],
              },
            ],
          },
          after: {
            handlerTimeout: {
              target: '#processor.retrying',
              actions: ['abortStep', 'recordFailure', 'logFailure'],
            },
          },
        },
      },
    },
    persisting: {
      entry: 'runPersist',
      on: {
        'persist.succeeded': { guard: 'isCurrentRun', target: 'idle', actions: 'ackDelivery' },
        'persist.failed': [
          {
            guard: and(['isCurrentRun', 'isNotRetryable']),
            target: 'idle',
            actions: 'deadLetterDelivery',
          },
          { guard: 'isCurrentRun', target: 'retrying', actions: ['recordFailure', 'logFailure'] },
        ],
      },
    },
    retrying: {
      always: [
        { guard: 'shouldEscalate', target: 'failed' },
        { guard: 'shouldDeadLetter', target: 'idle', actions: 'deadLetterDelivery' },
        // A long delay is waited out in the broker, not in a worker.
        { guard: 'shouldRedeliverLater', target: 'idle', actions: 'redeliverLater' },
      ],
      after: {
        retryDelay: [
          { guard: 'failedWhilePersisting', target: 'persisting', actions: 'countAttempt' },
          { target: 'consuming', actions: 'countAttempt' },
        ],
      },
    },
    failed: {
      type: 'final',
      entry: ['logEscalation', 'withdraw', 'requeueDelivery'],
    },
  },
  output: ({ context }) => ({
    exit: 'failed',
    reason: context.decision?.kind === 'escalate' ? context.decision.reason : 'worker failed',
  }),
});
