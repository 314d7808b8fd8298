// The supervisor's run-time API, answered as OTP answers: start, terminate, restart and
// delete a child; which_children and count_children; significant children and
// auto-shutdown; and the typed view that pools and the inspector read.
import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  countChildren,
  deleteChild,
  restartChild,
  startChild,
  startSupervisor,
  supervisorChild,
  supervisorView,
  terminateChild,
  whichChildren,
  cancelChild,
} from '../src/index.js';
import { silentLogger } from './helpers.js';
import { harness, lifecycle, probe } from './probe.js';

describe('requests about one child, answered', () => {
  it('start-child answers ok, already-started, then already-present once terminated', async () => {
    const journal: string[] = [];
    const h = harness({ children: [probe('a', journal)] });
    const ref = h.runtime.actor;

    await expect(startChild(ref, probe('b', journal))).resolves.toEqual({ ok: true });
    await expect(startChild(ref, probe('b', journal))).resolves.toEqual({
      ok: false,
      error: 'already-started',
    });
    await expect(terminateChild(ref, 'b')).resolves.toEqual({ ok: true });
    await expect(startChild(ref, probe('b', journal))).resolves.toEqual({
      ok: false,
      error: 'already-present',
    });
    expect(lifecycle(journal)).toEqual(['start:a', 'start:b', 'stop:b']);
  });

  it('start-child answers invalid-spec for a spec that fails validation, naming the field', async () => {
    const h = harness({ children: [] });
    await expect(
      startChild(h.runtime.actor, { ...probe('x', []), shutdown: -1 }),
    ).resolves.toMatchObject({
      ok: false,
      error: 'invalid-spec',
      reason: expect.stringContaining('shutdown') as unknown,
    });
  });

  it('terminate keeps the spec, restart starts it again, delete forgets it', async () => {
    const journal: string[] = [];
    const h = harness({ children: [probe('a', journal), probe('b', journal)] });
    const ref = h.runtime.actor;
    journal.length = 0;

    await expect(restartChild(ref, 'b')).resolves.toEqual({ ok: false, error: 'running' });
    await expect(deleteChild(ref, 'b')).resolves.toEqual({ ok: false, error: 'running' });
    await expect(terminateChild(ref, 'b')).resolves.toEqual({ ok: true });
    expect(h.child('b')).toMatchObject({ status: 'stopped', ref: undefined });
    // Terminating a terminated child is fine (OTP).
    await expect(terminateChild(ref, 'b')).resolves.toEqual({ ok: true });

    await expect(restartChild(ref, 'b')).resolves.toEqual({ ok: true });
    expect(h.child('b')).toMatchObject({ status: 'running', generation: 2 });
    await expect(terminateChild(ref, 'b')).resolves.toEqual({ ok: true });
    await expect(deleteChild(ref, 'b')).resolves.toEqual({ ok: true });
    expect(supervisorView(ref.getSnapshot()).children.map((child) => child.id)).toEqual(['a']);
    expect(lifecycle(journal)).toEqual(['stop:b', 'start:b', 'stop:b']);

    for (const request of [terminateChild, restartChild, deleteChild, cancelChild]) {
      await expect(request(ref, 'b')).resolves.toEqual({ ok: false, error: 'not-found' });
    }
  });

  it('a terminated temporary child is forgotten, so it can never be restarted (OTP)', async () => {
    const journal: string[] = [];
    const h = harness({ children: [probe('t', journal, { restart: 'temporary' })] });
    const ref = h.runtime.actor;
    await expect(restartChild(ref, 't')).resolves.toEqual({ ok: false, error: 'running' });
    await expect(terminateChild(ref, 't')).resolves.toEqual({ ok: true });
    await expect(restartChild(ref, 't')).resolves.toEqual({ ok: false, error: 'not-found' });
    expect(lifecycle(journal)).toEqual(['start:t', 'stop:t']);
  });

  it('answers restarting for a child that waits out its restart backoff', async () => {
    const journal: string[] = [];
    const h = harness({
      restartBackoff: { backoff: { kind: 'fixed', delayMs: 100 }, resetAfterMs: 1000 },
      children: [probe('a', journal)],
    });
    h.send('a', { type: 'crash' });
    await expect(restartChild(h.runtime.actor, 'a')).resolves.toEqual({
      ok: false,
      error: 'restarting',
    });
    await expect(deleteChild(h.runtime.actor, 'a')).resolves.toEqual({
      ok: false,
      error: 'restarting',
    });
  });

  it('refuses to start or restart a child while it shuts down', async () => {
    const journal: string[] = [];
    const h = harness({
      children: [probe('a', journal), probe('b', journal, { drainsOnEvent: true })],
    });
    const ref = h.runtime.actor;
    await terminateChild(ref, 'a');
    ref.send({ type: 'shutdown' });
    expect(supervisorView(ref.getSnapshot()).phase).toBe('stopping');
    await expect(startChild(ref, probe('c', journal))).resolves.toEqual({
      ok: false,
      error: 'shutting-down',
    });
    await expect(restartChild(ref, 'a')).resolves.toEqual({ ok: false, error: 'shutting-down' });
    h.send('b', { type: 'drained' });
    await expect(h.runtime.exited).resolves.toEqual({ exit: 'shutdown' });
    expect(lifecycle(journal)).toEqual(['start:a', 'start:b', 'stop:a', 'stop:b']);
  });

  it('refuses a request to a supervisor that is no longer running', async () => {
    const h = harness({ children: [] });
    await h.runtime.shutdown();
    await expect(terminateChild(h.runtime.actor, 'a')).rejects.toThrow(/not running/);
  });
});

