// The live model kept from XState's inspection events: the supervision tree (who is
// whose child, their kinds and states), each actor's recent events and transitions in
// a ring buffer, restart history per supervisor, and the message ids in flight. It is
// only fed while its listener is subscribed to an InspectionHub; memory stays bounded:
// event logs are rings, stopped actors are kept for a while in a bounded list, and
// event payloads are reduced to their type, message id and a few small scalars.
import { supervisorViewOf, type ChildKind, type InspectionListener } from '@troupe/core';
import type { InspectionEvent } from 'xstate';
import { attachDirect } from './internal/direct-inspection.js';
import { chartOf, isMachine, nodePath, type Chart } from './chart.js';
import { RingBuffer } from './internal/ring-buffer.js';

/** The kind of an actor: from its supervisor's child spec, else from its machine id. */
export type ActorKind = ChildKind;

/** Where an actor is in its life. */
export type ActorStatus = 'active' | 'done' | 'error' | 'stopped';

/** A transition taken, as charts name states. */
export interface TakenTransition {
  readonly source: string;
  readonly event: string;
  readonly targets: readonly string[];
}

/** One event an actor processed, and the state it moved from and to. */
export interface InspectorEvent {
  /** Increasing across the inspector: orders events of different actors. */
  readonly seq: number;
  /** Wall-clock milliseconds. */
  readonly at: number;
  /** The actor's session id. */
  readonly actor: string;
  /** The actor's path in the tree (`root/pool:orders/worker-1`). */
  readonly path: string;
  readonly type: string;
  /** The message the event is about: its delivery's, or the one the worker holds. */
  readonly messageId?: string;
  /** The state before, as dotted paths (`consuming.handling`); '' before the first. */
  readonly from: string;
  readonly to: string;
  /** The event's small scalar fields (strings cut at 200 characters); errors as messages. */
  readonly data?: Readonly<Record<string, string | number | boolean>>;
  /** The transitions taken (source, event, targets), when any were. */
  readonly transitions?: readonly TakenTransition[];
}

/** One child of a supervisor, as its supervisor records it. */
export interface ChildView {
  readonly id: string;
  readonly kind: ActorKind;
  /** The supervisor's status of the child: pending, backoff, starting, running, stopping… */
  readonly status: string;
  readonly totalRestarts: number;
  /** The session id of its current actor, when one runs. */
  readonly sessionId?: string;
}

/** A restart a supervisor made. */
export interface RestartRecord {
  readonly at: number;
  /** The supervisor's session id. */
  readonly supervisor: string;
  readonly child: string;
  /** The child's restarts since the supervisor started. */
  readonly total: number;
}

/** An actor, as the JSON endpoints show it. */
export interface ActorSummary {
  readonly sessionId: string;
  readonly id: string;
  readonly path: string;
  /** The parent's session id. */
  readonly parent?: string;
  readonly kind: ActorKind;
  /** The machine id (`processor`, `supervisor`, `consumer`, …). */
  readonly machine: string;
  readonly status: ActorStatus;
  /** The current state as dotted paths, comma-separated for parallel states. */
  readonly state: string;
  readonly startedAt: number;
  readonly stoppedAt?: number;
  /** A worker's current (or last) message id and attempt. */
  readonly messageId?: string;
  readonly attempt?: number;
  /** When the worker took its current message (left idle). */
  readonly busySince?: number;
  readonly lastError?: string;
}

/** A node of the supervision tree: an actor, or a child record with no actor running. */
export interface TreeNode {
  readonly id: string;
  readonly path: string;
  readonly kind: ActorKind;
  /** Absent for a child that has no actor now (pending, in backoff, stopped). */
  readonly sessionId?: string;
  readonly machine?: string;
  readonly status: ActorStatus | 'absent';
  readonly state?: string;
  /** The status its supervisor records for it. */
  readonly childStatus?: string;
  /** Its restarts, as its supervisor counts them. */
  readonly restarts?: number;
  readonly messageId?: string;
  readonly attempt?: number;
  readonly busySince?: number;
  readonly lastError?: string;
  readonly children: readonly TreeNode[];
}

/** A message being worked on. */
export interface InFlightMessage {
  readonly messageId: string;
  readonly actor: string;
  readonly path: string;
  readonly state: string;
  readonly attempt?: number;
  readonly since?: number;
}

