// Running one processor on the in-memory ports: what a team's processor unit tests need.
// A real pool (consumer and workers under a supervisor) on a MemoryTransport and a
// store, with helpers to publish, wait until the queue is settled (advancing a simulated
// clock through retry delays), and read what was dead-lettered.
import {
  createPool,
  startSupervisor,
  type ActorClock,
  type AnyProcessorDefinition,
  type Store,
  type SupervisorRuntime,
} from '@troupe/core';
import type { Logger } from 'pino';
import { MemoryStore } from './memory-store.js';
import { MemoryTransport, type StoredMessage } from './memory-transport.js';

/** Options of {@link startProcessor}. */
export interface ProcessorHarnessOptions {
  readonly logger: Logger;
  /** @default a new MemoryStore */
  readonly store?: Store;
  /** Overrides the definition's concurrency. */
  readonly concurrency?: number;
  /**
   * XState's `SimulatedClock`, to drive retry delays, batch timeouts and supervisor
   * restart delays without waiting: {@link ProcessorHarness.settled} advances it.
   */
  readonly actorClock?: ActorClock;
}

/** A processor running on the in-memory ports. */
export interface ProcessorHarness {
  readonly transport: MemoryTransport;
  readonly store: Store;
  readonly runtime: SupervisorRuntime;
  /**
   * Publishes to the processor's first binding (or straight to its queue). A string or
   * bytes are sent as they are; anything else as JSON.
   */
  publish(
    message: unknown,
    options?: { readonly messageId?: string; readonly contentType?: string },
  ): Promise<void>;
  /**
   * Resolves once nothing is waiting or unacknowledged in the queue. With a
   * `SimulatedClock` as `actorClock`, it advances the clock to the next timer (a retry
   * delay, a batch timeout, a restart delay) whenever the pool has nothing else to do:
   * no handler running and nothing changed for a few turns of the event loop. A handler
   * that is running is never timed out by it (advance the clock yourself to test a
   * handler timeout).
   */
  settled(): Promise<void>;
  /** Messages in the processor's dead-letter queue, oldest first. */
  deadLetters(): readonly StoredMessage[];
  stop(): Promise<void>;
}

let published = 0;

/** XState's SimulatedClock as far as `settled` uses it. */
interface SimulatedClockLike {
  now(): number;
  set(time: number): void;
  readonly timeouts: ReadonlyMap<unknown, { readonly start: number; readonly timeout: number }>;
}

function asSimulated(clock: ActorClock | undefined): SimulatedClockLike | undefined {
  const candidate = clock as Partial<SimulatedClockLike> | undefined;
  return typeof candidate?.set === 'function' &&
    typeof candidate.now === 'function' &&
    candidate.timeouts instanceof Map
    ? (candidate as SimulatedClockLike)
    : undefined;
}

/** When the simulated clock's earliest timer is due. */
function nextTimer(clock: SimulatedClockLike): number | undefined {
  let next: number | undefined;
  for (const { start, timeout } of clock.timeouts.values()) {
    const due = start + timeout;
    if (next === undefined || due < next) next = due;
  }
  return next;
}

/** True while a worker of the tree is in its handler (the `handling` state). */
function handlerRunning(runtime: SupervisorRuntime): boolean {
  const visit = (snapshot: unknown, depth: number): boolean => {
    if (depth > 8 || typeof snapshot !== 'object' || snapshot === null) return false;
    const { value, children } = snapshot as { value?: unknown; children?: unknown };
    if (JSON.stringify(value ?? null).includes('"handling"')) return true;
    if (typeof children !== 'object' || children === null) return false;
    return Object.values(children as Record<string, { getSnapshot?: () => unknown }>).some(
      (child) => visit(child?.getSnapshot?.(), depth + 1),
    );
  };
  return visit(runtime.actor.getSnapshot(), 0);
}

function hasNow(clock: ActorClock | undefined): clock is ActorClock & { now(): number } {
  return typeof (clock as { now?: unknown } | undefined)?.now === 'function';
}

/** Starts `definition` in a supervised pool on a fresh MemoryTransport. */
export async function startProcessor(
  definition: AnyProcessorDefinition,
  options: ProcessorHarnessOptions,
): Promise<ProcessorHarness> {
  const transport = new MemoryTransport();
  const store = options.store ?? new MemoryStore();
  await transport.declare([{ queue: definition.queue, bindings: definition.bindings }]);
  const pool = createPool({
    definition,
    transport,
    store,
    logger: options.logger,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    // One clock for the supervisor's restart intensity and the actors' timers.
    ...(hasNow(options.actorClock) ? { clock: options.actorClock } : {}),
  });
  const runtime = startSupervisor(
    pool.supervisorOptions(),
    options.actorClock === undefined ? {} : { actorClock: options.actorClock },
  );
  const binding = definition.bindings[0];
  return {
    transport,
    store,
    runtime,
    publish: (message, publishOptions = {}) => {
      published += 1;
      const body =
        typeof message === 'string'
          ? Buffer.from(message)
          : message instanceof Uint8Array
            ? message
            : Buffer.from(JSON.stringify(message));
      return transport.publish(
        binding?.exchange ?? '',
        binding?.routingKey ?? definition.queue,
        body,
        {
          messageId: publishOptions.messageId ?? `test-${published}`,
          contentType: publishOptions.contentType ?? 'application/json',
        },
      );
    },
    settled: async () => {
      const clock = asSimulated(options.actorClock);
      let unchanged = 0;
      let last = '';
      for (;;) {
        const { ready, unacked } = transport.stats(definition.queue);
        if (ready === 0 && unacked === 0) return;
        // Polls the broker's state on the real clock: in-memory work finishes in a few turns.
        await new Promise<void>((resolve) => setTimeout(resolve, 1));
        if (clock === undefined) continue;
        const state = `${ready}/${unacked}/${clock.now()}/${[...clock.timeouts.keys()].join(',')}`;
        unchanged = state === last ? unchanged + 1 : 0;
        last = state;
        if (unchanged < 3 || handlerRunning(runtime)) continue;
        const next = nextTimer(clock);
        if (next !== undefined) clock.set(Math.max(next, clock.now()));
        unchanged = 0;
      }
    },
    deadLetters: () => transport.peek(`${definition.queue}.dead`),
    stop: async () => {
      await runtime.shutdown();
      await transport.close();
    },
  };
}
