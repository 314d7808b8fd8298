// A pool's consumer: subscribes to the queue with prefetch = concurrency × maxBatch and
// offers every delivery to the dispatcher. On shutdown it cancels the subscription and
// returns undispatched deliveries; when stopped outright its invoked guard does the same.
// With prefetch 0 (a pool scaled to zero workers) it subscribes to nothing: `paused`.
import type { Logger } from 'pino';
import { assign, fromCallback, fromPromise, setup, type EventObject } from 'xstate';
import type { Dispatcher } from './dispatcher.js';
import type { Subscription, Transport } from './transport.js';

/** Input of {@link consumerMachine}. */
export interface ConsumerInput {
  readonly transport: Transport;
  readonly queue: string;
  readonly prefetch: number;
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
}

/** State tags of the consumer chart: `ready` once it consumes (or is paused on purpose). */
export type ConsumerTag = 'ready';

interface ConsumerContext extends ConsumerInput {
  readonly subscription: Subscription | undefined;
  readonly error: unknown;
}

/** A subscription whose cancel runs once, however often it is called. */
function cancelOnce(subscription: Subscription): Subscription {
  let cancelled: Promise<void> | undefined;
  return { cancel: () => (cancelled ??= subscription.cancel()) };
}

function cancelQuietly(subscription: Subscription, logger: Logger): void {
  subscription.cancel().catch((err: unknown) => logger.warn({ err }, 'consumer cancel failed'));
}

/** The consumer chart: (paused or) subscribing → consuming → cancelling → stopped, or failed. */
export const consumerMachine = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as {
    context: ConsumerContext;
    input: ConsumerInput;
    events: { type: 'shutdown' };
    tags: ConsumerTag;
    output: { exit: 'shutdown' } | { exit: 'failed'; reason: string };
  },
  actors: {
    subscribe: fromPromise<Subscription, ConsumerInput>(async ({ input, signal }) => {
      const { dispatcher } = input;
      const subscription = cancelOnce(
        await input.transport.consume(input.queue, { prefetch: input.prefetch }, (delivery) =>
          dispatcher.offer(delivery),
        ),
      );
      // Stopped while subscribing: do not leak the subscription.
      if (signal.aborted) cancelQuietly(subscription, input.logger);
      return subscription;
    }),
    holdSubscription: fromCallback<
      EventObject,
      { subscription: Subscription; dispatcher: Dispatcher; logger: Logger }
    >(({ input }) => () => {
      cancelQuietly(input.subscription, input.logger);
      input.dispatcher.requeuePending();
    }),
    cancel: fromPromise<void, { subscription: Subscription; dispatcher: Dispatcher }>(
      async ({ input }) => {
        await input.subscription.cancel();
        input.dispatcher.requeuePending();
      },
    ),
  },
}).createMachine({
  id: 'consumer',
  context: ({ input }) => ({ ...input, subscription: undefined, error: undefined }),
  initial: 'starting',
  states: {
    starting: {
      always: [{ guard: ({ context }) => context.prefetch <= 0, target: 'paused' }, 'subscribing'],
    },
    // No workers to consume for: nothing is taken from the queue.
    paused: {
      tags: ['ready'],
      on: { shutdown: 'stopped' },
    },
    subscribing: {
      invoke: {
        src: 'subscribe',
        input: ({ context }) => context,
        onDone: {
          target: 'consuming',
          actions: [
            ({ context }) =>
              context.logger.info(
                { queue: context.queue, prefetch: context.prefetch },
                'consumer started',
              ),
            assign({ subscription: ({ event }) => event.output }),
          ],
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
      },
      on: { shutdown: 'stopped' },
    },
    consuming: {
      tags: ['ready'],
      invoke: {
        src: 'holdSubscription',
        input: ({ context }) => ({
          subscription: context.subscription as Subscription,
          dispatcher: context.dispatcher,
          logger: context.logger,
        }),
      },
      on: { shutdown: 'cancelling' },
    },
    cancelling: {
      invoke: {
        src: 'cancel',
        input: ({ context }) => ({
          subscription: context.subscription as Subscription,
          dispatcher: context.dispatcher,
        }),
        onDone: 'stopped',
        onError: 'stopped',
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) =>
    context.error === undefined
      ? { exit: 'shutdown' as const }
      : {
          exit: 'failed' as const,
          reason:
            context.error instanceof Error ? context.error.message : JSON.stringify(context.error),
        },
});