/** Everything about one actor: for `GET /inspector/api/actors/:id`. */
export interface ActorDetail {
  readonly actor: ActorSummary;
  readonly chart: Chart | undefined;
  /** Its recent events, oldest first. */
  readonly events: readonly InspectorEvent[];
  /** The last event that moved it (its transition is marked on the chart). */
  readonly lastTransition?: InspectorEvent;
  /**
   * The small scalars of its current context (numbers, booleans, short strings; arrays
   * as their length, `items.length`), read from the live actor when asked: counters a
   * machine keeps for inspection (a batcher's `committed`) show without being declared.
   */
  readonly context?: Readonly<Record<string, string | number | boolean>>;
  /** A supervisor's children and restarts. */
  readonly children?: readonly ChildView[];
  readonly restarts?: readonly RestartRecord[];
}

/** What the live stream sends, at most once per throttle period. */
export interface InspectorUpdate {
  readonly at: number;
  readonly tree: readonly TreeNode[];
  /** Events since the last update, oldest first (the newest `maxBatchEvents`). */
  readonly events: readonly InspectorEvent[];
  /** Events left out of this update because there were more than `maxBatchEvents`. */
  readonly dropped: number;
}

/** Options of {@link Inspector}. */
export interface InspectorOptions {
  /** Events kept per actor. @default 200 */
  readonly eventsPerActor?: number;
  /** Restarts kept per supervisor. @default 50 */
  readonly restartsPerSupervisor?: number;
  /** Stopped actors kept (oldest forgotten first). @default 50 */
  readonly maxStopped?: number;
  /** How long a stopped actor stays visible. @default 60000 */
  readonly retainStoppedMs?: number;
  /** The live stream's batching period. @default 100 */
  readonly throttleMs?: number;
  /** Events per stream update, at most. @default 500 */
  readonly maxBatchEvents?: number;
  /** Wall clock. @default Date.now */
  readonly now?: () => number;
}

/** A filter of {@link Inspector.events}. */
export interface EventQuery {
  /** Session id or path. */
  readonly actor?: string | undefined;
  readonly messageId?: string | undefined;
  /** @default 200 */
  readonly limit?: number | undefined;
}

/**
 * An actor as the inspector holds it: XState's `Actor`, read through the fields it
 * needs (`logic` and `_parent` are not on `ActorRefLike`).
 */
export interface InspectedActor {
  readonly id: string;
  readonly sessionId: string;
  readonly logic?: unknown;
  readonly _parent?: InspectedActor | undefined;
  send(event: { type: string; [key: string]: unknown }): void;
  getSnapshot(): unknown;
}

interface TransitionLike {
  readonly eventType: string;
  readonly source: { readonly path: readonly string[] };
  readonly target: readonly { readonly path: readonly string[] }[] | undefined;
}

/** An event as recorded: one shape for all (fast to make), turned public on read. */
interface EventRecord {
  readonly seq: number;
  readonly at: number;
  readonly actor: string;
  readonly path: string;
  readonly type: string;
  readonly messageId: string | undefined;
  /** Every message of a worker's batch (more than one), so a message can be followed by id. */
  readonly messageIds: readonly string[] | undefined;
  /** XState's state values, named on read. */
  readonly fromValue: unknown;
  readonly toValue: unknown;
  readonly data: Readonly<Record<string, string | number | boolean>> | undefined;
  /**
   * XState's transition definitions (part of the machine, not copies), named on read:
   * one microstep's array, or several microsteps' arrays.
   */
  readonly taken: readonly TransitionLike[] | readonly (readonly TransitionLike[])[] | undefined;
}

interface SupervisorState {
  children: ChildView[];
  readonly restarts: RingBuffer<RestartRecord>;
  readonly totals: Map<string, number>;
}

interface Entry {
  readonly sessionId: string;
  readonly id: string;
  readonly path: string;
  readonly parent: string | undefined;
  readonly machine: string;
  readonly logic: object;
  ref: InspectedActor | undefined;
  kind: ActorKind;
  status: ActorStatus;
  value: unknown;
  readonly startedAt: number;
  stoppedAt: number | undefined;
  messageId: string | undefined;
  attempt: number | undefined;
  busySince: number | undefined;
  lastErrorRef: unknown;
  lastError: string | undefined;
  readonly events: RingBuffer<EventRecord>;
  last: EventRecord | undefined;
  /** The transitions of the first microstep since the last snapshot. */
  pending: readonly TransitionLike[] | undefined;
  /** Those of the microsteps after it, if any (most events take one or two). */
  more: (readonly TransitionLike[])[] | undefined;
  supervisor: SupervisorState | undefined;
}

