// A controllable child for supervisor tests: it writes `start:<id>` to a shared journal
// when it starts and `stop:<id>` when its actor stops (the cleanup of an invoked
// callback is the one hook XState runs on stop), and it exits, crashes, throws,
// becomes ready or drains when told to.
import type { Logger } from 'pino';
import {
  assign,
  fromCallback,
  setup,
  SimulatedClock,
  type EventObject,
  type Snapshot,
} from 'xstate';
import {
  startSupervisor,
  type ChildRecord,
  type ChildSpec,
  type RestartBackoff,
  type SupervisorContext,
  type SupervisorOptions,
  type SupervisorRuntime,
} from '../src/index.js';
import { silentLogger } from './helpers.js';

export type ProbeEvent =
  /** Becomes ready (leaves `starting`). */
  | { type: 'ready' }
  /** Exits normally: a final state with no failure. */
  | { type: 'finish' }
  /** Exits abnormally: a final state whose output is `{ exit: 'failed' }`. */
  | { type: 'crash' }
  /** Errors: an action throws, and the parent receives `xstate.error.actor.<id>`. */
  | { type: 'throw' }
  /** Sent by the supervisor before stopping it; the probe starts draining. */
  | { type: 'shutdown' }
  /** Finishes draining. */
  | { type: 'drained' };

interface ProbeInput {
  readonly id: string;
  readonly journal: string[];
}

interface ProbeContext extends ProbeInput {
  readonly outcome: { exit: 'normal' } | { exit: 'failed'; reason: string };
}

export const probeMachine = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as {
    context: ProbeContext;
    input: ProbeInput;
    events: ProbeEvent;
    output: ProbeContext['outcome'];
  },
  actors: {
    lifetime: fromCallback<EventObject, ProbeInput>(({ input }) => {
      input.journal.push(`start:${input.id}`);
      return () => input.journal.push(`stop:${input.id}`);
    }),
  },
}).createMachine({
  id: 'probe',
  context: ({ input }) => ({ ...input, outcome: { exit: 'normal' } }),
  invoke: { src: 'lifetime', input: ({ context }) => context },
  initial: 'starting',
  on: {
    finish: '.finished',
    crash: {
      target: '.crashed',
      actions: assign({ outcome: { exit: 'failed', reason: 'probe crashed' } }),
    },
    throw: {
      actions: () => {
        throw new Error('probe threw');
      },
    },
    shutdown: {
      target: '.draining',
      actions: ({ context }) => context.journal.push(`shutdown:${context.id}`),
    },
  },
  states: {
    starting: { on: { ready: 'running' } },
    running: {},
    draining: { on: { drained: 'drained' } },
    drained: {},
    finished: { type: 'final' },
    crashed: { type: 'final' },
  },
  output: ({ context }) => context.outcome,
});

const valueOf = (snapshot: Snapshot<unknown>): unknown => (snapshot as { value?: unknown }).value;

/** A child spec for a probe; `readyWhenRunning` makes ordered start wait for `ready`. */
export function probe(
  id: string,
  journal: string[],
  spec: Omit<Partial<ChildSpec>, 'id' | 'start'> & {
    readonly readyWhenRunning?: boolean;
    readonly drainsOnEvent?: boolean;
  } = {},
): ChildSpec {
  const { readyWhenRunning, drainsOnEvent, ...rest } = spec;
  return {
    id,
    start: () => ({ logic: probeMachine, input: { id, journal } }),
    ...(readyWhenRunning === true
      ? { isReady: (snapshot: Snapshot<unknown>) => valueOf(snapshot) !== 'starting' }
      : {}),
    ...(drainsOnEvent === true
      ? { isDrained: (snapshot: Snapshot<unknown>) => valueOf(snapshot) === 'drained' }
      : {}),
    ...rest,
  };
}

/** Restarts at once: strategy and restart-type tests are not about backoff. */
export const noBackoff: RestartBackoff = {
  backoff: { kind: 'fixed', delayMs: 0 },
  resetAfterMs: 1000,
};

/** A running supervisor on a simulated clock, with helpers to reach its children. */
export interface Harness {
  readonly runtime: SupervisorRuntime;
  readonly clock: SimulatedClock;
  context(): SupervisorContext;
  child(id: string): ChildRecord;
  send(id: string, event: ProbeEvent): void;
}

/** Starts a root supervisor whose actor clock and bookkeeping clock are one simulated clock. */
export function harness(
  options: Omit<SupervisorOptions, 'logger'> & { readonly logger?: Logger },
  clock = new SimulatedClock(),
): Harness {
  const runtime = startSupervisor(
    {
      logger: silentLogger,
      restartBackoff: noBackoff,
      clock: { now: () => clock.now() },
      ...options,
    },
    { actorClock: clock },
  );
  const context = (): SupervisorContext => runtime.actor.getSnapshot().context;
  const child = (id: string): ChildRecord => {
    const record = context().children[id];
    if (record === undefined) throw new Error(`no child ${id}`);
    return record;
  };
  return {
    runtime,
    clock,
    context,
    child,
    send: (id, event) => {
      const ref = child(id).ref;
      if (ref === undefined) throw new Error(`child ${id} is not running`);
      ref.send(event);
    },
  };
}

/** The journal's `start:`/`stop:` entries only. */
export function lifecycle(journal: readonly string[]): string[] {
  return journal.filter((entry) => entry.startsWith('start:') || entry.startsWith('stop:'));
}
