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

/**
 * Event number `n` of the demo: mostly company updates (every 7th one stale), now and
 * then an invalidation or a sync batch, and every 25th an invalid message that lands in
 * a dead-letter queue.
 */
export function demoEvent(n: number): { routingKey: string; body: string } {
  const id = `c-${n % 50}`;
  if (n % 25 === 0) return { routingKey: 'company.updated', body: '{"id": "broken"' };
  if (n % 20 === 0) {
    const companies = Array.from({ length: 10 }, (_, i) => ({
      id: `c-${(n + i) % 50}`,
      name: `Company ${(n + i) % 50}`,
      version: n,
    }));
    return { routingKey: 'company.sync', body: JSON.stringify({ companies }) };
  }
  if (n % 11 === 0) {
    return { routingKey: 'company.invalidated', body: JSON.stringify({ id, reason: 'demo' }) };
  }
  const version = n % 7 === 0 ? 0 : n;
  return {
    routingKey: 'company.updated',
    body: JSON.stringify({ id, name: `Company ${n % 50}`, version }),
  };
}

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
      const { routingKey, body } = demoEvent(input.n);
      await input.transport.publish('companies', routingKey, encoder.encode(body), {
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
