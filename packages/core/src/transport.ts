// The transport port: what a processor pool needs from a message broker. Implemented
// on amqplib by @troupe/amqp and in-process by @troupe/memory.

/** Why and by whom a delivery was dead-lettered. Written into the dead letter's headers. */
export interface DeadLetterInfo {
  /** Human-readable reason, starting with the error code. */
  readonly reason: string;
  /** The processor that gave up on the delivery. */
  readonly processor: string;
  /** Attempts made, the failing one included. */
  readonly attempts: number;
}

/**
 * One message handed to a consumer, not yet settled. Settle it exactly once with
 * {@link Delivery.ack}, {@link Delivery.requeue} or {@link Delivery.deadLetter};
 * transports make a second settlement, or one after the channel closed, a no-op.
 */
export interface Delivery {
  /** The message id (the broker's `messageId`, or one the transport made up). */
  readonly messageId: string;
  readonly correlationId: string | undefined;
  readonly routingKey: string;
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, unknown>>;
  /** True when the broker delivered this message before. */
  readonly redelivered: boolean;
  /** Attempts already made on this message elsewhere (delayed retries, quorum delivery count). */
  readonly previousAttempts: number;
  /** Acknowledge: the work is done and stored. */
  ack(): void;
  /** Return the message to its queue for another consumer (or this one) to take. */
  requeue(): void;
  /** Park the message in its queue's dead-letter queue with the reason. */
  deadLetter(info: DeadLetterInfo): void;
  /**
   * Delayed redelivery, on transports that support it (the AMQP one does): settle this
   * delivery by parking the message in a retry queue that returns it to its queue after
   * about `delayMs`, with `attempts` (made so far) in the `x-troupe-retry-attempts`
   * header, so that it comes back with `previousAttempts = attempts`. Frees the worker
   * while the message waits. Settles at most once, like the others.
   */
  retryLater?(delayMs: number, attempts: number): void;
}

/** A binding of a queue to an exchange. */
export interface Binding {
  readonly exchange: string;
  readonly routingKey: string;
}

/** The broker objects one queue needs: itself, its bindings and its dead-letter queue. */
export interface QueueTopology {
  readonly queue: string;
  readonly bindings: readonly Binding[];
  /** Queue type on brokers that have them. @default 'classic' */
  readonly queueType?: 'classic' | 'quorum';
  /** Only one consumer at a time receives messages (ordering). @default false */
  readonly singleActiveConsumer?: boolean;
  /**
   * Quorum queues: deliveries of a message before the broker dead-letters it
   * (`x-delivery-limit`). @default the transport's
   */
  readonly deliveryLimit?: number;
}

/** An active consumer; `cancel` stops new deliveries (in-flight ones stay to be settled). */
export interface Subscription {
  cancel(): Promise<void>;
}

/** Options of {@link Transport.consume}. */
export interface ConsumeOptions {
  /** Unacknowledged deliveries the broker may hand out at once: the pool's concurrency. */
  readonly prefetch: number;
}

/** Options of {@link Transport.publish}. */
export interface PublishOptions {
  readonly messageId?: string;
  readonly correlationId?: string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, unknown>>;
}

/** What a processor pool needs from a message broker. */
export interface Transport {
  /** Declares queues, their bindings and dead-letter queues. Idempotent. */
  declare(topology: readonly QueueTopology[]): Promise<void>;
  /** Starts a consumer; `onDelivery` is called once per delivery, at most `prefetch` unsettled. */
  consume(
    queue: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<Subscription>;
  /** Publishes one message; resolves once the broker has it (confirms). */
  publish(
    exchange: string,
    routingKey: string,
    body: Uint8Array,
    options?: PublishOptions,
  ): Promise<void>;
  close(): Promise<void>;
}
