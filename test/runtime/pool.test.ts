// Processor pools on the in-memory broker and store, on a simulated clock: work
// processed, stored and acked; a busy worker cancelled (handler aborted, delivery
// requeued and taken by another worker); scaling up and down at run time; a worker
// crash restarting the worker with the delivery redelivered; graceful shutdown.
import { Scheduler, scalePool, type ChildSpec } from '@troupe/core';
import { setup } from 'xstate';
import { MemoryTransport } from '@troupe/memory';
import { afterEach, describe, expect, it } from 'vitest';
import { flush, orders, startPool, type PoolHarness } from './pool-harness.js';

let current: PoolHarness | undefined;

afterEach(async () => {
  // Leave no pool running between tests: stop it, letting hung handlers be aborted.
  const h = current;
  current = undefined;
  if (h === undefined || h.runtime.actor.getSnapshot().status !== 'active') return;
  const exited = h.runtime.shutdown();
  for (let i = 0; i < 10 && h.runtime.actor.getSnapshot().status === 'active'; i += 1) {
    h.clock.increment(1000);
    await flush();
  }
  await exited;
});

async function start(...args: Parameters<typeof startPool>): Promise<PoolHarness> {
  current = await startPool(...args);
  return current;
}

describe('a pool', () => {
  it('processes every message once: stored, acked, nothing left in the queue', async () => {
    const h = await start({ concurrency: 3 });
    expect(h.workers()).toEqual(['worker-1', 'worker-2', 'worker-3']);
    expect(h.child('consumer').status).toBe('running');

    await h.publish(...orders(20));

    expect(await h.store.count('orders')).toBe(20);
    expect(await h.store.get('orders', 'o-7')).toMatchObject({
      _key: 'o-7',
      id: 'o-7',
      by: 'orders',
    });
    expect(h.transport.acked).toBe(20);
    expect(h.transport.stats('orders')).toEqual({ ready: 0, unacked: 0, consumers: 1 });
    expect(h.calls.map((call) => call.id).sort()).toEqual(
      orders(20)
        .map((order) => order.id)
        .sort(),
    );
    expect(h.calls.every((call) => !call.redelivered)).toBe(true);
  });

  it('runs at most `concurrency` handlers at once, each worker one delivery', async () => {
    const h = await start({ concurrency: 2 });
    await h.publish(...orders(5, 'h', 'hold'));

    expect(h.running.size).toBe(2);
    expect(h.busyWorkers()).toEqual(['worker-1', 'worker-2']);
    // Prefetch = concurrency: the rest waits in the broker, not in the process.
    expect(h.transport.stats('orders')).toMatchObject({ ready: 3, unacked: 2 });

    for (const order of orders(5, 'h')) {
      h.release(order.id);
      await flush();
    }
    expect(h.peak()).toBe(2);
    expect(await h.store.count('orders')).toBe(5);
    expect(h.transport.acked).toBe(5);
  });
});

