// A demo publisher: every `intervalMs` it publishes a company update (and now and
// then an invalid one, to show dead-lettering). Time is a delayed transition, not an
// interval timer.
import type { Transport } from '@troupe/core';
import type { Logger } from 'pino';
import { assign, fromPromise, setup } from 'xstate';

export interface DemoPublisherInput {
  readonly transport: Transport;
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
    publish: fromPromise<void, { transport: Transport; n: number }>(async ({ input }) => {
      const { n } = input;
      const body =
        n % 25 === 0
          ? '{"id": "broken"' // invalid JSON: goes to company.updated.dead
          : JSON.stringify({ id: `c-${n % 50}`, name: `Company ${n % 50}`, version: n });
      await input.transport.publish('companies', 'company.updated', encoder.encode(body), {
        messageId: `demo-${n}`,
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
        input: ({ context }) => ({ transport: context.transport, n: context.sent + 1 }),
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