describe('which_children and count_children', () => {
  it('lists children in start order with their actor, restarting or nothing', () => {
    const journal: string[] = [];
    const h = harness({
      restartBackoff: { backoff: { kind: 'fixed', delayMs: 100 }, resetAfterMs: 1000 },
      children: [
        probe('a', journal),
        probe('b', journal),
        supervisorChild('inner', { logger: silentLogger, children: [probe('x', journal)] }),
      ],
    });
    h.send('a', { type: 'crash' });
    h.runtime.actor.send({ type: 'supervisor.terminate-child', id: 'b' });
    const snapshot = h.runtime.actor.getSnapshot();

    expect(whichChildren(snapshot)).toEqual([
      { id: 'a', child: 'restarting', type: 'worker' },
      { id: 'b', child: undefined, type: 'worker' },
      { id: 'inner', child: h.child('inner').ref, type: 'supervisor' },
    ]);
    expect(countChildren(snapshot)).toEqual({ specs: 3, active: 1, supervisors: 1, workers: 2 });
  });
});

describe('significant children and auto-shutdown (OTP)', () => {
  it('any-significant: a significant child that ends by itself shuts the supervisor down', async () => {
    const journal: string[] = [];
    const h = harness({
      autoShutdown: 'any-significant',
      children: [
        probe('a', journal),
        probe('job', journal, { restart: 'transient', significant: true }),
        probe('c', journal),
      ],
    });
    journal.length = 0;
    h.send('job', { type: 'finish' });
    await expect(h.runtime.exited).resolves.toEqual({ exit: 'shutdown' });
    expect(lifecycle(journal)).toEqual(['stop:job', 'stop:c', 'stop:a']);
  });

  it('a significant transient child that crashes is restarted, not a reason to stop', () => {
    const journal: string[] = [];
    const h = harness({
      autoShutdown: 'any-significant',
      children: [probe('job', journal, { restart: 'transient', significant: true })],
    });
    h.send('job', { type: 'crash' });
    expect(h.child('job')).toMatchObject({ status: 'running', generation: 2 });
  });

  it('all-significant: shuts down once every significant child has ended, terminated ones included', async () => {
    const journal: string[] = [];
    const h = harness({
      autoShutdown: 'all-significant',
      children: [
        probe('a', journal),
        probe('one', journal, { restart: 'transient', significant: true }),
        probe('two', journal, { restart: 'temporary', significant: true }),
      ],
    });
    h.runtime.actor.send({ type: 'supervisor.terminate-child', id: 'one' });
    expect(h.runtime.actor.getSnapshot().status).toBe('active');
    h.send('two', { type: 'crash' });
    await expect(h.runtime.exited).resolves.toEqual({ exit: 'shutdown' });
  });

  it('a terminate request does not count as ending by itself', () => {
    const journal: string[] = [];
    const h = harness({
      autoShutdown: 'any-significant',
      children: [
        probe('a', journal),
        probe('job', journal, { restart: 'temporary', significant: true }),
      ],
    });
    h.runtime.actor.send({ type: 'supervisor.terminate-child', id: 'job' });
    expect(h.runtime.actor.getSnapshot().value).toBe('running');
  });

  it('a pool whose job ended exits normally: its transient parent spec does not restart it', () => {
    const journal: string[] = [];
    const h = harness({
      children: [
        supervisorChild(
          'batch',
          {
            logger: silentLogger,
            autoShutdown: 'any-significant',
            children: [probe('job', journal, { restart: 'transient', significant: true })],
          },
          { restart: 'transient' },
        ),
      ],
    });
    const inner = h.child('batch').ref;
    const job = supervisorView(inner?.getSnapshot() as Parameters<typeof supervisorView>[0])
      .children[0]?.ref;
    job?.send({ type: 'finish' });
    expect(h.child('batch')).toMatchObject({ status: 'stopped', generation: 1 });
  });

  it('rejects a significant permanent child, and a significant child without auto-shutdown', async () => {
    await expect(
      startSupervisor({
        logger: silentLogger,
        autoShutdown: 'any-significant',
        children: [probe('p', [], { significant: true })],
      }).exited,
    ).rejects.toThrow(ConfigurationError);
    await expect(
      startSupervisor({
        logger: silentLogger,
        children: [probe('t', [], { restart: 'transient', significant: true })],
      }).exited,
    ).rejects.toThrow(/children\[0\]\.significant/);
  });
});

describe('the typed view', () => {
  it('shows phase, children in order, their status, and who is leaving', () => {
    const journal: string[] = [];
    const h = harness({
      stopInParallel: true,
      children: [probe('a', journal), probe('b', journal, { drainsOnEvent: true, shutdown: 1000 })],
    });
    h.runtime.actor.send({ type: 'supervisor.cancel-child', id: 'b' });
    const view = supervisorView(h.runtime.actor.getSnapshot());
    expect(view.phase).toBe('stopping');
    expect(view.stopQueue).toEqual(['b']);
    expect(view.children.map(({ id, status, leaving }) => ({ id, status, leaving }))).toEqual([
      { id: 'a', status: 'running', leaving: false },
      { id: 'b', status: 'stopping', leaving: true },
    ]);
  });
});
