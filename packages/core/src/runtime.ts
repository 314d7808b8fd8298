// Running a supervision tree: the root actor is created observed (an unobserved XState
// error would be rethrown in a timer and kill the process), inspection events fan out
// to whoever listens (nothing is computed when no one does), and shutdown drains the
// tree in reverse order before the promise resolves.
import type { Logger } from 'pino';
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import {
  supervisorMachine,
  type SupervisorOptions,
  type SupervisorOutput,
} from './supervisor.machine.js';

/** A listener of XState inspection events: the inspector, a test, a bridge to Stately. */
export type InspectionListener = (event: InspectionEvent) => void;

/** Fans inspection events out to listeners. Pass it to {@link startSupervisor} only when inspecting. */
export class InspectionHub {
  readonly #listeners = new Set<InspectionListener>();

  /** Adds a listener; returns its removal. */
  subscribe(listener: InspectionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The observer given to `createActor({ inspect })`. */
  readonly inspect = (event: InspectionEvent): void => {
    for (const listener of this.#listeners) listener(event);
  };
}

/** The clock XState schedules delayed events on; `SimulatedClock` in tests. */
export interface ActorClock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Options of {@link startSupervisor}. */
export interface StartOptions {
  readonly inspection?: InspectionHub | undefined;
  readonly actorClock?: ActorClock | undefined;
  /** The root actor's id. @default 'root' */
  readonly id?: string | undefined;
}

/** A running supervision tree. */
export interface SupervisorRuntime {
  readonly actor: Actor<typeof supervisorMachine>;
  /** Settles when the root exits: its output, or the error that ended it. */
  readonly exited: Promise<SupervisorOutput>;
  /** Asks the root to stop its children in reverse order; resolves with its output. */
  shutdown(): Promise<SupervisorOutput>;
}

/** Starts a root supervisor, observed, with optional inspection and a test clock. */
export function startSupervisor(
  options: SupervisorOptions,
  start: StartOptions = {},
): SupervisorRuntime {
  const log: Logger = options.logger;
  const actor = createActor(supervisorMachine, {
    id: start.id ?? 'root',
    input: options,
    ...(start.inspection === undefined ? {} : { inspect: start.inspection.inspect }),
    ...(start.actorClock === undefined ? {} : { clock: start.actorClock }),
  });
  const exited = new Promise<SupervisorOutput>((resolve, reject) => {
    actor.subscribe({
      complete: () => {
        const snapshot = actor.getSnapshot();
        resolve(snapshot.output ?? { exit: 'shutdown' });
      },
      error: (err: unknown) => {
        log.fatal({ err }, 'root supervisor crashed');
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    });
  });
  // The caller may never await `exited`; its rejection is reported above, not unhandled.
  exited.catch(() => undefined);
  actor.start();
  return {
    actor,
    exited,
    shutdown: () => {
      actor.send({ type: 'shutdown' });
      return exited;
    },
  };
}