describe('cancelling a busy worker', () => {
  it('aborts its handler once the drain budget passes; the delivery is redelivered to another worker', async () => {
    const h = await start({ concurrency: 2 });
    await h.publish({ id: 'slow', behaviour: 'hang-once' });
    const [busy] = h.busyWorkers();
    expect(busy).toBeDefined();
    const other = h.workers().find((id) => id !== busy);
    const first = h.calls[0];
    expect(first).toMatchObject({ id: 'slow', redelivered: false });

    h.runtime.actor.send({ type: 'supervisor.cancel-child', id: busy ?? '' });
    await flush();
    // It is asked to drain first: its handler keeps running within the budget (1000 ms).
    expect(h.child(busy ?? '').status).toBe('stopping');
    h.clock.increment(999);
    await flush();
    expect(first?.signal.aborted).toBe(false);
    expect(h.transport.acked).toBe(0);

    h.clock.increment(1);
    await flush();

    expect(first?.signal.aborted).toBe(true);
    expect(h.context().children[busy ?? '']).toBeUndefined();
    expect(h.workers()).toEqual([other]);
    // Requeued by the stopped worker, redelivered, taken by the other worker and done.
    expect(h.calls).toHaveLength(2);
    expect(h.calls[1]).toMatchObject({ id: 'slow', redelivered: true });
    expect(await h.store.get('orders', 'slow')).toMatchObject({ id: 'slow' });
    expect(h.transport.acked).toBe(1);
    expect(h.transport.stats('orders')).toMatchObject({ ready: 0, unacked: 0 });
    expect(h.transport.peek('orders.dead')).toHaveLength(0);
  });

  it('lets a handler that finishes within the drain budget complete and ack', async () => {
    const h = await start({ concurrency: 2 });
    await h.publish({ id: 'slow', behaviour: 'hold' });
    const [busy] = h.busyWorkers();

    h.runtime.actor.send({ type: 'supervisor.cancel-child', id: busy ?? '' });
    await flush();
    h.clock.increment(500);
    h.release('slow');
    await flush();

    expect(h.calls).toHaveLength(1);
    expect(h.calls[0]?.signal.aborted).toBe(false);
    expect(h.transport.acked).toBe(1);
    expect(h.context().children[busy ?? '']).toBeUndefined();
    expect(h.workers()).toHaveLength(1);
  });
});

describe('scaling a pool at run time', () => {
  it('scales up: new workers start and take work', async () => {
    const h = await start({ concurrency: 2 });
    scalePool(h.runtime.actor, h.pool, 4);
    await flush();
    expect(h.workers()).toEqual(['worker-1', 'worker-2', 'worker-3', 'worker-4']);
    for (const id of h.workers()) expect(h.child(id).status).toBe('running');

    await h.publish(...orders(4, 'h', 'hold'));
    // Four workers, four handlers at once: the consumer's prefetch follows the pool's size.
    expect(h.running.size).toBe(4);
    expect(h.busyWorkers()).toHaveLength(4);

    for (const order of orders(4, 'h')) h.release(order.id);
    await flush();
    await h.publish(...orders(10, 'more'));
    expect(await h.store.count('orders')).toBe(14);
    expect(h.transport.acked).toBe(14);
  });

  it('scales down: the newest workers are cancelled, the rest keep working', async () => {
    const h = await start({ concurrency: 4 });
    await h.publish(...orders(8));
    expect(h.transport.acked).toBe(8);

    scalePool(h.runtime.actor, h.pool, 1);
    await flush();
    expect(h.workers()).toEqual(['worker-1']);
    expect(h.child('consumer').status).toBe('running');

    await h.publish(...orders(3, 'h', 'hold'));
    // One worker: one handler at a time.
    expect(h.running.size).toBe(1);
    expect(h.busyWorkers()).toEqual(['worker-1']);
    // …and the consumer holds no more than one delivery for it (prefetch follows the size).
    expect(h.transport.stats('orders')).toMatchObject({ ready: 2, unacked: 1 });
    for (const order of orders(3, 'h')) {
      h.release(order.id);
      await flush();
    }
    expect(await h.store.count('orders')).toBe(11);
    expect(h.transport.acked).toBe(11);
  });

  it('scales down while busy: a draining worker finishes its delivery first', async () => {
    const h = await start({ concurrency: 2 });
    await h.publish(...orders(2, 'h', 'hold'));
    expect(h.busyWorkers()).toEqual(['worker-1', 'worker-2']);

    scalePool(h.runtime.actor, h.pool, 1);
    await flush();
    expect(h.child('worker-2').status).toBe('stopping');
    h.release('h-2');
    h.release('h-1');
    await flush();

    expect(h.workers()).toEqual(['worker-1']);
    expect(h.calls.every((call) => !call.signal.aborted)).toBe(true);
    expect(h.transport.acked).toBe(2);
    expect(h.calls).toHaveLength(2);
  });
  it('scales up again while cancelled workers are still draining', async () => {
    const h = await start({ concurrency: 3 });
    await h.publish(...orders(3, 'h', 'hold'));
    scalePool(h.runtime.actor, h.pool, 1);
    await flush();
    // A pool stops its children side by side: both cancelled workers drain at once (the
    // consumer, restarted with the new prefetch, has already come back).
    expect(h.child('worker-3').status).toBe('stopping');
    expect(h.child('worker-2').status).toBe('stopping');
    expect(h.context().stopQueue.map((entry) => entry.id)).toEqual(['worker-3', 'worker-2']);
    // Draining workers are on their way out: they do not count towards the new size.
    expect(h.workers()).toEqual(['worker-1']);

    scalePool(h.runtime.actor, h.pool, 3);
    await flush();
    for (const order of orders(3, 'h')) h.release(order.id);
    await flush();

    // Fresh ids: worker-2 and worker-3 were still known when the new ones were asked for.
    expect(h.workers()).toEqual(['worker-1', 'worker-4', 'worker-5']);
    expect(h.transport.acked).toBe(3);
    await h.publish(...orders(3, 'again', 'hold'));
    expect(h.running.size).toBe(3);
  });
});

