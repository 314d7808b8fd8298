// Supervisors with Erlang/OTP semantics on XState actors: child specs with restart
// types and shutdown budgets; one-for-one, one-for-all and rest-for-one; restart
// intensity with escalation; Akka-style restart backoff reset after a stable period;
// ordered start that waits for readiness; reverse-order shutdown within budgets; and
// children started, cancelled and restarted at run time.
//
// All bookkeeping lives in the context and is advanced by `pump`, which moves the stop
// queue first and then the start queue. The chart's states are derived from those
// queues, so the inspector shows `starting`, `running`, `stopping`, `stopped` or `failed`.
import type { Logger } from 'pino';
import {
  enqueueActions,
  setup,
  type AnyActorLogic,
  type AnyActorRef,
  type EventObject,
  type Snapshot,
  type Subscription,
} from 'xstate';
import { backoffDelay, type Backoff, type RandomSource } from './backoff.js';
import { resolveChildSpec, type ChildSpec, type ResolvedChildSpec } from './child-spec.js';
import { ConfigurationError } from './errors.js';
import { planRestart, shouldRestart, type ExitKind, type RestartStrategy } from './restart-plan.js';

/** A source of the current time in milliseconds; the actor clock's in tests. */
export interface Clock {
  now(): number;
}

/** Restart intensity: more than `maxRestarts` within `withinMs` and the supervisor gives up. */
export interface Intensity {
  readonly maxRestarts: number;
  readonly withinMs: number;
}

/** Restart backoff, reset once a child has run `resetAfterMs` without exiting. */
export interface RestartBackoff {
  readonly backoff: Backoff;
  readonly resetAfterMs: number;
}

/** Input of {@link supervisorMachine}. */
export interface SupervisorOptions {
  readonly strategy?: RestartStrategy;
  /** @default 3 restarts within 5 s (OTP's default is 1 in 5 s; a pool of workers needs a little more) */
  readonly intensity?: Intensity;
  /** @default exponential 100 ms to 10 s, 20% jitter, reset after 30 s */
  readonly restartBackoff?: RestartBackoff;
  /** Started in this order, stopped in reverse. */
  readonly children: readonly ChildSpec[];
  readonly logger: Logger;
  /** @default Date.now */
  readonly clock?: Clock;
  /** @default Math.random */
  readonly random?: RandomSource;
  /**
   * Stop children all at once, each within its own budget, instead of one after the
   * other in reverse order: OTP's `simple_one_for_one` semantics, for interchangeable
   * children such as a pool's workers, whose drains need not wait for each other.
   * @default false
   */
  readonly stopInParallel?: boolean;
}

type ChildStatus =
  /** queued to start */
  | 'pending'
  /** waiting for a backoff timer before it may start */
  | 'backoff'
  /** exited; will be restarted once the stop queue is empty */
  | 'awaiting-restart'
  /** spawned, not ready yet */
  | 'starting'
  | 'running'
  /** asked to drain */
  | 'stopping'
  /** the actor has exited or been stopped; not coming back */
  | 'stopped';

/** One child as its supervisor tracks it. */
export interface ChildRecord {
  readonly spec: ResolvedChildSpec;
  readonly status: ChildStatus;
  readonly ref: AnyActorRef | undefined;
  /** Incremented on every start; timers and watchers of older incarnations are ignored. */
  readonly generation: number;
  /** Consecutive restarts, for backoff; reset after a stable period. */
  readonly restarts: number;
  /** Restarts since the supervisor started, for inspection and metrics. */
  readonly totalRestarts: number;
  /** The backoff timer this child waits for; a `child.restart` with another token is stale. */
  readonly backoffTimer: number | undefined;
}

/** What to do with a child once it has been stopped. */
type AfterStop = 'remove' | 'restart' | 'restart-now' | 'keep';

