// A processor pool on the in-memory broker and store, inspected: a supervision tree
// started with an InspectionHub the inspector listens to, and a handler the test
// steers (`ok` finishes, `hold` waits to be released, `crash` fails the worker once).
import {
  createPool,
  defineProcessor,
  InspectionHub,
  startSupervisor,
  TransientError,
  type Pool,
  type SupervisorRuntime,
} from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { pino } from 'pino';
import { SimulatedClock } from 'xstate';
import { z } from 'zod';
import { Inspector, type InspectorOptions } from '../src/index.js';

export const silentLogger = pino({ level: 'silent' });

/** Lets queued promise callbacks and actor mailboxes run. */
export async function flush(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

const orderSchema = z.object({ id: z.string(), behaviour: z.enum(['ok', 'hold', 'crash']) });
type Order = z.infer<typeof orderSchema>;

export interface InspectedPool {
  readonly hub: InspectionHub;
  readonly inspector: Inspector;
  readonly transport: MemoryTransport;
  readonly store: MemoryStore;
  readonly pool: Pool;
  readonly runtime: SupervisorRuntime;
  readonly clock: SimulatedClock | undefined;
  publish(...orders: Order[]): Promise<void>;
  release(id: string): void;
  stop(): Promise<void>;
}

export interface InspectedPoolOptions {
  readonly concurrency?: number;
  readonly inspector?: InspectorOptions;
  /** A simulated actor clock (restart backoffs advance with it); the real one otherwise. */
  readonly simulated?: boolean;
  /** Attach the inspector; false starts the tree with the hub but no listener. */
  readonly attach?: boolean;
  /** Start with an InspectionHub. @default true */
  readonly hub?: boolean;
}

/** Starts `root` → `pool:orders` → workers + consumer, with the inspector attached. */
export async function startInspectedPool(
  options: InspectedPoolOptions = {},
): Promise<InspectedPool> {
  const hub = new InspectionHub();
  const inspector = new Inspector(options.inspector);
  if (options.attach !== false) hub.subscribe(inspector.listener);
  const transport = new MemoryTransport();
  const store = new MemoryStore();
  const clock = options.simulated === true ? new SimulatedClock() : undefined;
  const holds = new Map<string, () => void>();
  const crashed = new Set<string>();
  const definition = defineProcessor({
    name: 'orders',
    queue: 'orders',
    bindings: [{ exchange: 'shop', routingKey: 'orders.#' }],
    schema: orderSchema,
    concurrency: options.concurrency ?? 2,
    // One delivery per transition, so that tests can count events per message.
    maxBatch: 1,
    timeoutMs: 60_000,
    retry: { attempts: 1, onExhausted: 'escalate' },
    handle: async (order) => {
      if (order.behaviour === 'hold') {
        await new Promise<void>((resolve) => holds.set(order.id, resolve));
      }
      if (order.behaviour === 'crash' && !crashed.has(order.id)) {
        crashed.add(order.id);
        // Attempts exhausted with `escalate`: the worker fails and its supervisor restarts it.
        throw new TransientError('crash');
      }
      return { collection: 'orders', key: order.id, document: { ...order } };
    },
  });
  await transport.declare([{ queue: definition.queue, bindings: definition.bindings }]);
  const pool = createPool({
    definition,
    transport,
    store,
    logger: silentLogger,
    drainMs: 1000,
    random: () => 0,
    ...(clock === undefined ? {} : { clock: { now: () => clock.now() } }),
    restartBackoff: {
      backoff: { kind: 'exponential', minMs: 10, maxMs: 100 },
      resetAfterMs: 10_000,
    },
  });
  const runtime = startSupervisor(
    { strategy: 'one-for-one', children: [pool.childSpec], logger: silentLogger },
    {
      ...(options.hub === false ? {} : { inspection: hub }),
      id: 'root',
      ...(clock === undefined ? {} : { actorClock: clock }),
    },
  );
  await flush();
  return {
    hub,
    inspector,
    transport,
    store,
    pool,
    runtime,
    clock,
    publish: async (...orders) => {
      for (const order of orders) {
        await transport.publish('shop', 'orders.created', Buffer.from(JSON.stringify(order)), {
          messageId: order.id,
        });
      }
      await flush();
    },
    release: (id) => {
      const release = holds.get(id);
      if (release === undefined) throw new Error(`no held handler for ${id}`);
      holds.delete(id);
      release();
    },
    stop: async () => {
      for (const release of holds.values()) release();
      holds.clear();
      if (runtime.actor.getSnapshot().status !== 'active') return;
      const exited = runtime.shutdown();
      for (let i = 0; i < 20 && runtime.actor.getSnapshot().status === 'active'; i += 1) {
        clock?.increment(1000);
        await flush();
      }
      await exited;
    },
  };
}