describe('a worker crash', () => {
  it('restarts the worker after its backoff; the in-flight delivery is redelivered', async () => {
    const h = await start({ concurrency: 1, retry: { attempts: 1, onExhausted: 'escalate' } });
    await h.publish({ id: 'boom', behaviour: 'fail-once' });

    // The worker escalated (failed); its supervisor waits 100 ms before restarting it.
    expect(h.child('worker-1')).toMatchObject({ status: 'backoff', totalRestarts: 1 });
    expect(h.calls).toEqual([expect.objectContaining({ id: 'boom', redelivered: false })]);
    h.clock.increment(99);
    await flush();
    expect(h.calls).toHaveLength(1);
    expect(h.transport.acked).toBe(0);

    h.clock.increment(1);
    await flush();

    expect(h.child('worker-1')).toMatchObject({ status: 'running', generation: 2 });
    expect(h.calls).toHaveLength(2);
    expect(h.calls[1]).toMatchObject({ id: 'boom', redelivered: true });
    expect(await h.store.get('orders', 'boom')).toMatchObject({ id: 'boom' });
    expect(h.transport.acked).toBe(1);
    expect(h.transport.peek('orders.dead')).toHaveLength(0);
    // The consumer was not touched (one-for-one).
    expect(h.child('consumer').generation).toBe(1);
  });

  it('a restarted worker still gets deliveries after supervisorOptions() was called again', async () => {
    const h = await start({ concurrency: 1, retry: { attempts: 1, onExhausted: 'escalate' } });
    // A second incarnation built (never started): it must not rewire the running one.
    h.pool.supervisorOptions();
    await h.publish({ id: 'boom', behaviour: 'fail-once' });
    h.clock.increment(100);
    await flush();
    expect(h.child('worker-1')).toMatchObject({ status: 'running', generation: 2 });
    await h.publish(...orders(3, 'after'));
    expect(h.transport.acked).toBe(4);
    expect(await h.store.count('orders')).toBe(4);
  });

  it('a worker whose chart errors: its delivery is requeued and its permit returned', async () => {
    const scheduler = new Scheduler({ capacity: 1 });
    const h = await start({ concurrency: 1, scheduler });
    await h.publish({ id: 'bug', behaviour: 'break-once' });

    // The worker actor errored; XState left its in-flight guard running, so without the
    // spec's onError hook the delivery would stay unacked and the only permit taken.
    expect(h.child('worker-1')).toMatchObject({ status: 'backoff', totalRestarts: 1 });
    expect(scheduler.stats()).toMatchObject({ inUse: 0, waiting: 0 });
    h.clock.increment(100);
    await flush();

    expect(h.calls.map((call) => [call.id, call.redelivered])).toEqual([
      ['bug', false],
      ['bug', true],
    ]);
    expect(h.transport.acked).toBe(1);
    await h.publish(...orders(3));
    expect(h.transport.acked).toBe(4);
    expect(scheduler.stats()).toMatchObject({ inUse: 0, granted: { orders: 5 } });
  });

  it('a pool whose workers keep crashing gives up and exits failed', async () => {
    const h = await start({
      concurrency: 1,
      retry: { attempts: 1, onExhausted: 'escalate' },
      pool: { intensity: { maxRestarts: 1, withinMs: 60_000 } },
    });
    await h.publish({ id: 'x1', behaviour: 'fail-once' });
    h.clock.increment(100);
    await flush();
    expect(h.transport.acked).toBe(1);

    await h.publish({ id: 'x2', behaviour: 'fail-once' });
    await expect(h.runtime.exited).resolves.toMatchObject({ exit: 'failed' });
    // Nothing is lost: the delivery went back to the queue.
    expect(h.transport.peek('orders').map((message) => message.messageId)).toEqual(['x2']);
  });
});

