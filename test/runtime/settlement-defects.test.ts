// Settlement and shutdown defects of issue 12, each pinned by a test on the in-memory
// broker and a simulated clock: a batched pool that dead-letters valid messages on
// shutdown, a timed-out handler that reads a live signal, a persist step with no
// timeout. (The broker-side ones, escalation on a classic queue and a pool scaled to
// zero, are in packages/amqp/test/settlement-defects.int.test.ts.)
import {
  createPool,
  defineProcessor,
  startSupervisor,
  TransientError,
  type Store,
  type SupervisorRuntime,
} from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { flush, silentLogger } from './pool-harness.js';

const docSchema = z.object({ id: z.string(), version: z.number() });
type Doc = z.infer<typeof docSchema>;

const running: { runtime: SupervisorRuntime; clock: SimulatedClock }[] = [];
afterEach(async () => {
  for (const { runtime, clock } of running.splice(0)) {
    if (runtime.actor.getSnapshot().status !== 'active') continue;
    const exited = runtime.shutdown();
    for (let i = 0; i < 20 && runtime.actor.getSnapshot().status === 'active'; i += 1) {
      clock.increment(60_000);
      await flush();
    }
    await exited;
  }
});

async function publishDocs(transport: MemoryTransport, queue: string, docs: Doc[]): Promise<void> {
  for (const doc of docs) {
    await transport.publish('x', queue, Buffer.from(JSON.stringify(doc)), {
      messageId: doc.id,
      contentType: 'application/json',
    });
  }
  await flush(20);
}

const docs = (prefix: string, n: number): Doc[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, version: 1 }));

describe('issue 12, defect 1: a batched pool shut down with a batch waiting to fill', () => {
  it('dead-letters nothing valid: every message is stored and acked, or back in its queue', async () => {
    const clock = new SimulatedClock();
    const transport = new MemoryTransport();
    const store = new MemoryStore();
    const definition = defineProcessor({
      name: 'batched',
      queue: 'batched',
      bindings: [{ exchange: 'x', routingKey: 'batched' }],
      schema: docSchema,
      handle: (doc) => ({ collection: 'docs', key: doc.id, document: doc }),
      maxBatch: 10,
      batchTimeoutMs: 100,
      concurrency: 2,
      retry: { attempts: 3, backoff: { kind: 'fixed', delayMs: 10 } },
    });
    await transport.declare([{ queue: 'batched', bindings: definition.bindings }]);
    const pool = createPool({ definition, transport, store, logger: silentLogger });
    const runtime = startSupervisor(pool.supervisorOptions(), { actorClock: clock });
    running.push({ runtime, clock });
    await flush();
    // Five deliveries wait for the batch timeout: the batch is not full.
    await publishDocs(transport, 'batched', docs('d', 5));
    expect(await store.count('docs')).toBe(0);

    const exited = runtime.shutdown();
    for (let i = 0; i < 20 && runtime.actor.getSnapshot().status === 'active'; i += 1) {
      clock.increment(50);
      await flush();
    }
    await exited;

    expect(transport.deadLettered).toBe(0);
    expect(transport.peek('batched.dead')).toEqual([]);
    const stored = await store.count('docs');
    expect(stored + transport.peek('batched').length).toBe(5);
    expect(transport.acked).toBe(stored);
  });
});

describe('issue 12, defect 2: a handler that times out', () => {
  it('sees an aborted signal when it reads ctx.signal after the timeout', async () => {
    const clock = new SimulatedClock();
    const transport = new MemoryTransport();
    const store = new MemoryStore();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const signals: AbortSignal[] = [];
    let calls = 0;
    const definition = defineProcessor({
      name: 'slow',
      queue: 'slow',
      bindings: [{ exchange: 'x', routingKey: 'slow' }],
      schema: docSchema,
      timeoutMs: 1000,
      retry: { attempts: 2, backoff: { kind: 'fixed', delayMs: 100 } },
      handle: async (doc, context) => {
        calls += 1;
        // The first attempt reads its signal only after its work, which outlives the timeout.
        if (calls === 1) await gate;
        signals.push(context.signal);
        return { collection: 'docs', key: doc.id, document: doc };
      },
      concurrency: 1,
    });
    await transport.declare([{ queue: 'slow', bindings: definition.bindings }]);
    const pool = createPool({ definition, transport, store, logger: silentLogger });
    const runtime = startSupervisor(pool.supervisorOptions(), { actorClock: clock });
    running.push({ runtime, clock });
    await flush();
    await publishDocs(transport, 'slow', docs('s', 1));
    clock.increment(1000);
    await flush();
    // Timed out: the worker waits out the retry delay. The first attempt's work ends
    // now and reads its signal late.
    release();
    await flush();
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(true);

    clock.increment(100);
    await flush();
    // The second attempt ran with a signal of its own, live, and acked the message.
    expect(transport.acked).toBe(1);
    expect(signals).toHaveLength(2);
    expect(signals[1]?.aborted).toBe(false);
    expect(signals[1]).not.toBe(signals[0]);
  });
});

/** A store whose writes hang until their signal is aborted, `hangs` times, then work. */
function hangingStore(inner: MemoryStore, hangs: number): { store: Store; aborted: number[] } {
  const aborted: number[] = [];
  let calls = 0;
  const hang = (signal: AbortSignal | undefined): Promise<never> =>
    new Promise<never>((_, reject) => {
      const n = calls;
      signal?.addEventListener(
        'abort',
        () => {
          aborted.push(n);
          reject(new TransientError('write aborted'));
        },
        { once: true },
      );
    });
  const store: Store = Object.create(inner) as Store;
  Object.assign(store, {
    upsert: (...args: Parameters<Store['upsert']>) => {
      calls += 1;
      return calls <= hangs ? hang(undefined) : inner.upsert(...args);
    },
    bulkWrite: (...args: Parameters<Store['bulkWrite']>) => {
      calls += 1;
      return calls <= hangs ? hang(args[1]?.signal) : inner.bulkWrite(...args);
    },
  });
  return { store, aborted };
}

describe('issue 12, defect 4: a persist step whose store write hangs', () => {
  it('times out, its write is aborted, and it is retried as a transient failure', async () => {
    const clock = new SimulatedClock();
    const transport = new MemoryTransport();
    const inner = new MemoryStore();
    const { store, aborted } = hangingStore(inner, 1);
    const definition = defineProcessor({
      name: 'persisting',
      queue: 'persisting',
      bindings: [{ exchange: 'x', routingKey: 'persisting' }],
      schema: docSchema,
      timeoutMs: 1000,
      retry: { attempts: 3, backoff: { kind: 'fixed', delayMs: 10 } },
      handle: (doc) => ({ collection: 'docs', key: doc.id, document: doc }),
      concurrency: 1,
    });
    await transport.declare([{ queue: 'persisting', bindings: definition.bindings }]);
    const pool = createPool({ definition, transport, store, logger: silentLogger });
    const runtime = startSupervisor(pool.supervisorOptions(), { actorClock: clock });
    running.push({ runtime, clock });
    await flush();
    await publishDocs(transport, 'persisting', docs('p', 1));
    expect(transport.acked).toBe(0);

    clock.increment(1000);
    await flush();
    expect(aborted).toEqual([1]);
    expect(transport.acked).toBe(0);
    // Retried after its delay, as a transient failure: the write now goes through.
    clock.increment(10);
    await flush();
    expect(transport.acked).toBe(1);
    expect(await inner.count('docs')).toBe(1);
  });
});
