// Opening the store at start-up, as a chart: opening → waiting (backoff, a delayed
// transition on the actor clock) → opening again while the failure is transient (a
// store server that is down or unreachable), until open; a permanent failure (a bad
// URL, a refused login, a path that cannot be created) ends it as failed. A valid
// configuration pointing at a server that is down is not a configuration error.
import {
  backoffDelay,
  redactedMessage,
  type ActorClock,
  type Backoff,
  type RandomSource,
  type Store,
} from '@troupe/core';
import type { Logger } from 'pino';
import { assign, createActor, fromPromise, setup } from 'xstate';

/** Input of {@link storeOpenerMachine}. */
export interface StoreOpenerInput {
  /** Opens the store; must close it again if `signal` was aborted meanwhile. */
  readonly open: (signal: AbortSignal) => Promise<Store>;
  /** Delay before retry n (0 for the first). */
  readonly backoff: Backoff;
  /** Whether a failure is worth another attempt. @default {@link isRetryableOpenFailure} */
  readonly isTransient?: (error: unknown) => boolean;
  readonly random?: RandomSource;
}

interface StoreOpenerContext {
  readonly input: StoreOpenerInput;
  /** Failed attempts so far. */
  readonly attempt: number;
  readonly store: Store | undefined;
  /** The last failure, redacted (no credentials). */
  readonly lastError: string | undefined;
  readonly error: unknown;
}

/** Whether a failure to open may pass by trying again (the store classified it so). */
export function isRetryableOpenFailure(error: unknown): boolean {
  return (error as { retryable?: unknown } | null)?.retryable === true;
}

/** The store-opening chart. */
export const storeOpenerMachine = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as {
    context: StoreOpenerContext;
    input: StoreOpenerInput;
    output: { store: Store } | { error: unknown };
  },
  actors: {
    open: fromPromise<Store, StoreOpenerInput>(({ input, signal }) => input.open(signal)),
  },
  guards: {
    isTransient: ({ context, event }) =>
      (context.input.isTransient ?? isRetryableOpenFailure)((event as { error?: unknown }).error),
  },
  delays: {
    retryDelay: ({ context }) =>
      backoffDelay(context.input.backoff, context.attempt - 1, context.input.random),
  },
}).createMachine({
  id: 'store-opener',
  context: ({ input }) => ({
    input,
    attempt: 0,
    store: undefined,
    lastError: undefined,
    error: undefined,
  }),
  initial: 'opening',
  states: {
    opening: {
      invoke: {
        src: 'open',
        input: ({ context }) => context.input,
        onDone: { target: 'open', actions: assign({ store: ({ event }) => event.output }) },
        onError: [
          {
            guard: 'isTransient',
            target: 'waiting',
            actions: assign({
              attempt: ({ context }) => context.attempt + 1,
              lastError: ({ event }) => redactedMessage(event.error),
            }),
          },
          {
            target: 'failed',
            actions: assign({
              error: ({ event }) => event.error,
              lastError: ({ event }) => redactedMessage(event.error),
            }),
          },
        ],
      },
    },
    waiting: { after: { retryDelay: 'opening' } },
    open: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) =>
    context.store === undefined ? { error: context.error } : { store: context.store },
});

const asError = (error: unknown): Error =>
  error instanceof Error ? error : new Error(String(error));

/** Options of {@link openStoreWithRetry}. */
export interface OpenStoreOptions extends StoreOpenerInput {
  readonly logger: Logger;
  /** Stops retrying: the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  readonly clock?: ActorClock | undefined;
  /** Called with the reason each time an attempt fails transiently, and with undefined once open. */
  readonly onProblem?: (reason: string | undefined) => void;
}

/**
 * Opens the store through {@link storeOpenerMachine}: resolves with the store, rejects
 * with the first permanent failure, or with the abort reason when `signal` aborts.
 */
export function openStoreWithRetry(options: OpenStoreOptions): Promise<Store> {
  const { logger, signal, onProblem } = options;
  return new Promise<Store>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const actor = createActor(storeOpenerMachine, {
      input: {
        open: options.open,
        backoff: options.backoff,
        ...(options.isTransient === undefined ? {} : { isTransient: options.isTransient }),
        ...(options.random === undefined ? {} : { random: options.random }),
      },
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    let lastAttempt = 0;
    const onAbort = (): void => {
      actor.stop();
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    actor.subscribe({
      next: (snapshot) => {
        const { attempt, lastError } = snapshot.context;
        if (snapshot.value === 'waiting' && attempt !== lastAttempt) {
          lastAttempt = attempt;
          logger.warn({ attempt, reason: lastError }, 'store unreachable; retrying');
          onProblem?.(lastError);
        }
        if (snapshot.status !== 'done') return;
        signal?.removeEventListener('abort', onAbort);
        const output = snapshot.output;
        if (output !== undefined && 'store' in output) {
          onProblem?.(undefined);
          resolve(output.store);
        } else reject(asError(output?.error));
      },
      error: (error: unknown) => {
        signal?.removeEventListener('abort', onAbort);
        reject(asError(error));
      },
    });
    actor.start();
  });
}
