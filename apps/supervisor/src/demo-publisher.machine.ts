// A demo publisher: every `intervalMs` it publishes the event a configured module makes
// for tick n (the example configuration's makes company events, now and then an invalid
// one, to show dead-lettering). Time is a delayed transition, not an interval timer.
import type { Transport } from '@troupe/core';
import type { Logger } from 'pino';
import { assign, fromPromise, setup } from 'xstate';

/** One event of the demo: what `demo.module`'s export returns for tick `n`. */
export interface DemoEvent {
  readonly exchange: string;
  readonly routingKey: string;
  readonly body: string;
}

export interface DemoPublisherInput {
  readonly transport: Transport;
  readonly event: (n: number) => DemoEvent;
  readonly intervalMs: number;
  readonly logger: Logger;
}

const encoder = new TextEncoder();

export const demoPublisherMachine = setup({
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- XState's type declaration idiom
  types: {} as {
    context: DemoPublisherInput & { sent: number };
    input: DemoPublisherInput;
    events: { type: 'shutdown' };
  },
  delays: { interval: ({ context }) => context.intervalMs },
  actors: {
    publish: fromPromise<
      void,
      { transport: Transport; event: (n: number) => DemoEvent; n: number }
    >(async ({ input }) => {
      const { exchange, routingKey, body } = input.event(input.n);
      await input.transport.publish(exchange, routingKey, encoder.encode(body), {
        messageId: `demo-${input.n}`,
        contentType: 'application/json',
      });
    }),
  },
}).createMachine({
  id: 'demo-publisher',
  context: ({ input }) => ({ ...input, sent: 0 }),
  initial: 'waiting',
  on: { shutdown: '.stopped' },
  states: {
    waiting: { after: { interval: 'publishing' } },
    publishing: {
      invoke: {
        src: 'publish',
        input: ({ context }) => ({
          transport: context.transport,
          event: context.event,
          n: context.sent + 1,
        }),
        onDone: { target: 'waiting', actions: assign({ sent: ({ context }) => context.sent + 1 }) },
        onError: {
          target: 'waiting',
          actions: ({ context, event }) =>
            context.logger.warn({ err: event.error }, 'demo publish failed'),
        },
      },
    },
    stopped: { type: 'final' },
  },
});