/** A supervisor's state. */
export interface SupervisorContext {
  readonly strategy: RestartStrategy;
  readonly intensity: Intensity;
  readonly restartBackoff: RestartBackoff;
  readonly log: Logger;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly stopInParallel: boolean;
  /** Child ids in start order. */
  readonly order: readonly string[];
  readonly children: Readonly<Record<string, ChildRecord>>;
  readonly startQueue: readonly string[];
  readonly stopQueue: readonly { readonly id: string; readonly then: AfterStop }[];
  /** Times of recent restarts, for the intensity check. */
  readonly restartTimes: readonly number[];
  /** The last backoff timer token handed out. */
  readonly timerSeq: number;
  /** The last generation of each removed child id, should the id be started again. */
  readonly retired: Readonly<Record<string, number>>;
  readonly exiting: 'shutdown' | 'failed' | undefined;
  readonly failure: string | undefined;
}

/** Events a supervisor understands. */
export type SupervisorEvent =
  /** Stop every child in reverse order, then exit normally. */
  | { readonly type: 'shutdown' }
  | { readonly type: 'supervisor.start-child'; readonly spec: ChildSpec }
  | { readonly type: 'supervisor.cancel-child'; readonly id: string }
  | { readonly type: 'supervisor.restart-child'; readonly id: string }
  | { readonly type: 'child.spawned'; readonly id: string; readonly generation: number }
  | { readonly type: 'child.ready'; readonly id: string; readonly generation: number }
  | { readonly type: 'child.drained'; readonly id: string; readonly generation: number }
  | { readonly type: 'child.shutdown-timeout'; readonly id: string; readonly generation: number }
  | { readonly type: 'child.restart'; readonly ids: readonly string[]; readonly token: number }
  | { readonly type: 'child.stable'; readonly id: string; readonly generation: number }
  | { readonly type: `xstate.done.actor.${string}`; readonly output?: unknown }
  | { readonly type: `xstate.error.actor.${string}`; readonly error: unknown };

/** How a supervisor ended: `shutdown` when asked to stop, `failed` when it gave up. */
export type SupervisorOutput =
  { readonly exit: 'shutdown' } | { readonly exit: 'failed'; readonly reason: string };

const liveStatuses: ReadonlySet<ChildStatus> = new Set(['starting', 'running', 'stopping']);

/** Watchers are subscriptions, not state: kept beside the actor, keyed by the child ref. */
const watchers = new WeakMap<AnyActorRef, Subscription>();

function unwatch(ref: AnyActorRef | undefined): void {
  if (ref === undefined) return;
  watchers.get(ref)?.unsubscribe();
  watchers.delete(ref);
}

function watch(
  ref: AnyActorRef,
  predicate: (snapshot: Snapshot<unknown>) => boolean,
  onHold: () => void,
): void {
  unwatch(ref);
  const subscription = ref.subscribe({
    next: (snapshot: Snapshot<unknown>) => {
      if (!predicate(snapshot)) return;
      unwatch(ref);
      onHold();
    },
    // Errors reach the supervisor as xstate.error.actor events; an observer without
    // an error callback would make XState rethrow them in a timer.
    error: () => undefined,
  });
  watchers.set(ref, subscription);
}

/** Classifies a child's exit from its done or error event. */
export function exitKindOf(event: { type: string; output?: unknown }): ExitKind {
  if (event.type.startsWith('xstate.error.actor.')) return 'abnormal';
  const output = event.output as { exit?: unknown } | undefined;
  return output?.exit === 'failed' ? 'abnormal' : 'normal';
}

function exitReason(event: { type: string; output?: unknown; error?: unknown }): string {
  if ('error' in event) {
    const error = event.error;
    return error instanceof Error ? error.message : String(error);
  }
  const output = event.output as { reason?: unknown } | undefined;
  return typeof output?.reason === 'string' ? output.reason : 'exited';
}

