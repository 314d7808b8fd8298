// Confirmed publishing on one confirm channel per connection. Publishes are pipelined:
// each call writes at once and resolves on the broker's confirm, so many are in flight.
// When the channel's buffer is full (`publish` returned false) further publishes wait
// in a FIFO backlog until `drain`. While there is no channel (connection recovering)
// they wait in the same backlog; a publish whose channel died before its confirm is
// written again on the next channel (at least once: the broker may hold a duplicate).
import { IllegalOperationError, type ConfirmChannel, type Options } from 'amqplib';
import type { Logger } from 'pino';

interface PendingPublish {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface ChannelState {
  readonly channel: ConfirmChannel;
  open: boolean;
}

/** A confirm channel with a back-pressure-aware backlog that outlives connections. */
export class Publisher {
  readonly #logger: Logger;
  #channel: ChannelState | undefined;
  #draining = false;
  #backlog: PendingPublish[] = [];
  #closed: Error | undefined;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Uses `channel` from now on and writes out the backlog. */
  attach(channel: ConfirmChannel): void {
    const state: ChannelState = { channel, open: true };
    this.#channel = state;
    this.#draining = false;
    channel.on('error', (err: Error) => this.#logger.warn({ err }, 'publish channel error'));
    channel.on('close', () => {
      state.open = false;
      if (this.#channel === state) {
        this.#channel = undefined;
        this.#draining = false;
      }
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
      const pending: PendingPublish = { exchange, routingKey, content, options, resolve, reject };
      if (this.#backlog.length > 0 || this.#draining || this.#channel === undefined) {
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
      // has run: decide once every listener of this emit has.
      queueMicrotask(() => {
        if (state.open) {
          pending.reject(err instanceof Error ? err : new Error('message not confirmed'));
        } else if (this.#closed === undefined) {
          // The channel died before the confirm: write it again on the next one.
          this.#backlog.push(pending);
          this.#flush();
        } else {
          pending.reject(this.#closed);
        }
      });
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
}
