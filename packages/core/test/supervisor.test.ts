// Supervisors as running actors on a simulated clock: strategies, restart types,
// restart intensity and escalation, restart backoff, ordered start, reverse-order
// shutdown within budgets, and children started, cancelled and restarted at run time.
import { describe, expect, it } from 'vitest';
import { supervisorChild, type ChildSpec, type SupervisorContext } from '../src/index.js';
import { flush, silentLogger } from './helpers.js';
import { harness, lifecycle, noBackoff, probe, probeMachine } from './probe.js';

describe('supervisor strategies', () => {
  it('one-for-one restarts only the child that exited', () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'one-for-one',
      children: ['a', 'b', 'c'].map((id) => probe(id, journal)),
    });
    expect(lifecycle(journal)).toEqual(['start:a', 'start:b', 'start:c']);
    journal.length = 0;

    h.send('b', { type: 'crash' });

    expect(lifecycle(journal)).toEqual(['stop:b', 'start:b']);
    expect(h.child('a').generation).toBe(1);
    expect(h.child('b').generation).toBe(2);
    expect(h.child('c').generation).toBe(1);
    expect(h.runtime.actor.getSnapshot().value).toBe('running');
  });

  it('one-for-all stops the others in reverse order, then restarts all in start order', () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'one-for-all',
      children: ['a', 'b', 'c', 'd'].map((id) => probe(id, journal)),
    });
    journal.length = 0;

    h.send('b', { type: 'crash' });

    expect(lifecycle(journal)).toEqual([
      'stop:b',
      'stop:d',
      'stop:c',
      'stop:a',
      'start:a',
      'start:b',
      'start:c',
      'start:d',
    ]);
    // Siblings are asked to drain (the shutdown event) before they are stopped.
    expect(journal.filter((entry) => entry.startsWith('shutdown:'))).toEqual([
      'shutdown:d',
      'shutdown:c',
      'shutdown:a',
    ]);
    for (const id of ['a', 'b', 'c', 'd']) {
      expect(h.child(id)).toMatchObject({ status: 'running', generation: 2 });
    }
  });

  it('rest-for-one stops the children started after it, then restarts them in order', () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'rest-for-one',
      children: ['a', 'b', 'c', 'd'].map((id) => probe(id, journal)),
    });
    journal.length = 0;

    h.send('b', { type: 'crash' });

    expect(lifecycle(journal)).toEqual([
      'stop:b',
      'stop:d',
      'stop:c',
      'start:b',
      'start:c',
      'start:d',
    ]);
    expect(h.child('a').generation).toBe(1);
    expect(['b', 'c', 'd'].map((id) => h.child(id).generation)).toEqual([2, 2, 2]);
  });

  it('one-for-all does not bring back a temporary sibling it stopped', () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'one-for-all',
      children: [probe('a', journal), probe('t', journal, { restart: 'temporary' })],
    });
    journal.length = 0;

    h.send('a', { type: 'crash' });

    expect(lifecycle(journal)).toEqual(['stop:a', 'stop:t', 'start:a']);
    expect(h.context().children.t).toBeUndefined();
    expect(h.context().order).toEqual(['a']);
  });

  it("gives an errored child's last snapshot to its onError hook, and survives a hook that throws", () => {
    const journal: string[] = [];
    const seen: unknown[] = [];
    const h = harness({
      children: [
        probe('a', journal, {
          onError: (snapshot) => {
            seen.push((snapshot as { status?: unknown }).status);
            throw new Error('hook threw');
          },
        }),
      ],
    });
    h.send('a', { type: 'crash' });
    expect(seen).toEqual([]);
    h.send('a', { type: 'throw' });
    expect(seen).toEqual(['error']);
    expect(h.child('a')).toMatchObject({ status: 'running', generation: 3 });
  });

  it('treats an error thrown inside a child as an abnormal exit', () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'one-for-one',
      children: [probe('a', journal, { restart: 'transient' })],
    });
    journal.length = 0;

    const first = h.child('a').ref;

    h.send('a', { type: 'throw' });

    // (XState does not stop the invoked actors of an errored actor, so there is no
    // `stop:a` here: see the report on processor.machine.ts.)
    expect((first?.getSnapshot() as { status?: string } | undefined)?.status).toBe('error');
    expect(lifecycle(journal)).toEqual(['start:a']);
    expect(h.child('a').ref).not.toBe(first);
    expect(h.child('a')).toMatchObject({ status: 'running', generation: 2, totalRestarts: 1 });
  });
});

