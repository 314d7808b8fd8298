// Running one processor on the in-memory ports: what a team's processor unit tests need.
// A real pool (consumer and workers under a supervisor) on a MemoryTransport and a
// store, with helpers to publish, wait until the queue is settled, and read what was
// dead-lettered.
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
  /** XState's `SimulatedClock`, to drive retry delays and timeouts without waiting. */
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
  /** Resolves once nothing is waiting or unacknowledged in the queue. */
  settled(): Promise<void>;
  /** Messages in the processor's dead-letter queue, oldest first. */
  deadLetters(): readonly StoredMessage[];
  stop(): Promise<void>;
}

let published = 0;

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
      for (;;) {
        const { ready, unacked } = transport.stats(definition.queue);
        if (ready === 0 && unacked === 0) return;
        // Polls the broker's state; it never stands in for a retry delay (use actorClock).
        await new Promise<void>((resolve) => setTimeout(resolve, 1));
      }
    },
    deadLetters: () => transport.peek(`${definition.queue}.dead`),
    stop: async () => {
      await runtime.shutdown();
      await transport.close();
    },
  };
}
