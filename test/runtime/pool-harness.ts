// A processor pool on the in-memory broker and store, on a simulated clock, with a
// handler the test steers: each message says how its handler behaves, and every call
// is recorded with its delivery info and abort signal.
import {
  createPool,
  defineProcessor,
  poolWorkers,
  startSupervisor,
  TransientError,
  type ChildRecord,
  type ChildSpec,
  type Pool,
  type PoolOptions,
  type RetryOptions,
  type Scheduler,
  type SupervisorContext,
  type SupervisorOptions,
  type SupervisorRuntime,
} from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { pino, type Logger } from 'pino';
import { SimulatedClock } from 'xstate';
import { z } from 'zod';

export const silentLogger: Logger = pino({ level: 'silent' });

/** Lets queued promise callbacks and actor mailboxes run (no wall-clock wait). */
export async function flush(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** What the handler does with a message. */
export const behaviours = [
  /** Returns the write at once. */
  'ok',
  /** Waits until the test releases it (or its signal is aborted). */
  'hold',
  /** Waits on its signal only: it never finishes by itself. */
  'hang',
  /** Waits on its signal the first time; finishes at once when redelivered. */
  'hang-once',
  /** Throws a transient error the first time; finishes when redelivered. */
  'fail-once',
  /**
   * The first time, fails and makes the worker's next log call throw, inside one of its
   * chart's actions: the chart itself errors (a stand-in for any bug in the runtime).
   * Finishes when redelivered.
   */
  'break-once',
] as const;

export const orderSchema = z.object({
  id: z.string(),
  behaviour: z.enum(behaviours),
});
export type Order = z.infer<typeof orderSchema>;

/** One handler call, as the handler saw it. */
export interface HandlerCall {
  readonly id: string;
  readonly redelivered: boolean;
  readonly signal: AbortSignal;
}

export interface PoolHarness {
  readonly clock: SimulatedClock;
  readonly transport: MemoryTransport;
  readonly store: MemoryStore;
  readonly pool: Pool;
  readonly runtime: SupervisorRuntime;
  readonly calls: HandlerCall[];
  /** Handlers currently running (not finished, not aborted). */
  readonly running: Set<string>;
  /** The most handlers that ran at once. */
  peak(): number;
  /** Lets held handlers for message `id` finish. */
  release(id: string): void;
  publish(...orders: Order[]): Promise<void>;
  context(): SupervisorContext;
  child(id: string): ChildRecord;
  workers(): string[];
  /** The workers whose chart is not idle (busy with a delivery). */
  busyWorkers(): string[];
}

export interface PoolHarnessOptions {
  readonly concurrency?: number;
  readonly retry?: RetryOptions;
  readonly name?: string;
  readonly weight?: number;
  readonly scheduler?: Scheduler;
  readonly clock?: SimulatedClock;
  readonly transport?: MemoryTransport;
  readonly store?: MemoryStore;
  readonly pool?: Partial<PoolOptions>;
  /** Runs the pool as a child of a root supervisor with these options (after `before`). */
  readonly underRoot?: Partial<SupervisorOptions>;
  readonly before?: readonly ChildSpec[];
  /** Where `hold` handlers wait, oldest first; share one between pools to release across them. */
  readonly holds?: Hold[];
}

/** A `hold` handler waiting to be released. */
export interface Hold {
  readonly pool: string;
  readonly id: string;
  release(): void;
}

function abortable(signal: AbortSignal, until?: Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const abort = (): void =>
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) abort();
    signal.addEventListener('abort', abort, { once: true });
    void until?.then(resolve);
  });
}