const kindOfMachine: Readonly<Record<string, ActorKind>> = {
  supervisor: 'supervisor',
  processor: 'worker',
  consumer: 'consumer',
};

const maxString = 200;
const maxFields = 8;

/** The active state paths of a state value: `{ consuming: 'handling' }` → `consuming.handling`. */
export function stateString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return '';
  const parts: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const inner = stateString(child);
    if (inner === '') parts.push(key);
    else for (const part of inner.split(',')) parts.push(`${key}.${part}`);
  }
  return parts.join(',');
}

function errorText(error: unknown): string {
  try {
    if (error instanceof Error) {
      const code = (error as { code?: unknown }).code;
      const text = typeof code === 'string' ? `${code}: ${error.message}` : error.message;
      return text.slice(0, maxString);
    }
    return String(error).slice(0, maxString);
  } catch {
    return 'unreadable error';
  }
}

/** The small scalars of an event: never its bodies, functions or nested objects. */
function scalarsOf(
  event: Record<string, unknown>,
): Record<string, string | number | boolean> | undefined {
  let data: Record<string, string | number | boolean> | undefined;
  let count = 0;
  for (const key in event) {
    if (key === 'type') continue;
    const value = event[key];
    let kept: string | number | boolean | undefined;
    switch (typeof value) {
      case 'string':
        kept = value.length > maxString ? `${value.slice(0, maxString)}…` : value;
        break;
      case 'number':
      case 'boolean':
        kept = value;
        break;
      case 'object':
        if (key === 'error' && value !== null) kept = errorText(value);
        else if (key === 'spec' && value !== null) {
          const id = (value as { id?: unknown }).id;
          if (typeof id === 'string') kept = id;
        }
        break;
      case 'bigint':
      case 'function':
      case 'symbol':
      case 'undefined':
        break;
    }
    if (kept === undefined) continue;
    data ??= {};
    data[key] = kept;
    count += 1;
    if (count >= maxFields) break;
  }
  return data;
}

const maxContextFields = 16;

/** A context's small scalars and array lengths; never its objects. */
function contextScalars(context: unknown): Record<string, string | number | boolean> | undefined {
  if (typeof context !== 'object' || context === null) return undefined;
  let out: Record<string, string | number | boolean> | undefined;
  let count = 0;
  for (const [key, value] of Object.entries(context)) {
    let kept: string | number | boolean | undefined;
    let name = key;
    if (typeof value === 'number' || typeof value === 'boolean') kept = value;
    else if (typeof value === 'string')
      kept = value.length > 120 ? `${value.slice(0, 120)}…` : value;
    else if (Array.isArray(value)) {
      kept = value.length;
      name = `${key}.length`;
    }
    if (kept === undefined) continue;
    out ??= {};
    out[name] = kept;
    count += 1;
    if (count >= maxContextFields) break;
  }
  return out;
}

/** The message ids of a batch event, or of the batch a worker holds, when more than one. */
function messageIdsOf(
  event: Record<string, unknown>,
  context: unknown,
): readonly string[] | undefined {
  const ids =
    event['messageIds'] ??
    (typeof context === 'object' && context !== null
      ? (context as { messageIds?: unknown }).messageIds
      : undefined);
  return Array.isArray(ids) && ids.length > 1 ? (ids as readonly string[]) : undefined;
}

function messageIdOf(event: Record<string, unknown>): string | undefined {
  const ids = event['messageIds'];
  if (Array.isArray(ids) && typeof ids[0] === 'string') return ids[0];
  const delivery = event['delivery'];
  if (typeof delivery !== 'object' || delivery === null) return undefined;
  const id = (delivery as { messageId?: unknown }).messageId;
  return typeof id === 'string' ? id : undefined;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < 1) {
    throw new RangeError(`InspectorOptions.${name} must be an integer >= 1, got ${resolved}`);
  }
  return resolved;
}

/**
 * The live model of a supervision tree. Subscribe its {@link Inspector.listener} to the
 * {@link InspectionHub} given to `startSupervisor`; it computes nothing until then.
 *
 * @example
 * ```ts
 * const hub = new InspectionHub();
 * const inspector = new Inspector();
 * hub.subscribe(inspector.listener);
 * const runtime = startSupervisor(options, { inspection: hub });
 * inspector.tree(); // [{ id: 'root', kind: 'supervisor', state: 'running', children: [...] }]
 * ```
 */
