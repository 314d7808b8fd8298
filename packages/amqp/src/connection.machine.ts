// The broker connection as an actor: connecting → connected (flowing ⇄ blocked) →
// recovering (backoff with jitter, a delayed transition on the actor clock) →
// connecting again, until `connection.close` leads to closed (or a recovery budget
// runs out and leads to failed). The chart knows nothing of amqplib: it opens a
// connection through the function in its input (which also re-declares topology and
// resumes consumers) and watches the connection's events. With several broker
// addresses (the nodes of a cluster), each attempt goes to one of them: in order,
// moving on after a failure or a loss, or at random; the context names the node.
import type { Backoff, RandomSource } from '@troupe/core';
import { backoffDelay } from '@troupe/core';
import type { Logger } from 'pino';
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import { describeConnectError, lostConnection, type ConnectFailure } from './connect-failure.js';

/** What the chart needs of an open connection: its events and a way to close it. */
export interface ConnectionHandle {
  on(event: 'close', listener: (err?: Error) => void): unknown;
  on(event: 'blocked', listener: (reason: string) => void): unknown;
  on(event: 'unblocked', listener: () => void): unknown;
  removeListener(event: 'close', listener: (err?: Error) => void): unknown;
  removeListener(event: 'blocked', listener: (reason: string) => void): unknown;
  removeListener(event: 'unblocked', listener: () => void): unknown;
  close(): Promise<void>;
}

/** Input of {@link connectionMachine}. */
export interface ConnectionInput<THandle extends ConnectionHandle = ConnectionHandle> {
  /**
   * Opens a connection and makes it ready (channels, topology, consumers). Must close
   * what it opened when it fails or when the signal is aborted.
   */
  readonly open: (signal: AbortSignal, endpoint: number) => Promise<THandle>;
  /**
   * The broker addresses as they may be shown (credentials redacted): `open` is called
   * with the index of one of them. @default one address, unnamed
   */
  readonly endpoints?: readonly string[];
  /**
   * Which address each attempt goes to: `in-order` starts with the first and moves on to
   * the next (wrapping) after a failed attempt or a lost connection; `random` picks one
   * at random each time, another than the one that just failed. @default 'in-order'
   */
  readonly endpointOrder?: EndpointOrder;
  /**
   * Whether a refused login (403 ACCESS_REFUSED) is retried like any other failure
   * (true), or ends the connection as `failed` at once (false). @default true
   */
  readonly retryOnLoginRefused?: boolean;
  /** Classifies an open's error. @default {@link describeConnectError} */
  readonly classify?: (error: unknown) => ConnectFailure;
  /** Delay before reconnection attempt n (0 for the first). */
  readonly backoff: Backoff;
  /** Reconnection attempts in a row before giving up (state `failed`). @default Infinity */
  readonly maxAttempts?: number;
  /**
   * How long opening may take (connect, topology, consumers) before it is aborted and
   * counted as a failed attempt. @default 30000
   */
  readonly openTimeoutMs?: number;
  readonly random?: RandomSource;
  readonly logger: Logger;
}

/** How attempts pick a broker address. */
export type EndpointOrder = 'in-order' | 'random';

interface ConnectionContext<THandle extends ConnectionHandle = ConnectionHandle> {
  readonly input: ConnectionInput<THandle>;
  readonly connection: THandle | undefined;
  /** Failed attempts in a row since the last successful connection. */
  readonly attempt: number;
  /** Connections made so far (1 after the first connect, 2 after the first reconnect…). */
  readonly generation: number;
  readonly lastError: string | undefined;
  /** The last failure to connect, or the loss of the connection, classified. */
  readonly lastFailure: ConnectFailure | undefined;
  readonly blockedReason: string | undefined;
  /** Index of the address being tried, or connected to. */
  readonly endpoint: number;
  /** The address being tried, or connected to (credentials redacted). */
  readonly node: string | undefined;
  /** Set when the chart gives up (out of attempts, or a refused login not retried). */
  readonly gaveUp: boolean;
}

const endpointCount = (input: ConnectionInput): number => Math.max(1, input.endpoints?.length ?? 1);

/** The address of the first attempt. */
function firstEndpoint(input: ConnectionInput): number {
  const count = endpointCount(input);
  if (input.endpointOrder !== 'random' || count === 1) return 0;
  return Math.min(count - 1, Math.floor((input.random ?? Math.random)() * count));
}

/** The address of the attempt after a failure, or a loss, at `current`. */
function nextEndpoint(input: ConnectionInput, current: number): number {
  const count = endpointCount(input);
  if (count === 1) return 0;
  if (input.endpointOrder !== 'random') return (current + 1) % count;
  // Another than the one that failed, uniformly.
  const pick = Math.min(count - 2, Math.floor((input.random ?? Math.random)() * (count - 1)));
  return pick >= current ? pick + 1 : pick;
}

/** Events the chart accepts. `connection.recycle` asks for a fresh connection. */
export type ConnectionEvent =
  | { type: 'connection.close' }
  | { type: 'connection.recycle'; connection: ConnectionHandle; reason: string }
  | { type: 'connection.lost'; connection: ConnectionHandle; reason: string }
  | { type: 'connection.blocked'; reason: string }
  | { type: 'connection.unblocked' };

function closeQuietly(connection: ConnectionHandle | undefined, logger: Logger): void {
  connection?.close().catch((err: unknown) => logger.debug({ err }, 'connection close failed'));
}