/** Starts a pool as a root supervisor and waits for its consumer to subscribe. */
export async function startPool(options: PoolHarnessOptions = {}): Promise<PoolHarness> {
  const clock = options.clock ?? new SimulatedClock();
  const transport = options.transport ?? new MemoryTransport();
  const store = options.store ?? new MemoryStore();
  const name = options.name ?? 'orders';
  const calls: HandlerCall[] = [];
  const running = new Set<string>();
  let peak = 0;
  const holds = options.holds ?? [];
  const gate = (id: string): Promise<void> =>
    new Promise<void>((resolve) => {
      holds.push({ pool: name, id, release: resolve });
    });

  // The workers' logger: silent, except that it throws once when `break-once` asks it to.
  let breakNextLog = false;
  const workerLogger = pino(
    {
      level: 'trace',
      hooks: {
        logMethod() {
          if (!breakNextLog) return;
          breakNextLog = false;
          throw new Error('a bug in the runtime');
        },
      },
    },
    { write: () => undefined },
  );

  const definition = defineProcessor({
    name,
    queue: name,
    bindings: [{ exchange: 'shop', routingKey: `${name}.#` }],
    schema: orderSchema,
    concurrency: options.concurrency ?? 2,
    // These suites follow workers one delivery at a time (permits, crashes, scaling);
    // batches of several deliveries have their own suite (batch.test.ts).
    maxBatch: 1,
    weight: options.weight ?? 1,
    timeoutMs: 60_000,
    retry: options.retry ?? { attempts: 1 },
    handle: async (order, { signal, delivery }) => {
      calls.push({ id: order.id, redelivered: delivery.redelivered, signal });
      const key = `${order.id}-${calls.length}`;
      running.add(key);
      peak = Math.max(peak, running.size);
      try {
        switch (order.behaviour) {
          case 'ok':
            break;
          case 'hold':
            await abortable(signal, gate(order.id));
            break;
          case 'hang':
            await abortable(signal);
            break;
          case 'hang-once':
            if (!delivery.redelivered) await abortable(signal);
            break;
          case 'fail-once':
            if (!delivery.redelivered) throw new TransientError('first attempt fails');
            break;
          case 'break-once':
            if (!delivery.redelivered) {
              breakNextLog = true;
              throw new TransientError('first attempt fails');
            }
            break;
        }
      } finally {
        running.delete(key);
      }
      return { collection: name, key: order.id, document: { ...order, by: name } };
    },
  });

  await transport.declare([{ queue: definition.queue, bindings: definition.bindings }]);
  const pool = createPool({
    definition,
    transport,
    store,
    logger: workerLogger,
    clock: { now: () => clock.now() },
    random: () => 0,
    drainMs: 1000,
    restartBackoff: {
      backoff: { kind: 'exponential', minMs: 100, maxMs: 1000 },
      resetAfterMs: 10_000,
    },
    ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
    ...options.pool,
  });
  const root = options.underRoot;
  const runtime =
    root === undefined
      ? startSupervisor(pool.supervisorOptions(), { actorClock: clock, id: name })
      : startSupervisor(
          {
            logger: silentLogger,
            clock: { now: () => clock.now() },
            ...root,
            children: [...(options.before ?? []), pool.childSpec, ...(root.children ?? [])],
          },
          { actorClock: clock, id: 'root' },
        );
  await flush();

  const context = (): SupervisorContext => {
    const own = runtime.actor.getSnapshot().context;
    if (root === undefined) return own;
    const ref = own.children[pool.childSpec.id]?.ref;
    if (ref === undefined) throw new Error('the pool is not running');
    return (ref.getSnapshot() as { context: SupervisorContext }).context;
  };
  const workers = (): string[] => poolWorkers({ getSnapshot: () => ({ context: context() }) });
  const child = (id: string): ChildRecord => {
    const record = context().children[id];
    if (record === undefined) throw new Error(`no child ${id}`);
    return record;
  };
  return {
    clock,
    transport,
    store,
    pool,
    runtime,
    calls,
    running,
    peak: () => peak,
    release: (id) => {
      const index = holds.findIndex((hold) => hold.pool === name && hold.id === id);
      if (index < 0) throw new Error(`no held handler for ${id}`);
      const [hold] = holds.splice(index, 1);
      hold?.release();
    },
    publish: async (...orders) => {
      for (const order of orders) {
        await transport.publish('shop', `${name}.created`, Buffer.from(JSON.stringify(order)), {
          messageId: order.id,
        });
      }
      await flush();
    },
    context,
    child,
    workers,
    busyWorkers: () =>
      workers().filter((id) => {
        const snapshot = context().children[id]?.ref?.getSnapshot() as
          { value?: unknown } | undefined;
        return snapshot !== undefined && snapshot.value !== 'idle';
      }),
  };
}

/** `count` orders with ids `<prefix>-1…`. */
export function orders(count: number, prefix = 'o', behaviour: Order['behaviour'] = 'ok'): Order[] {
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i + 1}`, behaviour }));
}
