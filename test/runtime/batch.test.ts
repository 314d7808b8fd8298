// Worker batches in a real pool on the in-memory broker, on a simulated clock: a worker
// takes the deliveries already waiting (up to maxBatch) as one batch, runs each
// message's handler, stores the batch with one bulkWrite, settles it in one pass, and
// retries only the messages that failed transiently, each with its own attempt count.
import {
  createPool,
  defineProcessor,
  InvalidMessageError,
  PermanentError,
  startSupervisor,
  TransientError,
  type ProcessorObserver,
  type Store,
  type SupervisorRuntime,
} from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { flush, silentLogger } from './pool-harness.js';

const itemSchema = z.object({
  id: z.string(),
  /** How the handler treats the message; `transient:N` fails its first N attempts. */
  kind: z.string(),
});
type Item = z.infer<typeof itemSchema>;

interface Setup {
  readonly clock: SimulatedClock;
  readonly transport: MemoryTransport;
  readonly store: MemoryStore;
  readonly runtime: SupervisorRuntime;
  /** Every handler call: message id and the attempt it saw. */
  readonly calls: [string, number][];
  /** Every bulkWrite: how many writes it carried. */
  readonly bulkWrites: number[];
  /** The batches workers took, as message ids. */
  readonly batches: string[][];
  readonly settled: [string, string][];
  publish(...items: (Item | string)[]): Promise<void>;
}

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

/** A store that counts its bulkWrite calls (the batch's one store call). */
function countingStore(inner: MemoryStore, bulkWrites: number[]): Store {
  const store = Object.create(inner) as Store;
  Object.assign(store, {
    bulkWrite: (...args: Parameters<Store['bulkWrite']>) => {
      bulkWrites.push(args[0].length);
      return inner.bulkWrite(...args);
    },
  });
  return store;
}

async function setup(
  options: {
    maxBatch?: number;
    batchTimeoutMs?: number;
    concurrency?: number;
    maxMessageBytes?: number;
    handle?: (item: Item, attempt: number) => unknown;
  } = {},
): Promise<Setup> {
  const clock = new SimulatedClock();
  const transport = new MemoryTransport();
  const inner = new MemoryStore();
  const calls: [string, number][] = [];
  const bulkWrites: number[] = [];
  const batches: string[][] = [];
  const settled: [string, string][] = [];
  const observer: ProcessorObserver = {
    settled: (outcome, _ms, messageId) => settled.push([messageId, outcome]),
    step: () => undefined,
    retrying: () => undefined,
    batch: (messageIds) => batches.push([...messageIds]),
  };
  const definition = defineProcessor({
    name: 'items',
    queue: 'items',
    bindings: [{ exchange: 'x', routingKey: 'items' }],
    schema: itemSchema,
    maxBatch: options.maxBatch ?? 50,
    concurrency: options.concurrency ?? 1,
    ...(options.batchTimeoutMs === undefined ? {} : { batchTimeoutMs: options.batchTimeoutMs }),
    ...(options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes }),
    retry: { attempts: 4, backoff: { kind: 'fixed', delayMs: 100 } },
    handle: (item, { delivery }) => {
      calls.push([item.id, delivery.attempt]);
      if (options.handle !== undefined) return options.handle(item, delivery.attempt) as never;
      const [kind, count] = item.kind.split(':');
      if (kind === 'transient' && delivery.attempt <= Number(count)) {
        throw new TransientError(`${item.id} not yet`);
      }
      if (kind === 'permanent') throw new PermanentError(`${item.id} refused`);
      if (kind === 'invalid') throw new InvalidMessageError(`${item.id} makes no sense`);
      return { collection: 'items', key: item.id, document: item };
    },
  });
  await transport.declare([{ queue: 'items', bindings: definition.bindings }]);
  const pool = createPool({
    definition,
    transport,
    store: countingStore(inner, bulkWrites),
    logger: silentLogger,
    random: () => 0,
    observer,
  });
  const runtime = startSupervisor(pool.supervisorOptions(), { actorClock: clock });
  running.push({ runtime, clock });
  await flush();
  return {
    clock,
    transport,
    store: inner,
    runtime,
    calls,
    bulkWrites,
    batches,
    settled,
    // Published together, as a burst arrives: they are in the queue before any is delivered.
    publish: async (...items) => {
      await Promise.all(
        items.map((item) => {
          const body = typeof item === 'string' ? item : JSON.stringify(item);
          return transport.publish('x', 'items', Buffer.from(body), {
            messageId: typeof item === 'string' ? `raw-${body.length}` : item.id,
            contentType: 'application/json',
          });
        }),
      );
      await flush(20);
    },
  };
}