/** The connection chart. */
export const connectionMachine = setup({
  // The assertion is XState's way to declare types; it is not redundant.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  types: {} as {
    context: ConnectionContext;
    input: ConnectionInput;
    events: ConnectionEvent;
    output: { exit: 'closed' } | { exit: 'failed'; reason: string };
  },
  actors: {
    openConnection: fromPromise<
      ConnectionHandle,
      { readonly input: ConnectionInput; readonly endpoint: number }
    >(({ input, signal }) => input.input.open(signal, input.endpoint)),
    watchConnection: fromCallback<ConnectionEvent, ConnectionHandle>(({ input, sendBack }) => {
      const onClose = (err?: Error): void =>
        sendBack({
          type: 'connection.lost',
          connection: input,
          reason: err === undefined ? 'closed' : err.message,
        });
      const onBlocked = (reason: string): void => sendBack({ type: 'connection.blocked', reason });
      const onUnblocked = (): void => sendBack({ type: 'connection.unblocked' });
      input.on('close', onClose);
      input.on('blocked', onBlocked);
      input.on('unblocked', onUnblocked);
      return () => {
        input.removeListener('close', onClose);
        input.removeListener('blocked', onBlocked);
        input.removeListener('unblocked', onUnblocked);
      };
    }),
    closeConnection: fromPromise<void, ConnectionHandle | undefined>(async ({ input }) => {
      await input?.close();
    }),
  },
  guards: {
    isCurrent: ({ context, event }) =>
      (event.type === 'connection.lost' || event.type === 'connection.recycle') &&
      event.connection === context.connection,
    isOutOfAttempts: ({ context }) => context.attempt > (context.input.maxAttempts ?? Infinity),
    isLoginRefusedForGood: ({ context }) =>
      context.input.retryOnLoginRefused === false && context.lastFailure?.kind === 'login-refused',
  },
  delays: {
    reconnectDelay: ({ context }) =>
      backoffDelay(context.input.backoff, context.attempt - 1, context.input.random),
    openTimeout: ({ context }) => context.input.openTimeoutMs ?? 30_000,
  },
  actions: {
    closeCurrent: ({ context }) => closeQuietly(context.connection, context.input.logger),
    moveOn: assign(({ context }) => {
      const endpoint = nextEndpoint(context.input, context.endpoint);
      return { endpoint, node: context.input.endpoints?.[endpoint] };
    }),
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => {
    const endpoint = firstEndpoint(input);
    return {
      input,
      connection: undefined,
      attempt: 0,
      generation: 0,
      lastError: undefined,
      lastFailure: undefined,
      blockedReason: undefined,
      endpoint,
      node: input.endpoints?.[endpoint],
      gaveUp: false,
    };
  },
  initial: 'connecting',
  states: {
    connecting: {
      invoke: {
        src: 'openConnection',
        input: ({ context }) => ({ input: context.input, endpoint: context.endpoint }),
        onDone: {
          target: 'connected',
          actions: assign({
            connection: ({ event }) => event.output,
            attempt: 0,
            generation: ({ context }) => context.generation + 1,
            lastError: undefined,
            lastFailure: undefined,
          }),
        },
        onError: {
          target: 'recovering',
          actions: assign(({ context, event }) => {
            const failure = (context.input.classify ?? describeConnectError)(event.error);
            return { lastError: failure.message, lastFailure: failure };
          }),
        },
      },
      // Leaving the state aborts the invoked open, which closes whatever it had opened.
      after: {
        openTimeout: {
          target: 'recovering',
          actions: assign(() => {
            const failure = describeConnectError(new Error('connection not ready in time'));
            return { lastError: failure.message, lastFailure: failure };
          }),
        },
      },
      on: { 'connection.close': 'closed' },
    },
    connected: {
      invoke: {
        src: 'watchConnection',
        input: ({ context }) => context.connection as ConnectionHandle,
      },
      initial: 'flowing',
      states: {
        flowing: {
          on: {
            'connection.blocked': {
              target: 'blocked',
              actions: assign({ blockedReason: ({ event }) => event.reason }),
            },
          },
        },
        // The broker's resource alarm: it stops reading from publishing connections.
        blocked: {
          on: {
            'connection.unblocked': {
              target: 'flowing',
              actions: assign({ blockedReason: undefined }),
            },
          },
        },
      },
      on: {
        'connection.lost': {
          guard: 'isCurrent',
          target: 'recovering',
          actions: assign({
            connection: undefined,
            blockedReason: undefined,
            lastError: ({ event }) => event.reason,
            lastFailure: ({ event }) => lostConnection(event.reason),
          }),
        },
        'connection.recycle': {
          guard: 'isCurrent',
          target: 'recovering',
          actions: [
            'closeCurrent',
            assign({
              connection: undefined,
              blockedReason: undefined,
              lastError: ({ event }) => event.reason,
              lastFailure: ({ event }) => lostConnection(event.reason),
            }),
          ],
        },
        'connection.close': 'closing',
      },
    },
    recovering: {
      entry: assign({ attempt: ({ context }) => context.attempt + 1 }),
      always: [
        { guard: 'isOutOfAttempts', target: 'failed' },
        { guard: 'isLoginRefusedForGood', target: 'failed' },
      ],
      // The next attempt goes to the next address; until then `node` names the one that failed.
      after: { reconnectDelay: { target: 'connecting', actions: 'moveOn' } },
      on: { 'connection.close': 'closed' },
    },
    closing: {
      invoke: {
        src: 'closeConnection',
        input: ({ context }) => context.connection,
        onDone: { target: 'closed', actions: assign({ connection: undefined }) },
        onError: { target: 'closed', actions: assign({ connection: undefined }) },
      },
    },
    closed: { type: 'final' },
    failed: { type: 'final', entry: assign({ gaveUp: true }) },
  },
  output: ({ context }) =>
    context.gaveUp
      ? { exit: 'failed' as const, reason: context.lastError ?? 'connection lost' }
      : { exit: 'closed' as const },
});
