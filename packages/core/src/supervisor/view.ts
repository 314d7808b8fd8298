// A typed, read-only view of a supervisor's snapshot: what pools, the inspector and
// operators may rely on, so that nothing outside the supervisor reads its context.
import type { AnyActorRef } from 'xstate';
import type { ChildKind, Shutdown } from '../child-spec.js';
import type { RestartType } from '../restart-plan.js';
import type { ChildStatus, SupervisorContext } from './types.js';

/** Where a supervisor is: its chart's state. */
export type SupervisorPhase = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** One child, as its supervisor sees it. */
export interface SupervisorChildView {
  readonly id: string;
  readonly kind: ChildKind;
  readonly restart: RestartType;
  readonly significant: boolean;
  /** Its shutdown budget. */
  readonly shutdown: Shutdown;
  readonly status: ChildStatus;
  /** Its current actor, while one runs. */
  readonly ref: AnyActorRef | undefined;
  /** Incremented on every start. */
  readonly generation: number;
  /** Consecutive restarts (reset after a stable period). */
  readonly restarts: number;
  /** Restarts since the supervisor started. */
  readonly totalRestarts: number;
  /** Being stopped to be forgotten (cancelled, or a temporary child terminated). */
  readonly leaving: boolean;
}

/** A supervisor's snapshot, read. */
export interface SupervisorView {
  readonly phase: SupervisorPhase;
  /** Its children in start order. */
  readonly children: readonly SupervisorChildView[];
  /** Children being stopped, in the order they are stopped. */
  readonly stopQueue: readonly string[];
  /** Why it gave up, once it has. */
  readonly failure: string | undefined;
}

/** What {@link supervisorView} reads: a supervisor actor's snapshot. */
export interface SupervisorSnapshotLike {
  readonly value?: unknown;
  readonly context: SupervisorContext;
}

const phases: ReadonlySet<unknown> = new Set([
  'starting',
  'running',
  'stopping',
  'stopped',
  'failed',
]);

/** The view of a supervisor's snapshot. */
export function supervisorView(snapshot: SupervisorSnapshotLike): SupervisorView {
  const { context } = snapshot;
  const leaving = new Set(
    context.stopQueue.filter((entry) => entry.then === 'remove').map((entry) => entry.id),
  );
  const children: SupervisorChildView[] = [];
  for (const id of context.order) {
    const record = context.children[id];
    if (record === undefined) continue;
    children.push({
      id,
      kind: record.spec.kind,
      restart: record.spec.restart,
      significant: record.spec.significant,
      shutdown: record.spec.shutdown,
      status: record.status,
      ref: record.ref,
      generation: record.generation,
      restarts: record.restarts,
      totalRestarts: record.totalRestarts,
      leaving: leaving.has(id),
    });
  }
  return {
    phase: phases.has(snapshot.value) ? (snapshot.value as SupervisorPhase) : 'starting',
    children,
    stopQueue: context.stopQueue.map((entry) => entry.id),
    failure: context.failure,
  };
}

/**
 * The view of any snapshot that is a supervisor's, else `undefined`: for code that
 * sees actors of every kind (the inspector).
 */
export function supervisorViewOf(snapshot: unknown): SupervisorView | undefined {
  if (typeof snapshot !== 'object' || snapshot === null) return undefined;
  const { value, context } = snapshot as { value?: unknown; context?: unknown };
  if (typeof context !== 'object' || context === null) return undefined;
  const { order, children, stopQueue } = context as Partial<SupervisorContext>;
  if (!Array.isArray(order) || typeof children !== 'object' || !Array.isArray(stopQueue)) {
    return undefined;
  }
  return supervisorView({ value, context: context as SupervisorContext });
}

/** One child as OTP's `which_children` lists it. */
export interface WhichChild {
  readonly id: string;
  /** Its actor; `restarting` while it waits to be restarted; `undefined` when terminated. */
  readonly child: AnyActorRef | 'restarting' | undefined;
  readonly type: 'supervisor' | 'worker';
}

/** The children in start order, as OTP's `which_children`. */
export function whichChildren(snapshot: SupervisorSnapshotLike): WhichChild[] {
  return supervisorView(snapshot).children.map((child) => ({
    id: child.id,
    child:
      child.status === 'backoff' || child.status === 'awaiting-restart' ? 'restarting' : child.ref,
    type: child.kind === 'supervisor' ? 'supervisor' : 'worker',
  }));
}

/** OTP's `count_children`: specs, children with a running actor, supervisors, workers. */
export interface ChildCounts {
  readonly specs: number;
  readonly active: number;
  readonly supervisors: number;
  readonly workers: number;
}

/** Counts a supervisor's children, as OTP's `count_children`. */
export function countChildren(snapshot: SupervisorSnapshotLike): ChildCounts {
  const { children } = supervisorView(snapshot);
  const supervisors = children.filter((child) => child.kind === 'supervisor').length;
  return {
    specs: children.length,
    active: children.filter((child) => child.ref !== undefined).length,
    supervisors,
    workers: children.length - supervisors,
  };
}
