// The processor chart: one worker, one batch of deliveries at a time. Top-level states
// are exactly idle, consuming, persisting, retrying and failed, and the chart makes one
// transition per batch, not per message: a worker takes the deliveries already waiting
// (up to maxBatch) as one `batch.received` event, runs the handler of each message in
// its `handling` step (one after the other; a handler that returns at once costs no
// event), stores the whole batch in one persist step, and settles it in one pass.
// Each message's outcome is data (done, invalid, transient, permanent): only the
// messages that failed transiently go to `retrying`, as a smaller batch that keeps each
// one's attempt count. Steps report back with events stamped with a run number, so a
// result that arrives after a timeout or a cancel is recognised as stale and ignored.
// Time is delayed transitions only (handler and persist timeouts, retry delay, batch
// timeout), so tests use a simulated clock.
import type { Logger } from 'pino';
import {
  and,
  assign,
  fromCallback,
  setup,
  type ActorSystem,
  type AnyActorRef,
  type EventObject,
} from 'xstate';
import type { RandomSource } from './backoff.js';
import { decodeDelivery } from './decode.js';
import {
  HandlerTimeoutError,
  InvalidMessageError,
  PermanentError,
  toTroupeError,
  TransientError,
  type TroupeError,
} from './errors.js';
import { InFlight, SettleList, type Entry, type RunningStep } from './internal/in-flight.js';
import type { ProcessorObserver } from './observer.js';
import type {
  BatchStepContext,
  DeliveryInfo,
  HandlerContext,
  MessageOutcome,
  PersistOutcome,
  ProcessorDefinition,
} from './processor.js';
import { persistWritesBatch, writeBatch } from './processor.js';
import type { SchedulerLane } from './scheduler.js';
import type { Store } from './store.js';
import type { Delivery } from './transport.js';

/**
 * Any processor definition. The message and result types are erased at the pool
 * boundary; the definition was type-checked where it was written.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- handler parameter types are contravariant; `unknown` would reject every concrete processor
export type AnyProcessorDefinition = ProcessorDefinition<any, any>;

/** The event that hands a worker its batch. */
export interface BatchReceived {
  readonly type: 'batch.received';
  readonly deliveries: readonly Delivery[];
  /** The deliveries' message ids, so that an event log can follow one message by id. */
  readonly messageIds: readonly string[];
}

/** The side of a worker its pool's consumer sees. */
export interface WorkerHandle {
  send(event: BatchReceived): void;
  getSnapshot(): { readonly status: string };
}

/** Where an idle worker announces itself: the pool's consumer. */
export interface WorkerDispatcher {
  /** `worker` takes up to `capacity` deliveries, as one batch. */
  idle(worker: WorkerHandle, capacity: number): void;
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
  /** Receives settlements, step durations, retries and batches (metrics). */
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
  /** The batch in progress: a resource handle, see InFlight. */
  readonly slot: InFlight;
  /** The message ids of the batch taken last, for the inspector and event logs. */
  readonly messageIds: readonly string[];
  /** The first of them (the inspector shows it on a busy worker). */
  readonly messageId: string | undefined;
  /** The attempt of the first message of the batch (1-based). */
  readonly attempt: number;
  /** The last failure of a message of the batch, if any. */
  readonly lastError: TroupeError | undefined;
  readonly draining: boolean;
}

/** Events a worker understands. */
export type ProcessorEvent =
  | BatchReceived
  | { readonly type: 'permit.granted' }
  /** An asynchronous handler (or `handleBatch`) of run `run` ended; its outcome is recorded. */
  | { readonly type: 'handler.settled'; readonly run: number }
  /** The persist step of run `run` ended; the batch's plan is made. */
  | { readonly type: 'persist.settled'; readonly run: number }
  /** The handler step of run `run` is past its timeout (`timeoutMs`). */
  | { readonly type: 'handler.timeout'; readonly run: number }
  /** The persist step of run `run` is past its timeout (`persistTimeoutMs`). */
  | { readonly type: 'persist.timeout'; readonly run: number }
  /** Abandon the current batch (requeued) and go back to idle. */
  | { readonly type: 'cancel' }
  /** Stop taking deliveries; finish the current batch. */
  | { readonly type: 'shutdown' };

/** How a worker ended: only by failing (escalation); otherwise its supervisor stops it. */
export interface ProcessorOutput {
  readonly exit: 'failed';
  readonly reason: string;
}

