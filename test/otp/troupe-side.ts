// The Troupe side of the differential suite: runs a scenario on Troupe's supervisor on
// a simulated clock and writes the same trace lines as troupe_otp_diff.erl. Where
// Troupe differs from OTP on purpose, the difference is normalized here, explicitly.
import {
  countChildren,
  deleteChild,
  restartChild,
  startChild,
  startSupervisor,
  supervisorChild,
  supervisorView,
  supervisorViewOf,
  terminateChild,
  whichChildren,
  type ChildAnswer,
  type ChildSpec,
  type RestartStrategy,
  type SupervisorRuntime,
} from '@troupe/core';
import { pino } from 'pino';
import {
  assign,
  fromCallback,
  setup,
  SimulatedClock,
  type AnyActorRef,
  type EventObject,
} from 'xstate';
import type { ChildDef, Scenario, Step, SupervisorDef } from './scenarios.js';

const silent = pino({ level: 'silent' });

// Deliberate difference: Troupe waits a backoff before restarting; OTP restarts at once.
// The suite runs Troupe with no backoff, which is OTP's behaviour.
const noBackoff = { backoff: { kind: 'fixed', delayMs: 0 }, resetAfterMs: 1000 } as const;

const troupeStrategy = (strategy: Scenario['strategy']): RestartStrategy =>
  strategy === 'one_for_one'
    ? 'one-for-one'
    : strategy === 'one_for_all'
      ? 'one-for-all'
      : 'rest-for-one';

