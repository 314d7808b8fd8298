// The supervisor's vocabulary: its options, the record it keeps of each child, its
// state (the actor's context), the events it understands and the answers it gives.
import type { Logger } from 'pino';
import type { AnyActorLogic, AnyActorRef } from 'xstate';
import type { Backoff, RandomSource } from '../backoff.js';
import type { ChildSpec, ResolvedChildSpec } from '../child-spec.js';
import type { RestartStrategy } from '../restart-plan.js';

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

/**
 * When a supervisor ends by itself because its significant children ended (OTP's
 * `auto_shutdown`): `never`, as soon as `any-significant` child ended, or once
 * `all-significant` children have.
 */
export type AutoShutdown = 'never' | 'any-significant' | 'all-significant';

/** Input of {@link supervisorMachine}. */
export interface SupervisorOptions {
  readonly strategy?: RestartStrategy;
  /** @default 3 restarts within 5 s (OTP's default is 1 in 5 s; a pool of workers needs a little more) */
  readonly intensity?: Intensity;
  /** @default exponential 100 ms to 10 s, 20% jitter, reset after 30 s */
  readonly restartBackoff?: RestartBackoff;
  /** @default 'never' */
  readonly autoShutdown?: AutoShutdown;
  /** Started in this order, stopped in reverse. */
  readonly children: readonly ChildSpec[];
  readonly logger: Logger;
  /** @default the actor system's clock when it has `now()` (a `SimulatedClock`), else `Date.now` */
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

/** Where a child is in its life, as its supervisor sees it. */
export type ChildStatus =
  /** queued to start */
  | 'pending'
  /** waiting for a backoff timer before it may start */
  | 'backoff'
  /** exited; will be restarted once the stop queue is empty */
  | 'awaiting-restart'
  /** its start was called, or its actor runs but is not ready yet */
  | 'starting'
  | 'running'
  /** asked to drain */
  | 'stopping'
  /** terminated; its spec is kept (OTP: a terminated child), it may be restarted */
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
export type AfterStop = 'remove' | 'restart' | 'restart-now' | 'keep';

/** A supervisor's state: the context of its actor. Read it through `supervisorView`. */
export interface SupervisorContext {
  readonly strategy: RestartStrategy;
  readonly intensity: Intensity;
  readonly restartBackoff: RestartBackoff;
  readonly autoShutdown: AutoShutdown;
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

/**
 * The answer to a request about one child. OTP's answers, spelled in kebab case:
 * `already-started` and `already-present` (start), `running` and `restarting`
 * (restart and delete), `not-found`; and Troupe's own `invalid-spec` for a spec that fails
 * validation and `shutting-down` for a start or restart while the supervisor stops.
 */
export type ChildAnswer =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly error:
        | 'already-started'
        | 'already-present'
        | 'running'
        | 'restarting'
        | 'not-found'
        | 'shutting-down';
    }
  /** The spec given to `start-child` is not valid; `reason` names the field. */
  | { readonly ok: false; readonly error: 'invalid-spec'; readonly reason: string };

/** Receives the answer to a request; called once, after the request took effect. */
export type Reply = (answer: ChildAnswer) => void;

/** Requests about one child, each with an optional reply. */
export type SupervisorRequest =
  /** Adds a child after the others and starts it (OTP `start_child`). */
  | { readonly type: 'supervisor.start-child'; readonly spec: ChildSpec; readonly reply?: Reply }
  /** Stops a child and keeps its spec (OTP `terminate_child`); a temporary child is forgotten. */
  | { readonly type: 'supervisor.terminate-child'; readonly id: string; readonly reply?: Reply }
  /** Forgets a terminated child (OTP `delete_child`). */
  | { readonly type: 'supervisor.delete-child'; readonly id: string; readonly reply?: Reply }
  /** Starts a terminated child again (OTP `restart_child`). */
  | { readonly type: 'supervisor.restart-child'; readonly id: string; readonly reply?: Reply }
  /** Terminates and deletes a child in one request: how a pool scales down. */
  | { readonly type: 'supervisor.cancel-child'; readonly id: string; readonly reply?: Reply };

/** Events a supervisor understands. */
export type SupervisorEvent =
  /** Stop every child in reverse order, then exit normally. */
  | { readonly type: 'shutdown' }
  | SupervisorRequest
  | {
      readonly type: 'child.started';
      readonly id: string;
      readonly generation: number;
      readonly logic: AnyActorLogic;
      readonly input: unknown;
    }
  | {
      readonly type: 'child.start-failed';
      readonly id: string;
      readonly generation: number;
      readonly reason: string;
    }
  | { readonly type: 'child.ready'; readonly id: string; readonly generation: number }
  | { readonly type: 'child.drained'; readonly id: string; readonly generation: number }
  | { readonly type: 'child.shutdown-timeout'; readonly id: string; readonly generation: number }
  | { readonly type: 'child.restart'; readonly ids: readonly string[]; readonly token: number }
  | { readonly type: 'child.stable'; readonly id: string; readonly generation: number }
  | { readonly type: `xstate.done.actor.${string}`; readonly output?: unknown }
  | { readonly type: `xstate.error.actor.${string}`; readonly error: unknown };

/** How a supervisor ended: `shutdown` when asked to stop or shut itself down, `failed` when it gave up. */
export type SupervisorOutput =
  { readonly exit: 'shutdown' } | { readonly exit: 'failed'; readonly reason: string };
