// The inspector's model from a real supervision tree (a pool on the in-memory ports):
// the tree and kinds, worker states as messages flow, restarts, bounded event logs,
// stopped actors pruned, and nothing kept when it is not attached.
import { InspectionHub, startSupervisor } from '@troupe/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { setup, SimulatedClock } from 'xstate';
import { Inspector, type TreeNode } from '../src/index.js';
import { isAttachedDirectly } from '../src/internal/direct-inspection.js';
import { flush, silentLogger, startInspectedPool, type InspectedPool } from './helpers.js';

let current: InspectedPool | undefined;
afterEach(async () => {
  await current?.stop();
  current = undefined;
});

async function start(...args: Parameters<typeof startInspectedPool>): Promise<InspectedPool> {
  current = await startInspectedPool(...args);
  return current;
}

function find(nodes: readonly TreeNode[], path: string): TreeNode | undefined {
  for (const node of nodes) {
    if (node.path === path) return node;
    const inner = find(node.children, path);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

describe('the supervision tree', () => {
  it('shows root → pool → workers and consumer, with kinds, statuses and states', async () => {
    const h = await start({ concurrency: 2 });
    const tree = h.inspector.tree();
    expect(tree).toHaveLength(1);
    const [root] = tree;
    expect(root).toMatchObject({
      id: 'root',
      kind: 'supervisor',
      status: 'active',
      state: 'running',
    });
    const pool = find(tree, 'root/pool:orders');
    expect(pool).toMatchObject({
      kind: 'supervisor',
      state: 'running',
      childStatus: 'running',
      restarts: 0,
    });
    expect(
      pool?.children.map((child) => [child.id, child.kind, child.state, child.childStatus]),
    ).toEqual([
      ['worker-1', 'worker', 'idle', 'running'],
      ['worker-2', 'worker', 'idle', 'running'],
      ['consumer', 'consumer', 'consuming', 'running'],
    ]);
    // Invoked callback and promise actors are not machines: not in the tree.
    expect(
      h.inspector
        .actors()
        .map((actor) => actor.machine)
        .sort(),
    ).toEqual(['consumer', 'processor', 'processor', 'supervisor', 'supervisor']);
  });

  it('follows a worker through a message: in flight while handling, idle after, events logged', async () => {
    const h = await start({ concurrency: 1 });
    await h.publish({ id: 'm-1', behaviour: 'hold' });
    const worker = find(h.inspector.tree(), 'root/pool:orders/worker-1');
    expect(worker).toMatchObject({ state: 'consuming.handling', messageId: 'm-1', attempt: 1 });
    expect(h.inspector.inFlight()).toEqual([
      expect.objectContaining({
        messageId: 'm-1',
        path: 'root/pool:orders/worker-1',
        state: 'consuming.handling',
      }),
    ]);

    h.release('m-1');
    await flush();
    expect(find(h.inspector.tree(), 'root/pool:orders/worker-1')?.state).toBe('idle');
    expect(h.inspector.inFlight()).toEqual([]);

    const events = h.inspector.events({ messageId: 'm-1' });
    expect(events.map((event) => [event.type, event.from, event.to])).toEqual([
      ['batch.received', 'idle', 'consuming.handling'],
      ['handler.settled', 'consuming.handling', 'persisting'],
      ['persist.settled', 'persisting', 'idle'],
    ]);
    expect(events[0]?.transitions).toEqual([
      { source: 'idle', event: 'batch.received', targets: ['consuming.handling'] },
    ]);
    // Only scalars are kept: no delivery, no body.
    expect(events[0]?.data).toBeUndefined();
    expect(events[1]?.data).toEqual({ run: 1 });
    const detail = h.inspector.actor('root/pool:orders/worker-1');
    // The context's scalars, read when asked; never its objects (store, logger, slot).
    expect(detail?.context).toMatchObject({ messageId: 'm-1', attempt: 1, draining: false });
    for (const key of ['store', 'log', 'slot', 'definition', 'dispatcher']) {
      expect(detail?.context).not.toHaveProperty(key);
    }
    expect(detail?.lastTransition).toMatchObject({ type: 'persist.settled', to: 'idle' });
    expect(JSON.stringify(detail)).not.toContain('"body"');
  });

  it('records a worker restart in the pool supervisor and the tree', async () => {
    const h = await start({ concurrency: 1, simulated: true });
    const before = h.inspector.actor('root/pool:orders/worker-1')?.actor.sessionId;
    await h.publish({ id: 'boom', behaviour: 'crash' });
    // The worker fails (escalates); after a backoff of 10 ms (simulated) it restarts and
    // takes the redelivered message.
    h.clock?.increment(100);
    await flush();
    expect(await h.store.count('orders')).toBe(1);
    const restarts = h.inspector.restarts();
    expect(restarts).toEqual([expect.objectContaining({ child: 'worker-1', total: 1 })]);
    const worker = find(h.inspector.tree(), 'root/pool:orders/worker-1');
    expect(worker).toMatchObject({ restarts: 1, status: 'active', state: 'idle' });
    expect(worker?.sessionId).not.toBe(before);
    // The old incarnation is kept (bounded) as ended, with its error.
    const old = h.inspector.actors().find((actor) => actor.sessionId === before);
    expect(old).toMatchObject({ status: 'done', state: 'failed', lastError: 'TRANSIENT: crash' });
    const pool = h.inspector.actor('root/pool:orders');
    expect(pool?.restarts).toHaveLength(1);
    expect(pool?.children?.find((child) => child.id === 'worker-1')?.totalRestarts).toBe(1);

    // Once the tree has stopped, it still shows each child once, its last incarnation.
    await h.stop();
    const stopped = find(h.inspector.tree(), 'root/pool:orders');
    // The pool reached its final state (done); its children were stopped or finished.
    expect(stopped?.status).toBe('done');
    expect(stopped?.children.map((child) => child.id)).toEqual(['worker-1', 'consumer']);
    expect(stopped?.children.every((child) => child.status !== 'active')).toBe(true);
  });
});

describe('bounded memory', () => {
  it('streams at most `maxBatchEvents` events per update, the newest, and counts the rest as dropped', async () => {
    const h = await start({ concurrency: 1, inspector: { maxBatchEvents: 3, throttleMs: 1 } });
    const updates: { events: number; dropped: number; last: string | undefined }[] = [];
    const unsubscribe = h.inspector.subscribe((update) =>
      updates.push({
        events: update.events.length,
        dropped: update.dropped,
        last: update.events.at(-1)?.messageId,
      }),
    );
    await h.publish(
      ...Array.from({ length: 10 }, (_, i) => ({ id: `s-${i}`, behaviour: 'ok' as const })),
    );
    expect(await h.store.count('orders')).toBe(10);
    await vi.waitFor(() => expect(updates.some((update) => update.last === 's-9')).toBe(true));
    unsubscribe();
    for (const update of updates) expect(update.events).toBeLessThanOrEqual(3);
    const streamed = updates.reduce((sum, update) => sum + update.events + update.dropped, 0);
    // Every event of the worker was streamed or counted as dropped: three per message.
    expect(streamed).toBeGreaterThanOrEqual(30);
    expect(updates.some((update) => update.dropped > 0)).toBe(true);
  });

  it('keeps at most `eventsPerActor` events per actor', async () => {
    const h = await start({ concurrency: 1, inspector: { eventsPerActor: 5 } });
    await h.publish(
      ...Array.from({ length: 10 }, (_, i) => ({ id: `o-${i}`, behaviour: 'ok' as const })),
    );
    expect(await h.store.count('orders')).toBe(10);
    const events = h.inspector.actor('root/pool:orders/worker-1')?.events ?? [];
    expect(events).toHaveLength(5);
    // The newest are kept.
    expect(events.at(-1)).toMatchObject({ type: 'persist.settled', messageId: 'o-9' });
    expect(h.inspector.events({ actor: 'root/pool:orders/worker-1', limit: 2 })).toHaveLength(2);
  });

  it('forgets stopped actors after `retainStoppedMs`, and keeps at most `maxStopped`', async () => {
    let now = 1_000;
    const h = await start({
      concurrency: 3,
      inspector: { now: () => now, retainStoppedMs: 5_000, maxStopped: 2 },
    });
    for (const id of ['worker-2', 'worker-3']) {
      h.runtime.actor.getSnapshot().context.children['pool:orders']?.ref?.send({
        type: 'supervisor.cancel-child',
        id,
      });
    }
    await flush();
    expect(h.inspector.size()).toEqual({ live: 4, stopped: 2 });
    expect(
      h.inspector
        .actors()
        .filter((a) => a.status === 'stopped')
        .map((a) => a.id)
        .sort(),
    ).toEqual(['worker-2', 'worker-3']);
    // Cancelled children are gone from the pool's records, and from the tree.
    expect(find(h.inspector.tree(), 'root/pool:orders')?.children.map((c) => c.id)).toEqual([
      'worker-1',
      'consumer',
    ]);

    now += 5_000;
    expect(h.inspector.size()).toEqual({ live: 4, stopped: 0 });

    // Past maxStopped, the oldest go first.
    await h.stop();
    expect(h.inspector.size()).toEqual({ live: 0, stopped: 2 });
  });

  it('computes nothing when the inspector is not attached', async () => {
    const h = await start({ attach: false });
    await h.publish({ id: 'x', behaviour: 'ok' });
    expect(h.inspector.tree()).toEqual([]);
    expect(h.inspector.size()).toEqual({ live: 0, stopped: 0 });
  });

  it('learns a running tree when attached late', async () => {
    const h = await start({ attach: false, concurrency: 1 });
    h.hub.subscribe(h.inspector.listener);
    await h.publish({ id: 'late', behaviour: 'ok' });
    expect(h.inspector.actor('root/pool:orders/worker-1')?.actor).toMatchObject({
      kind: 'worker',
      state: 'idle',
      messageId: 'late',
    });
    expect(find(h.inspector.tree(), 'root/pool:orders/worker-1')).toBeDefined();
  });
});

describe('attaching to a running tree without a hub', () => {
  it('reads the tree from the current snapshots, follows it, and stops when detached', async () => {
    const h = await start({ hub: false, attach: false, concurrency: 2 });
    await h.publish({ id: 'early', behaviour: 'hold' });
    const detach = h.inspector.attach(h.runtime.actor);
    const pool = find(h.inspector.tree(), 'root/pool:orders');
    expect(pool?.children.map((child) => [child.id, child.kind, child.state])).toEqual([
      ['worker-1', 'worker', 'consuming.handling'],
      ['worker-2', 'worker', 'idle'],
      ['consumer', 'consumer', 'consuming'],
    ]);
    expect(h.inspector.inFlight().map((message) => message.messageId)).toEqual(['early']);

    h.release('early');
    await flush();
    expect(h.inspector.events({ messageId: 'early' }).map((event) => event.type)).toEqual([
      'handler.settled',
      'persist.settled',
    ]);
    expect(h.inspector.inFlight()).toEqual([]);

    detach();
    await h.publish({ id: 'unseen', behaviour: 'ok' });
    expect(h.inspector.events({ messageId: 'unseen' })).toEqual([]);
  });
});

describe('attaching without the copy XState makes for inspect observers', () => {
  it('takes the direct path on this XState, and restores the system when detached', async () => {
    const h = await start({ hub: false, attach: false, concurrency: 1 });
    const system = h.runtime.actor.system as unknown as { _sendInspectionEvent: unknown };
    const original = system._sendInspectionEvent;
    const detach = h.inspector.attach(h.runtime.actor);
    expect(isAttachedDirectly(h.runtime.actor.system)).toBe(true);
    expect(system._sendInspectionEvent).not.toBe(original);
    await h.publish({ id: 'direct', behaviour: 'ok' });
    expect(h.inspector.events({ messageId: 'direct' }).map((event) => event.type)).toContain(
      'persist.settled',
    );
    detach();
    detach(); // a second call changes nothing
    expect(isAttachedDirectly(h.runtime.actor.system)).toBe(false);
    expect(system._sendInspectionEvent).toBe(original);
  });

  it('serves several inspectors and the public observers side by side', async () => {
    const h = await start({ hub: false, attach: false, concurrency: 1 });
    const second = new Inspector();
    const seen: string[] = [];
    const subscription = h.runtime.actor.system.inspect((event) => {
      if (event.type === '@xstate.snapshot') seen.push(event.event.type);
    });
    const detachFirst = h.inspector.attach(h.runtime.actor);
    const detachSecond = second.attach(h.runtime.actor);
    await h.publish({ id: 'both', behaviour: 'ok' });
    expect(h.inspector.events({ messageId: 'both' }).length).toBeGreaterThan(0);
    expect(second.events({ messageId: 'both' }).length).toBeGreaterThan(0);
    expect(seen).toContain('persist.settled');
    detachFirst();
    await h.publish({ id: 'second-only', behaviour: 'ok' });
    expect(h.inspector.events({ messageId: 'second-only' })).toEqual([]);
    expect(second.events({ messageId: 'second-only' }).length).toBeGreaterThan(0);
    detachSecond();
    expect(isAttachedDirectly(h.runtime.actor.system)).toBe(false);
    seen.length = 0;
    await h.publish({ id: 'public-only', behaviour: 'ok' });
    expect(seen).toContain('persist.settled');
    subscription.unsubscribe();
  });
});

describe('the live stream', () => {
  it('batches updates: one per throttle period, with the tree and the new events', async () => {
    const h = await start({ concurrency: 1, inspector: { throttleMs: 50 } });
    // The throttle runs on timers: fake them so the test does not depend on the machine.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const updates: { events: number; tree: number }[] = [];
    const unsubscribe = h.inspector.subscribe((update) =>
      updates.push({ events: update.events.length, tree: update.tree.length }),
    );
    await h.publish(
      ...Array.from({ length: 5 }, (_, i) => ({ id: `s-${i}`, behaviour: 'ok' as const })),
    );
    vi.advanceTimersByTime(120);
    vi.useRealTimers();
    unsubscribe();
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(updates.length).toBeLessThanOrEqual(2);
    expect(updates.reduce((sum, u) => sum + u.events, 0)).toBeGreaterThanOrEqual(15);
    expect(updates[0]?.tree).toBe(1);
  });
});

describe('a child whose chart errors', () => {
  it('is marked `error` from its supervisor’s error event, and counted as a restart', async () => {
    const hub = new InspectionHub();
    const inspector = new Inspector();
    hub.subscribe(inspector.listener);
    const fragile = setup({
      actions: {
        explode: () => {
          throw new Error('kaboom');
        },
      },
    }).createMachine({
      id: 'fragile',
      initial: 'waiting',
      states: { waiting: { on: { boom: { actions: 'explode' } } } },
    });
    const clock = new SimulatedClock();
    const runtime = startSupervisor(
      {
        children: [{ id: 'fragile', kind: 'service', start: () => ({ logic: fragile }) }],
        logger: silentLogger,
        clock: { now: () => clock.now() },
        random: () => 0,
      },
      { inspection: hub, actorClock: clock },
    );
    await flush();
    const first = inspector.actor('root/fragile')?.actor;
    expect(first).toMatchObject({ kind: 'service', machine: 'fragile', state: 'waiting' });
    runtime.actor.getSnapshot().context.children['fragile']?.ref?.send({ type: 'boom' });
    await flush();
    expect(inspector.actors().find((actor) => actor.sessionId === first?.sessionId)).toMatchObject({
      status: 'error',
      lastError: 'kaboom',
    });
    clock.increment(10_000);
    await flush();
    expect(inspector.actor('root/fragile')?.actor).toMatchObject({
      status: 'active',
      state: 'waiting',
    });
    expect(inspector.restarts()).toEqual([expect.objectContaining({ child: 'fragile', total: 1 })]);
    await runtime.shutdown();
  });
});