describe('a consumer that cannot subscribe', () => {
  it('is restarted after its backoff, and the pool then consumes', async () => {
    let refusals = 1;
    const transport = new (class extends MemoryTransport {
      override consume(...args: Parameters<MemoryTransport['consume']>) {
        if (refusals > 0) {
          refusals -= 1;
          return Promise.reject(new Error('channel closed'));
        }
        return super.consume(...args);
      }
    })();
    const h = await start({ concurrency: 2, transport });
    expect(h.child('consumer')).toMatchObject({ status: 'backoff', totalRestarts: 1 });
    // Workers are untouched (one-for-one), and nothing is consumed meanwhile.
    expect(h.workers()).toEqual(['worker-1', 'worker-2']);
    expect(h.child('worker-1').generation).toBe(1);
    await h.publish(...orders(3));
    expect(h.transport.stats('orders')).toMatchObject({ ready: 3, consumers: 0 });

    h.clock.increment(100);
    await flush();

    expect(h.child('consumer')).toMatchObject({ status: 'running', generation: 2 });
    expect(h.transport.acked).toBe(3);
  });
});

describe('a pool under a root supervisor', () => {
  it('is restarted whole by its parent when it gives up; nothing is lost', async () => {
    const h = await start({
      concurrency: 2,
      retry: { attempts: 1, onExhausted: 'escalate' },
      pool: { intensity: { maxRestarts: 0, withinMs: 60_000 } },
      underRoot: {
        restartBackoff: { backoff: { kind: 'fixed', delayMs: 500 }, resetAfterMs: 10_000 },
      },
    });
    const poolId = h.pool.childSpec.id;
    const firstPool = h.runtime.actor.getSnapshot().context.children[poolId]?.ref;
    expect(h.workers()).toEqual(['worker-1', 'worker-2']);
    await h.publish({ id: 'boom', behaviour: 'fail-once' });

    // The worker escalated, the pool gave up (its intensity is 0), the root restarts it.
    expect(firstPool?.getSnapshot()).toMatchObject({
      status: 'done',
      output: { exit: 'failed' },
    });
    expect(h.runtime.actor.getSnapshot().context.children[poolId]).toMatchObject({
      status: 'backoff',
      totalRestarts: 1,
    });
    expect(h.transport.stats('orders')).toMatchObject({ ready: 1, consumers: 0 });
    h.clock.increment(500);
    await flush();

    // A new incarnation: fresh workers and consumer, the delivery redelivered to it.
    expect(h.runtime.actor.getSnapshot().context.children[poolId]?.ref).not.toBe(firstPool);
    expect(h.workers()).toEqual(['worker-1', 'worker-2']);
    expect(h.child('consumer').status).toBe('running');
    expect(h.calls.map((call) => [call.id, call.redelivered])).toEqual([
      ['boom', false],
      ['boom', true],
    ]);
    expect(h.transport.acked).toBe(1);
    await h.publish(...orders(5));
    expect(h.transport.acked).toBe(6);
  });
});

