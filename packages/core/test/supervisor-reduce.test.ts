// The supervisor's reducer on its own: it decides and never acts. A transition returns
// the next state and effects as data; nothing is started, spawned or stopped by it.
import { describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import type { ChildSpec } from '../src/index.js';
import { begin, initialContext, reduce, type Env } from '../src/supervisor/reduce.js';
import { silentLogger } from './helpers.js';

const env: Env = { now: () => 0, random: () => 0 };

function counted(id: string, calls: string[]): ChildSpec {
  return {
    id,
    start: () => {
      calls.push(id);
      return { logic: createMachine({}) };
    },
  };
}

describe('reduce', () => {
  it('asks for the first start only, and calls no start function itself', () => {
    const calls: string[] = [];
    const context = initialContext(
      { logger: silentLogger, children: [counted('a', calls), counted('b', calls)] },
      undefined,
    );
    const { context: next, effects } = begin(context, env);
    expect(effects.map((effect) => effect.kind)).toEqual(['start']);
    expect(effects[0]).toMatchObject({ kind: 'start', id: 'a', generation: 1 });
    expect(calls).toEqual([]);
    expect(next.children.a?.status).toBe('starting');
    expect(next.children.b?.status).toBe('pending');
  });

  it('spawns once the start answered, and starts the next child once the first is ready', () => {
    const calls: string[] = [];
    let context = initialContext(
      { logger: silentLogger, children: [counted('a', calls), counted('b', calls)] },
      undefined,
    );
    context = begin(context, env).context;
    const logic = createMachine({});
    const started = reduce(
      context,
      { type: 'child.started', id: 'a', generation: 1, logic, input: undefined },
      env,
    );
    expect(started.effects).toMatchObject([{ kind: 'spawn', id: 'a', logic }]);
    // An answer for an older incarnation is ignored.
    expect(
      reduce(context, { type: 'child.started', id: 'a', generation: 0, logic, input: 1 }, env)
        .effects,
    ).toEqual([]);
    const ready = reduce(started.context, { type: 'child.ready', id: 'a', generation: 1 }, env);
    expect(ready.context.children.a?.status).toBe('running');
    expect(ready.effects).toMatchObject([{ kind: 'start', id: 'b' }]);
    expect(calls).toEqual([]);
  });

  it('plans a one-for-all restart as stop effects, newest first, without touching an actor', () => {
    const refs = ['a', 'b', 'c'].map((id) => createActor(createMachine({}), { id }));
    let context = initialContext(
      {
        logger: silentLogger,
        strategy: 'one-for-all',
        restartBackoff: { backoff: { kind: 'fixed', delayMs: 0 }, resetAfterMs: 1000 },
        children: ['a', 'b', 'c'].map((id) => ({
          id,
          shutdown: 'brutal' as const,
          start: () => ({ logic: createMachine({}) }),
        })),
      },
      undefined,
    );
    context = {
      ...context,
      startQueue: [],
      children: Object.fromEntries(
        Object.entries(context.children).map(([id, record], index) => [
          id,
          { ...record, status: 'running' as const, generation: 1, ref: refs[index] },
        ]),
      ),
    };
    const { effects } = reduce(
      context,
      { type: 'xstate.error.actor.b', error: new Error('boom') },
      env,
    );
    expect(
      effects.filter((effect) => effect.kind === 'stop').map((effect) => effect.ref.id),
    ).toEqual(['b', 'c', 'a']);
    expect(effects.at(-1)).toMatchObject({ kind: 'start', id: 'a', generation: 2 });
    for (const ref of refs) expect(ref.getSnapshot().status).toBe('active');
  });
});
