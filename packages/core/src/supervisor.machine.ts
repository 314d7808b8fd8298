// Supervisors with Erlang/OTP semantics on XState actors: child specs with restart
// types and shutdown budgets; one-for-one, one-for-all and rest-for-one; restart
// intensity with escalation; significant children and auto-shutdown; Akka-style
// restart backoff reset after a stable period; ordered start that waits for each
// child to run and be ready; reverse-order shutdown within budgets; children started,
// terminated, restarted and deleted at run time, each request answered.
//
// The bookkeeping is a pure reducer (supervisor/reduce.ts); this chart feeds it every
// event and hands the effects it returns to the interpreter (supervisor/effects.ts),
// whose actions XState runs once the transition is computed. The chart's states are
// the reducer's queues seen from outside: `starting`, `running`, `stopping`, then
// `stopped` or `failed`.
import type { Logger } from 'pino';
import { enqueueActions, setup, type AnyActorRef, type EventObject } from 'xstate';
import type { ChildSpec } from './child-spec.js';
import { interpret, type Enqueue, type Spawn } from './supervisor/effects.js';
import { begin, initialContext, reduce, type Reduced } from './supervisor/reduce.js';
import type {
  SupervisorContext,
  SupervisorEvent,
  SupervisorOptions,
  SupervisorOutput,
} from './supervisor/types.js';

export { exitKindOf } from './supervisor/reduce.js';
export type * from './supervisor/types.js';

/** XState's enqueue, as the interpreter uses it. */
interface XStateEnqueue {
  (action: (args: { context: SupervisorContext; self: AnyActorRef }) => void): void;
  assign(
    update: (args: { context: SupervisorContext; spawn: unknown }) => Partial<SupervisorContext>,
  ): void;
  raise(event: SupervisorEvent, options: { delay: number }): void;
  sendTo(ref: AnyActorRef, event: EventObject): void;
  stopChild(ref: AnyActorRef): void;
}

/**
 * Applies a transition: the new state first, then its effects. XState types `spawn`
 * against the machine's declared actors; a supervisor spawns whatever its child specs
 * return, so the enqueue API is used through a looser type.
 */
function apply(reduced: Reduced, enqueue: unknown): void {
  const xstate = enqueue as XStateEnqueue;
  const adapted: Enqueue = {
    assign: (update) =>
      xstate.assign(({ context, spawn }) => update({ context, spawn: spawn as Spawn })),
    raise: (event, options) => xstate.raise(event, options),
    sendTo: (ref, event) => xstate.sendTo(ref, event),
    stopChild: (ref) => xstate.stopChild(ref),
    action: (run) => xstate(({ context, self }) => run({ context, self })),
  };
  const next = reduced.context;
  xstate.assign(() => next);
  interpret(reduced.effects, adapted, next.log);
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
    // Every event goes through the reducer: it is a reducer, not a chart of its own.
    handle: enqueueActions(({ context, event, enqueue }) => {
      const env = { now: () => context.clock.now(), random: context.random };
      apply(reduce(context, event, env), enqueue);
    }),
    begin: enqueueActions(({ context, enqueue }) => {
      apply(begin(context, { now: () => context.clock.now(), random: context.random }), enqueue);
    }),
  },
}).createMachine({
  id: 'supervisor',
  // XState's ActorSystem declares `_clock`: the clock every actor of the tree
  // schedules on. A supervisor given no clock reads the time from it.
  context: ({ input, self }) => initialContext(input, self.system._clock as { now?: () => number }),
  entry: 'begin',
  initial: 'starting',
  on: {
    '*': { actions: 'handle' },
  },
  states: {
    starting: {
      tags: ['starting'],
      always: [
        { guard: 'hasStopWork', target: 'stopping' },
        { guard: 'exitedFailed', target: 'failed' },
        { guard: 'exitedShutdown', target: 'stopped' },
        { guard: ({ context }) => !hasStartWork({ context }), target: 'running' },
      ],
    },
    running: {
      tags: ['ready'],
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

/** Whether a supervisor's snapshot is running with every child started (the `ready` tag). */
export function isSupervisorReady(snapshot: unknown): boolean {
  const hasTag = (snapshot as { hasTag?: (tag: string) => boolean }).hasTag;
  return typeof hasTag === 'function' && hasTag.call(snapshot, 'ready');
}

/** A supervisor as the child of another: ready once running, drained once it has exited. */
export function supervisorChild(
  id: string,
  options: Omit<SupervisorOptions, 'logger'> & { readonly logger: Logger },
  spec: Pick<ChildSpec, 'restart' | 'shutdown' | 'significant'> = {},
): ChildSpec {
  return {
    id,
    kind: 'supervisor',
    restart: spec.restart ?? 'permanent',
    shutdown: spec.shutdown ?? 'infinity',
    ...(spec.significant === undefined ? {} : { significant: spec.significant }),
    start: () => ({
      logic: supervisorMachine,
      input: { ...options, logger: options.logger.child({ supervisor: id }) },
    }),
    isReady: isSupervisorReady,
    isDrained: () => false,
  };
}
