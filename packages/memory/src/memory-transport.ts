// An in-process broker that behaves like RabbitMQ where Troupe depends on it: topic
// exchanges, per-consumer prefetch, unacknowledged deliveries redelivered (with the
// redelivered flag) when their consumer goes away, dead-letter queues with the
// reason in headers, and settlement that counts only once.
import { MessageQueue } from './message-queue.js';
import { randomUUID } from 'node:crypto';
import { copyHeaders, deadLetterHeaders, readDelivery } from '@troupe/core';
import type {
  ConsumeOptions,
  DeadLetterInfo,
  Delivery,
  PublishOptions,
  QueueTopology,
  Subscription,
  Transport,
} from '@troupe/core';
import { topicMatches } from './topic.js';

/** A message as the broker keeps it. */
export interface StoredMessage {
  readonly messageId: string;
  readonly correlationId: string | undefined;
  readonly routingKey: string;
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly redelivered: boolean;
}

/** Header names of a dead letter's metadata: the wire contract's, from @troupe/core. */
export { deadLetterHeaders };

/** Counters, for tests and the inspector. */
export interface QueueStats {
  readonly ready: number;
  readonly unacked: number;
  readonly consumers: number;
}

class Consumer implements Subscription {
  readonly unacked = new Set<MemoryDelivery>();
  active = true;
  constructor(
    readonly queue: MemoryQueue,
    readonly prefetch: number,
    readonly onDelivery: (delivery: Delivery) => void,
  ) {}
  get hasCapacity(): boolean {
    return this.active && this.unacked.size < this.prefetch;
  }
  cancel(): Promise<void> {
    this.active = false;
    this.queue.consumers = this.queue.consumers.filter((consumer) => consumer !== this);
    return Promise.resolve();
  }
}

class MemoryDelivery implements Delivery {
  readonly messageId: string;
  readonly correlationId: string | undefined;
  readonly routingKey: string;
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly redelivered: boolean;
  readonly previousAttempts: number;
  #settled = false;

  constructor(
    readonly message: StoredMessage,
    readonly consumer: Consumer,
    readonly transport: MemoryTransport,
  ) {
    this.messageId = message.messageId;
    this.correlationId = message.correlationId;
    this.routingKey = message.routingKey;
    this.contentType = message.contentType;
    this.body = message.body;
    this.headers = message.headers;
    this.redelivered = message.redelivered;
    // The wire contract, as the AMQP transport reads it: no broker here counts
    // deliveries or returns retries, so a publisher's counts are never taken.
    this.previousAttempts = readDelivery({
      queue: consumer.queue.name,
      headers: message.headers,
      routingKey: message.routingKey,
      exchange: undefined,
      redelivered: message.redelivered,
      brokerCountsDeliveries: false,
    }).previousAttempts;
  }

  #settle(): boolean {
    if (this.#settled || !this.consumer.unacked.has(this)) return false;
    this.#settled = true;
    this.consumer.unacked.delete(this);
    return true;
  }