describe('restart types', () => {
  const cases = [
    { restart: 'permanent', exit: 'finish', restarted: true },
    { restart: 'permanent', exit: 'crash', restarted: true },
    { restart: 'transient', exit: 'finish', restarted: false },
    { restart: 'transient', exit: 'crash', restarted: true },
    { restart: 'temporary', exit: 'finish', restarted: false },
    { restart: 'temporary', exit: 'crash', restarted: false },
  ] as const;

  for (const { restart, exit, restarted } of cases) {
    const kind = exit === 'finish' ? 'normal' : 'abnormal';
    it(`a ${restart} child is ${restarted ? '' : 'not '}restarted after an exit that is ${kind}`, () => {
      const journal: string[] = [];
      const h = harness({ children: [probe('x', journal, { restart }), probe('y', journal)] });
      journal.length = 0;

      h.send('x', { type: exit });

      expect(lifecycle(journal)).toEqual(restarted ? ['stop:x', 'start:x'] : ['stop:x']);
      const record = h.context().children.x;
      if (restarted) {
        expect(record).toMatchObject({ status: 'running', generation: 2 });
      } else if (restart === 'temporary') {
        // A temporary child is forgotten once it exits.
        expect(record).toBeUndefined();
        expect(h.context().order).toEqual(['y']);
      } else {
        expect(record).toMatchObject({ status: 'stopped', generation: 1, ref: undefined });
      }
      // The sibling is untouched and the supervisor carries on.
      expect(h.child('y')).toMatchObject({ status: 'running', generation: 1 });
      expect(h.runtime.actor.getSnapshot().status).toBe('active');
    });
  }
});

