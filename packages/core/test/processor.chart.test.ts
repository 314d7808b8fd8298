// The processor chart as pure transitions. `xstate/graph` walks every state reachable
// from `idle` under every event (actions are resolved, not executed), and the test
// holds the resulting edges against the table in DESIGN.md: no transition is missing,
// none is extra. A second part checks the effects each transition schedules.
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { getAdjacencyMap, type AdjacencyValue } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineProcessor,
  InvalidMessageError,
  processorMachine,
  Scheduler,
  stateName as chartStateName,
  TransientError,
  type ExhaustedAction,
  type ProcessorEvent,
  type ProcessorInput,
} from '../src/index.js';
import { MemoryTestStore } from './memory-test-store.js';
import { recordingDelivery, silentLogger } from './helpers.js';

// With a global cap the worker waits in `consuming.admitting` for its permit; without
// one it goes straight to `consuming.handling`. The walk uses a lane so that both
// sub-states are covered; the no-cap path is checked on its own below.
function input(onExhausted: ExhaustedAction, scheduled = true): ProcessorInput {
  return {
    ...(scheduled ? { lane: new Scheduler({ capacity: 1 }).lane('chart') } : {}),
    definition: defineProcessor({
      name: 'chart',
      queue: 'chart.queue',
      bindings: [],
      schema: z.object({ id: z.string() }),
      handle: () => undefined,
      retry: { attempts: 2, backoff: { kind: 'fixed', delayMs: 1000 }, onExhausted },
    }),
    store: new MemoryTestStore(),
    logger: silentLogger,
    random: () => 0,
  };
}

// In a pure walk no action runs, so the in-flight slot keeps run 0: `run: 0` is the
// current step and `run: 7` a stale one.
const labelled: readonly (readonly [string, ProcessorEvent])[] = [
  ['delivery', { type: 'delivery.received', delivery: recordingDelivery({ id: 'a' }) }],
  ['permit', { type: 'permit.granted' }],
  ['handler ok', { type: 'handler.succeeded', run: 0 }],
  ['handler ok (stale)', { type: 'handler.succeeded', run: 7 }],
  ['handler transient', { type: 'handler.failed', run: 0, error: new TransientError('t') }],
  ['handler invalid', { type: 'handler.failed', run: 0, error: new InvalidMessageError('i') }],
  ['persist ok', { type: 'persist.succeeded', run: 0 }],
  ['persist transient', { type: 'persist.failed', run: 0, error: new TransientError('t') }],
  ['persist invalid', { type: 'persist.failed', run: 0, error: new InvalidMessageError('i') }],
  ['timeout', { type: 'xstate.after.handlerTimeout.processor.consuming.handling' } as never],
  ['backoff elapsed', { type: 'xstate.after.retryDelay.processor.retrying' } as never],
  ['cancel', { type: 'cancel' }],
  ['shutdown', { type: 'shutdown' }],
];
const labels = new Map(labelled.map(([label, event]) => [event, label]));

function stateName(snapshot: AnyMachineSnapshot): string {
  return chartStateName(snapshot.value);
}

/** Every edge `from --label--> to` reachable from the initial state, self-loops excluded. */
function edges(onExhausted: ExhaustedAction): Set<string> {
  const map = getAdjacencyMap(processorMachine, {
    input: input(onExhausted),
    events: labelled.map(([, event]) => event),
    serializeState: (snapshot) => {
      const { attempt, draining, failedStep } = snapshot.context;
      return JSON.stringify([snapshot.value, attempt, draining, failedStep]);
    },
    serializeEvent: (event) => labels.get(event) ?? event.type,
    // `failed` is final: the actor is done and takes no more events.
    stopWhen: (snapshot) => snapshot.status === 'done',
    limit: 2000,
  });
  const found = new Set<string>();
  // The map's value type is lost through the machine's generics; restore it.
  const values = Object.values(map) as AdjacencyValue<AnyMachineSnapshot, ProcessorEvent>[];
  for (const { state, transitions } of values) {
    for (const [label, { state: next }] of Object.entries(transitions)) {
      const from = stateName(state);
      const to = stateName(next);
      if (from !== to) found.add(`${from} --${label}--> ${to}`);
    }
  }
  return found;
}

describe('processor chart: every transition of the DESIGN.md table', () => {
  // `retrying` resolves through eventless transitions: a spent policy leaves it at once
  // for `idle` (dead-letter) or `failed` (escalate), so those rows appear as edges from
  // the failing step.
  const common = [
    'idle --delivery--> consuming.admitting',
    'consuming.admitting --permit--> consuming.handling',
    'consuming.handling --handler ok--> persisting',
    'consuming.handling --handler transient--> retrying',
    'consuming.handling --timeout--> retrying',
    'consuming.handling --handler invalid--> idle',
    'persisting --persist ok--> idle',
    'persisting --persist transient--> retrying',
    'persisting --persist invalid--> idle',
    'retrying --backoff elapsed--> consuming.admitting',
    'retrying --backoff elapsed--> persisting',
    'consuming.admitting --cancel--> idle',
    'consuming.handling --cancel--> idle',
    'persisting --cancel--> idle',
    'retrying --cancel--> idle',
  ];

  it('with the dead-letter policy: exhausted retries go back to idle', () => {
    expect([...edges('dead-letter')].sort()).toEqual(
      [
        ...common,
        'consuming.handling --handler transient--> idle',
        'consuming.handling --timeout--> idle',
        'persisting --persist transient--> idle',
      ].sort(),
    );
  });

  it('with the escalate policy: exhausted retries end in failed', () => {
    expect([...edges('escalate')].sort()).toEqual(
      [
        ...common,
        'consuming.handling --handler transient--> failed',
        'consuming.handling --timeout--> failed',
        'persisting --persist transient--> failed',
      ].sort(),
    );
  });

  it('has exactly the five top-level states', () => {
    expect(Object.keys(processorMachine.states).sort()).toEqual(
      ['consuming', 'failed', 'idle', 'persisting', 'retrying'].sort(),
    );
  });
});

