// Batched persistence (as Broadway's batchers): workers' persist steps hand their results
// to one batcher actor per pool, which writes them together when the batch is full or
// its timeout passes (a delayed transition on the actor clock). Each worker's delivery is
// acked only after the batch holding its result committed. A failed batch is split: each
// result is written alone, so one bad document fails (and is dead-lettered or retried by
// its own worker) while the others commit.
import type { Logger } from 'pino';
import { assign, fromCallback, fromPromise, setup, type EventObject } from 'xstate';
import type { ChildSpec } from './child-spec.js';
import { CancelledError, ConfigurationError, TransientError } from './errors.js';
import type { PersistContext } from './processor.js';
import type { Store } from './store.js';

/** What a batch write gets besides the results. */
export interface BatchContext {
  readonly store: Store;
  readonly log: Logger;
}

/** Options of {@link createBatcher}. */
export interface BatcherOptions<TResult> {
  /** Results written together at most. Needs a pool concurrency at least this large. */
  readonly size: number;
  /** A batch that is not full is written this long after its first result arrived. */
  readonly timeoutMs: number;
  /** Writes a batch; rejects to fail it (it is then split and written one by one). */
  readonly write: (results: readonly TResult[], context: BatchContext) => Promise<unknown>;
}

interface Item {
  readonly result: unknown;
  readonly store: Store;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Where workers reach the running batcher; empty while it is not running. */
interface Mailbox {
  send: ((item: Item) => void) | undefined;
}

interface BatcherInput {
  readonly size: number;
  readonly timeoutMs: number;
  readonly write: (results: readonly unknown[], context: BatchContext) => Promise<unknown>;
  readonly mailbox: Mailbox;
  readonly logger: Logger;
}

interface BatcherContext extends BatcherInput {
  /** Waiting for the next batch. */
  readonly items: readonly Item[];
  /** The batch being written. */
  readonly batch: readonly Item[];
  /** Batches committed whole, and split after a failure (for inspection). */
  readonly committed: number;
  readonly split: number;
}

type BatcherEvent = { readonly type: 'batch.add'; readonly item: Item };

function settleAll(items: readonly Item[], error?: unknown): void {
  for (const item of items) {
    if (error === undefined) item.resolve();
    else item.reject(error);
  }
}

/** The batcher chart: `waiting` → `collecting` → `writing` (→ `splitting`) → `waiting`. */
export const batcherMachine = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as { context: BatcherContext; input: BatcherInput; events: BatcherEvent },
  delays: { batchTimeout: ({ context }) => context.timeoutMs },
  actors: {
    // Opens the mailbox while the batcher runs; its cleanup (run on stop) closes it and
    // fails whatever was still waiting, so that those workers retry or requeue.
    mailbox: fromCallback<EventObject, { mailbox: Mailbox; items: () => readonly Item[] }>(
      ({ input, sendBack }) => {
        input.mailbox.send = (item) => sendBack({ type: 'batch.add', item });
        return () => {
          input.mailbox.send = undefined;
          settleAll(input.items(), new TransientError('batcher stopped before the write'));
        };
      },
    ),
    writeBatch: fromPromise<unknown, { context: BatcherContext }>(({ input }) => {
      const { batch, write, logger } = input.context;
      const first = batch[0];
      if (first === undefined) return Promise.resolve();
      return write(
        batch.map((item) => item.result),
        { store: first.store, log: logger },
      );
    }),
    writeEach: fromPromise<unknown, { context: BatcherContext }>(async ({ input }) => {
      const { batch, write, logger } = input.context;
      for (const item of batch) {
        try {
          await write([item.result], { store: item.store, log: logger });
          item.resolve();
        } catch (error) {
          item.reject(error);
        }
      }
    }),
  },
  guards: {
    isFull: ({ context }) => context.items.length >= context.size,
    hasItems: ({ context }) => context.items.length > 0,
  },
  actions: {
    add: assign({
      items: ({ context, event }) => [...context.items, event.item],
    }),
    takeBatch: assign(({ context }) => ({
      batch: context.items.slice(0, context.size),
      items: context.items.slice(context.size),
    })),
    commitBatch: assign(({ context }) => {
      settleAll(context.batch);
      return { batch: [], committed: context.committed + 1 };
    }),
    logSplit: ({ context, event }) => {
      context.logger.warn(
        { err: (event as { error?: unknown }).error, size: context.batch.length },
        'batch write failed; writing its results one by one',
      );
    },
    finishSplit: assign(({ context }) => ({ batch: [], split: context.split + 1 })),
  },
}).createMachine({
  id: 'batcher',
  context: ({ input }) => ({ ...input, items: [], batch: [], committed: 0, split: 0 }),
  invoke: {
    src: 'mailbox',
    input: ({ context, self }) => ({
      mailbox: context.mailbox,
      // Everything not yet written, read at stop time.
      items: () => {
        const snapshot = self.getSnapshot() as { context: BatcherContext } | undefined;
        return snapshot === undefined ? [] : [...snapshot.context.batch, ...snapshot.context.items];
      },
    }),
  },
  on: { 'batch.add': { actions: 'add' } },
  initial: 'waiting',
  states: {
    waiting: {
      always: [
        { guard: 'isFull', target: 'writing' },
        { guard: 'hasItems', target: 'collecting' },
      ],
    },
    collecting: {
      always: { guard: 'isFull', target: 'writing' },
      after: { batchTimeout: 'writing' },
    },
    writing: {
      entry: 'takeBatch',
      invoke: {
        src: 'writeBatch',
        input: ({ context }) => ({ context }),
        onDone: { target: 'waiting', actions: 'commitBatch' },
        onError: { target: 'splitting', actions: 'logSplit' },
      },
    },
    splitting: {
      invoke: {
        src: 'writeEach',
        input: ({ context }) => ({ context }),
        onDone: { target: 'waiting', actions: 'finishSplit' },
        // writeEach settles each item itself and does not reject.
        onError: { target: 'waiting', actions: 'finishSplit' },
      },
    },
  },
});

