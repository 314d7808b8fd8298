// The supervisor's bookkeeping as a pure reducer: (state, event, now) → (state, effects).
// It decides; it never acts. Effects are data (see effects.ts), run by the machine once
// the transition is computed. The stop queue moves first, then the start queue; a
// child is started only once the one before it runs and is ready.
import type { AnyActorLogic, AnyActorRef, Snapshot } from 'xstate';
import { backoffDelay, type RandomSource } from '../backoff.js';
import { resolveChildSpec, type ChildSpec } from '../child-spec.js';
import { ConfigurationError } from '../errors.js';
import { planRestart, shouldRestart, type ExitKind } from '../restart-plan.js';
import type { Effect } from './effects.js';
import type {
  AfterStop,
  ChildAnswer,
  ChildRecord,
  ChildStatus,
  Reply,
  SupervisorContext,
  SupervisorEvent,
  SupervisorOptions,
} from './types.js';

/** What a transition may read of the world: the time, and a random source for jitter. */
export interface Env {
  /** Read only when a restart is counted. */
  readonly now: () => number;
  readonly random: RandomSource;
}

/** A transition's result: the next state and what must happen for it to be true. */
export interface Reduced {
  readonly context: SupervisorContext;
  readonly effects: readonly Effect[];
}

const liveStatuses: ReadonlySet<ChildStatus> = new Set(['starting', 'running', 'stopping']);
const restartingStatuses: ReadonlySet<ChildStatus> = new Set(['backoff', 'awaiting-restart']);

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

const significantNeedsAutoShutdown =
  "a significant child needs autoShutdown 'any-significant' or 'all-significant' (OTP: bad_combination)";