describe('restart intensity', () => {
  it('gives up past N restarts within T: stops children in reverse order and exits failed', async () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'one-for-one',
      intensity: { maxRestarts: 2, withinMs: 1000 },
      children: ['a', 'b', 'c', 'd'].map((id) => probe(id, journal)),
    });
    journal.length = 0;

    h.send('b', { type: 'crash' });
    h.clock.increment(100);
    h.send('b', { type: 'crash' });
    h.clock.increment(100);
    expect(h.runtime.actor.getSnapshot().status).toBe('active');
    expect(h.child('b').totalRestarts).toBe(2);
    journal.length = 0;

    h.send('b', { type: 'crash' });

    expect(lifecycle(journal)).toEqual(['stop:b', 'stop:d', 'stop:c', 'stop:a']);
    expect(journal.filter((entry) => entry.startsWith('shutdown:'))).toEqual([
      'shutdown:d',
      'shutdown:c',
      'shutdown:a',
    ]);
    const snapshot = h.runtime.actor.getSnapshot();
    expect(snapshot.value).toBe('failed');
    expect(snapshot.output).toEqual({
      exit: 'failed',
      reason: expect.stringContaining('restart intensity exceeded') as unknown,
    });
    await expect(h.runtime.exited).resolves.toMatchObject({ exit: 'failed' });
  });

  it('forgets restarts older than the window', () => {
    const journal: string[] = [];
    const h = harness({
      intensity: { maxRestarts: 1, withinMs: 1000 },
      children: [probe('a', journal)],
    });

    h.send('a', { type: 'crash' });
    h.clock.increment(1000);
    h.send('a', { type: 'crash' });
    h.clock.increment(1000);
    h.send('a', { type: 'crash' });

    expect(h.runtime.actor.getSnapshot().status).toBe('active');
    expect(h.child('a')).toMatchObject({ status: 'running', totalRestarts: 3 });

    // Two within the window is one too many.
    h.clock.increment(999);
    h.send('a', { type: 'crash' });
    expect(h.runtime.actor.getSnapshot().output).toMatchObject({ exit: 'failed' });
  });

  it('counts a normal exit of a permanent child as a restart too', () => {
    const journal: string[] = [];
    const h = harness({
      intensity: { maxRestarts: 0, withinMs: 1000 },
      children: [probe('a', journal)],
    });
    h.send('a', { type: 'finish' });
    expect(h.runtime.actor.getSnapshot().output).toMatchObject({ exit: 'failed' });
  });

  it('escalates a child supervisor that gives up to its parent as an abnormal exit', () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'one-for-one',
      intensity: { maxRestarts: 1, withinMs: 10_000 },
      children: [
        probe('first', journal),
        supervisorChild(
          'inner',
          {
            intensity: { maxRestarts: 0, withinMs: 10_000 },
            restartBackoff: noBackoff,
            clock: { now: () => h.clock.now() },
            logger: silentLogger,
            children: [probe('x', journal), probe('y', journal)],
          },
          // Transient: restarted only after an abnormal exit. A supervisor that gave up
          // must not look like a normal shutdown (the OTP pitfall).
          { restart: 'transient' },
        ),
        probe('last', journal),
      ],
    });
    const inner = (): SupervisorContext =>
      (h.child('inner').ref?.getSnapshot() as { context: SupervisorContext }).context;
    const sendInner = (id: string, event: { type: 'crash' }): void => {
      inner().children[id]?.ref?.send(event);
    };
    expect(lifecycle(journal)).toEqual(['start:first', 'start:x', 'start:y', 'start:last']);
    journal.length = 0;

    // The inner supervisor gives up at once; its parent restarts it, and only it.
    sendInner('x', { type: 'crash' });
    expect(lifecycle(journal)).toEqual(['stop:x', 'stop:y', 'start:x', 'start:y']);
    expect(h.child('inner')).toMatchObject({ status: 'running', generation: 2, totalRestarts: 1 });
    expect(h.child('first').generation).toBe(1);
    expect(h.child('last').generation).toBe(1);
    journal.length = 0;

    // Again: now the parent's own intensity is exceeded and the failure goes up.
    sendInner('y', { type: 'crash' });
    expect(lifecycle(journal)).toEqual(['stop:y', 'stop:x', 'stop:last', 'stop:first']);
    expect(h.runtime.actor.getSnapshot().output).toEqual({
      exit: 'failed',
      reason: expect.stringContaining('inner') as unknown,
    });
  });

  it('does not restart a transient child supervisor that shut down normally', () => {
    const journal: string[] = [];
    const h = harness({
      children: [
        supervisorChild(
          'inner',
          { logger: silentLogger, children: [probe('x', journal)] },
          { restart: 'transient' },
        ),
      ],
    });
    h.child('inner').ref?.send({ type: 'shutdown' });
    expect(h.child('inner')).toMatchObject({ status: 'stopped', ref: undefined });
    expect(lifecycle(journal)).toEqual(['start:x', 'stop:x']);
  });
});

