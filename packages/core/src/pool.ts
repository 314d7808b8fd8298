// A processor pool: a one-for-one supervisor of N workers and one consumer. Workers
// start first, the consumer last (ordered start), so shutdown stops the consumer
// first and then lets the workers drain (reverse order). The pool reads its children
// through their state tags only (`drainable`, `ready`), never their state values.
import type { Logger } from 'pino';
import type { Snapshot } from 'xstate';
import type { RandomSource } from './backoff.js';
import type { ChildSpec } from './child-spec.js';
import { consumerMachine, type ConsumerTag } from './consumer.machine.js';
import { Dispatcher } from './dispatcher.js';
import type { InFlight } from './internal/in-flight.js';
import {
  processorMachine,
  type AnyProcessorDefinition,
  type ProcessorInput,
  type ProcessorTag,
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
  /** Add this to a supervisor's children. Each start of it is a new incarnation. */
  readonly childSpec: ChildSpec;
  /**
   * A new incarnation of the pool, as supervisor input, for running it as a root. Each
   * call makes one with its own dispatcher: its workers and consumer (restarts
   * included) share that dispatcher, so a second call cannot cut the first off.
   */
  supervisorOptions(): SupervisorOptions;
  /** The spec of worker number `index` (1-based) of the newest incarnation, for `supervisor.start-child`. */
  workerSpec(index: number): ChildSpec;
  /** The dispatcher of the newest incarnation (for metrics and tests). */
  readonly dispatcher: Dispatcher;
}

/**
 * The consumer's prefetch of each pool: its worker count times its batch size, which
 * scaling changes. Module-private so that only {@link scalePool} moves it.
 */
const prefetchOf = new WeakMap<
  Pool,
  { workers: number; size: number; readonly maxBatch: number }
>();

/**
 * A worker has nothing to finish when its chart says so (the `drainable` tag): it is
 * idle, collecting a batch, or still waiting for a scheduler permit. Its handlers have
 * not started, so stopping it (which withdraws the request and requeues its
 * deliveries) loses no work.
 */
const isWorkerDrained = (snapshot: Snapshot<unknown>): boolean =>
  (snapshot as { hasTag?: (tag: ProcessorTag) => boolean }).hasTag?.('drainable') === true;
const isConsumerReady = (snapshot: Snapshot<unknown>): boolean =>
  (snapshot as { hasTag?: (tag: ConsumerTag) => boolean }).hasTag?.('ready') === true;

/** Creates a processor pool. */
export function createPool(options: PoolOptions): Pool {
  const { definition } = options;
  const concurrency = options.concurrency ?? definition.concurrency;
  const logger = options.logger.child({ processor: definition.name });
  const lane = options.scheduler?.lane(definition.name, definition.weight);
  // Prefetch = workers × batch size: set for each new incarnation of the pool, moved by
  // scalePool, read each time the consumer starts.
  const prefetch = {
    workers: concurrency,
    size: concurrency * definition.maxBatch,
    maxBatch: definition.maxBatch,
  };
  let newest = new Dispatcher();

  const workerSpecOf = (dispatcher: Dispatcher, index: number): ChildSpec => {
    const id = `worker-${index}`;
    return {
      id,
      kind: 'worker',
      restart: 'permanent',
      shutdown: options.drainMs ?? 10_000,
      isDrained: isWorkerDrained,
      // A worker whose chart errored (a bug: an action or guard threw) keeps its
      // in-flight guard running forever, so its deliveries would stay unacked and its
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

  const consumerSpecOf = (dispatcher: Dispatcher): ChildSpec => ({
    id: 'consumer',
    kind: 'consumer',
    restart: 'permanent',
    shutdown: 5000,
    isReady: isConsumerReady,
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
  });

  const supervisorOptions = (): SupervisorOptions => {
    // A new incarnation of the pool gets a new dispatcher: nothing stale is kept.
    const dispatcher = new Dispatcher();
    newest = dispatcher;
    prefetch.workers = concurrency;
    prefetch.size = concurrency * definition.maxBatch;
    const workers = Array.from({ length: concurrency }, (_, i) => workerSpecOf(dispatcher, i + 1));
    return {
      strategy: 'one-for-one',
      // Workers drain side by side, each within drainMs: shutting a pool down takes one
      // budget, not one per worker. The consumer stops at the same moment, and workers
      // that are draining refuse (requeue) anything it still hands out.
      stopInParallel: true,
      children: [...workers, consumerSpecOf(dispatcher)],
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
    workerSpec: (index) => workerSpecOf(newest, index),
    get dispatcher() {
      return newest;
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
 * (each drains its batch within its shutdown budget first). The consumer is then
 * restarted with prefetch = `size` × maxBatch (none at all for zero workers), so that new workers get deliveries and a smaller
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
  // new workers idle, and scaling down left deliveries waiting in the process. At zero
  // workers the consumer pauses (prefetch 0 means "consume nothing", not AMQP's
  // "unlimited"): what it held goes back to the broker.
  const prefetch = prefetchOf.get(pool);
  if (prefetch !== undefined && prefetch.workers !== size) {
    prefetch.size = size * prefetch.maxBatch;
    prefetch.workers = size;
    // Terminated, then restarted once stopped (a running child is not restarted: OTP).
    ref.send({ type: 'supervisor.terminate-child', id: 'consumer' });
    ref.send({ type: 'supervisor.restart-child', id: 'consumer' });
  }
}
