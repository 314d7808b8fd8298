// Confirmed publishing on one confirm channel per connection. Publishes are pipelined:
// each call writes at once and resolves on the broker's confirm, so many are in flight.
// When the channel's buffer is full (`publish` returned false) further publishes wait
// in a FIFO backlog until `drain`. While there is no channel (connection recovering)
// they wait in the same backlog; a publish whose channel died before its confirm is
// written again on the next channel (at least once: the broker may hold a duplicate).
// A channel error (a publish to an exchange that does not exist closes the channel
// with 404) fails only the publishes to missing exchanges; the others are written again
// on a new channel of the same connection.
import { TransientError } from '@troupe/core';
import { IllegalOperationError, type ConfirmChannel, type Options } from 'amqplib';
import type { Logger } from 'pino';

interface PendingPublish {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  /** Times written again after a channel error (not a lost connection). */
  rewrites: number;
}

/** Rewrites after channel errors before a publish fails. */
const maxRewrites = 5;

interface ChannelState {
  readonly channel: ConfirmChannel;
  open: boolean;
  /** The error the broker closed the channel with, if it did. */
  error: (Error & { code?: unknown }) | undefined;
  /** Publishes whose confirm failed, to sort out once every close listener has run. */
  failed: PendingPublish[];
}

/** What the publisher needs of its transport. */
export interface PublisherHost {
  readonly logger: Logger;
  /** The broker closed the publish channel (a channel error): open another one. */
  channelFailed(): void;
  /** Whether an exchange exists (the default exchange always does). */
  exchangeExists(exchange: string): Promise<boolean>;
  /** Publishes held while there is no channel or the socket is full, at most. */
  readonly maxBacklog: number;
}

/** A confirm channel with a back-pressure-aware backlog that outlives connections. */
export class Publisher {
  readonly #host: PublisherHost;
  #channel: ChannelState | undefined;
  #draining = false;
  #backlog: PendingPublish[] = [];
  #closed: Error | undefined;

  constructor(host: PublisherHost) {
    this.#host = host;
  }

  /** Uses `channel` from now on and writes out the backlog. */
  attach(channel: ConfirmChannel): void {
    const state: ChannelState = { channel, open: true, error: undefined, failed: [] };
    this.#channel = state;
    this.#draining = false;
    channel.on('error', (err: Error) => {
      state.error = err;
      this.#host.logger.warn({ err }, 'publish channel error');
    });
    channel.on('close', () => {
      state.open = false;
      if (this.#channel === state) {
        this.#channel = undefined;
        this.#draining = false;
      }
      if (state.error !== undefined && this.#closed === undefined) this.#host.channelFailed();
    });
    channel.on('drain', () => {
      if (this.#channel !== state) return;
      this.#draining = false;
      this.#flush();
    });
    this.#flush();
  }

  /** Publishes a persistent message; resolves on the broker's confirm. */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
  ): Promise<void> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    return new Promise<void>((resolve, reject) => {
      const pending: PendingPublish = {
        exchange,
        routingKey,
        content,
        options,
        resolve,
        reject,
        rewrites: 0,
      };
      if (this.#backlog.length > 0 || this.#draining || this.#channel === undefined) {
        if (this.#backlog.length >= this.#host.maxBacklog) {
          // Memory is not a queue: past the bound, callers are told to back off.
          reject(
            new TransientError(
              `publish backlog full (${this.#host.maxBacklog} waiting for the broker)`,
            ),
          );
          return;
        }
        this.#backlog.push(pending);
      } else {
        this.#send(this.#channel, pending);
      }
    });
  }

  /** Messages waiting for a channel or for `drain`. */
  get backlog(): number {
    return this.#backlog.length;
  }

  /** Rejects everything still waiting; later publishes reject at once. */
  close(error: Error): void {
    this.#closed = error;
    this.#channel = undefined;
    const backlog = this.#backlog;
    this.#backlog = [];
    for (const pending of backlog) pending.reject(error);
  }

  /** Accepts publishes again after {@link close} (the connection is being restarted). */
  reopen(): void {
    this.#closed = undefined;
  }

  #flush(): void {
    while (this.#backlog.length > 0 && !this.#draining && this.#channel !== undefined) {
      this.#send(this.#channel, this.#backlog.shift() as PendingPublish);
    }
  }

  #send(state: ChannelState, pending: PendingPublish): void {
    const onConfirm = (err: unknown): void => {
      if (err === null || err === undefined) {
        pending.resolve();
        return;
      }
      // amqplib fails unconfirmed publishes from its own `close` listener, before ours
      // has run: sort them out once every listener of this emit has.
      if (state.failed.push(pending) === 1) {
        queueMicrotask(() => void this.#sortFailed(state, err));
      }
    };
    let accepted: boolean;
    try {
      accepted = state.channel.publish(
        pending.exchange,
        pending.routingKey,
        pending.content,
        pending.options,
        onConfirm,
      );
    } catch (error) {
      // A closed or closing channel throws IllegalOperationError: stop using it and
      // wait for the next one. Other errors (a header table too large) are the caller's.
      if (error instanceof IllegalOperationError || !state.open) {
        if (this.#channel === state) this.#channel = undefined;
        this.#backlog.unshift(pending);
      } else {
        pending.reject(error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    if (!accepted) this.#draining = true;
  }

  /** Rejects nacked publishes; writes those of a dead channel again, unless hopeless. */
  async #sortFailed(state: ChannelState, firstError: unknown): Promise<void> {
    const failed = state.failed;
    state.failed = [];
    if (state.open) {
      // The broker nacked them (an internal error on its side).
      const error = firstError instanceof Error ? firstError : new Error('message nacked');
      for (const pending of failed) pending.reject(error);
      return;
    }
    let retry = failed;
    if (state.error?.code === 404) {
      // Some publish named an exchange that does not exist: fail those, keep the rest.
      const missing = new Set<string>();
      for (const exchange of new Set(failed.map((pending) => pending.exchange))) {
        const exists = await this.#host.exchangeExists(exchange).catch(() => true);
        if (!exists) missing.add(exchange);
      }
      retry = [];
      for (const pending of failed) {
        if (missing.has(pending.exchange)) {
          pending.reject(new Error(`no exchange ${JSON.stringify(pending.exchange)}`));
        } else {
          retry.push(pending);
        }
      }
    }
    if (this.#closed !== undefined) {
      for (const pending of retry) pending.reject(this.#closed);
      return;
    }
    if (state.error !== undefined) {
      // Written again after a channel error: not forever, in case it was the culprit.
      retry = retry.filter((pending) => {
        pending.rewrites += 1;
        if (pending.rewrites <= maxRewrites) return true;
        pending.reject(new Error(`publish failed: ${state.error?.message ?? 'channel error'}`));
        return false;
      });
    }
    this.#backlog.unshift(...retry);
    this.#flush();
  }
}