describe('restart backoff', () => {
  const backoffOptions = {
    restartBackoff: {
      backoff: { kind: 'exponential', minMs: 100, maxMs: 1000, randomFactor: 0.5 },
      resetAfterMs: 5000,
    },
    // 1 + 0.5 × 0.2: every delay is 10% longer than its base.
    random: () => 0.2,
    intensity: { maxRestarts: 100, withinMs: 1000 },
  } as const;

  it('waits before restarting, doubling the delay on consecutive restarts', () => {
    const journal: string[] = [];
    const h = harness({ ...backoffOptions, children: [probe('a', journal)] });
    journal.length = 0;

    const expectDelay = (delay: number): void => {
      h.send('a', { type: 'crash' });
      expect(h.child('a').status).toBe('backoff');
      h.clock.increment(delay - 1);
      expect(h.child('a').status).toBe('backoff');
      expect(h.child('a').ref).toBeUndefined();
      h.clock.increment(1);
      expect(h.child('a').status).toBe('running');
    };
    expectDelay(110);
    expectDelay(220);
    expectDelay(440);
    expectDelay(880);
    expectDelay(1100); // capped at 1000, plus jitter
    expect(lifecycle(journal)).toEqual(Array(5).fill(['stop:a', 'start:a']).flat());
  });

  it('resets the backoff once the child has been stable for resetAfterMs', () => {
    const journal: string[] = [];
    const h = harness({ ...backoffOptions, children: [probe('a', journal)] });

    h.send('a', { type: 'crash' });
    h.clock.increment(110);
    h.send('a', { type: 'crash' });
    h.clock.increment(220);
    expect(h.child('a')).toMatchObject({ status: 'running', restarts: 2 });

    // Not yet stable: the next delay would still be 440.
    h.clock.increment(4999);
    expect(h.child('a').restarts).toBe(2);
    h.clock.increment(1);
    expect(h.child('a').restarts).toBe(0);

    h.send('a', { type: 'crash' });
    h.clock.increment(109);
    expect(h.child('a').status).toBe('backoff');
    h.clock.increment(1);
    expect(h.child('a').status).toBe('running');
  });

  it('a stable timer of an older incarnation does not reset a newer one', () => {
    const journal: string[] = [];
    const h = harness({ ...backoffOptions, children: [probe('a', journal)] });

    h.send('a', { type: 'crash' });
    h.clock.increment(110); // incarnation 2 runs; its stable timer is due at 5110
    h.clock.increment(4000);
    h.send('a', { type: 'crash' });
    h.clock.increment(220); // incarnation 3 at 4330, stable at 9330
    h.clock.increment(1000); // 5330: the old timer has fired, for generation 2
    expect(h.child('a')).toMatchObject({ generation: 3, restarts: 2 });
  });

  it('a backoff timer of an earlier exit does not cut a later backoff short', () => {
    const journal: string[] = [];
    const h = harness({ ...backoffOptions, children: [probe('a', journal)] });

    h.send('a', { type: 'crash' }); // backoff 110 ms, due at 110
    // An operator terminates it and restarts it at once (OTP refuses to restart a child
    // that waits to be restarted), and it crashes again: its next backoff is 220 ms.
    h.runtime.actor.send({ type: 'supervisor.terminate-child', id: 'a' });
    h.runtime.actor.send({ type: 'supervisor.restart-child', id: 'a' });
    expect(h.child('a').status).toBe('running');
    h.clock.increment(10);
    h.send('a', { type: 'crash' }); // due at 230
    h.clock.increment(100); // 110: the first timer fires; it is stale
    expect(h.child('a').status).toBe('backoff');
    h.clock.increment(119);
    expect(h.child('a').status).toBe('backoff');
    h.clock.increment(1);
    expect(h.child('a').status).toBe('running');
  });

  it('nor does one of a child that was cancelled and started again', () => {
    const journal: string[] = [];
    const h = harness({ ...backoffOptions, children: [probe('a', journal)] });

    h.send('a', { type: 'crash' }); // due at 110
    h.runtime.actor.send({ type: 'supervisor.cancel-child', id: 'a' });
    h.runtime.actor.send({ type: 'supervisor.start-child', spec: probe('a', journal) });
    h.clock.increment(10);
    h.send('a', { type: 'crash' }); // due at 120
    h.clock.increment(100);
    expect(h.child('a').status).toBe('backoff');
    h.clock.increment(10);
    expect(h.child('a').status).toBe('running');
  });

  it('restarts one-for-all siblings together after one backoff', () => {
    const journal: string[] = [];
    const h = harness({
      ...backoffOptions,
      strategy: 'one-for-all',
      children: [probe('a', journal), probe('b', journal)],
    });
    journal.length = 0;

    h.send('b', { type: 'crash' });
    expect(lifecycle(journal)).toEqual(['stop:b', 'stop:a']);
    h.clock.increment(109);
    expect(lifecycle(journal)).toEqual(['stop:b', 'stop:a']);
    h.clock.increment(1);
    expect(lifecycle(journal)).toEqual(['stop:b', 'stop:a', 'start:a', 'start:b']);
  });
});