/**
 * The state tags of the chart, for code outside it (pools, supervisors, the inspector).
 * `drainable`: the worker holds no work in progress, so stopping it (which requeues
 * what it holds) loses none: it is idle, collecting a batch, or waiting for a permit.
 */
export type ProcessorTag = 'drainable';

/** What a step reports to: the worker itself. */
interface StepOwner {
  send(event: ProcessorEvent): void;
}

/** A signal made only when read, aborted when its step is abandoned (or was already). */
class LazySignal {
  #controller: AbortController | undefined = undefined;
  #abandoned: { reason: unknown } | undefined = undefined;

  get signal(): AbortSignal {
    if (this.#abandoned !== undefined) {
      // Read after the step was abandoned: an aborted signal, never a live one.
      this.#controller ??= abortedController(this.#abandoned.reason);
      return this.#controller.signal;
    }
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  abandon(reason: unknown): void {
    if (this.#abandoned !== undefined) return;
    this.#abandoned = { reason };
    const controller = this.#controller;
    if (controller !== undefined && !controller.signal.aborted) controller.abort(reason);
  }
}

function abortedController(reason: unknown): AbortController {
  const controller = new AbortController();
  controller.abort(reason);
  return controller;
}

/**
 * The handler step of one message: the context its handler sees and where its outcome
 * goes. One object per message and attempt, its methods on the prototype: a handler
 * that returns at once allocates no closure, and its log and signal are made only when
 * read (both are accessors on the prototype, not own properties).
 */
class MessageStep extends LazySignal implements HandlerContext, RunningStep {
  readonly store: Store;
  readonly #context: ProcessorContext;
  readonly #entry: Entry;
  readonly #run: number;
  readonly #startedAt: number;
  #log: Logger | undefined = undefined;

  constructor(context: ProcessorContext, entry: Entry) {
    super();
    const { slot } = context;
    this.store = context.store;
    this.#context = context;
    this.#entry = entry;
    this.#run = slot.nextRun();
    this.#startedAt = context.observer === undefined ? 0 : performance.now();
  }

  /** What the handler sees of its delivery: made when first read (once per attempt). */
  get delivery(): DeliveryInfo {
    return this.#context.slot.infoFor(this.#entry);
  }

  /** A child logger costs an allocation: made only when the step logs. */
  get log(): Logger {
    this.#log ??= this.#context.log.child({
      messageId: this.delivery.messageId,
      attempt: this.delivery.attempt,
    });
    return this.#log;
  }

  /** Decodes (once per delivery) and handles the message; a promise when either is async. */
  start(): unknown {
    const { definition } = this.#context;
    const entry = this.#entry;
    if (entry.decoded) return definition.handle(entry.message, this);
    const decoded: unknown = decodeDelivery<unknown>(
      entry.delivery,
      definition.schema,
      definition.maxMessageBytes,
    );
    if (isPromiseLike(decoded)) {
      return decoded.then((message: unknown) => {
        entry.message = message;
        entry.decoded = true;
        const outcome: unknown = definition.handle(message, this);
        return outcome;
      });
    }
    entry.message = decoded;
    entry.decoded = true;
    return definition.handle(decoded, this);
  }

  /** Records the handler's result: the message goes on to the persist step. */
  succeeded(result: unknown): void {
    const entry = this.#entry;
    entry.result = result;
    entry.stage = 'persist';
    this.#measure();
  }

  failed(error: unknown): void {
    const entry = this.#entry;
    entry.error = toTroupeError(error);
    entry.failedStep = 'handle';
    this.#measure();
  }

  /** Waits for an asynchronous outcome; the worker hears of it by `handler.settled`. */
  await(outcome: PromiseLike<unknown>, self: StepOwner): void {
    const { slot } = this.#context;
    slot.current = this;
    const run = this.#run;
    outcome.then(
      (result) => {
        if (run !== slot.run) return;
        slot.current = undefined;
        this.succeeded(result);
        slot.cursor += 1;
        self.send({ type: 'handler.settled', run });
      },
      (error: unknown) => {
        if (run !== slot.run) return;
        slot.current = undefined;
        this.failed(error);
        slot.cursor += 1;
        self.send({ type: 'handler.settled', run });
      },
    );
  }

  /** The handler timed out: its signal is aborted and the message failed, transiently. */
  timedOut(error: HandlerTimeoutError): void {
    this.abandon(error);
    this.failed(error);
  }