function sortByOrder(ids: Iterable<string>, order: readonly string[]): string[] {
  return [...new Set(ids)].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

/** The effects a Step may run, adapted from XState's enqueue API. */
interface Effects {
  assign(
    update: (args: {
      context: SupervisorContext;
      spawn: (logic: AnyActorLogic, options: { id: string; input: unknown }) => AnyActorRef;
    }) => Partial<SupervisorContext>,
  ): void;
  raise(event: SupervisorEvent, options?: { delay: number }): void;
  sendTo(ref: AnyActorRef, event: EventObject): void;
  stopChild(ref: AnyActorRef): void;
}
type Enqueue = Effects;

/**
 * One event's worth of bookkeeping: a mutable draft of the context and the effects to
 * run, in order, once the draft is assigned.
 */
class Step {
  readonly draft: {
    -readonly [K in keyof SupervisorContext]: SupervisorContext[K];
  };
  readonly #effects: ((enqueue: Enqueue) => void)[] = [];
  readonly #self: AnyActorRef;

  constructor(context: SupervisorContext, self: AnyActorRef) {
    this.draft = {
      ...context,
      children: { ...context.children },
      order: [...context.order],
      startQueue: [...context.startQueue],
      stopQueue: [...context.stopQueue],
      restartTimes: [...context.restartTimes],
    };
    this.#self = self;
  }

  commit(enqueue: Enqueue): void {
    const { draft } = this;
    enqueue.assign(() => ({ ...draft }));
    for (const effect of this.#effects) effect(enqueue);
  }

  #set(id: string, patch: Partial<ChildRecord>): ChildRecord | undefined {
    const record = this.draft.children[id];
    if (record === undefined) return undefined;
    const next = { ...record, ...patch };
    this.draft.children = { ...this.draft.children, [id]: next };
    return next;
  }

  #remove(id: string): void {
    const { [id]: removed, ...rest } = this.draft.children;
    this.draft.children = rest;
    if (removed !== undefined) {
      this.draft.retired = { ...this.draft.retired, [id]: removed.generation };
    }
    this.draft.order = this.draft.order.filter((other) => other !== id);
    this.draft.startQueue = this.draft.startQueue.filter((other) => other !== id);
  }

  record(id: string): ChildRecord | undefined {
    return this.draft.children[id];
  }

  // -- intents --------------------------------------------------------------------

  addChild(spec: ChildSpec, field = 'children'): void {
    const resolved = resolveChildSpec(spec, field);
    const existing = this.draft.children[resolved.id];
    if (existing !== undefined && existing.status !== 'stopped') {
      this.draft.log.error(
        { child: resolved.id },
        'child id already in use; start request ignored',
      );
      return;
    }
    this.draft.children = {
      ...this.draft.children,
      [resolved.id]: {
        spec: resolved,
        status: 'pending',
        ref: existing?.ref,
        // Generations go on from a removed child of the same id, so that its pending
        // timers (shutdown budget, stable period) do not match the new incarnation.
        generation: existing?.generation ?? this.draft.retired[resolved.id] ?? 0,
        restarts: 0,
        totalRestarts: existing?.totalRestarts ?? 0,
        backoffTimer: undefined,
      },
    };
    if (!this.draft.order.includes(resolved.id))
      this.draft.order = [...this.draft.order, resolved.id];
    this.draft.startQueue = sortByOrder([...this.draft.startQueue, resolved.id], this.draft.order);
  }

  requestStop(id: string, then: AfterStop): void {
    const record = this.draft.children[id];
    if (record === undefined) return;
    const queued = this.draft.stopQueue.find((entry) => entry.id === id);
    if (queued !== undefined) return;
    if (!liveStatuses.has(record.status)) {
      // Not running: nothing to stop, only bookkeeping.
      this.draft.startQueue = this.draft.startQueue.filter((other) => other !== id);
      this.#afterStop(id, then);
      return;
    }
    this.draft.stopQueue = [...this.draft.stopQueue, { id, then }];
  }

  shutdown(exiting: 'shutdown' | 'failed', reason?: string): void {
    if (this.draft.exiting !== undefined) return;
    this.draft.exiting = exiting;
    if (reason !== undefined) this.draft.failure = reason;
    this.draft.startQueue = [];
    for (const id of [...this.draft.order].reverse()) {
      const record = this.draft.children[id];
      if (record === undefined) continue;
      if (liveStatuses.has(record.status)) this.requestStop(id, 'keep');
      else if (record.status !== 'stopped') this.#set(id, { status: 'stopped' });
    }
  }

  /** A child's actor exited (done or error). */
  childExited(id: string, kind: ExitKind, reason: string): void {
    const record = this.draft.children[id];
    if (record === undefined || record.status === 'stopped') return;
    unwatch(record.ref);
    const queued = this.draft.stopQueue.find((entry) => entry.id === id);
    if (queued !== undefined || record.status === 'stopping') {
      // We were stopping it anyway: it has drained by exiting.
      this.#set(id, { status: 'stopping' });
      this.#finishStop(id);
      return;
    }
    const { log } = this.draft;
    if (this.draft.exiting !== undefined || !shouldRestart(record.spec.restart, kind)) {
      log.info({ child: id, exit: kind, reason }, 'child exited; not restarted');
      this.#stopActor(id);
      if (record.spec.restart === 'temporary') this.#remove(id);
      else {
        this.#set(id, { status: 'stopped' });
        this.draft.startQueue = this.draft.startQueue.filter((other) => other !== id);
      }
      return;
    }
    // Restart intensity: more than maxRestarts within the window and we give up.
    const now = this.draft.clock.now();
    const { maxRestarts, withinMs } = this.draft.intensity;
    this.draft.restartTimes = [...this.draft.restartTimes.filter((t) => now - t < withinMs), now];
    if (this.draft.restartTimes.length > maxRestarts) {
      const failure = `restart intensity exceeded: more than ${maxRestarts} restarts within ${withinMs} ms (last: ${id}: ${reason})`;
      log.error(
        { child: id, exit: kind, reason },
        'restart intensity exceeded; stopping children and escalating',
      );
      this.#stopActor(id);
      this.#set(id, { status: 'stopped' });
      this.shutdown('failed', failure);
      return;
    }
    log.warn(
      { child: id, exit: kind, reason, strategy: this.draft.strategy },
      'child exited abnormally; restarting',
    );
    const plan = planRestart(
      this.draft.strategy,
      this.draft.order,
      id,
      (other) => liveStatuses.has(this.draft.children[other]?.status ?? 'stopped'),
      (other) => this.draft.children[other]?.spec.restart ?? 'temporary',
    );
    this.#stopActor(id);
    this.#set(id, {
      status: 'awaiting-restart',
      restarts: record.restarts + 1,
      totalRestarts: record.totalRestarts + 1,
    });
    for (const other of plan.stop) {
      this.requestStop(other, plan.start.includes(other) ? 'restart' : 'remove');
    }
    this.draft.startQueue = sortByOrder([...this.draft.startQueue, id], this.draft.order);
  }

  /** A child's actor errored: let its spec release what the errored actor still holds. */
  childErrored(id: string): void {
    const record = this.draft.children[id];
    const ref = record?.ref;
    const onError = record?.spec.onError;
    if (ref === undefined || onError === undefined) return;
    const { log } = this.draft;
    this.#effects.push(() => {
      try {
        onError(ref.getSnapshot() as Snapshot<unknown>);
      } catch (err) {
        log.error({ err, child: id }, 'child onError hook threw');
      }
    });
  }

  childSpawned(id: string, generation: number): void {
    const record = this.draft.children[id];
    if (
      record?.status !== 'starting' ||
      record.generation !== generation ||
      record.ref === undefined
    )
      return;
    const ref = record.ref;
    if (record.spec.isReady(ref.getSnapshot() as Snapshot<unknown>)) {
      this.childReady(id, generation);
      return;
    }
    this.#effects.push(() =>
      watch(ref, record.spec.isReady, () =>
        this.#self.send({ type: 'child.ready', id, generation }),
      ),
    );
  }

  childReady(id: string, generation: number): void {
    const record = this.draft.children[id];
    if (record?.status !== 'starting' || record.generation !== generation) return;
    this.#set(id, { status: 'running' });
    this.draft.startQueue = this.draft.startQueue.filter((other) => other !== id);
    const resetAfterMs = this.draft.restartBackoff.resetAfterMs;
    if (record.restarts > 0) {
      this.#effects.push((enqueue) =>
        enqueue.raise({ type: 'child.stable', id, generation }, { delay: resetAfterMs }),
      );
    }
  }

  childStable(id: string, generation: number): void {
    const record = this.draft.children[id];
    if (record?.status === 'running' && record.generation === generation)
      this.#set(id, { restarts: 0 });
  }

  childDrained(id: string, generation: number): void {
    const record = this.draft.children[id];
    if (record?.status !== 'stopping' || record.generation !== generation) return;
    this.#finishStop(id);
  }

  shutdownTimedOut(id: string, generation: number): void {
    const record = this.draft.children[id];
    if (record?.status !== 'stopping' || record.generation !== generation) return;
    this.draft.log.warn(
      { child: id, budgetMs: record.spec.shutdown },
      'child did not drain in time; stopping it',
    );
    this.#finishStop(id);
  }

  restartDue(ids: readonly string[], token: number): void {
    for (const id of ids) {
      const record = this.draft.children[id];
      // A timer set for an earlier exit (the child was restarted or re-added since, and
      // is waiting out a newer backoff) must not cut the newer one short.
      if (record?.status === 'backoff' && record.backoffTimer === token) {
        this.#set(id, { status: 'pending', backoffTimer: undefined });
      }
    }
  }

  // -- progress -------------------------------------------------------------------

  /** Advances the stop queue, then the start queue, as far as they go without waiting. */
  pump(): void {
    for (;;) {
      const head = this.draft.stopQueue[0];
      if (head !== undefined) {
        if (this.draft.stopInParallel) {
          // Every queued stop begins now; loop again only if one finished at once.
          let finished = false;
          for (const entry of [...this.draft.stopQueue]) {
            if (this.#advanceStop(entry.id)) finished = true;
          }
          if (finished) continue;
          return;
        }
        if (this.#advanceStop(head.id)) continue;
        return;
      }
      if (this.draft.exiting !== undefined) return;
      this.#scheduleRestarts();
      const next = this.draft.startQueue[0];
      if (next === undefined) return;
      if (!this.#advanceStart(next)) return;
    }
  }

  /** True when the head of the stop queue is done and the queue moved on. */
  #advanceStop(id: string): boolean {
    const record = this.draft.children[id];
    if (record === undefined) {
      this.draft.stopQueue = this.draft.stopQueue.filter((entry) => entry.id !== id);
      return true;
    }
    if (record.status === 'stopping') return false;
    const ref = record.ref;
    const shutdown = record.spec.shutdown;
    if (
      ref === undefined ||
      (ref.getSnapshot() as Snapshot<unknown>).status !== 'active' ||
      shutdown === 'brutal'
    ) {
      this.#set(id, { status: 'stopping' });
      this.#finishStop(id);
      return true;
    }
    this.#set(id, { status: 'stopping' });
    this.#effects.push((enqueue) => enqueue.sendTo(ref, { type: 'shutdown' }));
    const { generation } = record;
    this.#effects.push(() =>
      watch(ref, record.spec.isDrained, () =>
        this.#self.send({ type: 'child.drained', id, generation }),
      ),
    );
    if (typeof shutdown === 'number') {
      this.#effects.push((enqueue) =>
        enqueue.raise({ type: 'child.shutdown-timeout', id, generation }, { delay: shutdown }),
      );
    }
    return false;
  }

  #finishStop(id: string): void {
    const entry = this.draft.stopQueue.find((queued) => queued.id === id);
    this.draft.stopQueue = this.draft.stopQueue.filter((queued) => queued.id !== id);
    this.#stopActor(id);
    this.#afterStop(id, entry?.then ?? 'keep');
  }

  #afterStop(id: string, then: AfterStop): void {
    switch (then) {
      case 'remove':
        this.#remove(id);
        break;
      case 'keep':
        this.#set(id, { status: 'stopped' });
        break;
      case 'restart':
        this.#set(id, { status: 'awaiting-restart' });
        this.draft.startQueue = sortByOrder([...this.draft.startQueue, id], this.draft.order);
        break;
      case 'restart-now':
        this.#set(id, { status: 'pending' });
        this.draft.startQueue = sortByOrder([...this.draft.startQueue, id], this.draft.order);
        break;
    }
  }

  #stopActor(id: string): void {
    const ref = this.draft.children[id]?.ref;
    if (ref === undefined) return;
    unwatch(ref);
    this.#set(id, { ref: undefined });
    this.#effects.push((enqueue) => enqueue.stopChild(ref));
  }

  /** Children that exited and wait for siblings to stop get one backoff timer together. */
  #scheduleRestarts(): void {
    const due = this.draft.order.filter(
      (id) => this.draft.children[id]?.status === 'awaiting-restart',
    );
    if (due.length === 0) return;
    const attempts = Math.max(...due.map((id) => this.draft.children[id]?.restarts ?? 1));
    const delay = backoffDelay(
      this.draft.restartBackoff.backoff,
      Math.max(0, attempts - 1),
      this.draft.random,
    );
    if (delay <= 0) {
      for (const id of due) this.#set(id, { status: 'pending' });
      return;
    }
    const token = this.draft.timerSeq + 1;
    this.draft.timerSeq = token;
    for (const id of due) this.#set(id, { status: 'backoff', backoffTimer: token });
    this.#effects.push((enqueue) =>
      enqueue.raise({ type: 'child.restart', ids: due, token }, { delay }),
    );
  }

  /** True when the head of the start queue is running and the queue moved on. */
  #advanceStart(id: string): boolean {
    const record = this.draft.children[id];
    if (record === undefined) {
      this.draft.startQueue = this.draft.startQueue.slice(1);
      return true;
    }
    switch (record.status) {
      case 'running':
        this.draft.startQueue = this.draft.startQueue.slice(1);
        return true;
      case 'pending':
      case 'stopped':
        // A start that threw has already been handled as an exit (restart scheduled,
        // child dropped, or the supervisor giving up): keep pumping so that its
        // restart timer is set and the siblings after it are not left waiting.
        return !this.#spawn(id, record);
      case 'backoff':
      case 'awaiting-restart':
      case 'starting':
      case 'stopping':
        return false;
    }
  }

  /** Starts the child; false when its start function threw (handled as an abnormal exit). */
  #spawn(id: string, record: ChildRecord): boolean {
    const generation = record.generation + 1;
    let started: ReturnType<ResolvedChildSpec['start']>;
    try {
      started = record.spec.start();
    } catch (error) {
      // A start function that throws is a bug in the child spec; treat it as a failed start.
      this.#set(id, { status: 'starting', generation });
      this.draft.startQueue = this.draft.startQueue.filter((other) => other !== id);
      this.childExited(id, 'abnormal', error instanceof Error ? error.message : String(error));
      return false;
    }
    this.#set(id, { status: 'starting', generation });
    if (record.generation > 0) this.draft.log.info({ child: id, generation }, 'child restarted');
    this.#effects.push((enqueue) => {
      enqueue.assign(({ context, spawn }) => {
        const ref = spawn(started.logic, { id, input: started.input });
        const current = context.children[id];
        return current === undefined
          ? {}
          : { children: { ...context.children, [id]: { ...current, ref } } };
      });
      enqueue.raise({ type: 'child.spawned', id, generation });
    });
    return true;
  }
}

