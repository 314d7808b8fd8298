// Defects found by running Troupe's supervisor side by side with Erlang/OTP's: each
// test states what OTP does and failed before its fix.
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { supervisorChild, type ChildSpec, type SupervisorContext } from '../src/index.js';
import { silentLogger } from './helpers.js';
import { harness, lifecycle, noBackoff, probe, probeMachine } from './probe.js';

describe('strategies that restart siblings (OTP)', () => {
  it('one-for-all starts again a transient sibling that had ended normally', () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'one-for-all',
      children: [probe('a', journal), probe('t', journal, { restart: 'transient' })],
    });
    h.send('t', { type: 'finish' });
    journal.length = 0;

    h.send('a', { type: 'crash' });

    expect(lifecycle(journal)).toEqual(['stop:a', 'start:a', 'start:t']);
    expect(h.child('t').status).toBe('running');
  });

  it('rest-for-one starts again a later transient sibling that had ended normally', () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'rest-for-one',
      children: [
        probe('a', journal),
        probe('b', journal),
        probe('t', journal, { restart: 'transient' }),
      ],
    });
    h.send('t', { type: 'finish' });
    journal.length = 0;

    h.send('b', { type: 'crash' });

    expect(lifecycle(journal)).toEqual(['stop:b', 'start:b', 'start:t']);
  });
});

describe('ordered start (OTP)', () => {
  it("calls the next child's start only after the previous actor is running", () => {
    const journal: string[] = [];
    const traced = (id: string): ChildSpec => ({
      id,
      start: () => {
        journal.push(`call:${id}`);
        return { logic: probeMachine, input: { id, journal } };
      },
    });
    harness({ children: [traced('a'), traced('b')] });
    expect(journal).toEqual(['call:a', 'start:a', 'call:b', 'start:b']);
  });

  it('never starts the children after one that fails to start, and stops the earlier ones in reverse', async () => {
    const journal: string[] = [];
    // An actor that errors as it starts: its entry action throws.
    const broken: ChildSpec = {
      id: 'broken',
      start: () => ({
        logic: createMachine({
          entry: () => {
            journal.push('start:broken');
            throw new Error('cannot start');
          },
        }),
      }),
    };
    const h = harness({
      intensity: { maxRestarts: 0, withinMs: 1000 },
      children: [probe('a', journal), probe('b', journal), broken, probe('c', journal)],
    });
    await expect(h.runtime.exited).resolves.toMatchObject({ exit: 'failed' });
    expect(lifecycle(journal)).toEqual(['start:a', 'start:b', 'start:broken', 'stop:b', 'stop:a']);
  });
});

describe('nested supervisors (OTP: one clock for the tree)', () => {
  it("measures a nested supervisor's restart intensity on its parent's clock", () => {
    const journal: string[] = [];
    const h = harness({
      children: [
        // No clock given: it must inherit the tree's (simulated) clock.
        supervisorChild('inner', {
          logger: silentLogger,
          restartBackoff: noBackoff,
          intensity: { maxRestarts: 1, withinMs: 1000 },
          children: [probe('x', journal)],
        }),
      ],
    });
    const inner = (): SupervisorContext =>
      (h.child('inner').ref?.getSnapshot() as { context: SupervisorContext }).context;

    inner().children.x?.ref?.send({ type: 'crash' });
    h.clock.increment(2000);
    inner().children.x?.ref?.send({ type: 'crash' });

    // Two restarts 2 s apart on the tree's clock: within intensity, inner keeps going.
    expect(h.child('inner')).toMatchObject({ generation: 1 });
  });
});

describe('restart-child (OTP)', () => {
  it('refuses to restart a temporary child', () => {
    const journal: string[] = [];
    const h = harness({ children: [probe('t', journal, { restart: 'temporary' })] });
    journal.length = 0;

    h.runtime.actor.send({ type: 'supervisor.restart-child', id: 't' });

    expect(lifecycle(journal)).toEqual([]);
    expect(h.child('t').generation).toBe(1);
  });
});