/** A worker anywhere in the tree, by id (ids are unique across a scenario's tree). */
function find(snapshot: unknown, id: string): AnyActorRef | undefined {
  const view = supervisorViewOf(snapshot);
  for (const child of view?.children ?? []) {
    if (child.id === id) return child.ref;
    if (child.kind === 'supervisor' && child.ref !== undefined) {
      const found = find(child.ref.getSnapshot(), id);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

interface ProbeInput {
  readonly id: string;
  readonly trace: string[];
}

interface ProbeContext extends ProbeInput {
  readonly outcome: { exit: 'normal' } | { exit: 'failed'; reason: string };
}

/** A child that traces its start, the request to stop and its end, and exits when told. */
const probe = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as {
    context: ProbeContext;
    input: ProbeInput;
    events: { type: 'finish' } | { type: 'crash' } | { type: 'shutdown' };
    output: { exit: 'normal' } | { exit: 'failed'; reason: string };
  },
  actors: {
    lifetime: fromCallback<EventObject, ProbeInput>(({ input }) => {
      input.trace.push(`start:${input.id}`);
      return () => input.trace.push(`stop:${input.id}`);
    }),
  },
}).createMachine({
  context: ({ input }) => ({ ...input, outcome: { exit: 'normal' } }),
  invoke: { src: 'lifetime', input: ({ context }) => context },
  initial: 'running',
  states: {
    running: {
      on: {
        finish: 'finished',
        crash: {
          target: 'crashed',
          actions: assign({ outcome: { exit: 'failed', reason: 'crash' } }),
        },
        shutdown: {
          target: 'draining',
          actions: ({ context }) => context.trace.push(`shutdown:${context.id}`),
        },
      },
    },
    draining: {},
    finished: { type: 'final' },
    crashed: { type: 'final' },
  },
  output: ({ context }) => context.outcome,
});

function childSpec(def: ChildDef | SupervisorDef, trace: string[]): ChildSpec {
  if ('supervisor' in def) {
    const { strategy, intensity, periodS, children } = def.supervisor;
    return supervisorChild(
      def.id,
      {
        logger: silent,
        strategy: troupeStrategy(strategy),
        intensity: { maxRestarts: intensity, withinMs: periodS * 1000 },
        restartBackoff: noBackoff,
        children: children.map((child) => childSpec(child, trace)),
      },
      { restart: def.restart },
    );
  }
  return {
    id: def.id,
    restart: def.restart,
    shutdown: def.shutdown === 'brutal_kill' ? 'brutal' : def.shutdown,
    ...(def.significant === true ? { significant: true } : {}),
    start: () => {
      if (def.startFails === true) throw new Error('cannot start');
      return { logic: probe, input: { id: def.id, trace } };
    },
    // `exit`: stops as soon as asked (drained on the next snapshot); `hang`: never
    // drains, so it is stopped once its budget has run out.
    ...(def.onShutdown === 'hang' ? { isDrained: () => false } : {}),
  };
}

/** OTP spells its answers in snake case; Troupe in kebab case. Same answers. */
function answerLine(request: string, answer: ChildAnswer): string {
  return `answer:${request}:${answer.ok ? 'ok' : answer.error.replaceAll('-', '_')}`;
}

/** Lets the simulated clock run out every shutdown budget being waited for. */
function settle(runtime: SupervisorRuntime, clock: SimulatedClock): void {
  for (;;) {
    if (runtime.actor.getSnapshot().status !== 'active') return;
    const budget = Math.max(
      0,
      ...supervisorView(runtime.actor.getSnapshot())
        .children.filter((child) => child.status === 'stopping')
        .map((child) => (typeof child.shutdown === 'number' ? child.shutdown : 0)),
    );
    if (budget === 0) return;
    clock.increment(budget);
  }
}

/** Runs `scenario` on Troupe's supervisor; returns its trace. */
export async function runOnTroupe(scenario: Scenario): Promise<string[]> {
  const trace: string[] = [];
  const clock = new SimulatedClock();
  let stopRequested = false;
  const runtime = startSupervisor(
    {
      logger: silent,
      strategy: troupeStrategy(scenario.strategy),
      intensity: { maxRestarts: scenario.intensity, withinMs: scenario.periodS * 1000 },
      restartBackoff: noBackoff,
      ...(scenario.autoShutdown === undefined
        ? {}
        : { autoShutdown: scenario.autoShutdown.replace('_', '-') as 'any-significant' }),
      children: scenario.children.map((child) => childSpec(child, trace)),
    },
    { actorClock: clock },
  );
  runtime.actor.subscribe({
    complete: () => {
      const output = runtime.actor.getSnapshot().output;
      // Deliberate difference: a Troupe supervisor that gives up exits `failed`, where
      // OTP's exits `shutdown`, so that it escalates even under a transient parent.
      // Both are written as OTP writes them.
      trace.push(
        stopRequested ? 'exit:stopped' : output === undefined ? 'exit:?' : 'exit:shutdown',
      );
    },
    error: () => trace.push('exit:abnormal'),
  });
  const ref = runtime.actor;
  const alive = (): boolean => ref.getSnapshot().status === 'active';

  const run = async (step: Step): Promise<void> => {
    switch (step.do) {
      case 'crash':
      case 'finish': {
        const child = find(ref.getSnapshot(), step.id);
        if (child === undefined) trace.push(`error:no-such-child:${step.id}`);
        else child.send({ type: step.do });
        break;
      }
      case 'wait':
        clock.increment(step.ms);
        break;
      case 'start_child':
        trace.push(answerLine(step.do, await startChild(ref, childSpec(step.child, trace))));
        break;
      case 'terminate_child':
        trace.push(answerLine(step.do, await terminateChild(ref, step.id)));
        break;
      case 'restart_child':
        trace.push(answerLine(step.do, await restartChild(ref, step.id)));
        break;
      case 'delete_child':
        trace.push(answerLine(step.do, await deleteChild(ref, step.id)));
        break;
      case 'which_children':
        trace.push(
          `which:${whichChildren(ref.getSnapshot())
            .map(
              ({ id, child }) =>
                `${id}=${typeof child === 'string' || child === undefined ? String(child) : 'running'}`,
            )
            .join(',')}`,
        );
        break;
      case 'count_children': {
        const { specs, active, supervisors, workers } = countChildren(ref.getSnapshot());
        trace.push(
          `count:specs=${specs},active=${active},supervisors=${supervisors},workers=${workers}`,
        );
        break;
      }
      case 'stop':
        stopRequested = true;
        ref.send({ type: 'shutdown' });
        break;
    }
    settle(runtime, clock);
  };

  for (const step of [...scenario.steps, { do: 'stop' } as const]) {
    if (!alive()) break;
    await run(step);
  }
  await runtime.exited.catch(() => undefined);
  return trace;
}
