// Child specifications: what a supervisor needs to know to start, watch, restart and
// stop one child (OTP's child_spec, with readiness and drain predicates added so that
// ordered start and graceful shutdown work on XState actors).
import type { AnyActorLogic, Snapshot } from 'xstate';
import { ConfigurationError } from './errors.js';
import type { RestartType } from './restart-plan.js';

/** How long a child may take to stop: milliseconds to drain, `brutal` (at once) or `infinity`. */
export type Shutdown = number | 'brutal' | 'infinity';

/** What starting a child creates: an actor logic and its input. */
export interface ChildStart {
  readonly logic: AnyActorLogic;
  readonly input?: unknown;
}

/** The kind of child, for inspection. */
export type ChildKind = 'worker' | 'supervisor' | 'consumer' | 'service';

/** One child of a supervisor. */
export interface ChildSpec {
  /** Unique among its siblings; also its actor id. */
  readonly id: string;
  /** Called on every (re)start: fresh logic and input. */
  readonly start: () => ChildStart;
  /** @default 'permanent' */
  readonly restart?: RestartType;
  /** @default 5000 */
  readonly shutdown?: Shutdown;
  /** Ordered start waits until this holds before starting the next sibling. @default ready at once */
  readonly isReady?: (snapshot: Snapshot<unknown>) => boolean;
  /**
   * After the `shutdown` event, the child may be stopped once this holds. A child
   * without it is stopped at once, unless it is a supervisor (which exits by itself).
   * @default drained at once
   */
  readonly isDrained?: (snapshot: Snapshot<unknown>) => boolean;
  /** @default 'service' */
  readonly kind?: ChildKind;
  /**
   * A significant child ends its supervisor's job (OTP's `significant`): when it ends
   * by itself, the supervisor shuts down as its `autoShutdown` says. Only a transient
   * or temporary child may be significant. @default false
   */
  readonly significant?: boolean;
  /**
   * Called with the last snapshot of the child when it errored (an action or guard
   * threw), before it is restarted. XState does not stop the invoked actors of an
   * errored actor, so their cleanups never run: release here what they would have
   * released (a worker's in-flight delivery and scheduler permit). Errors it throws
   * are logged and ignored.
   */
  readonly onError?: (snapshot: Snapshot<unknown>) => void;
}

/** A child spec with its defaults filled in. */
export interface ResolvedChildSpec extends ChildSpec {
  readonly restart: RestartType;
  readonly shutdown: Shutdown;
  readonly isReady: (snapshot: Snapshot<unknown>) => boolean;
  readonly isDrained: (snapshot: Snapshot<unknown>) => boolean;
  readonly kind: ChildKind;
  readonly significant: boolean;
}

const always = (): boolean => true;

/** Validates a child spec and fills its defaults in. */
export function resolveChildSpec(spec: ChildSpec, field = 'children'): ResolvedChildSpec {
  if (typeof spec.id !== 'string' || spec.id === '') {
    throw new ConfigurationError(`${field}.id`, 'must be a non-empty string');
  }
  const shutdown = spec.shutdown ?? 5000;
  if (typeof shutdown === 'number' && (!Number.isFinite(shutdown) || shutdown < 0)) {
    throw new ConfigurationError(
      `${field}.${spec.id}.shutdown`,
      "must be milliseconds >= 0, 'brutal' or 'infinity'",
    );
  }
  const restart = spec.restart ?? 'permanent';
  if (spec.significant === true && restart === 'permanent') {
    throw new ConfigurationError(
      `${field}.${spec.id}.significant`,
      'a permanent child cannot be significant (it is always restarted): make it transient or temporary',
    );
  }
  return {
    ...spec,
    restart,
    significant: spec.significant ?? false,
    shutdown,
    isReady: spec.isReady ?? always,
    isDrained: spec.isDrained ?? always,
    kind: spec.kind ?? 'service',
  };
}