const ok = (n: number, prefix = 'ok'): Item[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, kind: 'ok' }));

function deadLetters(transport: MemoryTransport): Record<string, unknown> {
  return Object.fromEntries(
    transport
      .peek('items.dead')
      .map((message) => [message.messageId, message.headers['x-troupe-reason']]),
  );
}

describe('a worker batch', () => {
  it('mixes valid, invalid, transient and permanent messages: each gets its own fate, settled in one pass', async () => {
    const h = await setup();
    await h.publish(
      { id: 'a', kind: 'ok' },
      { id: 'b', kind: 'transient:1' },
      { id: 'c', kind: 'permanent' },
      { id: 'd', kind: 'invalid' },
      '{"id": 5}',
      { id: 'e', kind: 'ok' },
    );
    // One batch of six: a and e stored and acked at once, c, d and the bad one
    // dead-lettered; only b waits for its retry.
    expect(h.batches).toEqual([['a', 'b', 'c', 'd', 'raw-9', 'e']]);
    expect(h.transport.settlePasses).toBe(1);
    expect(h.transport.acked).toBe(2);
    expect(h.bulkWrites).toEqual([2]);
    const reasons = deadLetters(h.transport);
    expect(reasons['c']).toMatch(/^PERMANENT: c refused/);
    expect(reasons['d']).toMatch(/^INVALID_MESSAGE: d makes no sense/);
    expect(reasons['raw-9']).toMatch(/^INVALID_MESSAGE: schema validation failed/);
    expect(await h.store.get('items', 'b')).toBeUndefined();

    h.clock.increment(100);
    await flush();
    // The retry is a batch of one, b alone, at its second attempt.
    expect(h.calls.filter(([id]) => id === 'b')).toEqual([
      ['b', 1],
      ['b', 2],
    ]);
    expect(h.transport.acked).toBe(3);
    expect(h.bulkWrites).toEqual([2, 1]);
    expect(h.calls.filter(([id]) => id === 'a')).toHaveLength(1);
    expect(h.settled.map(([id]) => id).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'raw-9']);
  });

  it('keeps each message its own attempt count across retries', async () => {
    const h = await setup();
    await h.publish(
      { id: 'once', kind: 'transient:1' },
      { id: 'thrice', kind: 'transient:3' },
      { id: 'never', kind: 'transient:9' },
    );
    for (let round = 0; round < 4; round += 1) {
      h.clock.increment(100);
      await flush();
    }
    const attempts = (id: string) => h.calls.filter(([seen]) => seen === id).map(([, a]) => a);
    expect(attempts('once')).toEqual([1, 2]);
    expect(attempts('thrice')).toEqual([1, 2, 3, 4]);
    expect(attempts('never')).toEqual([1, 2, 3, 4]);
    expect(h.transport.acked).toBe(2);
    expect(deadLetters(h.transport)['never']).toMatch(/retries exhausted after 4 attempts/);
  });

  it('is one message at low load, handled without waiting', async () => {
    const h = await setup({ maxBatch: 50 });
    await h.publish({ id: 'alone', kind: 'ok' });
    expect(h.batches).toEqual([['alone']]);
    expect(h.transport.acked).toBe(1);
    await h.publish({ id: 'next', kind: 'ok' });
    expect(h.batches).toEqual([['alone'], ['next']]);
    expect(h.transport.acked).toBe(2);
  });

  it('takes what has arrived together, up to maxBatch, with one store call per batch', async () => {
    const h = await setup({ maxBatch: 8 });
    await h.publish(...ok(20));
    expect(h.batches.map((batch) => batch.length)).toEqual([8, 8, 4]);
    expect(h.bulkWrites).toEqual([8, 8, 4]);
    expect(h.transport.acked).toBe(20);
    expect(await h.store.count('items')).toBe(20);
  });

  it('asks the broker for concurrency × maxBatch deliveries', async () => {
    const h = await setup({
      maxBatch: 5,
      concurrency: 2,
      handle: () => new Promise(() => undefined),
    });
    await h.publish(...ok(30));
    expect(h.transport.stats('items')).toMatchObject({ unacked: 10, ready: 20 });
  });

  it('waits for a batch to fill only when batchTimeoutMs is set, on the actor clock', async () => {
    const h = await setup({ maxBatch: 5, batchTimeoutMs: 100 });
    await h.publish(...ok(3));
    expect(h.calls).toEqual([]);
    h.clock.increment(99);
    await flush();
    expect(h.calls).toEqual([]);
    h.clock.increment(1);
    await flush();
    expect(h.transport.acked).toBe(3);
    expect(h.bulkWrites).toEqual([3]);

    // A full batch does not wait.
    await h.publish(...ok(5, 'full'));
    expect(h.transport.acked).toBe(8);
    expect(h.bulkWrites).toEqual([3, 5]);
  });

  it('dead-letters a handler result of the wrong shape with a clear reason', async () => {
    const h = await setup({
      handle: (item) =>
        item.id === 'odd' ? { id: item.id } : { collection: 'items', key: item.id, document: item },
    });
    await h.publish({ id: 'odd', kind: 'ok' }, { id: 'fine', kind: 'ok' });
    expect(deadLetters(h.transport)['odd']).toMatch(
      /^PERMANENT: handler result is not a store write: the result is an object with keys \[id\]/,
    );
    expect(h.transport.acked).toBe(1);
    expect(await h.store.get('items', 'fine')).toBeDefined();
  });

  it('fails a message whose write the store refuses alone; the rest of the batch is stored', async () => {
    const h = await setup({
      handle: (item) => ({
        collection: 'items',
        key: item.id === 'bad' ? 'not a key!' : item.id,
        document: item,
      }),
    });
    await h.publish({ id: 'x1', kind: 'ok' }, { id: 'bad', kind: 'ok' }, { id: 'x2', kind: 'ok' });
    expect(h.bulkWrites).toEqual([3]);
    expect(Object.keys(deadLetters(h.transport))).toEqual(['bad']);
    expect(h.transport.acked).toBe(2);
    expect(await h.store.count('items')).toBe(2);
  });

  it('dead-letters a message over maxMessageBytes unparsed, with its size as the reason', async () => {
    const h = await setup({ maxMessageBytes: 64 });
    const big = { id: 'big', kind: 'x'.repeat(100) };
    await h.publish(big, { id: 'small', kind: 'ok' });
    expect(deadLetters(h.transport)['big']).toMatch(
      /^INVALID_MESSAGE: message of \d+ bytes exceeds maxMessageBytes \(64\); not parsed/,
    );
    expect(h.calls.map(([id]) => id)).toEqual(['small']);
  });
});

