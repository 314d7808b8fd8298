// A processor pool: a one-for-one supervisor of N workers and one consumer. Workers
// start first, the consumer last (ordered start), so shutdown stops the consumer
// first and then lets the workers drain (reverse order).
import type { Logger } from 'pino';
import type { Snapshot } from 'xstate';
import type { RandomSource } from './backoff.js';
import type { ChildSpec } from './child-spec.js';
import { consumerMachine } from './consumer.machine.js';
import { Dispatcher } from './dispatcher.js';
import type { InFlight } from './internal/in-flight.js';
import {
  processorMachine,
  type AnyProcessorDefinition,
  type ProcessorInput,
} from './processor.machine.js';
import type { ProcessorObserver } from './observer.js';
import type { Scheduler } from './scheduler.js';
import type { Store } from './store.js';
import {
  isSupervisorReady,
  supervisorMachine,
  type Clock,
  type Intensity,
  type RestartBackoff,
  type SupervisorOptions,
} from './supervisor.machine.js';
import { supervisorView, type SupervisorSnapshotLike } from './supervisor/view.js';
import type { Transport } from './transport.js';

/** Options of {@link createPool}. */
export interface PoolOptions {
  readonly definition: AnyProcessorDefinition;
  readonly transport: Transport;
  readonly store: Store;
  readonly logger: Logger;
  /** The global scheduler, when a cap on concurrent handlers is configured. */
  readonly scheduler?: Scheduler | undefined;
  /** Overrides the definition's concurrency. */
  readonly concurrency?: number | undefined;
  /** How long a worker may take to finish its delivery on shutdown. @default 10000 */
  readonly drainMs?: number | undefined;
  readonly intensity?: Intensity | undefined;
  readonly restartBackoff?: RestartBackoff | undefined;
  readonly clock?: Clock | undefined;
  readonly random?: RandomSource | undefined;
  /** Receives every worker's settlements, step durations and retries (metrics). */
  readonly observer?: ProcessorObserver | undefined;
}

/** A pool: its spec as a child of a supervisor, and the means to scale it. */
export interface Pool {
  readonly name: string;
  /** Add this to a supervisor's children. */
  readonly childSpec: ChildSpec;
  /** The supervisor input of the pool, for running it as a root. */
  supervisorOptions(): SupervisorOptions;
  /** The spec of worker number `index` (1-based), for `supervisor.start-child`. */
  workerSpec(index: number): ChildSpec;
  /** The dispatcher of the running incarnation (for metrics and tests). */
  readonly dispatcher: Dispatcher;
}

/**
 * The consumer's prefetch of each pool: its worker count, which scaling changes.
 * Module-private so that only {@link scalePool} moves it.
 */
const prefetchOf = new WeakMap<Pool, { size: number }>();

/**
 * A worker has nothing to finish when it is idle, or when it still waits for a
 * scheduler permit: its handler has not started, so stopping it (which withdraws the
 * request and requeues the delivery) loses no work. Without the second case a
 * draining worker sat out its whole drain budget waiting for a permit.
 */
const isWorkerDrained = (snapshot: Snapshot<unknown>): boolean => {
  const value = (snapshot as { value?: unknown }).value;
  return (
    value === 'idle' ||
    (typeof value === 'object' &&
      value !== null &&
      (value as { consuming?: unknown }).consuming === 'admitting')
  );
};
const isConsuming = (snapshot: Snapshot<unknown>): boolean =>
  (snapshot as { value?: unknown }).value === 'consuming';