describe('a child whose start function throws', () => {
  const flaky = (journal: string[], failures: number): ChildSpec => {
    let attempts = 0;
    return {
      id: 'flaky',
      start: () => {
        attempts += 1;
        if (attempts <= failures) throw new Error('cannot start');
        return { logic: probeMachine, input: { id: 'flaky', journal } };
      },
    };
  };

  it('is retried after the restart backoff, and the children after it start then', () => {
    const journal: string[] = [];
    const h = harness({
      restartBackoff: { backoff: { kind: 'fixed', delayMs: 100 }, resetAfterMs: 1000 },
      children: [probe('a', journal), flaky(journal, 1), probe('c', journal)],
    });
    expect(h.child('flaky')).toMatchObject({ status: 'backoff', totalRestarts: 1 });
    expect(lifecycle(journal)).toEqual(['start:a']);

    h.clock.increment(100);

    expect(lifecycle(journal)).toEqual(['start:a', 'start:flaky', 'start:c']);
    expect(h.runtime.actor.getSnapshot().value).toBe('running');
  });

  it('makes the supervisor give up once the restart intensity is spent', async () => {
    const journal: string[] = [];
    const h = harness({
      intensity: { maxRestarts: 2, withinMs: 1000 },
      children: [probe('a', journal), flaky(journal, Infinity), probe('c', journal)],
    });
    expect(h.runtime.actor.getSnapshot().output).toEqual({
      exit: 'failed',
      reason: expect.stringContaining('cannot start') as unknown,
    });
    expect(lifecycle(journal)).toEqual(['start:a', 'stop:a']);
    await expect(h.runtime.exited).resolves.toMatchObject({ exit: 'failed' });
  });
});

describe('ordered start', () => {
  it('starts a child only once the one before it is ready', () => {
    const journal: string[] = [];
    const h = harness({
      children: [
        probe('connection', journal, { readyWhenRunning: true }),
        probe('store', journal, { readyWhenRunning: true }),
        probe('consumer', journal),
      ],
    });
    expect(lifecycle(journal)).toEqual(['start:connection']);
    expect(h.runtime.actor.getSnapshot().value).toBe('starting');
    expect(h.child('store').status).toBe('pending');

    h.send('connection', { type: 'ready' });
    expect(lifecycle(journal)).toEqual(['start:connection', 'start:store']);

    h.send('store', { type: 'ready' });
    expect(lifecycle(journal)).toEqual(['start:connection', 'start:store', 'start:consumer']);
    expect(h.runtime.actor.getSnapshot().value).toBe('running');
  });

  it('waits for readiness again when it restarts children', () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'rest-for-one',
      children: [
        probe('connection', journal, { readyWhenRunning: true }),
        probe('consumer', journal),
      ],
    });
    h.send('connection', { type: 'ready' });
    journal.length = 0;

    h.send('connection', { type: 'crash' });
    expect(lifecycle(journal)).toEqual(['stop:connection', 'stop:consumer', 'start:connection']);
    h.send('connection', { type: 'ready' });
    expect(lifecycle(journal)).toEqual([
      'stop:connection',
      'stop:consumer',
      'start:connection',
      'start:consumer',
    ]);
  });
});