describe('handleBatch', () => {
  it('gets the valid messages of a batch at once and returns an outcome for each', async () => {
    const clock = new SimulatedClock();
    const transport = new MemoryTransport();
    const store = new MemoryStore();
    const seen: string[][] = [];
    const definition = defineProcessor({
      name: 'whole',
      queue: 'whole',
      bindings: [{ exchange: 'x', routingKey: 'whole' }],
      schema: itemSchema,
      maxBatch: 10,
      concurrency: 1,
      handle: (item) => ({ collection: 'items', key: item.id, document: item }),
      handleBatch: (messages) => {
        seen.push(messages.map(({ message }) => message.id));
        return messages.map(({ message }) =>
          message.kind === 'ok'
            ? { kind: 'done', result: { collection: 'items', key: message.id, document: message } }
            : { kind: 'invalid', reason: `${message.id} is ${message.kind}` },
        );
      },
    });
    await transport.declare([{ queue: 'whole', bindings: definition.bindings }]);
    const pool = createPool({ definition, transport, store, logger: silentLogger });
    const runtime = startSupervisor(pool.supervisorOptions(), { actorClock: clock });
    running.push({ runtime, clock });
    await flush();
    await Promise.all(
      [
        { id: 'p', kind: 'ok' },
        'not json',
        { id: 'q', kind: 'weird' },
        { id: 'r', kind: 'ok' },
      ].map((body) =>
        transport.publish(
          'x',
          'whole',
          Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
          { messageId: typeof body === 'string' ? 'raw' : body.id },
        ),
      ),
    );
    await flush(20);
    expect(seen).toEqual([['p', 'q', 'r']]);
    expect(transport.acked).toBe(2);
    expect(await store.count('items')).toBe(2);
    expect(
      Object.fromEntries(
        transport.peek('whole.dead').map((m) => [m.messageId, m.headers['x-troupe-reason']]),
      ),
    ).toMatchObject({ q: 'INVALID_MESSAGE: q is weird' });
    expect(transport.peek('whole.dead').find((m) => m.messageId === 'raw')?.headers).toMatchObject({
      'x-troupe-reason': expect.stringMatching(
        /^INVALID_MESSAGE: body is not valid JSON/,
      ) as unknown,
    });
  });
});
