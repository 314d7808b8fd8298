// The topology watch: a small chart that verifies the broker still has the transport's
// topology every `intervalMs` on the actor clock (a delayed transition, no timer of its
// own), and at once on `topology.check` (a consumer's channel closed, a consumer
// cancelled by the broker). The check itself — passive look-ups, redeclaring what is
// missing — is the transport's; a check asked for while one runs runs again after it.
import { assign, fromPromise, setup } from 'xstate';

/** Input of {@link topologyWatchMachine}. */
export interface TopologyWatchInput {
  /** Time between checks; 0 checks only when asked. */
  readonly intervalMs: number;
  /** Verifies and repairs the topology; its failures are the transport's to log. */
  readonly check: () => Promise<void>;
}

/** Verifies a transport's topology periodically and on demand. */
export const topologyWatchMachine = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as {
    context: TopologyWatchInput & { again: boolean };
    input: TopologyWatchInput;
    events: { type: 'topology.check' };
  },
  actors: {
    check: fromPromise<void, () => Promise<void>>(({ input }) => input()),
  },
  delays: {
    interval: ({ context }) => context.intervalMs,
  },
  guards: {
    periodic: ({ context }) => context.intervalMs > 0,
    again: ({ context }) => context.again,
  },
}).createMachine({
  id: 'amqp-topology',
  context: ({ input }) => ({ ...input, again: false }),
  initial: 'waiting',
  states: {
    waiting: {
      after: { interval: { guard: 'periodic', target: 'checking' } },
      on: { 'topology.check': 'checking' },
    },
    checking: {
      entry: assign({ again: false }),
      on: { 'topology.check': { actions: assign({ again: true }) } },
      invoke: {
        src: 'check',
        input: ({ context }) => context.check,
        onDone: [{ guard: 'again', target: 'checking', reenter: true }, { target: 'waiting' }],
        onError: [{ guard: 'again', target: 'checking', reenter: true }, { target: 'waiting' }],
      },
    },
  },
});
