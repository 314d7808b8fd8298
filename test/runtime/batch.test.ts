// Batched persistence in a real pool on the in-memory broker, on a simulated clock: a
// batch is written when full or when its timeout passes; each delivery is acked only
// after its batch committed; a failed batch is split so one bad document fails alone.
import {
  createBatcher,
  createPool,
  defineProcessor,
  PermanentError,
  startSupervisor,
  TransientError,
  type SupervisorRuntime,
} from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { flush, silentLogger } from './pool-harness.js';

const docSchema = z.object({ id: z.string(), version: z.number() });
type Doc = z.infer<typeof docSchema>;

interface Setup {
  readonly clock: SimulatedClock;
  readonly transport: MemoryTransport;
  readonly store: MemoryStore;
  readonly runtime: SupervisorRuntime;
  readonly writes: string[][];
  /** Lets the oldest held write finish. */
  release(): void;
  publish(...docs: Doc[]): Promise<void>;
}

const running: SupervisorRuntime[] = [];
afterEach(async () => {
  for (const runtime of running.splice(0)) {
    runtime.actor.send({ type: 'shutdown' });
  }
  await flush();
});

async function setup(options: {
  hold?: boolean;
  size?: number;
  concurrency?: number;
}): Promise<Setup> {
  const clock = new SimulatedClock();
  const transport = new MemoryTransport();
  const store = new MemoryStore();
  const writes: string[][] = [];
  const held: (() => void)[] = [];
  const batch = createBatcher<Doc>({
    size: options.size ?? 5,
    timeoutMs: 100,
    write: async (docs, context) => {
      writes.push(docs.map((doc) => doc.id));
      if (options.hold === true) await new Promise<void>((resolve) => held.push(resolve));
      if (docs.some((doc) => doc.id.startsWith('bad'))) {
        throw docs.length === 1
          ? new PermanentError('bad document')
          : new TransientError('batch failed');
      }
      await context.store.bulkUpsert(
        'docs',
        docs.map((doc) => ({ key: doc.id, document: doc })),
        { ifNewer: 'version' },
      );
    },
  });
  const definition = defineProcessor({
    name: 'batched',
    queue: 'batched',
    bindings: [{ exchange: 'x', routingKey: 'batched' }],
    schema: docSchema,
    handle: (doc) => doc,
    batch,
    concurrency: options.concurrency ?? 10,
  });
  await transport.declare([{ queue: 'batched', bindings: definition.bindings }]);
  const pool = createPool({ definition, transport, store, logger: silentLogger });
  const runtime = startSupervisor(pool.supervisorOptions(), { actorClock: clock });
  running.push(runtime);
  await flush();
  return {
    clock,
    transport,
    store,
    runtime,
    writes,
    release: () => held.shift()?.(),
    publish: async (...docs) => {
      for (const doc of docs) {
        await transport.publish('x', 'batched', Buffer.from(JSON.stringify(doc)), {
          messageId: doc.id,
          contentType: 'application/json',
        });
      }
      await flush(20);
    },
  };
}

const docs = (prefix: string, n: number): Doc[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, version: 1 }));

describe('batched persistence', () => {
  it('writes full batches at once and acks each delivery only after its batch committed', async () => {
    const s = await setup({ hold: true });
    await s.publish(...docs('a', 10));
    expect(s.writes).toEqual([
      ['a0', 'a1', 'a2', 'a3', 'a4'],
      // The second batch waits for the first write to finish (one write at a time).
    ]);
    expect(s.transport.acked).toBe(0);
    s.release();
    await flush(20);
    expect(s.transport.acked).toBe(5);
    expect(s.writes).toHaveLength(2);
    s.release();
    await flush(20);
    expect(s.transport.acked).toBe(10);
    expect(await s.store.count('docs')).toBe(10);
  });

  it('writes a partial batch when its timeout passes on the actor clock, not before', async () => {
    const s = await setup({});
    await s.publish(...docs('p', 3));
    expect(s.writes).toEqual([]);
    s.clock.increment(99);
    await flush(20);
    expect(s.writes).toEqual([]);
    s.clock.increment(1);
    await flush(20);
    expect(s.writes).toEqual([['p0', 'p1', 'p2']]);
    expect(s.transport.acked).toBe(3);
  });

  it('splits a failed batch: the bad document is dead-lettered alone, the rest commit', async () => {
    const s = await setup({});
    await s.publish(...docs('g', 2), { id: 'bad1', version: 1 }, ...docs('h', 2));
    expect(s.writes[0]).toEqual(['g0', 'g1', 'bad1', 'h0', 'h1']);
    expect(s.writes.slice(1)).toEqual([['g0'], ['g1'], ['bad1'], ['h0'], ['h1']]);
    expect(s.transport.acked).toBe(4);
    const dead = s.transport.peek('batched.dead');
    expect(dead.map((message) => message.messageId)).toEqual(['bad1']);
    expect(dead[0]?.headers['x-troupe-reason']).toBe('PERMANENT: bad document');
    expect(await s.store.count('docs')).toBe(4);
  });

  it('refuses a pool smaller than its batch, naming the field', () => {
    const batch = createBatcher<Doc>({ size: 50, timeoutMs: 10, write: () => Promise.resolve() });
    expect(() =>
      defineProcessor({
        name: 'too-small',
        queue: 'q',
        bindings: [],
        schema: docSchema,
        handle: (doc) => doc,
        batch,
        concurrency: 10,
      }),
    ).toThrow(expect.objectContaining({ field: 'processors.too-small.concurrency' }));
  });
});
