// A consumer on its own channel (prefetch = the pool's concurrency) and the deliveries
// it hands out. Settlement is guarded twice: a delivery settles at most once, and only
// on the channel it came from while that channel is open — after the channel closed
// the broker redelivers it, so settling it is a no-op (acking it on another channel
// would close that channel with PRECONDITION_FAILED, "unknown delivery tag").
// A consumer whose channel dies resumes on the current connection, or on the next one.
import { randomUUID } from 'node:crypto';
import {
  readDelivery,
  type ConsumeOptions,
  type DeadLetterInfo,
  type Delivery,
  type Subscription,
} from '@troupe/core';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';

/** What a consumer needs of its transport. */
export interface ConsumerHost {
  readonly logger: Logger;
  /** Publishes a dead letter of `queue` with confirms. */
  publishDeadLetter(queue: string, message: ConsumeMessage, info: DeadLetterInfo): Promise<void>;
  /** Publishes `message` to a retry queue of `queue` that returns it after `delayMs`. */
  publishRetry(
    queue: string,
    message: ConsumeMessage,
    delayMs: number,
    attempts: number,
  ): Promise<void>;
  /** Whether the broker counts deliveries of `queue` in `x-delivery-count` (quorum). */
  countsDeliveries(queue: string): boolean;
  /** The consumer's channel died: resume it if `model` is still the live connection. */
  channelLost(consumer: AmqpConsumer, model: ChannelModel): void;
  /** The consumer was cancelled: stop tracking it. */
  forget(consumer: AmqpConsumer): void;
}

interface ChannelState {
  readonly channel: Channel;
  readonly model: ChannelModel;
  open: boolean;
  consumerTag: string | undefined;
  readonly unsettled: Set<AmqpDelivery>;
}

function closeQuietly(state: ChannelState, logger: Logger): void {
  if (!state.open) return;
  state.channel.close().catch((err: unknown) => logger.debug({ err }, 'channel close failed'));
}

class AmqpDelivery implements Delivery {
  readonly messageId: string;
  readonly correlationId: string | undefined;
  readonly routingKey: string;
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly redelivered: boolean;
  readonly previousAttempts: number;
  /** Why the message cannot be accepted at all (headers nested too deep), if so. */
  readonly problem: string | undefined;
  #settled = false;

  constructor(
    readonly message: ConsumeMessage,
    readonly state: ChannelState,
    readonly consumer: AmqpConsumer,
  ) {
    const { properties, fields } = message;
    this.messageId = typeof properties.messageId === 'string' ? properties.messageId : randomUUID();
    this.correlationId =
      typeof properties.correlationId === 'string' ? properties.correlationId : undefined;
    this.contentType =
      typeof properties.contentType === 'string' ? properties.contentType : undefined;
    this.body = message.content;
    this.headers = properties.headers ?? {};
    this.redelivered = fields.redelivered;
    // The wire contract (attempt counts only from Troupe's retry queues and the broker;
    // the original routing key; headers refused): one rule, in @troupe/core.
    const reading = readDelivery({
      queue: consumer.queue,
      headers: this.headers,
      routingKey: fields.routingKey,
      exchange: fields.exchange,
      redelivered: fields.redelivered,
      brokerCountsDeliveries: consumer.host.countsDeliveries(consumer.queue),
    });
    this.routingKey = reading.routingKey;
    this.previousAttempts = reading.previousAttempts;
    this.problem = reading.problem;
  }

  /** Marks the delivery settled; true when it is still ours to settle on its channel. */
  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    return this.state.open;
  }

  ack(): void {
    if (this.#settle()) this.#run((channel) => channel.ack(this.message));
    this.#done();
  }

  requeue(): void {
    // basic.reject, not nack: quorum queues count it toward the delivery limit on every
    // RabbitMQ version (3.x counts both; 4.x counts reject only).
    if (this.#settle()) this.#run((channel) => channel.reject(this.message, true));
    this.#done();
  }

  deadLetter(info: DeadLetterInfo): void {
    if (!this.#settle()) {
      this.#done();
      return;
    }
    this.#moveOut(
      this.consumer.host.publishDeadLetter(this.consumer.queue, this.message, info),
      'dead letter not published; message requeued',
    );
  }

  retryLater(delayMs: number, attempts: number): void {
    if (!this.#settle()) {
      this.#done();
      return;
    }
    this.#moveOut(
      this.consumer.host.publishRetry(this.consumer.queue, this.message, delayMs, attempts),
      'retry not published; message requeued',
    );
  }

  /**
   * Acks the original once the broker confirmed its copy elsewhere. A crash in between
   * leaves it unacked, so it is redelivered and moved again (at least once); a failed
   * publish requeues it.
   */
  #moveOut(published: Promise<void>, failure: string): void {
    published.then(
      () => {
        this.#run((channel) => channel.ack(this.message));
        this.#done();
      },
      (err: unknown) => {
        this.consumer.host.logger.error(
          { err, queue: this.consumer.queue, messageId: this.messageId },
          failure,
        );
        this.#run((channel) => channel.nack(this.message, false, true));
        this.#done();
      },
    );
  }

  #run(settle: (channel: Channel) => void): void {
    if (!this.state.open) return;
    try {
      settle(this.state.channel);
    } catch (err) {
      // The channel is closing: the broker will redeliver the message.
      this.consumer.host.logger.debug({ err }, 'settlement on a closing channel ignored');
    }
  }

  #done(): void {
    if (this.state.unsettled.delete(this)) this.consumer.settled(this.state);
  }
}