/** Creates a processor pool. */
export function createPool(options: PoolOptions): Pool {
  const { definition } = options;
  const concurrency = options.concurrency ?? definition.concurrency;
  const logger = options.logger.child({ processor: definition.name });
  const lane = options.scheduler?.lane(definition.name, definition.weight);
  let dispatcher = new Dispatcher();
  // Prefetch = the number of workers (DESIGN.md): set to the concurrency for each new
  // incarnation of the pool, moved by scalePool, read each time the consumer starts.
  const prefetch = { size: concurrency };

  const workerSpec = (index: number): ChildSpec => {
    const id = `worker-${index}`;
    return {
      id,
      kind: 'worker',
      restart: 'permanent',
      shutdown: options.drainMs ?? 10_000,
      isDrained: isWorkerDrained,
      // A worker whose chart errored (a bug: an action or guard threw) keeps its
      // in-flight guard running forever, so its delivery would stay unacked and its
      // permit taken. Release them as the guard's cleanup would have.
      onError: (snapshot) =>
        (snapshot as { context?: { slot?: InFlight } }).context?.slot?.release(),
      start: () => {
        const input: ProcessorInput = {
          definition,
          store: options.store,
          logger: logger.child({ actor: `${definition.name}/${id}` }),
          lane,
          dispatcher,
          random: options.random,
          observer: options.observer,
        };
        return { logic: processorMachine, input };
      },
    };
  };

  const consumerSpec: ChildSpec = {
    id: 'consumer',
    kind: 'consumer',
    restart: 'permanent',
    shutdown: 5000,
    isReady: isConsuming,
    isDrained: () => false,
    start: () => ({
      logic: consumerMachine,
      input: {
        transport: options.transport,
        queue: definition.queue,
        prefetch: prefetch.size,
        dispatcher,
        logger: logger.child({ actor: `${definition.name}/consumer` }),
      },
    }),
  };

  const supervisorOptions = (): SupervisorOptions => {
    // A new incarnation of the pool gets a new dispatcher: nothing stale is kept.
    dispatcher = new Dispatcher();
    prefetch.size = concurrency;
    const workers = Array.from({ length: concurrency }, (_, i) => workerSpec(i + 1));
    // The batcher starts before the workers that write through it and stops after them.
    const batcher = definition.batch?.childSpec(logger);
    return {
      strategy: 'one-for-one',
      // Workers drain side by side, each within drainMs: shutting a pool down takes one
      // budget, not one per worker. The consumer stops at the same moment, and workers
      // that are draining refuse (requeue) anything it still hands out.
      stopInParallel: true,
      children: [...(batcher === undefined ? [] : [batcher]), ...workers, consumerSpec],
      logger: logger.child({ actor: `${definition.name}/pool` }),
      ...(options.intensity === undefined ? {} : { intensity: options.intensity }),
      ...(options.restartBackoff === undefined ? {} : { restartBackoff: options.restartBackoff }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.random === undefined ? {} : { random: options.random }),
    };
  };

  const pool: Pool = {
    name: definition.name,
    childSpec: {
      id: `pool:${definition.name}`,
      kind: 'supervisor',
      restart: 'permanent',
      shutdown: 'infinity',
      isReady: isSupervisorReady,
      isDrained: () => false,
      start: () => ({ logic: supervisorMachine, input: supervisorOptions() }),
    },
    supervisorOptions,
    workerSpec,
    get dispatcher() {
      return dispatcher;
    },
  };
  prefetchOf.set(pool, prefetch);
  return pool;
}

/** What {@link poolWorkers} and {@link scalePool} read of a pool supervisor's snapshot. */
interface PoolSnapshot {
  getSnapshot(): SupervisorSnapshotLike;
}

const isWorker = (id: string): boolean => id.startsWith('worker-');
const workerIndex = (id: string): number => Number(id.slice('worker-'.length));

/**
 * The worker ids a running pool supervisor has, in order. Workers being cancelled
 * (draining before they are removed) are on their way out and are not counted.
 */
export function poolWorkers(pool: PoolSnapshot): string[] {
  return supervisorView(pool.getSnapshot())
    .children.filter((child) => isWorker(child.id) && !child.leaving)
    .map((child) => child.id);
}

/**
 * Scales a running pool to `size` workers: starts new ones, or cancels the newest
 * (each drains its delivery within its shutdown budget first). The consumer is then
 * restarted with prefetch = `size`, so that new workers get deliveries and a smaller
 * pool holds no more than it can work on; deliveries already handed out stay with
 * their workers, and those the consumer held back are requeued.
 */
export function scalePool(
  ref: PoolSnapshot & {
    send(
      event:
        | { type: 'supervisor.start-child'; spec: ChildSpec }
        | { type: 'supervisor.cancel-child'; id: string }
        | { type: 'supervisor.terminate-child'; id: string }
        | { type: 'supervisor.restart-child'; id: string },
    ): void;
  },
  pool: Pool,
  size: number,
): void {
  const current = poolWorkers(ref);
  // New ids come after every worker still known, draining ones included: an id in use
  // would make the supervisor ignore the start request.
  const indices = supervisorView(ref.getSnapshot())
    .children.map((child) => child.id)
    .filter(isWorker)
    .map(workerIndex);
  let next = Math.max(0, ...indices) + 1;
  for (let count = current.length; count < size; count += 1) {
    ref.send({ type: 'supervisor.start-child', spec: pool.workerSpec(next) });
    next += 1;
  }
  const newestFirst = [...current].sort((a, b) => workerIndex(b) - workerIndex(a));
  for (const id of newestFirst.slice(0, Math.max(0, current.length - size))) {
    ref.send({ type: 'supervisor.cancel-child', id });
  }
  // Before this, the consumer kept the prefetch it started with: scaling up left the
  // new workers idle, and scaling down left deliveries waiting in the process.
  const prefetch = prefetchOf.get(pool);
  const target = Math.max(1, size);
  if (prefetch !== undefined && prefetch.size !== target) {
    prefetch.size = target;
    // Terminated, then restarted once stopped (a running child is not restarted: OTP).
    ref.send({ type: 'supervisor.terminate-child', id: 'consumer' });
    ref.send({ type: 'supervisor.restart-child', id: 'consumer' });
  }
}