  ack(): void {
    if (!this.#settle()) return;
    this.transport.acked += 1;
    this.consumer.queue.pump();
  }

  requeue(): void {
    if (!this.#settle()) return;
    this.consumer.queue.returnMessage(this.message);
  }

  deadLetter(info: DeadLetterInfo): void {
    if (!this.#settle()) return;
    this.transport.deadLettered += 1;
    this.transport.deliverToQueue(`${this.consumer.queue.name}.dead`, {
      ...this.message,
      redelivered: false,
      headers: copyHeaders(this.message.headers, {
        [deadLetterHeaders.reason]: info.reason,
        [deadLetterHeaders.processor]: info.processor,
        [deadLetterHeaders.attempts]: info.attempts,
        [deadLetterHeaders.routingKey]: this.message.routingKey,
      }),
    });
    this.consumer.queue.pump();
  }

  /** The consumer is gone without settling: back to the queue, marked redelivered. */
  orphan(): void {
    if (!this.#settle()) return;
    this.consumer.queue.returnMessage(this.message);
  }
}

class MemoryQueue {
  readonly ready = new MessageQueue<StoredMessage>();
  consumers: Consumer[] = [];
  #next = 0;
  #scheduled = false;

  constructor(
    readonly name: string,
    readonly transport: MemoryTransport,
  ) {}

  enqueue(message: StoredMessage): void {
    this.ready.push(message);
    this.pump();
  }

  returnMessage(message: StoredMessage): void {
    // RabbitMQ puts a requeued message back near its original position; the head will do.
    this.ready.unshift({ ...message, redelivered: true });
    this.pump();
  }

  /** Delivers on a later microtask, never inside the caller's stack (as a broker would). */
  pump(): void {
    if (this.#scheduled || this.ready.length === 0 || this.consumers.length === 0) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.ready.length > 0) {
      const consumer = this.#pickConsumer();
      if (consumer === undefined) return;
      const message = this.ready.shift();
      if (message === undefined) return;
      const delivery = new MemoryDelivery(message, consumer, this.transport);
      consumer.unacked.add(delivery);
      consumer.onDelivery(delivery);
    }
  }

  #pickConsumer(): Consumer | undefined {
    const count = this.consumers.length;
    for (let i = 0; i < count; i += 1) {
      const consumer = this.consumers[(this.#next + i) % count];
      if (consumer?.hasCapacity === true) {
        this.#next = (this.#next + i + 1) % count;
        return consumer;
      }
    }
    return undefined;
  }
}

/** The in-process broker and its transport port. */
export class MemoryTransport implements Transport {
  readonly #queues = new Map<string, MemoryQueue>();
  /** exchange → [queue, routing key pattern] */
  readonly #bindings = new Map<string, { queue: string; pattern: string }[]>();
  #closed = false;
  acked = 0;
  deadLettered = 0;

  #queue(name: string): MemoryQueue {
    let queue = this.#queues.get(name);
    if (queue === undefined) {
      queue = new MemoryQueue(name, this);
      this.#queues.set(name, queue);
    }
    return queue;
  }

  declare(topology: readonly QueueTopology[]): Promise<void> {
    for (const entry of topology) {
      this.#queue(entry.queue);
      this.#queue(`${entry.queue}.dead`);
      for (const binding of entry.bindings) {
        const list = this.#bindings.get(binding.exchange) ?? [];
        if (!list.some((b) => b.queue === entry.queue && b.pattern === binding.routingKey)) {
          list.push({ queue: entry.queue, pattern: binding.routingKey });
        }
        this.#bindings.set(binding.exchange, list);
      }
    }
    return Promise.resolve();
  }

  consume(
    queue: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<Subscription> {
    if (this.#closed) return Promise.reject(new Error('transport closed'));
    const target = this.#queue(queue);
    const consumer = new Consumer(target, options.prefetch, onDelivery);
    target.consumers.push(consumer);
    target.pump();
    return Promise.resolve(consumer);
  }

  publish(
    exchange: string,
    routingKey: string,
    body: Uint8Array,
    options: PublishOptions = {},
  ): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('transport closed'));
    const message: StoredMessage = {
      messageId: options.messageId ?? randomUUID(),
      correlationId: options.correlationId,
      routingKey,
      contentType: options.contentType,
      body,
      headers: options.headers ?? {},
      redelivered: false,
    };
    if (exchange === '') {
      this.deliverToQueue(routingKey, message);
    } else {
      const routed = new Set<string>();
      for (const binding of this.#bindings.get(exchange) ?? []) {
        if (!routed.has(binding.queue) && topicMatches(binding.pattern, routingKey)) {
          routed.add(binding.queue);
          this.deliverToQueue(binding.queue, message);
        }
      }
    }
    return Promise.resolve();
  }

  /** @internal */
  deliverToQueue(queue: string, message: StoredMessage): void {
    this.#queue(queue).enqueue(message);
  }

  /** Simulates a lost connection: every consumer goes, their unacked deliveries are redelivered. */
  dropConsumers(queue?: string): void {
    for (const target of this.#queues.values()) {
      if (queue !== undefined && target.name !== queue) continue;
      for (const consumer of [...target.consumers]) {
        void consumer.cancel();
        for (const delivery of [...consumer.unacked]) delivery.orphan();
      }
    }
  }

  stats(queue: string): QueueStats {
    const target = this.#queues.get(queue);
    if (target === undefined) return { ready: 0, unacked: 0, consumers: 0 };
    let unacked = 0;
    for (const consumer of target.consumers) unacked += consumer.unacked.size;
    return { ready: target.ready.length, unacked, consumers: target.consumers.length };
  }

  /** Messages waiting in a queue (not delivered), oldest first. */
  peek(queue: string): readonly StoredMessage[] {
    return this.#queues.get(queue)?.ready.toArray() ?? [];
  }

  /** Removes and returns every waiting message of a queue. */
  drain(queue: string): StoredMessage[] {
    const target = this.#queues.get(queue);
    if (target === undefined) return [];
    return target.ready.clear();
  }

  close(): Promise<void> {
    this.dropConsumers();
    this.#closed = true;
    return Promise.resolve();
  }
}