describe('shutdown', () => {
  it('stops children in reverse order, each after it drained', async () => {
    const journal: string[] = [];
    const h = harness({
      children: ['a', 'b', 'c'].map((id) => probe(id, journal, { drainsOnEvent: true })),
    });
    journal.length = 0;

    const exited = h.runtime.shutdown();
    expect(journal).toEqual(['shutdown:c']);
    h.clock.increment(4000);
    expect(journal).toEqual(['shutdown:c']);
    // (The stop of c lands in c's mailbox behind the event it is processing, so it is
    // journaled just after b is asked to drain; both happen within this one send.)
    h.send('c', { type: 'drained' });
    expect(journal).toEqual(['shutdown:c', 'shutdown:b', 'stop:c']);
    h.send('b', { type: 'drained' });
    expect(journal.slice(3)).toEqual(['shutdown:a', 'stop:b']);
    expect(h.runtime.actor.getSnapshot().value).toBe('stopping');
    h.send('a', { type: 'drained' });
    expect(journal.slice(5)).toEqual(['stop:a']);
    await expect(exited).resolves.toEqual({ exit: 'shutdown' });
    expect(h.runtime.actor.getSnapshot().value).toBe('stopped');
  });

  it('stops a child that never drains once its shutdown budget has passed', async () => {
    const journal: string[] = [];
    const h = harness({
      children: [
        probe('a', journal, { drainsOnEvent: true, shutdown: 'brutal' }),
        probe('b', journal, { drainsOnEvent: true, shutdown: 1000 }),
      ],
    });
    journal.length = 0;

    const exited = h.runtime.shutdown();
    expect(journal).toEqual(['shutdown:b']);
    h.clock.increment(999);
    expect(journal).toEqual(['shutdown:b']);
    expect(h.runtime.actor.getSnapshot().value).toBe('stopping');

    h.clock.increment(1);
    // b is stopped after its budget; a is brutal: stopped at once, never asked to drain.
    expect(journal).toEqual(['shutdown:b', 'stop:b', 'stop:a']);
    await expect(exited).resolves.toEqual({ exit: 'shutdown' });
  });

  it('with stopInParallel, asks every child to drain at once, each within its own budget', async () => {
    const journal: string[] = [];
    const h = harness({
      stopInParallel: true,
      children: [
        probe('a', journal, { drainsOnEvent: true, shutdown: 1000 }),
        probe('b', journal, { drainsOnEvent: true, shutdown: 1000 }),
        probe('c', journal, { drainsOnEvent: true, shutdown: 1000 }),
      ],
    });
    journal.length = 0;

    const exited = h.runtime.shutdown();
    expect([...journal].sort()).toEqual(['shutdown:a', 'shutdown:b', 'shutdown:c']);
    h.clock.increment(999);
    expect(journal.filter((line) => line.startsWith('stop:'))).toEqual([]);
    // One budget for all of them, not one after the other (that would take 3000 ms).
    h.clock.increment(1);
    expect(journal.filter((line) => line.startsWith('stop:')).sort()).toEqual([
      'stop:a',
      'stop:b',
      'stop:c',
    ]);
    await expect(exited).resolves.toEqual({ exit: 'shutdown' });
  });

  it('waits as long as it takes for an infinity child', () => {
    const journal: string[] = [];
    const h = harness({
      children: [probe('a', journal, { drainsOnEvent: true, shutdown: 'infinity' })],
    });
    journal.length = 0;
    void h.runtime.shutdown();
    h.clock.increment(24 * 3_600_000);
    expect(journal).toEqual(['shutdown:a']);
    h.send('a', { type: 'drained' });
    expect(journal).toEqual(['shutdown:a', 'stop:a']);
    expect(h.runtime.actor.getSnapshot().status).toBe('done');
  });

  it('a child that exits while draining counts as drained, not as a crash', async () => {
    const journal: string[] = [];
    const h = harness({
      children: [
        probe('a', journal, { drainsOnEvent: true }),
        probe('b', journal, { drainsOnEvent: true }),
      ],
    });
    journal.length = 0;
    const exited = h.runtime.shutdown();
    h.send('b', { type: 'crash' });
    expect(journal).toEqual(['shutdown:b', 'stop:b', 'shutdown:a']);
    h.send('a', { type: 'finish' });
    await expect(exited).resolves.toEqual({ exit: 'shutdown' });
    expect(h.child('a').totalRestarts + h.child('b').totalRestarts).toBe(0);
  });
});