function resolveOptions(
  input: SupervisorOptions,
): Omit<
  SupervisorContext,
  | 'order'
  | 'children'
  | 'startQueue'
  | 'stopQueue'
  | 'restartTimes'
  | 'timerSeq'
  | 'retired'
  | 'exiting'
  | 'failure'
> {
  const intensity = input.intensity ?? { maxRestarts: 3, withinMs: 5000 };
  if (!Number.isInteger(intensity.maxRestarts) || intensity.maxRestarts < 0) {
    throw new ConfigurationError('supervisor.intensity.maxRestarts', 'must be an integer >= 0');
  }
  if (!(intensity.withinMs > 0)) {
    throw new ConfigurationError('supervisor.intensity.withinMs', 'must be > 0');
  }
  return {
    strategy: input.strategy ?? 'one-for-one',
    intensity,
    restartBackoff: input.restartBackoff ?? {
      backoff: { kind: 'exponential', minMs: 100, maxMs: 10_000, randomFactor: 0.2 },
      resetAfterMs: 30_000,
    },
    log: input.logger,
    clock: input.clock ?? { now: () => Date.now() },
    random: input.random ?? Math.random,
    stopInParallel: input.stopInParallel ?? false,
  };
}

interface LooseEnqueue {
  assign(
    update: (args: { context: SupervisorContext; spawn: unknown }) => Partial<SupervisorContext>,
  ): void;
  raise(event: SupervisorEvent, options?: { delay: number }): void;
  sendTo(ref: AnyActorRef, event: EventObject): void;
  stopChild(ref: AnyActorRef): void;
}

