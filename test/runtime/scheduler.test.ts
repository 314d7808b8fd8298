// Two pools share one scheduler with a global cap: handlers run within the cap, and
// completed work per processor follows the weights (1:3) within the stated tolerance.
import { Scheduler } from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { flush, orders, startPool, type Hold, type PoolHarness } from './pool-harness.js';

/** Each processor's share of completed work within ±5% (relative) of its weight's share. */
const tolerance = 0.05;

let harnesses: PoolHarness[] = [];

afterEach(async () => {
  const running = harnesses;
  harnesses = [];
  for (const h of running) {
    if (h.runtime.actor.getSnapshot().status !== 'active') continue;
    const exited = h.runtime.shutdown();
    for (let i = 0; i < 10 && h.runtime.actor.getSnapshot().status === 'active'; i += 1) {
      h.clock.increment(1000);
      await flush();
    }
    await exited;
  }
});

describe('pools under a global cap', () => {
  it('complete work in proportion to their weights, never above the cap', async () => {
    const scheduler = new Scheduler({ capacity: 2 });
    const clock = new SimulatedClock();
    const transport = new MemoryTransport();
    const store = new MemoryStore();
    const holds: Hold[] = [];
    const shared = { scheduler, clock, transport, store, holds, concurrency: 4 };
    const light = await startPool({ ...shared, name: 'light', weight: 1 });
    const heavy = await startPool({ ...shared, name: 'heavy', weight: 3 });
    harnesses = [light, heavy];

    await light.publish(...orders(300, 'l', 'hold'));
    await heavy.publish(...orders(300, 'h', 'hold'));

    const completed = { light: 0, heavy: 0 };
    let peak = 0;
    for (let i = 0; i < 240; i += 1) {
      const running = light.running.size + heavy.running.size;
      peak = Math.max(peak, running);
      // Both pools stay backlogged: each has all its workers busy or waiting for a permit.
      expect(light.busyWorkers()).toHaveLength(4);
      expect(heavy.busyWorkers()).toHaveLength(4);
      const oldest = holds.shift();
      if (oldest === undefined) throw new Error('no handler is running');
      oldest.release();
      completed[oldest.pool as keyof typeof completed] += 1;
      await flush();
    }

    expect(peak).toBe(2);
    const total = completed.light + completed.heavy;
    const lightShare = completed.light / total;
    const heavyShare = completed.heavy / total;
    expect(Math.abs(lightShare - 0.25) / 0.25, `light: ${lightShare}`).toBeLessThanOrEqual(
      tolerance,
    );
    expect(Math.abs(heavyShare - 0.75) / 0.75, `heavy: ${heavyShare}`).toBeLessThanOrEqual(
      tolerance,
    );
    expect(scheduler.stats()).toMatchObject({ capacity: 2, inUse: 2 });
    // What completed is stored and acked.
    await flush();
    expect((await store.count('light')) + (await store.count('heavy'))).toBe(240);
  });

  it('stops at once a worker cancelled while it waits for a permit, leaking nothing', async () => {
    const scheduler = new Scheduler({ capacity: 1 });
    const clock = new SimulatedClock();
    const holds: Hold[] = [];
    const h = await startPool({ scheduler, clock, holds, concurrency: 2 });
    harnesses = [h];
    await h.publish(...orders(2, 'w', 'hold'));
    // One handler holds the only permit; the other worker waits for it.
    expect(h.running.size).toBe(1);
    expect(scheduler.stats()).toMatchObject({ inUse: 1, waiting: 1 });
    const waiting = h.busyWorkers().find((id) => {
      const snapshot = h.child(id).ref?.getSnapshot() as { value?: unknown } | undefined;
      return JSON.stringify(snapshot?.value) === JSON.stringify({ consuming: 'admitting' });
    });
    expect(waiting).toBeDefined();

    h.runtime.actor.send({ type: 'supervisor.cancel-child', id: waiting ?? '' });
    await flush();
    // It had not started its handler, so it has nothing to finish: it is stopped at
    // once (no drain budget spent), its request withdrawn and its delivery requeued.
    expect(h.context().children[waiting ?? '']).toBeUndefined();
    expect(h.calls).toHaveLength(1);
    expect(scheduler.stats()).toMatchObject({ inUse: 1, waiting: 0 });
    holds.shift()?.release();
    await flush();
    // The one worker left takes the requeued delivery and gets the permit.
    expect(h.calls.map((call) => [call.id, call.redelivered])).toEqual([
      [expect.any(String), false],
      [expect.any(String), true],
    ]);
    holds.shift()?.release();
    await flush();
    expect(h.transport.acked).toBe(2);
    expect(scheduler.stats()).toMatchObject({ inUse: 0, waiting: 0 });
  });
});