describe('dynamic children', () => {
  it('starts a child at run time, after the others', () => {
    const journal: string[] = [];
    const h = harness({ children: [probe('a', journal)] });
    h.runtime.actor.send({ type: 'supervisor.start-child', spec: probe('b', journal) });
    expect(lifecycle(journal)).toEqual(['start:a', 'start:b']);
    expect(h.context().order).toEqual(['a', 'b']);
    expect(h.child('b').status).toBe('running');

    // It is supervised like the others.
    h.send('b', { type: 'crash' });
    expect(h.child('b')).toMatchObject({ status: 'running', generation: 2 });
  });

  it('ignores a start request for an id in use', () => {
    const journal: string[] = [];
    const h = harness({ children: [probe('a', journal)] });
    h.runtime.actor.send({ type: 'supervisor.start-child', spec: probe('a', journal) });
    expect(lifecycle(journal)).toEqual(['start:a']);
    expect(h.child('a').generation).toBe(1);
  });

  it('cancels a child: drained, stopped and forgotten, never restarted', () => {
    const journal: string[] = [];
    const h = harness({
      children: [probe('a', journal), probe('b', journal, { drainsOnEvent: true })],
    });
    journal.length = 0;

    h.runtime.actor.send({ type: 'supervisor.cancel-child', id: 'b' });
    expect(journal).toEqual(['shutdown:b']);
    expect(h.child('b').status).toBe('stopping');
    h.send('b', { type: 'drained' });
    expect(journal).toEqual(['shutdown:b', 'stop:b']);
    expect(h.context().children.b).toBeUndefined();
    expect(h.context().order).toEqual(['a']);
    expect(h.child('a').generation).toBe(1);
  });

  it('a child cancelled, started again and cancelled again gets its whole shutdown budget', () => {
    const journal: string[] = [];
    const b = probe('b', journal, { drainsOnEvent: true, shutdown: 1000 });
    const h = harness({ children: [probe('a', journal), b] });
    journal.length = 0;

    h.runtime.actor.send({ type: 'supervisor.cancel-child', id: 'b' }); // budget until 1000
    h.clock.increment(100);
    h.send('b', { type: 'drained' });
    h.runtime.actor.send({ type: 'supervisor.start-child', spec: b });
    h.clock.increment(100);
    h.runtime.actor.send({ type: 'supervisor.cancel-child', id: 'b' }); // budget until 1200
    expect(lifecycle(journal)).toEqual(['stop:b', 'start:b']);

    h.clock.increment(999); // 1199: the first cancel's timer has fired; it is stale
    expect(lifecycle(journal)).toEqual(['stop:b', 'start:b']);
    expect(h.child('b').status).toBe('stopping');
    h.clock.increment(1);
    expect(lifecycle(journal)).toEqual(['stop:b', 'start:b', 'stop:b']);
    expect(h.context().children.b).toBeUndefined();
  });

  it('restarts a terminated child on request, at once and without counting against intensity', () => {
    const journal: string[] = [];
    const h = harness({
      intensity: { maxRestarts: 0, withinMs: 1000 },
      restartBackoff: {
        backoff: { kind: 'fixed', delayMs: 500 },
        resetAfterMs: 1000,
      },
      children: [probe('a', journal), probe('b', journal), probe('c', journal)],
    });
    journal.length = 0;

    h.runtime.actor.send({ type: 'supervisor.terminate-child', id: 'b' });
    expect(h.child('b')).toMatchObject({ status: 'stopped', ref: undefined });
    h.runtime.actor.send({ type: 'supervisor.restart-child', id: 'b' });
    expect(lifecycle(journal)).toEqual(['stop:b', 'start:b']);
    expect(h.child('b')).toMatchObject({ status: 'running', generation: 2 });
    expect(h.runtime.actor.getSnapshot().status).toBe('active');
  });

  it('can start again a child it cancelled', () => {
    const journal: string[] = [];
    const h = harness({ children: [probe('a', journal), probe('b', journal)] });
    h.runtime.actor.send({ type: 'supervisor.cancel-child', id: 'a' });
    h.runtime.actor.send({ type: 'supervisor.start-child', spec: probe('a', journal) });
    expect(lifecycle(journal)).toEqual(['start:a', 'start:b', 'stop:a', 'start:a']);
    expect(h.context().order).toEqual(['b', 'a']);
  });

  it('settles the runtime promise once the root exits', async () => {
    const journal: string[] = [];
    const h = harness({ children: [probe('a', journal)] });
    await flush();
    await expect(h.runtime.shutdown()).resolves.toEqual({ exit: 'shutdown' });
  });
});

