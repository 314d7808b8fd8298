// The broker connection as a child of a supervisor. The transport owns its connection
// actor (consumers and publishes need it before and after any restart); the child is
// a small chart that mirrors it — `waiting` ⇄ `ready`, and final `closed` or `failed` —
// so that ordered start waits for the broker before starting the pools, and a
// connection that gave up reconnecting exits abnormally: the supervisor then restarts
// it (a fresh connection actor) and, under rest-for-one, everything started after it.
// Its context names the broker node the connection is on (or trying) and the last
// failure, so the inspector shows them.
import type { ChildSpec, Shutdown } from '@troupe/core';
import { assign, fromCallback, setup, type Snapshot } from 'xstate';
import type { AmqpTransport } from './amqp-transport.js';

type WatchEvent =
  | { type: 'connection.ready'; node: string | undefined }
  | { type: 'connection.waiting'; node: string | undefined; failure: string | undefined }
  | { type: 'connection.ended'; failed: boolean; reason: string };

/** Mirrors an {@link AmqpTransport}'s connection for its supervisor. */
export const connectionWatchMachine = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as {
    context: {
      transport: AmqpTransport;
      reason: string | undefined;
      /** The node connected to, or being tried (URL, password redacted). */
      node: string | undefined;
      /** Why the last attempt failed, while waiting. */
      lastFailure: string | undefined;
    };
    input: AmqpTransport;
    events: WatchEvent;
    output: { exit: 'closed' } | { exit: 'failed'; reason: string };
  },
  actors: {
    watch: fromCallback<WatchEvent, AmqpTransport>(({ input, sendBack }) => {
      const actor = input.connection;
      const report = (): void => {
        const snapshot = actor.getSnapshot();
        if (snapshot.status === 'done') {
          sendBack({
            type: 'connection.ended',
            failed: snapshot.value === 'failed',
            reason: snapshot.context.lastError ?? 'closed',
          });
        } else if (snapshot.matches('connected')) {
          sendBack({ type: 'connection.ready', node: snapshot.context.node });
        } else {
          sendBack({
            type: 'connection.waiting',
            node: snapshot.context.node,
            failure: snapshot.context.lastFailure?.description,
          });
        }
      };
      const subscription = actor.subscribe({ next: report, complete: report, error: report });
      report();
      return () => subscription.unsubscribe();
    }),
  },
}).createMachine({
  id: 'amqp-connection',
  context: ({ input }) => ({
    transport: input,
    reason: undefined,
    node: undefined,
    lastFailure: undefined,
  }),
  invoke: { src: 'watch', input: ({ context }) => context.transport },
  initial: 'waiting',
  on: {
    'connection.ended': [
      {
        guard: ({ event }) => event.failed,
        target: '.failed',
        actions: assign({ reason: ({ event }) => event.reason }),
      },
      { target: '.closed' },
    ],
  },
  states: {
    waiting: {
      on: {
        'connection.ready': {
          target: 'ready',
          actions: assign({ node: ({ event }) => event.node, lastFailure: undefined }),
        },
        'connection.waiting': {
          actions: assign({
            node: ({ event }) => event.node,
            lastFailure: ({ event }) => event.failure,
          }),
        },
      },
    },
    ready: {
      on: {
        'connection.waiting': {
          target: 'waiting',
          actions: assign({
            node: ({ event }) => event.node,
            lastFailure: ({ event }) => event.failure,
          }),
        },
        'connection.ready': { actions: assign({ node: ({ event }) => event.node }) },
      },
    },
    closed: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) =>
    context.reason === undefined
      ? { exit: 'closed' as const }
      : { exit: 'failed' as const, reason: `amqp connection failed: ${context.reason}` },
});

/** Options of {@link connectionChildSpec}. */
export interface ConnectionChildOptions {
  /** @default 'amqp-connection' */
  readonly id?: string;
  /** @default 'brutal' (the app closes the transport once the tree has drained) */
  readonly shutdown?: Shutdown;
}

const isReady = (snapshot: Snapshot<unknown>): boolean =>
  (snapshot as { value?: unknown }).value === 'ready';

/**
 * The child spec that puts `transport`'s connection under a supervisor: ready once
 * connected; exits abnormally when the connection gives up reconnecting; restarted
 * (transient), it starts a fresh connection actor.
 *
 * @example
 * startSupervisor({
 *   strategy: 'rest-for-one',
 *   children: [connectionChildSpec(transport), pool.childSpec],
 *   logger,
 * });
 */
export function connectionChildSpec(
  transport: AmqpTransport,
  options: ConnectionChildOptions = {},
): ChildSpec {
  return {
    id: options.id ?? 'amqp-connection',
    kind: 'service',
    restart: 'transient',
    shutdown: options.shutdown ?? 'brutal',
    isReady,
    start: () => {
      transport.restart();
      return { logic: connectionWatchMachine, input: transport };
    },
  };
}