/** One consumer of one queue. Survives its channels and connections until cancelled. */
export class AmqpConsumer implements Subscription {
  readonly host: ConsumerHost;
  readonly queue: string;
  readonly #prefetch: number;
  readonly #onDelivery: (delivery: Delivery) => void;
  #current: ChannelState | undefined;
  #starting: { model: ChannelModel; promise: Promise<void> } | undefined;
  #cancelled = false;
  #cancelling: Promise<void> | undefined;

  constructor(
    host: ConsumerHost,
    queue: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ) {
    this.host = host;
    this.queue = queue;
    this.#prefetch = options.prefetch;
    this.#onDelivery = onDelivery;
  }

  /** True while a channel of this consumer is open on `model`. */
  isConsumingOn(model: ChannelModel): boolean {
    return this.#current?.model === model && this.#current.open;
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Deliveries handed out and not settled yet, on the current channel. */
  get unsettled(): number {
    return this.#current?.unsettled.size ?? 0;
  }

  /** Opens a channel on `model` and consumes; a no-op when already consuming there. */
  start(model: ChannelModel): Promise<void> {
    if (this.#cancelled || this.isConsumingOn(model)) return Promise.resolve();
    if (this.#starting?.model === model) return this.#starting.promise;
    const promise = this.#open(model).finally(() => {
      if (this.#starting?.promise === promise) this.#starting = undefined;
    });
    this.#starting = { model, promise };
    return promise;
  }

  async #open(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    const state: ChannelState = {
      channel,
      model,
      open: true,
      consumerTag: undefined,
      unsettled: new Set(),
    };
    const logger = this.host.logger;
    channel.on('error', (err: Error) => logger.warn({ err, queue: this.queue }, 'channel error'));
    channel.on('close', () => {
      state.open = false;
      state.unsettled.clear();
      if (this.#current === state) this.#current = undefined;
      if (!this.#cancelled && state.consumerTag !== undefined) this.host.channelLost(this, model);
    });
    try {
      await channel.prefetch(this.#prefetch);
      const previous = this.#current;
      this.#current = state;
      if (previous !== undefined) closeQuietly(previous, logger);
      const reply = await channel.consume(this.queue, (message) => this.#receive(state, message), {
        noAck: false,
      });
      state.consumerTag = reply.consumerTag;
      if (!state.open) throw new Error(`channel closed while consuming ${this.queue}`);
    } catch (error) {
      closeQuietly(state, logger);
      if (this.#current === state) this.#current = undefined;
      throw error;
    }
  }

  #receive(state: ChannelState, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (its queue was deleted): start over on a new channel.
      this.host.logger.warn({ queue: this.queue }, 'consumer cancelled by the broker');
      closeQuietly(state, this.host.logger);
      return;
    }
    if (this.#cancelled) {
      // In flight when we cancelled: not ours to handle any more.
      if (!state.open) return;
      try {
        state.channel.nack(message, false, true);
      } catch (err) {
        this.host.logger.debug({ err }, 'requeue on a closing channel ignored');
      }
      return;
    }
    const delivery = new AmqpDelivery(message, state, this);
    state.unsettled.add(delivery);
    if (delivery.problem !== undefined) {
      // Refused before any processor sees it (and its copy drops the culprit header).
      this.host.logger.warn(
        { queue: this.queue, messageId: delivery.messageId, reason: delivery.problem },
        'message refused; dead-lettered',
      );
      delivery.deadLetter({
        reason: `INVALID_MESSAGE: ${delivery.problem}`,
        processor: `transport:${this.queue}`,
        attempts: 0,
      });
      return;
    }
    try {
      this.#onDelivery(delivery);
    } catch (err) {
      this.host.logger.error({ err, queue: this.queue }, 'delivery handler threw; requeued');
      delivery.requeue();
    }
  }

  /** Called by a delivery once settled. Closes a cancelled consumer's drained channel. */
  settled(state: ChannelState): void {
    if (this.#cancelled && state.unsettled.size === 0) closeQuietly(state, this.host.logger);
  }

  /**
   * Stops new deliveries. The channel stays open until the deliveries already handed
   * out are settled, then closes.
   */
  cancel(): Promise<void> {
    this.#cancelling ??= this.#cancel();
    return this.#cancelling;
  }

  async #cancel(): Promise<void> {
    this.#cancelled = true;
    this.host.forget(this);
    await this.#starting?.promise.catch(() => undefined);
    const state = this.#current;
    if (state === undefined || !state.open) return;
    if (state.consumerTag !== undefined) {
      try {
        await state.channel.cancel(state.consumerTag);
      } catch (err) {
        this.host.logger.debug({ err, queue: this.queue }, 'consumer cancel failed');
      }
    }
    if (state.unsettled.size === 0) closeQuietly(state, this.host.logger);
  }

  /** The transport is closing: no more resumption; the connection's close ends the channel. */
  abandon(): void {
    this.#cancelled = true;
  }
}