  #measure(): void {
    this.#context.observer?.step('handle', performance.now() - this.#startedAt, 1);
  }
}

/** A step over a whole batch: `handleBatch`, or the persist step. */
class BatchStep extends LazySignal implements BatchStepContext, RunningStep {
  readonly store: Store;
  readonly log: Logger;
  readonly run: number;
  readonly startedAt: number;
  /** The entries the step works on. */
  readonly entries: readonly Entry[];

  constructor(context: ProcessorContext, entries: readonly Entry[]) {
    super();
    this.store = context.store;
    this.log = context.log;
    this.run = context.slot.nextRun();
    this.startedAt = context.observer === undefined ? 0 : performance.now();
    this.entries = entries;
  }
}

/** The context of a per-message persist step: the handler's, with the batch's signal. */
class PersistStep implements HandlerContext {
  readonly store: Store;
  readonly delivery: DeliveryInfo;
  readonly #batch: BatchStep;
  readonly #log: Logger;

  constructor(batch: BatchStep, log: Logger, delivery: DeliveryInfo) {
    this.store = batch.store;
    this.delivery = delivery;
    this.#batch = batch;
    this.#log = log;
  }

  get signal(): AbortSignal {
    return this.#batch.signal;
  }

  get log(): Logger {
    return this.#log.child({ messageId: this.delivery.messageId, attempt: this.delivery.attempt });
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

function isCurrent(context: ProcessorContext, event: ProcessorEvent): boolean {
  return 'run' in event && event.run === context.slot.run;
}

/** Decodes the entries still to handle; the valid ones, or a promise of them. */
function decodeAll(
  context: ProcessorContext,
  entries: readonly Entry[],
): Entry[] | Promise<Entry[]> {
  const { definition } = context;
  const valid: Entry[] = [];
  const waiting: Promise<void>[] = [];
  for (const entry of entries) {
    if (entry.decoded) {
      valid.push(entry);
      continue;
    }
    try {
      const decoded: unknown = decodeDelivery<unknown>(
        entry.delivery,
        definition.schema,
        definition.maxMessageBytes,
      );
      if (isPromiseLike(decoded)) {
        valid.push(entry);
        waiting.push(
          Promise.resolve(decoded).then(
            (message) => {
              entry.message = message;
              entry.decoded = true;
            },
            (error: unknown) => {
              entry.error = toTroupeError(error);
              entry.failedStep = 'handle';
            },
          ),
        );
      } else {
        entry.message = decoded;
        entry.decoded = true;
        valid.push(entry);
      }
    } catch (error) {
      entry.error = toTroupeError(error);
      entry.failedStep = 'handle';
    }
  }
  if (waiting.length === 0) return valid;
  return Promise.all(waiting).then(() => valid.filter((entry) => entry.error === undefined));
}

/** Records `handleBatch`'s outcomes on its entries. */
function recordOutcomes(entries: readonly Entry[], outcomes: unknown): void {
  const list = Array.isArray(outcomes) ? (outcomes as readonly MessageOutcome<unknown>[]) : [];
  entries.forEach((entry, index) => {
    const outcome = list[index];
    switch (outcome?.kind) {
      case 'done':
        entry.result = outcome.result;
        entry.stage = 'persist';
        break;
      case 'invalid':
        entry.error = new InvalidMessageError(outcome.reason);
        break;
      case 'transient':
        entry.error =
          outcome.error instanceof TransientError
            ? outcome.error
            : new TransientError(toTroupeError(outcome.error).message, { cause: outcome.error });
        break;
      case 'permanent':
        entry.error =
          outcome.error instanceof PermanentError
            ? outcome.error
            : new PermanentError(toTroupeError(outcome.error).message, { cause: outcome.error });
        break;
      case undefined:
      default:
        entry.error = new PermanentError(
          `handleBatch returned no outcome for message ${index} of ${entries.length} ` +
            '(it must return one { kind: done | invalid | transient | permanent } per message, in order)',
        );
    }
    if (entry.error !== undefined) entry.failedStep = 'handle';
  });
}

/** Runs `handleBatch` over the entries still to handle: one step for all of them. */
function runHandleBatch(context: ProcessorContext, self: StepOwner): void {
  const { slot, definition } = context;
  const handleBatch = definition.handleBatch;
  if (handleBatch === undefined) return;
  const pending = slot.entries.filter((entry) => entry.stage === 'handle');
  const step = new BatchStep(context, pending);
  const finish = (sync: boolean): void => {
    slot.cursor = slot.entries.length;
    context.observer?.step('handle', performance.now() - step.startedAt, pending.length);
    if (!sync) self.send({ type: 'handler.settled', run: step.run });
  };
  const fail = (error: unknown): void => {
    for (const entry of pending) {
      if (entry.error !== undefined) continue;
      entry.error = toTroupeError(error);
      entry.failedStep = 'handle';
    }
  };
  const call = (valid: readonly Entry[]): unknown =>
    valid.length === 0
      ? []
      : handleBatch(
          valid.map((entry) => ({ message: entry.message, delivery: slot.infoFor(entry) })),
          step,
        );
  let outcome: unknown;
  let valid: Entry[] | Promise<Entry[]>;
  try {
    valid = decodeAll(context, pending);
    if (!isPromiseLike(valid)) {
      outcome = call(valid);
      if (!isPromiseLike(outcome)) {
        recordOutcomes(valid, outcome);
        finish(true);
        return;
      }
    }
  } catch (error) {
    fail(error);
    finish(true);
    return;
  }
  slot.current = {
    abandon: (reason) => {
      step.abandon(reason);
      fail(reason);
    },
  };
  const decodedThenCalled = Promise.resolve(valid).then(async (entries) => {
    const outcomes = await (isPromiseLike(outcome) ? outcome : call(entries));
    return { entries, outcomes };
  });
  decodedThenCalled.then(
    ({ entries, outcomes }) => {
      if (step.run !== slot.run) return;
      slot.current = undefined;
      recordOutcomes(entries, outcomes);
      finish(false);
    },
    (error: unknown) => {
      if (step.run !== slot.run) return;
      slot.current = undefined;
      fail(error);
      finish(false);
    },
  );
}

/**
 * Stores the handled entries of a round with the processor's batch or per-message step:
 * their outcomes, at once when the step returns them at once (the default step with
 * nothing to write), else a promise of them.
 */
function persistEntries(
  context: ProcessorContext,
  step: BatchStep,
): readonly PersistOutcome[] | PromiseLike<readonly PersistOutcome[]> {
  const { definition, slot } = context;
  const persistBatch = definition.persistBatch;
  if (persistBatch === undefined) return persistEach(context, step);
  // The default step reads only each entry's result: no per-message objects for it.
  if (persistBatch === persistWritesBatch) return writeBatch(step.entries, step);
  const entries = step.entries.map((entry) => ({
    result: entry.result,
    delivery: slot.infoFor(entry),
  }));
  return persistBatch(entries, step);
}

/** The per-message persist step, one entry after the other. */
async function persistEach(
  context: ProcessorContext,
  step: BatchStep,
): Promise<readonly PersistOutcome[]> {
  const { definition, slot } = context;
  const persist = definition.persist;
  const outcomes: PersistOutcome[] = [];
  for (const entry of step.entries) {
    try {
      await persist?.(entry.result, new PersistStep(step, context.log, slot.infoFor(entry)));
      outcomes.push({ ok: true });
    } catch (error) {
      // A store failure fails the rest of the batch as well: it is retried as a whole.
      if (toTroupeError(error).retryable) throw error;
      outcomes.push({ ok: false, error });
    }
  }
  return outcomes;
}

/**
 * The entries whose handler succeeded: the batch's own list when that is all of them
 * (the usual case; nothing changes the list while its step runs), else a new one.
 */
function toPersist(entries: Entry[]): Entry[] {
  for (let i = 0; i < entries.length; i += 1) {
    const entry = entries[i] as Entry;
    if (entry.stage !== 'persist' || entry.error !== undefined) {
      return entries.filter((e) => e.stage === 'persist' && e.error === undefined);
    }
  }
  return entries;
}

/** A batch that waits to fill (`batchTimeoutMs`) before anything is started. */
function collects(context: ProcessorContext, event: ProcessorEvent): boolean {
  return (
    context.definition.batchTimeoutMs !== undefined &&
    event.type === 'batch.received' &&
    event.deliveries.length < context.definition.maxBatch
  );
}

/** Records the persist step's outcome on its entries, then decides the batch's plan. */
function concludePersist(
  context: ProcessorContext,
  step: BatchStep,
  outcomes: readonly PersistOutcome[] | undefined,
  error: unknown,
): void {
  const { slot, definition, observer } = context;
  observer?.step('persist', performance.now() - step.startedAt, step.entries.length);
  const { entries } = step;
  for (let index = 0; index < entries.length; index += 1) {
    const entry = entries[index] as Entry;
    const outcome = outcomes?.[index];
    if (outcome?.ok === true) continue;
    entry.error = toTroupeError(
      outcome === undefined
        ? (error ?? new PermanentError('the persist step returned no outcome for this message'))
        : outcome.error,
    );
    entry.failedStep = 'persist';
  }
  slot.conclude(definition.retry, context.random);
}

/** A failure's log fields: its stack the first time for a message, its message after. */
function errorFields(entry: Entry): Record<string, unknown> {
  const error = entry.error;
  if (error === undefined) return {};
  if (entry.stackLogged) return { error: { code: error.code, message: error.message } };
  entry.stackLogged = true;
  return { err: error };
}

/** The ids of the handler and persist timers in the actor system's scheduler. */
const handlerTimerId = 'handlerTimeout';
const persistTimerId = 'persistTimeout';

/**
 * Arms the timeout of the step that is waiting on a promise now. Only such a step can
 * time out: one that returned at once arms nothing, where an `after` timer on its state
 * would cost each batch an extra XState step (the timer's event, raised at once when
 * there is nothing to wait for). Scheduled like `after` timers, on the actor system's
 * clock (a simulated one in tests), stamped with the step's run, and cancelled when
 * the chart leaves the step's state (disarmHandlerTimer, disarmPersistTimer).
 */
function armTimer(
  context: ProcessorContext,
  self: AnyActorRef,
  system: Pick<ActorSystem<never>, 'scheduler'>,
  step: 'handler' | 'persist',
): void {
  const { slot, definition } = context;
  const timeout: ProcessorEvent = { type: `${step}.timeout`, run: slot.run };
  if (step === 'handler') {
    slot.handlerTimer = true;
    system.scheduler.schedule(self, self, timeout, definition.timeoutMs, handlerTimerId);
  } else {
    slot.persistTimer = true;
    system.scheduler.schedule(self, self, timeout, definition.persistTimeoutMs, persistTimerId);
  }
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
    tags: ProcessorTag;
  },
  delays: {
    retryDelay: ({ context }) => context.slot.plan?.delayMs ?? 0,
    batchTimeout: ({ context }) => context.definition.batchTimeoutMs ?? 0,
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
    holdsPermit: ({ context }) => context.slot.permit,
    allHandled: ({ context }) => context.slot.handled,
    isUnscheduled: ({ context }) => context.slot.lane === undefined,
    isDraining: ({ context }) => context.draining,
    collectsBatches: ({ context, event }) => collects(context, event),
    // The three guards after it, folded into one for the usual batch (one guard call).
    handlesAtOnce: ({ context, event }) =>
      !context.draining && !collects(context, event) && context.slot.lane === undefined,
    batchIsFull: ({ context, event }) =>
      event.type === 'batch.received' &&
      context.slot.size + event.deliveries.length >= context.definition.maxBatch,
    concluded: ({ context }) => context.slot.plan !== undefined,
    planEscalates: ({ context }) => (context.slot.plan?.escalate.length ?? 0) > 0,
    planRetries: ({ context }) => (context.slot.plan?.retry.length ?? 0) > 0,
    planAcksAll: ({ context }) => context.slot.acksAll,
    nothingToRetry: ({ context }) => context.slot.size === 0,
  },
  actions: {
    announceIdle: ({ context, self }) => {
      // The settled batch is let go of here, not when the next one arrives: held until
      // then, its deliveries (and the socket chunks their bodies are slices of) outlive
      // garbage collections and are promoted to the old generation.
      context.slot.idle();
      if (!context.draining) context.dispatcher?.idle(self, context.definition.maxBatch);
    },
    announceRoom: ({ context, self }) => {
      const room = context.definition.maxBatch - context.slot.size;
      if (!context.draining && room > 0) context.dispatcher?.idle(self, room);
    },
    withdraw: ({ context, self }) => context.dispatcher?.withdraw(self),
    // The handler and persist timeouts: armed by runHandlers and runPersist only when
    // their step waits on a promise, cancelled on exit (see armTimer).
    disarmHandlerTimer: ({ context, self, system }) => {
      const { slot } = context;
      if (!slot.handlerTimer) return;
      slot.handlerTimer = false;
      system.scheduler.cancel(self, handlerTimerId);
    },
    disarmPersistTimer: ({ context, self, system }) => {
      const { slot } = context;
      if (!slot.persistTimer) return;
      slot.persistTimer = false;
      system.scheduler.cancel(self, persistTimerId);
    },
    beginBatch: ({ context, event }) => {
      if (event.type !== 'batch.received') return;
      context.slot.begin(event.deliveries);
      context.observer?.batch?.(event.messageIds);
    },
    addToBatch: ({ context, event }) => {
      if (event.type !== 'batch.received') return;
      context.slot.add(event.deliveries);
      context.observer?.batch?.(event.messageIds);
    },
    refuseBatch: ({ event }) => {
      if (event.type !== 'batch.received') return;
      for (const delivery of event.deliveries) delivery.requeue();
    },
    requestPermit: ({ context, self }) => {
      context.slot.requestPermit(() => self.send({ type: 'permit.granted' }));
    },
    releasePermit: ({ context }) => context.slot.releasePermit(),
    runHandlers: ({ context, self, system }) => {
      const { slot } = context;
      if (context.definition.handleBatch !== undefined) {
        if (!slot.handled) runHandleBatch(context, self);
        if (!slot.handled) armTimer(context, self, system, 'handler');
        return;
      }
      const entries = slot.entries;
      while (slot.cursor < entries.length) {
        const entry = entries[slot.cursor];
        if (entry === undefined || entry.stage !== 'handle') {
          slot.cursor += 1;
          continue;
        }
        const step = new MessageStep(context, entry);
        let outcome: unknown;
        try {
          outcome = step.start();
        } catch (error) {
          step.failed(error);
          slot.cursor += 1;
          continue;
        }
        if (isPromiseLike(outcome)) {
          step.await(outcome, self);
          armTimer(context, self, system, 'handler');
          return;
        }
        step.succeeded(outcome);
        slot.cursor += 1;
      }
    },
    timeOutHandler: ({ context }) => {
      const { slot, definition } = context;
      const error = new HandlerTimeoutError(definition.timeoutMs);
      const step = slot.current;
      if (step instanceof MessageStep) {
        slot.current = undefined;
        slot.run += 1;
        step.timedOut(error);
        slot.cursor += 1;
      } else {
        // handleBatch: every message of the step failed.
        slot.abandon(error);
        slot.cursor = slot.entries.length;
      }
    },
    runPersist: ({ context, self, system }) => {
      const { slot } = context;
      const entries = toPersist(slot.entries);
      const step = new BatchStep(context, entries);
      if (entries.length === 0) {
        slot.conclude(context.definition.retry, context.random);
        return;
      }
      let result: readonly PersistOutcome[] | PromiseLike<readonly PersistOutcome[]>;
      try {
        result = persistEntries(context, step);
      } catch (error) {
        concludePersist(context, step, undefined, error);
        return;
      }
      if (!isPromiseLike(result)) {
        // Stored at once (nothing to write): the batch is settled in this same step.
        concludePersist(context, step, result, undefined);
        return;
      }
      slot.current = step;
      const run = step.run;
      armTimer(context, self, system, 'persist');
      result.then(
        (outcomes) => {
          if (run !== slot.run) return;
          slot.current = undefined;
          concludePersist(context, step, outcomes, undefined);
          self.send({ type: 'persist.settled', run });
        },
        (error: unknown) => {
          if (run !== slot.run) return;
          slot.current = undefined;
          concludePersist(context, step, undefined, error);
          self.send({ type: 'persist.settled', run });
        },
      );
    },
    timeOutPersist: ({ context }) => {
      const { slot, definition } = context;
      const error = new TransientError(
        `persist step timed out after ${definition.persistTimeoutMs} ms`,
      );
      const step = slot.current;
      slot.abandon(error);
      if (step instanceof BatchStep) concludePersist(context, step, undefined, error);
      else slot.conclude(definition.retry, context.random);
    },
    settleBatch: ({ context }) => {
      const { slot } = context;
      const plan = slot.plan;
      if (plan === undefined || plan.settled) return;
      plan.settled = true;
      if (slot.acksAll) {
        slot.ackAll();
        return;
      }
      const items = new SettleList();
      for (const entry of plan.acks) {
        items.add(entry, { kind: 'ack', delivery: entry.delivery }, 'acked');
      }
      for (const entry of plan.deadLetters) {
        const reason =
          entry.decision !== undefined && entry.decision.kind !== 'retry'
            ? entry.decision.reason
            : `${entry.error?.code ?? 'UNKNOWN'}: ${entry.error?.message ?? 'no reason'}`;
        // An invalid message is the sender's problem: its reason says it all, a stack
        // trace into the decoder would only bury it.
        context.log.warn(
          {
            ...(entry.error?.code === 'INVALID_MESSAGE' ? {} : errorFields(entry)),
            messageId: entry.delivery.messageId,
            attempt: entry.attempt,
            reason,
          },
          'message dead-lettered',
        );
        items.add(
          entry,
          {
            kind: 'dead-letter',
            delivery: entry.delivery,
            info: { reason, processor: context.definition.name, attempts: entry.attempt },
          },
          'dead-lettered',
        );
      }
      for (const entry of plan.later) {
        const delayMs = entry.decision?.kind === 'retry' ? entry.decision.delayMs : 0;
        context.log.info(
          { messageId: entry.delivery.messageId, attempt: entry.attempt, retryInMs: delayMs },
          'retry handed to the broker (delayed redelivery)',
        );
        items.add(
          entry,
          { kind: 'retry-later', delivery: entry.delivery, delayMs, attempts: entry.attempt },
          'redelivered-later',
        );
      }
      for (const entry of plan.retry) {
        context.observer?.retrying(entry.failedStep, entry.delivery.messageId);
        context.log.warn(
          {
            ...errorFields(entry),
            messageId: entry.delivery.messageId,
            attempt: entry.attempt,
            retryInMs: plan.delayMs,
            step: entry.failedStep,
          },
          'attempt failed; retrying',
        );
      }
      slot.settle(items, plan.escalate.length > 0 ? [...plan.escalate, ...plan.retry] : plan.retry);
    },
    nextRound: ({ context }) => context.slot.nextRound(),
    escalate: ({ context }) => {
      const { slot } = context;
      const plan = slot.plan;
      const items = new SettleList();
      for (const entry of slot.entries) {
        const escalating = plan?.escalate.includes(entry) === true;
        if (escalating) {
          context.log.error(
            { ...errorFields(entry), messageId: entry.delivery.messageId, attempt: entry.attempt },
            'retries exhausted; worker failed, escalating to its supervisor',
          );
        }
        // The message goes back with its attempt count where the transport can carry it
        // (a delayed redelivery of 1 ms): when it fails again it is dead-lettered, not
        // escalated once more, so escalation ends within a bounded number of deliveries.
        if (escalating && entry.delivery.retryLater !== undefined) {
          items.add(
            entry,
            { kind: 'retry-later', delivery: entry.delivery, delayMs: 1, attempts: entry.attempt },
            'redelivered-later',
          );
        } else {
          items.add(entry, { kind: 'requeue', delivery: entry.delivery }, 'requeued');
        }
      }
      slot.settle(items, []);
    },
    requeueBatch: ({ context }) => context.slot.requeue(),
    markDraining: assign({ draining: true }),
    recordBatch: assign(({ context, event }) => {
      if (event.type !== 'batch.received') return {};
      const { slot } = context;
      const first = slot.entries[0];
      return {
        // A batch taken in one event has that event's ids; a collected one, its own list.
        messageIds:
          slot.entries.length === event.messageIds.length ? event.messageIds : slot.messageIds,
        messageId: first?.delivery.messageId,
        attempt: first?.attempt ?? 0,
        lastError: undefined,
      };
    }),
    recordOutcome: assign(({ context }) => {
      const { slot } = context;
      const plan = slot.plan;
      const failed =
        plan === undefined
          ? undefined
          : (plan.escalate[0] ?? plan.retry[0] ?? plan.deadLetters[0] ?? plan.later[0]);
      return {
        attempt: slot.entries[0]?.attempt ?? context.attempt,
        lastError: failed?.error ?? context.lastError,
      };
    }),
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
    messageIds: [],
    messageId: undefined,
    attempt: 0,
    lastError: undefined,
    draining: false,
  }),
  invoke: { src: 'inFlightGuard', input: ({ context }) => context.slot },
  initial: 'idle',
  on: {
    cancel: { target: '.idle', actions: 'requeueBatch' },
    shutdown: { actions: ['markDraining', 'withdraw'] },
    'batch.received': { actions: 'refuseBatch' },
  },
  states: {
    idle: {
      tags: ['drainable'],
      entry: 'announceIdle',
      on: {
        'batch.received': [
          // The usual case first, in one guard: not draining, not collecting, no global
          // cap (the three guards below, in their order, would send it to the same place).
          {
            guard: 'handlesAtOnce',
            target: 'consuming.handling',
            actions: ['beginBatch', 'recordBatch'],
          },
          { guard: 'isDraining', actions: 'refuseBatch' },
          {
            guard: 'collectsBatches',
            target: 'consuming.collecting',
            actions: ['beginBatch', 'recordBatch'],
          },
          // No global cap: nothing to admit, so no admitting step (it costs a microstep).
          {
            guard: 'isUnscheduled',
            target: 'consuming.handling',
            actions: ['beginBatch', 'recordBatch'],
          },
          { target: 'consuming', actions: ['beginBatch', 'recordBatch'] },
        ],
      },
    },
    consuming: {
      initial: 'admitting',
      exit: 'releasePermit',
      states: {
        // Waiting for the batch to fill (batchTimeoutMs): nothing started yet.
        collecting: {
          tags: ['drainable'],
          entry: 'announceRoom',
          exit: 'withdraw',
          on: {
            'batch.received': [
              { guard: 'isDraining', target: 'admitting', actions: 'refuseBatch' },
              { guard: 'batchIsFull', target: 'admitting', actions: ['addToBatch', 'recordBatch'] },
              { actions: ['addToBatch', 'recordBatch', 'announceRoom'] },
            ],
          },
          after: { batchTimeout: { target: 'admitting' } },
        },
        admitting: {
          tags: ['drainable'],
          entry: 'requestPermit',
          always: { guard: 'holdsPermit', target: 'handling' },
          on: { 'permit.granted': { target: 'handling' } },
        },
        handling: {
          entry: 'runHandlers',
          exit: 'disarmHandlerTimer',
          // Every handler returned at once: on to persisting in the same macrostep.
          always: { guard: 'allHandled', target: '#processor.persisting' },
          on: {
            'handler.settled': { guard: 'isCurrentRun', target: 'handling', reenter: true },
            'handler.timeout': {
              guard: 'isCurrentRun',
              target: 'handling',
              reenter: true,
              actions: 'timeOutHandler',
            },
          },
        },
      },
    },
    persisting: {
      entry: 'runPersist',
      exit: 'disarmPersistTimer',
      // Nothing to store (every message failed in its handler): settled at once.
      always: [
        // Every message acked (nothing escalates, nothing to retry): the outcome changes
        // nothing the context shows (no error, no message left), so no context is made.
        { guard: 'planAcksAll', target: 'idle', actions: 'settleBatch' },
        { guard: and(['concluded', 'planEscalates']), target: 'failed' },
        {
          guard: and(['concluded', 'planRetries']),
          target: 'retrying',
          actions: ['settleBatch', 'recordOutcome'],
        },
        { guard: 'concluded', target: 'idle', actions: ['settleBatch', 'recordOutcome'] },
      ],
      on: {
        'persist.settled': [
          { guard: and(['isCurrentRun', 'planAcksAll']), target: 'idle', actions: 'settleBatch' },
          { guard: and(['isCurrentRun', 'planEscalates']), target: 'failed' },
          {
            guard: and(['isCurrentRun', 'planRetries']),
            target: 'retrying',
            actions: ['settleBatch', 'recordOutcome'],
          },
          { guard: 'isCurrentRun', target: 'idle', actions: ['settleBatch', 'recordOutcome'] },
        ],
        'persist.timeout': {
          guard: 'isCurrentRun',
          target: 'retrying',
          actions: ['timeOutPersist', 'settleBatch', 'recordOutcome'],
        },
      },
    },
    retrying: {
      always: [
        { guard: 'planEscalates', target: 'failed' },
        { guard: 'nothingToRetry', target: 'idle' },
      ],
      after: {
        retryDelay: { target: 'consuming', actions: ['nextRound', 'recordOutcome'] },
      },
    },
    failed: {
      type: 'final',
      entry: ['recordOutcome', 'settleBatch', 'escalate', 'withdraw'],
    },
  },
  output: ({ context }) => {
    const escalated = context.slot.plan?.escalate[0];
    return {
      exit: 'failed',
      reason:
        escalated?.decision !== undefined && escalated.decision.kind !== 'retry'
          ? escalated.decision.reason
          : 'worker failed',
    };
  },
});
