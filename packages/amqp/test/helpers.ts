// Shared helpers of the AMQP suites: the broker URL, unique names, a raw amqplib
// connection for looking at and cleaning up the broker, and a delivery collector
// whose waits resolve on events (deliveries), not on sleeps.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { Delivery, QueueTopology } from '@troupe/core';
import { connect, type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { pino, type Logger } from 'pino';
import { AmqpTransport, type AmqpTransportOptions } from '../src/index.js';

export const brokerUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export const testLogger: Logger = pino({ level: process.env.TROUPE_TEST_LOG_LEVEL ?? 'silent' });

/** A debug-level logger whose lines are kept in `logs`, to assert on what was logged. */
export function captureLogger(): { logger: Logger; logs: { level: number; msg: string }[] } {
  const logs: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) {
        if (line !== '') logs.push(JSON.parse(line) as { level: number; msg: string });
      }
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), logs };
}

/** A name no other test (or run) uses. */
export const uniqueName = (prefix: string): string =>
  `troupe-test.${prefix}.${randomUUID().slice(0, 8)}`;

/** A transport on the test broker with a fast reconnect backoff. */
export function createTransport(options: Partial<AmqpTransportOptions> = {}): AmqpTransport {
  return new AmqpTransport({
    url: brokerUrl,
    logger: testLogger,
    reconnectBackoff: { kind: 'exponential', minMs: 50, maxMs: 1000, randomFactor: 0.2 },
    ...options,
  });
}

/** A raw amqplib connection to look at the broker and clean up after a test. */
export class BrokerAdmin {
  readonly #queues = new Set<string>();
  readonly #exchanges = new Set<string>();
  #model: ChannelModel | undefined;
  #channel: Channel | undefined;

  async #ch(): Promise<Channel> {
    this.#model ??= await connect(brokerUrl);
    if (this.#channel === undefined) {
      // A failed check (404) closes the channel: the next call opens another.
      const channel = await this.#model.createChannel();
      channel.on('error', () => undefined);
      channel.on('close', () => {
        if (this.#channel === channel) this.#channel = undefined;
      });
      this.#channel = channel;
    }
    return this.#channel;
  }

  /** Remembers a topology's queues (and dead queues) and exchanges for cleanup. */
  track(topology: readonly QueueTopology[]): void {
    for (const entry of topology) {
      this.#queues.add(entry.queue);
      this.#queues.add(`${entry.queue}.dead`);
      for (const binding of entry.bindings) {
        if (binding.exchange !== '') this.#exchanges.add(binding.exchange);
      }
    }
  }

  async assertQueue(queue: string): Promise<void> {
    await (await this.#ch()).assertQueue(queue, { durable: true });
  }

  async messageCount(queue: string): Promise<number> {
    return (await (await this.#ch()).checkQueue(queue)).messageCount;
  }

  async consumerCount(queue: string): Promise<number> {
    return (await (await this.#ch()).checkQueue(queue)).consumerCount;
  }

  /** Takes one message off a queue (acked), or undefined when it is empty. */
  async get(queue: string): Promise<GetMessage | undefined> {
    const channel = await this.#ch();
    const message = await channel.get(queue, { noAck: true });
    return message === false ? undefined : message;
  }

  async deleteQueue(queue: string): Promise<void> {
    await (await this.#ch()).deleteQueue(queue);
  }

  async deleteExchange(exchange: string): Promise<void> {
    await (await this.#ch()).deleteExchange(exchange);
  }

  async exchangeExists(exchange: string): Promise<boolean> {
    const model = await connect(brokerUrl);
    try {
      const channel = await model.createChannel();
      channel.on('error', () => undefined);
      await channel.checkExchange(exchange);
      return true;
    } catch {
      return false;
    } finally {
      await model.close().catch(() => undefined);
    }
  }

  /** Deletes everything tracked and closes the connection. */
  async cleanup(): Promise<void> {
    const channel = await this.#ch();
    for (const queue of this.#queues) await channel.deleteQueue(queue);
    for (const exchange of this.#exchanges) await channel.deleteExchange(exchange);
    this.#queues.clear();
    this.#exchanges.clear();
    const model = this.#model;
    this.#model = undefined;
    this.#channel = undefined;
    await model?.close();
  }
}

/** Collects deliveries; `next(n)` resolves once n more have arrived. */
export class Collector {
  readonly deliveries: Delivery[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];
  /** Called on each delivery after it is recorded (ack it here, say). */
  onEach: ((delivery: Delivery) => void) | undefined;

  readonly onDelivery = (delivery: Delivery): void => {
    this.deliveries.push(delivery);
    this.onEach?.(delivery);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.deliveries.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  };

  /** Resolves once `total` deliveries have arrived in all (rejects after `timeoutMs`). */
  until(total: number, timeoutMs = 10_000): Promise<void> {
    if (this.deliveries.length >= total) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `waited ${timeoutMs} ms for ${total} deliveries, got ${this.deliveries.length}`,
            ),
          ),
        timeoutMs,
      );
      this.#waiters.push({
        count: total,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

/** Polls a broker-side condition until it holds or the deadline passes. */
export async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Resolves once the transport's connection reaches a state for which `accept` holds. */
export function whenState(
  transport: AmqpTransport,
  accept: (state: string, generation: number) => boolean,
  timeoutMs = 20_000,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = (): boolean => accept(transport.state, transport.generation);
    if (check()) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      reject(new Error(`connection stayed ${transport.state}`));
    }, timeoutMs);
    const subscription = transport.connection.subscribe(() => {
      if (!check()) return;
      clearTimeout(timer);
      subscription.unsubscribe();
      resolve();
    });
  });
}

const exec = promisify(execFile);

/** Closes, broker side, every connection whose client-provided name is `name`. */
export async function closeConnectionsNamed(name: string): Promise<number> {
  const { stdout } = await exec('rabbitmqctl', [
    'list_connections',
    'pid',
    'client_properties',
    '--quiet',
    '--no-table-headers',
  ]);
  // One line per connection: `<rabbit@host.1.2.0>\t[{"connection_name","…"},…]`.
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${name}"}`))
    .map((line) => line.split('\t')[0] ?? '');
  for (const pid of pids) await exec('rabbitmqctl', ['close_connection', pid, 'troupe test']);
  return pids.length;
}

export const text = (body: Uint8Array): string => Buffer.from(body).toString('utf8');
export const bytes = (value: string): Uint8Array => Buffer.from(value, 'utf8');