type LooseSpawn = (logic: AnyActorLogic, options: { id: string; input: unknown }) => AnyActorRef;

/**
 * XState types `spawn` against the machine's declared actors; a supervisor spawns
 * whatever its child specs return, so the spawner is used through a looser type.
 */
function adapt(enqueue: unknown): Effects {
  const loose = enqueue as LooseEnqueue;
  return {
    assign: (update) =>
      loose.assign(({ context, spawn }) => update({ context, spawn: spawn as LooseSpawn })),
    raise: (event, options) =>
      options === undefined ? loose.raise(event) : loose.raise(event, options),
    sendTo: (ref, event) => loose.sendTo(ref, event),
    stopChild: (ref) => loose.stopChild(ref),
  };
}

const hasStopWork = ({ context }: { context: SupervisorContext }): boolean =>
  context.stopQueue.length > 0;
const hasStartWork = ({ context }: { context: SupervisorContext }): boolean =>
  context.exiting === undefined && context.startQueue.length > 0;

/** A supervisor. Nest one under another with {@link supervisorChild}. */
export const supervisorMachine = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as {
    context: SupervisorContext;
    input: SupervisorOptions;
    events: SupervisorEvent;
    output: SupervisorOutput;
  },
  guards: {
    hasStopWork,
    hasStartWork,
    exitedFailed: ({ context }) => context.stopQueue.length === 0 && context.exiting === 'failed',
    exitedShutdown: ({ context }) =>
      context.stopQueue.length === 0 && context.exiting === 'shutdown',
  },
  actions: {
    handle: enqueueActions(({ context, event, enqueue, self }) => {
      const step = new Step(context, self);
      const effects = adapt(enqueue);
      switch (event.type) {
        case 'shutdown':
          step.shutdown('shutdown');
          break;
        case 'supervisor.start-child':
          step.addChild(event.spec);
          break;
        case 'supervisor.cancel-child':
          step.requestStop(event.id, 'remove');
          break;
        case 'supervisor.restart-child':
          step.requestStop(event.id, 'restart-now');
          break;
        case 'child.spawned':
          step.childSpawned(event.id, event.generation);
          break;
        case 'child.ready':
          step.childReady(event.id, event.generation);
          break;
        case 'child.drained':
          step.childDrained(event.id, event.generation);
          break;
        case 'child.shutdown-timeout':
          step.shutdownTimedOut(event.id, event.generation);
          break;
        case 'child.restart':
          step.restartDue(event.ids, event.token);
          break;
        case 'child.stable':
          step.childStable(event.id, event.generation);
          break;
        default: {
          const prefix = event.type.startsWith('xstate.done.actor.')
            ? 'xstate.done.actor.'
            : 'xstate.error.actor.';
          const id = event.type.slice(prefix.length);
          if (prefix === 'xstate.error.actor.') step.childErrored(id);
          step.childExited(id, exitKindOf(event), exitReason(event));
        }
      }
      step.pump();
      step.commit(effects);
    }),
    begin: enqueueActions(({ context, enqueue, self }) => {
      const step = new Step(context, self);
      step.pump();
      step.commit(adapt(enqueue));
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => {
    const base = resolveOptions(input);
    const children: Record<string, ChildRecord> = {};
    input.children.forEach((spec, index) => {
      const resolved = resolveChildSpec(spec, `children[${index}]`);
      if (children[resolved.id] !== undefined) {
        throw new ConfigurationError(
          `children[${index}].id`,
          `duplicate child id ${JSON.stringify(resolved.id)}`,
        );
      }
      children[resolved.id] = {
        spec: resolved,
        status: 'pending',
        ref: undefined,
        generation: 0,
        restarts: 0,
        totalRestarts: 0,
        backoffTimer: undefined,
      };
    });
    const order = Object.keys(children);
    return {
      ...base,
      order,
      children,
      startQueue: order,
      stopQueue: [],
      restartTimes: [],
      timerSeq: 0,
      retired: {},
      exiting: undefined,
      failure: undefined,
    };
  },
  entry: 'begin',
  initial: 'starting',
  on: {
    '*': { actions: 'handle' },
  },
  states: {
    starting: {
      always: [
        { guard: 'hasStopWork', target: 'stopping' },
        { guard: 'exitedFailed', target: 'failed' },
        { guard: 'exitedShutdown', target: 'stopped' },
        { guard: ({ context }) => !hasStartWork({ context }), target: 'running' },
      ],
    },
    running: {
      always: [
        { guard: 'hasStopWork', target: 'stopping' },
        { guard: 'exitedFailed', target: 'failed' },
        { guard: 'exitedShutdown', target: 'stopped' },
        { guard: 'hasStartWork', target: 'starting' },
      ],
    },
    stopping: {
      always: [
        { guard: 'exitedFailed', target: 'failed' },
        { guard: 'exitedShutdown', target: 'stopped' },
        {
          guard: ({ context }) => !hasStopWork({ context }) && hasStartWork({ context }),
          target: 'starting',
        },
        { guard: ({ context }) => !hasStopWork({ context }), target: 'running' },
      ],
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }): SupervisorOutput =>
    context.exiting === 'failed'
      ? { exit: 'failed', reason: context.failure ?? 'failed' }
      : { exit: 'shutdown' },
});

/** A supervisor as the child of another: ready once running, drained once it has exited. */
export function supervisorChild(
  id: string,
  options: Omit<SupervisorOptions, 'logger'> & { readonly logger: Logger },
  spec: Pick<ChildSpec, 'restart' | 'shutdown'> = {},
): ChildSpec {
  return {
    id,
    kind: 'supervisor',
    restart: spec.restart ?? 'permanent',
    shutdown: spec.shutdown ?? 'infinity',
    start: () => ({
      logic: supervisorMachine,
      input: { ...options, logger: options.logger.child({ supervisor: id }) },
    }),
    isReady: (snapshot) => (snapshot as { value?: unknown }).value === 'running',
    isDrained: () => false,
  };
}