describe('processor chart: effects of each transition', () => {
  const names = (actions: readonly { type: string }[]): string[] =>
    actions.map((action) => action.type).filter((type) => !type.startsWith('xstate.'));
  const start = (onExhausted: ExhaustedAction = 'dead-letter') =>
    initialTransition(processorMachine, input(onExhausted))[0];
  const delivery = labelled[0]![1];

  it('a delivery begins the attempts and asks for a permit', () => {
    const [next, actions] = transition(processorMachine, start(), delivery);
    // `startAttempts` is an assign: its effect is the context, not a scheduled action.
    expect(next.context.attempt).toBe(1);
    expect(next.context.messageId).toBe(
      (delivery as { delivery: { messageId: string } }).delivery.messageId,
    );
    expect(names(actions)).toEqual(['beginDelivery', 'requestPermit']);
  });

  it('an invalid message dead-letters without recording a retry', () => {
    let [snapshot] = transition(processorMachine, start(), delivery);
    [snapshot] = transition(processorMachine, snapshot, { type: 'permit.granted' });
    const [next, actions] = transition(processorMachine, snapshot, {
      type: 'handler.failed',
      run: 0,
      error: new InvalidMessageError('bad'),
    });
    expect(next.value).toBe('idle');
    expect(names(actions)).toEqual(['releasePermit', 'deadLetterDelivery', 'announceIdle']);
  });

  it('a stored result acks', () => {
    let [snapshot] = transition(processorMachine, start(), delivery);
    [snapshot] = transition(processorMachine, snapshot, { type: 'permit.granted' });
    [snapshot] = transition(processorMachine, snapshot, { type: 'handler.succeeded', run: 0 });
    const [next, actions] = transition(processorMachine, snapshot, {
      type: 'persist.succeeded',
      run: 0,
    });
    expect(next.value).toBe('idle');
    expect(names(actions)).toEqual(['ackDelivery', 'announceIdle']);
  });

  it('a transient failure counts the attempt and schedules the retry delay', () => {
    let [snapshot] = transition(processorMachine, start(), delivery);
    [snapshot] = transition(processorMachine, snapshot, { type: 'permit.granted' });
    const [next] = transition(processorMachine, snapshot, {
      type: 'handler.failed',
      run: 0,
      error: new TransientError('busy'),
    });
    expect(next.value).toBe('retrying');
    expect(next.context.decision).toEqual({ kind: 'retry', delayMs: 1000 });
    const [again] = transition(processorMachine, next, {
      type: 'xstate.after.retryDelay.processor.retrying',
    } as never);
    expect(again.context.attempt).toBe(2);
  });

  it('escalation requeues the delivery on the way to failed', () => {
    let [snapshot] = transition(processorMachine, start('escalate'), delivery);
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      [snapshot] = transition(processorMachine, snapshot, { type: 'permit.granted' });
      const result = transition(processorMachine, snapshot, {
        type: 'handler.failed',
        run: 0,
        error: new TransientError('busy'),
      });
      [snapshot] = result;
      if (attempt === 2) {
        expect(snapshot.value).toBe('failed');
        expect(names(result[1])).toContain('requeueDelivery');
      } else {
        [snapshot] = transition(processorMachine, snapshot, {
          type: 'xstate.after.retryDelay.processor.retrying',
        } as never);
      }
    }
  });

  it('without a global cap a delivery goes straight to handling', () => {
    const [next, actions] = transition(
      processorMachine,
      initialTransition(processorMachine, input('dead-letter', false))[0],
      delivery,
    );
    expect(next.value).toEqual({ consuming: 'handling' });
    expect(names(actions)).toEqual(['beginDelivery', 'runHandler']);
  });

  it('cancel requeues from any busy state; shutdown drains', () => {
    const [busy] = transition(processorMachine, start(), delivery);
    const [cancelled, cancelActions] = transition(processorMachine, busy, { type: 'cancel' });
    expect(cancelled.value).toBe('idle');
    expect(names(cancelActions)).toContain('requeueDelivery');
    const [draining] = transition(processorMachine, start(), { type: 'shutdown' });
    expect(draining.context.draining).toBe(true);
    const [refused, refusedActions] = transition(processorMachine, draining, delivery);
    expect(refused.value).toBe('idle');
    expect(names(refusedActions)).toEqual(['refuseDelivery']);
  });
});