/** A stand-in for the broker connection: ready once `up`, fails on `drop`. */
const connectionMachine = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as {
    events: { type: 'up' } | { type: 'drop' } | { type: 'shutdown' };
    output: { exit: 'failed'; reason: string } | { exit: 'shutdown' };
  },
}).createMachine({
  initial: 'connecting',
  states: {
    connecting: { on: { up: 'connected', shutdown: 'closed' } },
    connected: { on: { drop: 'lost', shutdown: 'closed' } },
    lost: { type: 'final' },
    closed: { type: 'final' },
  },
  output: ({ self }) =>
    self.getSnapshot().value === 'lost'
      ? { exit: 'failed', reason: 'connection lost' }
      : { exit: 'shutdown' },
});

describe('a pool under a rest-for-one root, after the broker connection', () => {
  it('is stopped when the connection dies and started again once it is back', async () => {
    const connection: ChildSpec = {
      id: 'connection',
      start: () => ({ logic: connectionMachine }),
      isReady: (snapshot) => (snapshot as { value?: unknown }).value === 'connected',
      isDrained: () => false,
    };
    const h = await start({
      concurrency: 2,
      before: [connection],
      underRoot: {
        strategy: 'rest-for-one',
        restartBackoff: { backoff: { kind: 'fixed', delayMs: 200 }, resetAfterMs: 10_000 },
      },
    });
    const root = () => h.runtime.actor.getSnapshot().context;
    const poolId = h.pool.childSpec.id;
    // Ordered start: the pool waits for the connection.
    expect(root().children[poolId]?.status).toBe('pending');
    root().children.connection?.ref?.send({ type: 'up' });
    await flush();
    expect(root().children[poolId]?.status).toBe('running');
    await h.publish(...orders(2, 'h', 'hold'));
    expect(h.running.size).toBe(2);

    root().children.connection?.ref?.send({ type: 'drop' });
    await flush();
    // The pool is asked to stop: consumer first, then the workers drain their deliveries.
    expect(root().children[poolId]?.status).toBe('stopping');
    h.release('h-1');
    h.release('h-2');
    await flush();
    expect(h.transport.acked).toBe(2);
    // Both wait out one backoff together.
    expect(root().children.connection?.status).toBe('backoff');
    expect(root().children[poolId]?.status).toBe('backoff');
    expect(h.transport.stats('orders').consumers).toBe(0);

    h.clock.increment(200);
    await flush();
    // The connection is back but not ready: the pool still waits.
    expect(root().children.connection?.status).toBe('starting');
    expect(root().children[poolId]?.status).toBe('pending');
    root().children.connection?.ref?.send({ type: 'up' });
    await flush();
    expect(root().children[poolId]).toMatchObject({ status: 'running', generation: 2 });
    await h.publish(...orders(3));
    expect(h.transport.acked).toBe(5);
  });
});

describe('shutting a pool down', () => {
  it('stops consuming, lets in-flight work finish, then exits', async () => {
    const h = await start({ concurrency: 2 });
    await h.publish(...orders(3, 'h', 'hold'));
    const exited = h.runtime.shutdown();
    await flush();

    // The consumer went first; the third message is back in the queue, and the two
    // in flight stay with their workers (still settleable after the cancel).
    expect(h.context().children.consumer?.status).toBe('stopped');
    expect(h.transport.stats('orders')).toMatchObject({ consumers: 0, ready: 1 });
    expect(h.busyWorkers()).toEqual(['worker-1', 'worker-2']);
    h.release('h-1');
    h.release('h-2');
    await expect(exited).resolves.toEqual({ exit: 'shutdown' });
    expect(h.transport.acked).toBe(2);
  });

  it('aborts and requeues what does not finish within the drain budget', async () => {
    const h = await start({ concurrency: 1 });
    await h.publish({ id: 'stuck', behaviour: 'hang' });
    const exited = h.runtime.shutdown();
    await flush();
    h.clock.increment(999);
    await flush();
    expect(h.runtime.actor.getSnapshot().status).toBe('active');

    h.clock.increment(1);
    await expect(exited).resolves.toEqual({ exit: 'shutdown' });
    expect(h.calls[0]?.signal.aborted).toBe(true);
    expect(h.transport.peek('orders')).toEqual([
      expect.objectContaining({ messageId: 'stuck', redelivered: true }),
    ]);
    expect(h.transport.acked).toBe(0);
  });
});