describe('edge cases', () => {
  it("drives a nested supervisor's backoff timers with the root's clock", () => {
    const journal: string[] = [];
    const h = harness({
      children: [
        supervisorChild('inner', {
          logger: silentLogger,
          restartBackoff: { backoff: { kind: 'fixed', delayMs: 250 }, resetAfterMs: 1000 },
          clock: { now: () => h.clock.now() },
          children: [probe('x', journal)],
        }),
      ],
    });
    const inner = (): SupervisorContext =>
      (h.child('inner').ref?.getSnapshot() as { context: SupervisorContext }).context;
    journal.length = 0;

    inner().children.x?.ref?.send({ type: 'crash' });
    h.clock.increment(249);
    expect(inner().children.x?.status).toBe('backoff');
    h.clock.increment(1);
    expect(inner().children.x?.status).toBe('running');
    expect(lifecycle(journal)).toEqual(['stop:x', 'start:x']);
  });

  it('shuts down cleanly while a child waits out its backoff', async () => {
    const journal: string[] = [];
    const h = harness({
      restartBackoff: { backoff: { kind: 'fixed', delayMs: 500 }, resetAfterMs: 1000 },
      children: [probe('a', journal), probe('b', journal)],
    });
    h.send('b', { type: 'crash' });
    expect(h.child('b').status).toBe('backoff');
    journal.length = 0;

    await expect(h.runtime.shutdown()).resolves.toEqual({ exit: 'shutdown' });
    expect(lifecycle(journal)).toEqual(['stop:a']);
    h.clock.increment(1000);
    expect(lifecycle(journal)).toEqual(['stop:a']);
  });

  it('shuts down while a child is still starting, and never starts the next one', async () => {
    const journal: string[] = [];
    const h = harness({
      children: [
        probe('a', journal, { readyWhenRunning: true, shutdown: 'brutal' }),
        probe('b', journal),
      ],
    });
    await expect(h.runtime.shutdown()).resolves.toEqual({ exit: 'shutdown' });
    expect(lifecycle(journal)).toEqual(['start:a', 'stop:a']);
  });

  it('cancels a child that waits out its backoff: it is never started again', () => {
    const journal: string[] = [];
    const h = harness({
      restartBackoff: { backoff: { kind: 'fixed', delayMs: 500 }, resetAfterMs: 1000 },
      children: [probe('a', journal), probe('b', journal)],
    });
    h.send('b', { type: 'crash' });
    h.runtime.actor.send({ type: 'supervisor.cancel-child', id: 'b' });
    h.clock.increment(1000);
    expect(h.context().children.b).toBeUndefined();
    expect(lifecycle(journal)).toEqual(['start:a', 'start:b', 'stop:b']);
    expect(h.runtime.actor.getSnapshot().value).toBe('running');
  });

  it('terminates a child that is still starting: the next ones start, and it can be restarted', () => {
    const journal: string[] = [];
    const h = harness({
      children: [probe('a', journal, { readyWhenRunning: true }), probe('b', journal)],
    });
    h.runtime.actor.send({ type: 'supervisor.terminate-child', id: 'a' });
    expect(lifecycle(journal)).toEqual(['start:a', 'stop:a', 'start:b']);
    h.runtime.actor.send({ type: 'supervisor.restart-child', id: 'a' });
    expect(lifecycle(journal)).toEqual(['start:a', 'stop:a', 'start:b', 'start:a']);
    expect(h.child('a')).toMatchObject({ status: 'starting', generation: 2 });
    h.send('a', { type: 'ready' });
    expect(h.child('a').status).toBe('running');
  });

  it('a shutdown during a one-for-all restart stops everyone and restarts no one', async () => {
    const journal: string[] = [];
    const h = harness({
      strategy: 'one-for-all',
      children: [
        probe('a', journal, { drainsOnEvent: true, shutdown: 1000 }),
        probe('b', journal),
        probe('c', journal, { drainsOnEvent: true, shutdown: 1000 }),
      ],
    });
    journal.length = 0;
    h.send('b', { type: 'crash' });
    // c drains first (reverse order); the supervisor is asked to stop meanwhile.
    expect(journal).toEqual(['stop:b', 'shutdown:c']);
    const exited = h.runtime.shutdown();
    h.clock.increment(1000);
    expect(journal).toEqual(['stop:b', 'shutdown:c', 'stop:c', 'shutdown:a']);
    h.send('a', { type: 'drained' });
    await expect(exited).resolves.toEqual({ exit: 'shutdown' });
    expect(lifecycle(journal)).toEqual(['stop:b', 'stop:c', 'stop:a']);
  });
});