/** A batcher: the persist step to give a processor, and its actor's child spec. */
export interface Batcher<TResult> {
  readonly size: number;
  readonly timeoutMs: number;
  /** The persist step: resolves once the batch holding `result` committed. */
  readonly persist: (result: TResult, context: PersistContext) => Promise<void>;
  /** The batcher actor, started by the pool before its workers and stopped after them. */
  childSpec(logger: Logger): ChildSpec;
}

/**
 * Creates a batcher for a processor's persist step.
 *
 * @throws ConfigurationError naming the field at fault
 * @example
 * const companies = createBatcher<Company>({
 *   size: 100,
 *   timeoutMs: 200,
 *   write: (batch, { store }) =>
 *     store.bulkUpsert('companies', batch.map((c) => ({ key: c.id, document: c })), { ifNewer: 'version' }),
 * });
 * defineProcessor({ …, handle: (company) => company, batch: companies, concurrency: 100 });
 */
export function createBatcher<TResult>(options: BatcherOptions<TResult>): Batcher<TResult> {
  if (!Number.isInteger(options.size) || options.size < 1) {
    throw new ConfigurationError(
      'batch.size',
      `must be an integer >= 1, got ${String(options.size)}`,
    );
  }
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs < 0) {
    throw new ConfigurationError('batch.timeoutMs', 'must be milliseconds >= 0');
  }
  const mailbox: Mailbox = { send: undefined };
  const write = options.write as BatcherInput['write'];
  return {
    size: options.size,
    timeoutMs: options.timeoutMs,
    persist: (result, context) =>
      new Promise<void>((resolve, reject) => {
        const send = mailbox.send;
        if (send === undefined) {
          reject(new TransientError('batcher not running'));
          return;
        }
        if (context.signal.aborted) {
          reject(new CancelledError('persist abandoned'));
          return;
        }
        // A worker that abandons its step (cancel, shutdown past its budget) stops
        // waiting; the batch may still write its result, which is idempotent.
        const onAbort = (): void => reject(new CancelledError('persist abandoned'));
        context.signal.addEventListener('abort', onAbort, { once: true });
        send({
          result,
          store: context.store,
          resolve: () => {
            context.signal.removeEventListener('abort', onAbort);
            resolve();
          },
          reject: (error) => {
            context.signal.removeEventListener('abort', onAbort);
            reject(error instanceof Error ? error : new TransientError(String(error)));
          },
        });
      }),
    childSpec: (logger) => ({
      id: 'batcher',
      kind: 'service',
      restart: 'permanent',
      // Stopped after the workers (reverse order): nothing is left waiting by then.
      shutdown: 'brutal',
      start: () => ({
        logic: batcherMachine,
        input: {
          size: options.size,
          timeoutMs: options.timeoutMs,
          write,
          mailbox,
          logger: logger.child({ actor: 'batcher' }),
        } satisfies BatcherInput,
      }),
    }),
  };
}