/** The initial state for `input`; throws a {@link ConfigurationError} naming a bad field. */
export function initialContext(
  input: SupervisorOptions,
  systemClock: { now?: () => number } | undefined,
): SupervisorContext {
  const intensity = input.intensity ?? { maxRestarts: 3, withinMs: 5000 };
  if (!Number.isInteger(intensity.maxRestarts) || intensity.maxRestarts < 0) {
    throw new ConfigurationError('supervisor.intensity.maxRestarts', 'must be an integer >= 0');
  }
  if (!(intensity.withinMs > 0)) {
    throw new ConfigurationError('supervisor.intensity.withinMs', 'must be > 0');
  }
  const children: Record<string, ChildRecord> = {};
  input.children.forEach((spec, index) => {
    const resolved = resolveChildSpec(spec, `children[${index}]`);
    if (children[resolved.id] !== undefined) {
      throw new ConfigurationError(
        `children[${index}].id`,
        `duplicate child id ${JSON.stringify(resolved.id)}`,
      );
    }
    if (resolved.significant && (input.autoShutdown ?? 'never') === 'never') {
      throw new ConfigurationError(`children[${index}].significant`, significantNeedsAutoShutdown);
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
  const now = systemClock?.now;
  return {
    strategy: input.strategy ?? 'one-for-one',
    intensity,
    restartBackoff: input.restartBackoff ?? {
      backoff: { kind: 'exponential', minMs: 100, maxMs: 10_000, randomFactor: 0.2 },
      resetAfterMs: 30_000,
    },
    autoShutdown: input.autoShutdown ?? 'never',
    log: input.logger,
    // One clock for the whole tree: a nested supervisor given none measures its restart
    // intensity on the clock its timers run on (a SimulatedClock in tests).
    clock:
      input.clock ??
      (typeof now === 'function' && systemClock !== undefined
        ? { now: () => now.call(systemClock) }
        : { now: () => Date.now() }),
    random: input.random ?? Math.random,
    stopInParallel: input.stopInParallel ?? false,
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
}

/** The transition for `event`: a new state and the effects that make it true. */
export function reduce(context: SupervisorContext, event: SupervisorEvent, env: Env): Reduced {
  const t = new SupervisorTransition(context, env);
  switch (event.type) {
    case 'shutdown':
      t.shutdown('shutdown');
      break;
    case 'supervisor.start-child':
      t.startChild(event.spec, event.reply);
      break;
    case 'supervisor.terminate-child':
      t.terminateChild(event.id, event.reply);
      break;
    case 'supervisor.delete-child':
      t.deleteChild(event.id, event.reply);
      break;
    case 'supervisor.restart-child':
      t.restartChild(event.id, event.reply);
      break;
    case 'supervisor.cancel-child':
      t.cancelChild(event.id, event.reply);
      break;
    case 'child.started':
      t.childStarted(event.id, event.generation, event.logic, event.input);
      break;
    case 'child.start-failed':
      t.childStartFailed(event.id, event.generation, event.reason);
      break;
    case 'child.ready':
      t.childReady(event.id, event.generation);
      break;
    case 'child.drained':
      t.childDrained(event.id, event.generation);
      break;
    case 'child.shutdown-timeout':
      t.shutdownTimedOut(event.id, event.generation);
      break;
    case 'child.restart':
      t.restartDue(event.ids, event.token);
      break;
    case 'child.stable':
      t.childStable(event.id, event.generation);
      break;
    default: {
      const errored = event.type.startsWith('xstate.error.actor.');
      const prefix = errored ? 'xstate.error.actor.' : 'xstate.done.actor.';
      if (!errored && !event.type.startsWith(prefix)) break;
      const id = event.type.slice(prefix.length);
      if (errored) t.childErrored(id);
      t.childExited(id, exitKindOf(event), exitReason(event));
    }
  }
  t.pump();
  return t.result();
}

/** The first transition: start the children in order. */
export function begin(context: SupervisorContext, env: Env): Reduced {
  const t = new SupervisorTransition(context, env);
  t.pump();
  return t.result();
}

/**
 * One event's worth of bookkeeping: a mutable draft of the state, and the effects
 * collected on the way. Nothing here touches an actor, a clock or a logger.
 */
class SupervisorTransition {
  readonly #draft: { -readonly [K in keyof SupervisorContext]: SupervisorContext[K] };
  readonly #effects: Effect[] = [];
  readonly #env: Env;

  constructor(context: SupervisorContext, env: Env) {
    this.#draft = { ...context };
    this.#env = env;
  }

  result(): Reduced {
    return { context: { ...this.#draft }, effects: this.#effects };
  }

  #set(id: string, patch: Partial<ChildRecord>): void {
    const record = this.#draft.children[id];
    if (record === undefined) return;
    this.#draft.children = { ...this.#draft.children, [id]: { ...record, ...patch } };
  }

  #remove(id: string): void {
    const { [id]: removed, ...rest } = this.#draft.children;
    this.#draft.children = rest;
    if (removed !== undefined) {
      this.#draft.retired = { ...this.#draft.retired, [id]: removed.generation };
    }
    this.#draft.order = this.#draft.order.filter((other) => other !== id);
    this.#unqueueStart(id);
  }

  #queueStart(id: string): void {
    this.#draft.startQueue = sortByOrder([...this.#draft.startQueue, id], this.#draft.order);
  }

  #unqueueStart(id: string): void {
    this.#draft.startQueue = this.#draft.startQueue.filter((other) => other !== id);
  }

  #log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string): void {
    this.#effects.push({ kind: 'log', level, fields, msg });
  }

  #reply(reply: Reply | undefined, answer: ChildAnswer): void {
    if (reply !== undefined) this.#effects.push({ kind: 'reply', reply, answer });
  }

  // -- requests ---------------------------------------------------------------------

  startChild(spec: ChildSpec, reply: Reply | undefined): void {
    if (this.#draft.exiting !== undefined) {
      return this.#reply(reply, { ok: false, error: 'shutting-down' });
    }
    let resolved;
    try {
      resolved = resolveChildSpec(spec, 'spec');
    } catch (error) {
      this.#reply(reply, {
        ok: false,
        error: 'invalid-spec',
        reason: error instanceof Error ? error.message : String(error),
      });
      return;
    }
    if (resolved.significant && this.#draft.autoShutdown === 'never') {
      this.#reply(reply, {
        ok: false,
        error: 'invalid-spec',
        reason: significantNeedsAutoShutdown,
      });
      return;
    }
    const existing = this.#draft.children[resolved.id];
    if (existing !== undefined) {
      this.#reply(reply, {
        ok: false,
        error: existing.status === 'stopped' ? 'already-present' : 'already-started',
      });
      return;
    }
    this.#draft.children = {
      ...this.#draft.children,
      [resolved.id]: {
        spec: resolved,
        status: 'pending',
        ref: undefined,
        // Generations go on from a removed child of the same id, so that its pending
        // timers (shutdown budget, stable period) do not match the new incarnation.
        generation: this.#draft.retired[resolved.id] ?? 0,
        restarts: 0,
        totalRestarts: 0,
        backoffTimer: undefined,
      },
    };
    this.#draft.order = [...this.#draft.order, resolved.id];
    this.#queueStart(resolved.id);
    this.#reply(reply, { ok: true });
  }

  terminateChild(id: string, reply: Reply | undefined): void {
    const record = this.#draft.children[id];
    if (record === undefined) return this.#reply(reply, { ok: false, error: 'not-found' });
    // OTP keeps the spec of a terminated child, except a temporary one's.
    this.#requestStop(id, record.spec.restart === 'temporary' ? 'remove' : 'keep', true);
    this.#reply(reply, { ok: true });
  }

  deleteChild(id: string, reply: Reply | undefined): void {
    const record = this.#draft.children[id];
    if (record === undefined) return this.#reply(reply, { ok: false, error: 'not-found' });
    if (record.status === 'stopped') {
      this.#remove(id);
      return this.#reply(reply, { ok: true });
    }
    this.#reply(reply, {
      ok: false,
      error: restartingStatuses.has(record.status) ? 'restarting' : 'running',
    });
  }

  restartChild(id: string, reply: Reply | undefined): void {
    const record = this.#draft.children[id];
    if (record === undefined) return this.#reply(reply, { ok: false, error: 'not-found' });
    if (this.#draft.exiting !== undefined) {
      return this.#reply(reply, { ok: false, error: 'shutting-down' });
    }
    if (record.status === 'stopped') {
      this.#set(id, { status: 'pending' });
      this.#queueStart(id);
      return this.#reply(reply, { ok: true });
    }
    // Being terminated (the request came right after terminate-child): it is started
    // again once stopped, as OTP's synchronous terminate_child then restart_child would.
    const queued = this.#draft.stopQueue.find((entry) => entry.id === id);
    if (queued?.then === 'keep') {
      this.#draft.stopQueue = this.#draft.stopQueue.map((entry) =>
        entry.id === id ? { id, then: 'restart-now' } : entry,
      );
      return this.#reply(reply, { ok: true });
    }
    this.#reply(reply, {
      ok: false,
      error: restartingStatuses.has(record.status) ? 'restarting' : 'running',
    });
  }

  cancelChild(id: string, reply: Reply | undefined): void {
    if (this.#draft.children[id] === undefined) {
      return this.#reply(reply, { ok: false, error: 'not-found' });
    }
    this.#requestStop(id, 'remove', true);
    this.#reply(reply, { ok: true });
  }

  shutdown(exiting: 'shutdown' | 'failed', reason?: string): void {
    if (this.#draft.exiting !== undefined) return;
    this.#draft.exiting = exiting;
    if (reason !== undefined) this.#draft.failure = reason;
    this.#draft.startQueue = [];
    for (const id of [...this.#draft.order].reverse()) {
      const record = this.#draft.children[id];
      if (record === undefined) continue;
      if (liveStatuses.has(record.status)) this.#requestStop(id, 'keep', true);
      else if (record.status !== 'stopped') this.#set(id, { status: 'stopped' });
    }
  }

  // -- what children do -------------------------------------------------------------

  childStarted(id: string, generation: number, logic: AnyActorLogic, input: unknown): void {
    const record = this.#draft.children[id];
    if (record?.status !== 'starting' || record.generation !== generation) return;
    this.#effects.push({
      kind: 'spawn',
      id,
      generation,
      logic,
      input,
      isReady: record.spec.isReady,
    });
  }

  childStartFailed(id: string, generation: number, reason: string): void {
    const record = this.#draft.children[id];
    if (record?.status !== 'starting' || record.generation !== generation) return;
    this.childExited(id, 'abnormal', reason);
  }

  childReady(id: string, generation: number): void {
    const record = this.#draft.children[id];
    if (record?.status !== 'starting' || record.generation !== generation) return;
    this.#set(id, { status: 'running' });
    this.#unqueueStart(id);
    if (record.restarts > 0) {
      this.#effects.push({
        kind: 'timer',
        event: { type: 'child.stable', id, generation },
        delayMs: this.#draft.restartBackoff.resetAfterMs,
      });
    }
  }

  childStable(id: string, generation: number): void {
    const record = this.#draft.children[id];
    if (record?.status === 'running' && record.generation === generation) {
      this.#set(id, { restarts: 0 });
    }
  }

  childDrained(id: string, generation: number): void {
    const record = this.#draft.children[id];
    if (record?.status !== 'stopping' || record.generation !== generation) return;
    this.#finishStop(id);
  }

  shutdownTimedOut(id: string, generation: number): void {
    const record = this.#draft.children[id];
    if (record?.status !== 'stopping' || record.generation !== generation) return;
    this.#log(
      'warn',
      { child: id, budgetMs: record.spec.shutdown },
      'child did not drain in time; stopping it',
    );
    this.#finishStop(id);
  }

  restartDue(ids: readonly string[], token: number): void {
    for (const id of ids) {
      const record = this.#draft.children[id];
      // A timer set for an earlier exit (the child was restarted or re-added since, and
      // is waiting out a newer backoff) must not cut the newer one short.
      if (record?.status === 'backoff' && record.backoffTimer === token) {
        this.#set(id, { status: 'pending', backoffTimer: undefined });
      }
    }
  }

  /** A child's actor errored: let its spec release what the errored actor still holds. */
  childErrored(id: string): void {
    const record = this.#draft.children[id];
    const hook = record?.spec.onError;
    if (record?.ref === undefined || hook === undefined) return;
    this.#effects.push({ kind: 'on-error', id, ref: record.ref, hook });
  }

  /** A child's actor exited (done or error), or its start failed. */
  childExited(id: string, kind: ExitKind, reason: string): void {
    const record = this.#draft.children[id];
    if (record === undefined || !liveStatuses.has(record.status)) return;
    const queued = this.#draft.stopQueue.find((entry) => entry.id === id);
    if (queued !== undefined || record.status === 'stopping') {
      // We were stopping it anyway: it has drained by exiting.
      this.#set(id, { status: 'stopping' });
      this.#finishStop(id);
      return;
    }
    if (this.#draft.exiting !== undefined || !shouldRestart(record.spec.restart, kind)) {
      this.#log('info', { child: id, exit: kind, reason }, 'child exited; not restarted');
      this.#stopActor(id);
      if (record.spec.restart === 'temporary') this.#remove(id);
      else {
        this.#set(id, { status: 'stopped' });
        this.#unqueueStart(id);
      }
      if (this.#draft.exiting === undefined && record.spec.significant === true) {
        this.#significantEnded(id);
      }
      return;
    }
    // Restart intensity: more than maxRestarts within the window and we give up.
    const now = this.#env.now();
    const { maxRestarts, withinMs } = this.#draft.intensity;
    this.#draft.restartTimes = [...this.#draft.restartTimes.filter((t) => now - t < withinMs), now];
    if (this.#draft.restartTimes.length > maxRestarts) {
      this.#log(
        'error',
        { child: id, exit: kind, reason },
        'restart intensity exceeded; stopping children and escalating',
      );
      this.#stopActor(id);
      this.#set(id, { status: 'stopped' });
      this.shutdown(
        'failed',
        `restart intensity exceeded: more than ${maxRestarts} restarts within ${withinMs} ms (last: ${id}: ${reason})`,
      );
      return;
    }
    this.#log(
      'warn',
      { child: id, exit: kind, reason, strategy: this.#draft.strategy },
      'child exited abnormally; restarting',
    );
    const plan = planRestart(
      this.#draft.strategy,
      this.#draft.order,
      id,
      (other) => liveStatuses.has(this.#draft.children[other]?.status ?? 'stopped'),
      (other) => this.#draft.children[other]?.spec.restart ?? 'temporary',
    );
    this.#stopActor(id);
    this.#set(id, {
      status: 'awaiting-restart',
      restarts: record.restarts + 1,
      totalRestarts: record.totalRestarts + 1,
    });
    for (const other of plan.stop) {
      this.#requestStop(other, plan.start.includes(other) ? 'restart' : 'remove', false);
    }
    // Siblings that had ended (a transient child that finished, a terminated child)
    // are started again too, as OTP does.
    for (const other of plan.start) {
      if (this.#draft.children[other]?.status === 'stopped') {
        this.#set(other, { status: 'awaiting-restart' });
      }
    }
    this.#queueStart(id);
    for (const other of plan.start) {
      if (this.#draft.children[other]?.status === 'awaiting-restart') this.#queueStart(other);
    }
  }

  /** A significant child ended by itself: shut down if `autoShutdown` says so (OTP). */
  #significantEnded(id: string): void {
    const { autoShutdown, children } = this.#draft;
    if (autoShutdown === 'never') return;
    if (autoShutdown === 'all-significant') {
      const alive = Object.values(children).some(
        (other) => other.spec.significant === true && other.status !== 'stopped',
      );
      if (alive) return;
    }
    this.#log('info', { child: id, autoShutdown }, 'significant child ended; shutting down');
    this.shutdown('shutdown');
  }

  // -- progress ---------------------------------------------------------------------

  #requestStop(id: string, then: AfterStop, final: boolean): void {
    const record = this.#draft.children[id];
    if (record === undefined) return;
    const queued = this.#draft.stopQueue.find((entry) => entry.id === id);
    if (queued !== undefined) {
      // An explicit terminate or shutdown overrides a restart planned for the child.
      if (final) {
        this.#draft.stopQueue = this.#draft.stopQueue.map((entry) =>
          entry.id === id ? { id, then } : entry,
        );
      }
      return;
    }
    if (!liveStatuses.has(record.status)) {
      // Not running: nothing to stop, only bookkeeping.
      this.#unqueueStart(id);
      this.#set(id, { backoffTimer: undefined });
      this.#afterStop(id, then);
      return;
    }
    this.#draft.stopQueue = [...this.#draft.stopQueue, { id, then }];
  }

  /** Advances the stop queue, then the start queue, as far as they go without waiting. */
  pump(): void {
    for (;;) {
      const head = this.#draft.stopQueue[0];
      if (head !== undefined) {
        if (this.#draft.stopInParallel) {
          // Every queued stop begins now; loop again only if one finished at once.
          let finished = false;
          for (const entry of [...this.#draft.stopQueue]) {
            if (this.#advanceStop(entry.id)) finished = true;
          }
          if (finished) continue;
          return;
        }
        if (this.#advanceStop(head.id)) continue;
        return;
      }
      if (this.#draft.exiting !== undefined) return;
      this.#scheduleRestarts();
      const next = this.#draft.startQueue[0];
      if (next === undefined) return;
      if (!this.#advanceStart(next)) return;
    }
  }

  /** True when the stop of `id` is done and the queue moved on. */
  #advanceStop(id: string): boolean {
    const record = this.#draft.children[id];
    if (record === undefined) {
      this.#draft.stopQueue = this.#draft.stopQueue.filter((entry) => entry.id !== id);
      return true;
    }
    if (record.status === 'stopping') return false;
    const { ref } = record;
    const budget = record.spec.shutdown;
    this.#set(id, { status: 'stopping' });
    if (
      ref === undefined ||
      (ref.getSnapshot() as Snapshot<unknown>).status !== 'active' ||
      budget === 'brutal'
    ) {
      this.#finishStop(id);
      return true;
    }
    this.#effects.push({
      kind: 'drain',
      id,
      generation: record.generation,
      ref,
      isDrained: record.spec.isDrained,
      budget,
    });
    return false;
  }

  #finishStop(id: string): void {
    const entry = this.#draft.stopQueue.find((queued) => queued.id === id);
    this.#draft.stopQueue = this.#draft.stopQueue.filter((queued) => queued.id !== id);
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
        this.#queueStart(id);
        break;
      case 'restart-now':
        this.#set(id, { status: 'pending' });
        this.#queueStart(id);
        break;
    }
  }

  #stopActor(id: string): void {
    const ref: AnyActorRef | undefined = this.#draft.children[id]?.ref;
    if (ref === undefined) return;
    this.#set(id, { ref: undefined });
    this.#effects.push({ kind: 'stop', ref });
  }

  /** Children that exited and wait for siblings to stop get one backoff timer together. */
  #scheduleRestarts(): void {
    const due = this.#draft.order.filter(
      (id) => this.#draft.children[id]?.status === 'awaiting-restart',
    );
    if (due.length === 0) return;
    const attempts = Math.max(...due.map((id) => this.#draft.children[id]?.restarts ?? 1));
    const delay = backoffDelay(
      this.#draft.restartBackoff.backoff,
      Math.max(0, attempts - 1),
      this.#env.random,
    );
    if (delay <= 0) {
      for (const id of due) this.#set(id, { status: 'pending' });
      return;
    }
    const token = this.#draft.timerSeq + 1;
    this.#draft.timerSeq = token;
    for (const id of due) this.#set(id, { status: 'backoff', backoffTimer: token });
    this.#effects.push({
      kind: 'timer',
      event: { type: 'child.restart', ids: due, token },
      delayMs: delay,
    });
  }

  /** True when the head of the start queue is running and the queue moved on. */
  #advanceStart(id: string): boolean {
    const record = this.#draft.children[id];
    switch (record?.status) {
      case undefined:
      case 'running':
      case 'stopped':
        this.#unqueueStart(id);
        return true;
      case 'pending': {
        // Start it, and wait: the next child starts once this one runs and is ready.
        const generation = record.generation + 1;
        this.#set(id, { status: 'starting', generation });
        if (record.generation > 0) this.#log('info', { child: id, generation }, 'child restarted');
        this.#effects.push({ kind: 'start', id, generation, spec: record.spec });
        return false;
      }
      case 'backoff':
      case 'awaiting-restart':
      case 'starting':
      case 'stopping':
        return false;
    }
  }
}