export class Inspector {
  readonly #eventsPerActor: number;
  readonly #restartsPerSupervisor: number;
  readonly #maxStopped: number;
  readonly #retainStoppedMs: number;
  readonly #throttleMs: number;
  readonly #maxBatchEvents: number;
  readonly #now: () => number;
  readonly #live = new Map<string, Entry>();
  /** Stopped actors, oldest first (Map keeps insertion order). */
  readonly #stopped = new Map<string, Entry>();
  readonly #subscribers = new Set<(update: InspectorUpdate) => void>();
  /** Events since the last stream update: the newest `maxBatchEvents` of them. */
  #fresh: RingBuffer<EventRecord>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #seq = 0;

  constructor(options: InspectorOptions = {}) {
    this.#eventsPerActor = positive(options.eventsPerActor, 200, 'eventsPerActor');
    this.#restartsPerSupervisor = positive(
      options.restartsPerSupervisor,
      50,
      'restartsPerSupervisor',
    );
    this.#maxStopped = options.maxStopped ?? 50;
    this.#retainStoppedMs = options.retainStoppedMs ?? 60_000;
    this.#throttleMs = options.throttleMs ?? 100;
    this.#maxBatchEvents = positive(options.maxBatchEvents, 500, 'maxBatchEvents');
    this.#fresh = new RingBuffer<EventRecord>(this.#maxBatchEvents);
    this.#now = options.now ?? Date.now;
  }

  /** The inspection listener: `hub.subscribe(inspector.listener)`. */
  readonly listener: InspectionListener = (event: InspectionEvent): void => {
    switch (event.type) {
      case '@xstate.snapshot':
        this.#onSnapshot(event.actorRef as unknown as InspectedActor, event.event, event.snapshot);
        return;
      case '@xstate.microstep': {
        const entry = this.#live.get(event.actorRef.sessionId);
        if (entry === undefined) return;
        const taken = event._transitions as unknown as TransitionLike[];
        if (taken.length === 0) return;
        // XState's arrays, kept as they are (never copied here); joined on read.
        if (entry.pending === undefined) entry.pending = taken;
        else if (entry.more === undefined) entry.more = [taken];
        else entry.more.push(taken);
        return;
      }
      case '@xstate.actor':
        this.#register(event.actorRef as unknown as InspectedActor);
        return;
      case '@xstate.event':
        if (event.event.type.startsWith('xstate.error.actor.')) {
          this.#onChildError(event.actorRef.sessionId, event.event);
        }
        return;
      case '@xstate.action':
      case '@xstate.transition':
        return;
    }
  };

  // -- feeding --------------------------------------------------------------------

  #register(ref: InspectedActor): Entry | undefined {
    const known = this.#live.get(ref.sessionId);
    if (known !== undefined) return known;
    const logic = ref.logic;
    if (!isMachine(logic)) return undefined;
    // An inspector attached to a running tree learns the parents as their children speak.
    const parentRef = ref._parent;
    const parent = parentRef === undefined ? undefined : this.#register(parentRef);
    const now = this.#now();
    const entry: Entry = {
      sessionId: ref.sessionId,
      id: ref.id,
      path: parent === undefined ? ref.id : `${parent.path}/${ref.id}`,
      parent: parent?.sessionId,
      machine: logic.id,
      logic,
      ref,
      kind:
        parent?.supervisor?.children.find((child) => child.id === ref.id)?.kind ??
        kindOfMachine[logic.id] ??
        'service',
      status: 'active',
      value: undefined,
      startedAt: now,
      stoppedAt: undefined,
      messageId: undefined,
      attempt: undefined,
      busySince: undefined,
      lastErrorRef: undefined,
      lastError: undefined,
      events: new RingBuffer<EventRecord>(this.#eventsPerActor),
      last: undefined,
      pending: undefined,
      more: undefined,
      supervisor:
        logic.id === 'supervisor'
          ? {
              children: [],
              restarts: new RingBuffer<RestartRecord>(this.#restartsPerSupervisor),
              totals: new Map(),
            }
          : undefined,
    };
    this.#live.set(ref.sessionId, entry);
    this.#prune(now);
    this.#changed();
    return entry;
  }

  #onSnapshot(ref: InspectedActor, event: { type: string }, snapshot: SnapshotLike): void {
    const entry = this.#live.get(ref.sessionId) ?? this.#register(ref);
    if (entry === undefined) return;
    const at = this.#now();
    // State values are kept as XState made them (small, immutable) and named on read.
    const from = entry.value;
    const to = snapshot.value;
    entry.value = to;
    const wasIdle = from === 'idle';
    const isIdle = to === 'idle';

    const fields = event as Record<string, unknown>;
    const context = snapshot.context;
    let messageId = messageIdOf(fields);
    if (typeof context === 'object' && context !== null) {
      const current = (context as { messageId?: unknown }).messageId;
      if (typeof current === 'string') {
        entry.messageId = current;
        if (messageId === undefined && !(wasIdle && isIdle)) messageId = current;
      }
      const attempt = (context as { attempt?: unknown }).attempt;
      if (typeof attempt === 'number') entry.attempt = attempt;
      const lastError = (context as { lastError?: unknown }).lastError;
      if (lastError !== entry.lastErrorRef) {
        entry.lastErrorRef = lastError;
        entry.lastError = lastError === undefined ? undefined : errorText(lastError);
      }
      if (entry.supervisor !== undefined) this.#onSupervisor(entry, snapshot, at);
    }
    // Only actors that hold messages (workers) are ever busy.
    if (isIdle || entry.messageId === undefined) entry.busySince = undefined;
    else if (wasIdle) entry.busySince ??= at;

    const first = entry.pending;
    const more = entry.more;
    entry.pending = undefined;
    entry.more = undefined;
    const taken = more === undefined || first === undefined ? first : [first, ...more];
    this.#seq += 1;
    const record: EventRecord = {
      seq: this.#seq,
      at,
      actor: entry.sessionId,
      path: entry.path,
      type: event.type,
      messageId,
      messageIds: wasIdle && isIdle ? undefined : messageIdsOf(fields, context),
      fromValue: from,
      toValue: to,
      // Read now, not on read: keeping the event would keep its delivery (and body) alive.
      data: scalarsOf(fields),
      taken,
    };
    entry.events.push(record);
    if (taken !== undefined && movesState(taken)) entry.last = record;
    if (this.#subscribers.size > 0) {
      // A ring: past maxBatchEvents the oldest is overwritten (counted as dropped).
      this.#fresh.push(record);
      this.#changed();
    }
    const status = snapshot.status;
    if (status !== 'active') this.#retire(entry, status === undefined ? 'stopped' : status, at);
  }

  #onSupervisor(entry: Entry, snapshot: unknown, at: number): void {
    const supervisor = entry.supervisor;
    const view = supervisorViewOf(snapshot);
    if (supervisor === undefined || view === undefined) return;
    const views: ChildView[] = [];
    for (const record of view.children) {
      const { id } = record;
      const kind = record.kind;
      const sessionId = record.ref?.sessionId;
      views.push({
        id,
        kind,
        status: record.status,
        totalRestarts: record.totalRestarts,
        ...(sessionId === undefined ? {} : { sessionId }),
      });
      if (sessionId !== undefined) {
        const child = this.#live.get(sessionId);
        if (child !== undefined) child.kind = kind;
      }
      const before = supervisor.totals.get(id) ?? 0;
      if (record.totalRestarts > before) {
        supervisor.restarts.push({
          at,
          supervisor: entry.sessionId,
          child: id,
          total: record.totalRestarts,
        });
      }
      supervisor.totals.set(id, record.totalRestarts);
    }
    supervisor.children = views;
  }

  #onChildError(parent: string, event: { type: string; error?: unknown }): void {
    const id = event.type.slice('xstate.error.actor.'.length);
    for (const entry of this.#live.values()) {
      if (entry.parent === parent && entry.id === id) {
        if (event.error !== undefined) entry.lastError = errorText(event.error);
        this.#retire(entry, 'error', this.#now());
        return;
      }
    }
  }

  #retire(entry: Entry, status: ActorStatus, at: number): void {
    if (!this.#live.delete(entry.sessionId)) return;
    entry.status = status;
    entry.stoppedAt = at;
    entry.ref = undefined;
    entry.pending = undefined;
    entry.more = undefined;
    entry.busySince = undefined;
    this.#stopped.set(entry.sessionId, entry);
    this.#prune(at);
    this.#changed();
  }

  #prune(now: number): void {
    for (const [sessionId, entry] of this.#stopped) {
      const expired = now - (entry.stoppedAt ?? now) >= this.#retainStoppedMs;
      if (!expired && this.#stopped.size <= this.#maxStopped) break;
      this.#stopped.delete(sessionId);
    }
  }

  // -- attaching to a running tree ---------------------------------------------------

  /**
   * Attaches to a running actor system directly (XState's inspection events, taken
   * without the copy `system.inspect` observers get), without an InspectionHub given at
   * start: the tree is read from the actors' current snapshots,
   * then followed from their inspection events. Returns the detachment. An actor system
   * started without `inspect` pays nothing for inspection until this is called, and
   * nothing again once detached. Attaching again starts the model afresh.
   *
   * @example
   * ```ts
   * const runtime = startSupervisor(options); // no hub
   * const detach = inspector.attach(runtime.actor);
   * // … later, when no one is looking:
   * detach();
   * ```
   */
  attach(root: {
    readonly system: { inspect(observer: InspectionListener): { unsubscribe(): void } };
  }): () => void {
    this.#live.clear();
    this.#stopped.clear();
    // XState's own events, without the copy its public observers get (see
    // internal/direct-inspection.ts); its public `inspect` when that is not possible.
    const detach =
      attachDirect(root.system, this.listener) ??
      (
        (subscription) => () =>
          subscription.unsubscribe()
      )(root.system.inspect(this.listener));
    this.#seed(root as unknown as InspectedActor);
    this.#changed();
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      detach();
    };
  }

  #seed(ref: InspectedActor): void {
    const entry = this.#register(ref);
    if (entry === undefined) return;
    const snapshot = ref.getSnapshot() as SnapshotLike & {
      readonly children?: Readonly<Record<string, InspectedActor | undefined>>;
    };
    if (snapshot.status !== 'active') return;
    entry.value = snapshot.value;
    const context = snapshot.context;
    if (typeof context === 'object' && context !== null) {
      const { messageId, attempt } = context as { messageId?: unknown; attempt?: unknown };
      if (typeof messageId === 'string') entry.messageId = messageId;
      if (typeof attempt === 'number') entry.attempt = attempt;
      if (entry.supervisor !== undefined) this.#onSupervisor(entry, snapshot, this.#now());
    }
    if (entry.messageId !== undefined && entry.value !== 'idle') entry.busySince = this.#now();
    for (const child of Object.values(snapshot.children ?? {})) {
      if (child !== undefined) this.#seed(child);
    }
  }

  // -- live stream ----------------------------------------------------------------

  #changed(): void {
    if (this.#subscribers.size === 0 || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => this.#flush(), this.#throttleMs);
    this.#timer.unref?.();
  }

  #flush(): void {
    this.#timer = undefined;
    if (this.#subscribers.size === 0) return;
    const update: InspectorUpdate = {
      at: this.#now(),
      tree: this.tree(),
      events: this.#fresh.toArray().map(publicEvent),
      dropped: this.#fresh.overwritten,
    };
    this.#fresh.clear();
    for (const subscriber of this.#subscribers) {
      try {
        subscriber(update);
      } catch {
        // A failing subscriber (a closed socket) must not starve the others.
      }
    }
  }

  /**
   * Receives updates (the tree and new events) at most once per `throttleMs` while
   * anything changes. Returns the unsubscription.
   */
  subscribe(listener: (update: InspectorUpdate) => void): () => void {
    this.#subscribers.add(listener);
    return () => {
      this.#subscribers.delete(listener);
      if (this.#subscribers.size === 0) {
        if (this.#timer !== undefined) clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#fresh.clear();
      }
    };
  }

  // -- reading --------------------------------------------------------------------

  #entries(): Entry[] {
    const now = this.#now();
    // An actor that errored without a parent to tell (the root) sends no event: ask it.
    for (const entry of [...this.#live.values()]) {
      const status = (entry.ref?.getSnapshot() as SnapshotLike | undefined)?.status;
      if (status !== undefined && status !== 'active') this.#retire(entry, status, now);
    }
    this.#prune(now);
    return [...this.#stopped.values(), ...this.#live.values()];
  }

  /** The entry for a session id or a path (the live actor first, then the latest stopped). */
  #find(key: string): Entry | undefined {
    const bySession = this.#live.get(key) ?? this.#stopped.get(key);
    if (bySession !== undefined) return bySession;
    for (const entry of this.#live.values()) if (entry.path === key) return entry;
    let found: Entry | undefined;
    for (const entry of this.#stopped.values()) if (entry.path === key) found = entry;
    return found;
  }

  /** The supervision trees (one per root actor), live actors with their stopped children. */
  tree(): TreeNode[] {
    const entries = this.#entries();
    const byParent = new Map<string, Entry[]>();
    const roots: Entry[] = [];
    for (const entry of entries) {
      if (entry.parent === undefined) {
        if (entry.status === 'active' || !entries.some((e) => e.path === entry.path && e !== entry))
          roots.push(entry);
        continue;
      }
      const siblings = byParent.get(entry.parent);
      if (siblings === undefined) byParent.set(entry.parent, [entry]);
      else siblings.push(entry);
    }
    const build = (entry: Entry): TreeNode => {
      const actors = byParent.get(entry.sessionId) ?? [];
      const children: TreeNode[] = [];
      const records = entry.supervisor?.children;
      if (records !== undefined && entry.status === 'active') {
        // A supervisor's children in start order, each its current actor or its record.
        const used = new Set<Entry>();
        for (const record of records) {
          const actor =
            (record.sessionId === undefined
              ? undefined
              : actors.find((a) => a.sessionId === record.sessionId)) ??
            latest(actors.filter((a) => a.id === record.id && !used.has(a)));
          if (actor !== undefined) used.add(actor);
          children.push(
            actor === undefined
              ? {
                  id: record.id,
                  path: `${entry.path}/${record.id}`,
                  kind: record.kind,
                  status: 'absent',
                  childStatus: record.status,
                  restarts: record.totalRestarts,
                  children: [],
                }
              : {
                  ...build(actor),
                  childStatus: record.status,
                  restarts: record.totalRestarts,
                },
          );
        }
        for (const actor of actors) {
          if (!used.has(actor) && actor.status === 'active') children.push(build(actor));
        }
      } else {
        // Without a live supervisor's records: each child id once, its latest incarnation.
        const latestById = new Map<string, Entry>();
        for (const actor of actors) {
          const known = latestById.get(actor.id);
          if (known === undefined || known.status !== 'active') latestById.set(actor.id, actor);
        }
        for (const actor of latestById.values()) children.push(build(actor));
      }
      return { ...treeFields(entry), children };
    };
    return roots.map(build);
  }

  /** Every actor known: live ones and recently stopped ones. */
  actors(): ActorSummary[] {
    return this.#entries().map(summaryOf);
  }

  /** One actor by session id or path, with its chart, recent events and restarts. */
  actor(key: string): ActorDetail | undefined {
    const entry = this.#find(key);
    if (entry === undefined) return undefined;
    const last = entry.last;
    const context = contextScalars((entry.ref?.getSnapshot() as SnapshotLike | undefined)?.context);
    return {
      actor: summaryOf(entry),
      chart: this.chart(key),
      ...(context === undefined ? {} : { context }),
      events: entry.events.toArray().map(publicEvent),
      ...(last === undefined ? {} : { lastTransition: publicEvent(last) }),
      ...(entry.supervisor === undefined
        ? {}
        : {
            children: entry.supervisor.children,
            restarts: entry.supervisor.restarts.toArray(),
          }),
    };
  }

  /** An actor's chart (computed once per machine and cached). */
  chart(key: string): Chart | undefined {
    const entry = this.#find(key);
    return entry === undefined || !isMachine(entry.logic) ? undefined : chartOf(entry.logic);
  }

  /**
   * The live actor ref behind a session id or path, for control actions. Undefined
   * once the actor has stopped.
   */
  ref(key: string): InspectedActor | undefined {
    return this.#find(key)?.ref;
  }

  /** The parent of an actor, as a summary. */
  parentOf(key: string): ActorSummary | undefined {
    const parent = this.#find(key)?.parent;
    if (parent === undefined) return undefined;
    const entry = this.#live.get(parent) ?? this.#stopped.get(parent);
    return entry === undefined ? undefined : summaryOf(entry);
  }

  /** Recent events across actors, oldest first, filtered by actor and message id. */
  events(query: EventQuery = {}): InspectorEvent[] {
    const limit = Math.max(1, Math.min(query.limit ?? 200, 5000));
    const { actor, messageId } = query;
    const entries = this.#entries().filter(
      (entry) => actor === undefined || entry.sessionId === actor || entry.path === actor,
    );
    const records: EventRecord[] = [];
    for (const entry of entries) {
      for (const record of entry.events.toArray()) {
        if (
          messageId === undefined ||
          record.messageId === messageId ||
          record.messageIds?.includes(messageId) === true
        ) {
          records.push(record);
        }
      }
    }
    records.sort((a, b) => a.seq - b.seq);
    return records.slice(-limit).map(publicEvent);
  }

  /** Restarts of every supervisor (or one), oldest first. */
  restarts(supervisor?: string): RestartRecord[] {
    const entries =
      supervisor === undefined ? this.#entries() : [this.#find(supervisor)].filter(isDefined);
    return entries
      .flatMap((entry) => entry.supervisor?.restarts.toArray() ?? [])
      .sort((a, b) => a.at - b.at);
  }

  /** The messages workers hold now: their message id, worker and state. */
  inFlight(): InFlightMessage[] {
    const out: InFlightMessage[] = [];
    for (const entry of this.#live.values()) {
      if (entry.messageId === undefined || entry.value === 'idle' || entry.value === undefined)
        continue;
      if (entry.busySince === undefined) continue;
      out.push({
        messageId: entry.messageId,
        actor: entry.sessionId,
        path: entry.path,
        state: stateString(entry.value),
        ...(entry.attempt === undefined ? {} : { attempt: entry.attempt }),
        since: entry.busySince,
      });
    }
    return out;
  }

  /** How many actors are held: live and stopped (bounded by `maxStopped`). */
  size(): { live: number; stopped: number } {
    this.#prune(this.#now());
    return { live: this.#live.size, stopped: this.#stopped.size };
  }
}

interface SnapshotLike {
  readonly status?: ActorStatus;
  readonly value?: unknown;
  readonly context?: unknown;
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

function latest(entries: readonly Entry[]): Entry | undefined {
  return entries.find((entry) => entry.status === 'active') ?? entries[entries.length - 1];
}

/** The transitions of a record: one microstep's, or several microsteps' joined. */
function transitionsOf(taken: NonNullable<EventRecord['taken']>): readonly TransitionLike[] {
  return Array.isArray(taken[0])
    ? (taken as readonly (readonly TransitionLike[])[]).flat()
    : (taken as readonly TransitionLike[]);
}

/** True when a transition of `taken` has a target (it moved the actor, not only ran actions). */
function movesState(taken: NonNullable<EventRecord['taken']>): boolean {
  for (const item of taken) {
    // One microstep's transition, or (several microsteps) one microstep's array of them.
    const transitions: readonly TransitionLike[] = Array.isArray(item)
      ? (item as readonly TransitionLike[])
      : [item as TransitionLike];
    for (const transition of transitions) {
      if (transition.target !== undefined && transition.target.length > 0) return true;
    }
  }
  return false;
}

function publicEvent(record: EventRecord): InspectorEvent {
  const { seq, at, actor, path, type, messageId, fromValue, toValue, data, taken } = record;
  return {
    seq,
    at,
    actor,
    path,
    type,
    ...(messageId === undefined ? {} : { messageId }),
    from: stateString(fromValue),
    to: stateString(toValue),
    ...(data === undefined ? {} : { data }),
    ...(taken === undefined
      ? {}
      : {
          transitions: transitionsOf(taken).map((transition) => ({
            source: nodePath(transition.source),
            event: transition.eventType,
            targets: (transition.target ?? []).map(nodePath),
          })),
        }),
  };
}

function summaryOf(entry: Entry): ActorSummary {
  return {
    sessionId: entry.sessionId,
    id: entry.id,
    path: entry.path,
    ...(entry.parent === undefined ? {} : { parent: entry.parent }),
    kind: entry.kind,
    machine: entry.machine,
    status: entry.status,
    state: stateString(entry.value),
    startedAt: entry.startedAt,
    ...(entry.stoppedAt === undefined ? {} : { stoppedAt: entry.stoppedAt }),
    ...(entry.messageId === undefined ? {} : { messageId: entry.messageId }),
    ...(entry.attempt === undefined ? {} : { attempt: entry.attempt }),
    ...(entry.busySince === undefined ? {} : { busySince: entry.busySince }),
    ...(entry.lastError === undefined ? {} : { lastError: entry.lastError }),
  };
}

function treeFields(entry: Entry): Omit<TreeNode, 'children'> {
  return {
    id: entry.id,
    path: entry.path,
    kind: entry.kind,
    sessionId: entry.sessionId,
    machine: entry.machine,
    status: entry.status,
    state: stateString(entry.value),
    ...(entry.messageId === undefined ? {} : { messageId: entry.messageId }),
    ...(entry.attempt === undefined ? {} : { attempt: entry.attempt }),
    ...(entry.busySince === undefined ? {} : { busySince: entry.busySince }),
    ...(entry.lastError === undefined ? {} : { lastError: entry.lastError }),
  };
}
