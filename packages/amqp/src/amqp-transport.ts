// The transport port on RabbitMQ through amqplib. The connection is a
// `connectionMachine` actor; each time it connects, the transport opens a confirm
// channel for publishing, declares every topology it was asked to, and resumes every
// live consumer on the new connection. Consumers have one channel each. With several
// broker URLs (a cluster), each attempt goes to one node; `status` says which, and why
// the last attempt failed.
import { randomUUID } from 'node:crypto';
import {
  ConfigurationError,
  copyHeaders,
  readDelivery,
  stateName as chartStateName,
  TransientError,
  troupeHeaders,
  type ActorClock,
  type Backoff,
  type ConsumeOptions,
  type DeadLetterInfo,
  type Delivery,
  type PublishOptions,
  type QueueTopology,
  type RandomSource,
  type Subscription,
  type Transport,
} from '@troupe/core';
import { connect, type ChannelModel, type ConsumeMessage, type Options } from 'amqplib';
import type { Logger } from 'pino';
import { createActor, type Actor, type InspectionEvent, type SnapshotFrom } from 'xstate';
import type { ConnectFailure } from './connect-failure.js';
import { resolveConnections, type AmqpConnectionOptions } from './connection-options.js';
import { connectionMachine, type ConnectionInput } from './connection.machine.js';
import { AmqpConsumer, type ConsumerHost } from './internal/consumer.js';
import { Publisher } from './internal/publisher.js';
import { topologyWatchMachine } from './topology-watch.machine.js';
import {
  deadQueueName,
  deadQueueOptions,
  declareTopology,
  retryQueueArguments,
  retryQueueName,
  retryTier,
  type TopologyOptions,
} from './topology.js';

/** Options of {@link AmqpTransport}. */
export interface AmqpTransportOptions extends AmqpConnectionOptions {
  /** The transport logs through `logger.child({ component: 'amqp' })`. */
  readonly logger: Logger;
  /** The direct exchange dead letters go through. @default 'troupe.dead-letter' */
  readonly deadLetterExchange?: string;
  /** Deliveries of a quorum queue message before the broker dead-letters it. @default 20 */
  readonly deliveryLimit?: number;
  /**
   * Delay between reconnection attempts.
   * @default { kind: 'exponential', minMs: 100, maxMs: 10000, randomFactor: 0.5 }
   */
  readonly reconnectBackoff?: Backoff;
  /**
   * Publishes held in memory while the connection recovers or the socket is full; past
   * it, `publish` rejects with a TransientError. @default 100000
   */
  readonly maxPublishBacklog?: number;
  /** Failed reconnection attempts in a row before giving up. @default Infinity */
  readonly maxReconnectAttempts?: number;
  /**
   * Whether a refused login (403 ACCESS_REFUSED: wrong user name or password) is retried
   * like any other failure, logged at error level each time (true), or makes the
   * connection give up at once, as `failed` (false). @default true
   */
  readonly retryOnLoginRefused?: boolean;
  /** How long connecting may take (topology and consumers included) before it counts as failed. @default 30000 */
  readonly openTimeoutMs?: number;
  /** Random source of the backoff jitter. @default Math.random */
  readonly random?: RandomSource;
  /** Receives the connection actor's inspection events (e.g. `InspectionHub.inspect`). */
  readonly inspect?: (event: InspectionEvent) => void;
  /** The clock of the connection actor's delays (a `SimulatedClock` in tests). */
  readonly actorClock?: ActorClock;
  /**
   * Time between checks that the broker still has the declared topology (exchanges,
   * queues, bindings), on the actor clock; what is missing is declared again and
   * reported in {@link AmqpTransport.topologyHealth}. 0 checks only when a consumer's
   * channel closes. @default 30000
   */
  readonly topologyCheckMs?: number;
}

/** What the last topology checks found. */
export interface TopologyHealth {
  /** Nothing missing and no queue in conflict. */
  readonly ok: boolean;
  /** Objects missing at the last check that could not be declared again. */
  readonly missing: readonly string[];
  /** Queues that exist with other arguments (their configuration errors). */
  readonly conflicts: readonly string[];
  /** What the last repair declared again. */
  readonly repaired: readonly string[];
  /** Checks completed so far. */
  readonly checks: number;
}

/** The connection actor's snapshot. */
export type ConnectionSnapshot = SnapshotFrom<typeof connectionMachine>;

/** The broker connection, as readiness checks, metrics and logs report it. */
export interface ConnectionStatus {
  /** `connecting`, `connected.flowing`, `connected.blocked`, `recovering`, `closing`, `closed` or `failed`. */
  readonly state: string;
  /** True in `connected.*`: topology declared, consumers resumed. */
  readonly connected: boolean;
  /** The node connected to, or being tried (its URL, password redacted). */
  readonly node: string | undefined;
  /** Every configured node (URLs, passwords redacted), in the configured order. */
  readonly nodes: readonly string[];
  /** Connections made so far: 0 until the first connect. */
  readonly generation: number;
  /** Failed attempts in a row since the last successful connection. */
  readonly attempt: number;
  /**
   * Why the last attempt failed, or the connection was lost (cleared on connect):
   * `kind` is `login-refused`, `vhost-refused`, `connection-refused`, `host-unknown`,
   * `timeout`, `tls`, `lost` or `other`; `description` is a sentence for operators.
   */
  readonly lastFailure: ConnectFailure | undefined;
}

type Waiter = { resolve: (model: ChannelModel) => void; reject: (error: Error) => void };

const defaultBackoff: Backoff = {
  kind: 'exponential',
  minMs: 100,
  maxMs: 10_000,
  randomFactor: 0.5,
};

function toBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * The transport port on RabbitMQ.
 *
 * @example
 * const transport = new AmqpTransport({ url: 'amqp://guest:guest@127.0.0.1:5672', logger });
 * await transport.ready();
 */
export class AmqpTransport implements Transport {
  readonly #logger: Logger;
  readonly #topologyOptions: TopologyOptions;
  readonly #topology = new Map<string, QueueTopology>();
  readonly #consumers = new Set<AmqpConsumer>();
  readonly #publisher: Publisher;
  readonly #connectionInput: ConnectionInput;
  readonly #inspect: ((event: InspectionEvent) => void) | undefined;
  readonly #actorClock: ActorClock | undefined;
  #actor: Actor<typeof connectionMachine>;
  #generationBase = 0;
  /** Dead queues known to exist, per connection. */
  readonly #deadQueuesEnsured = new WeakMap<ChannelModel, Set<string>>();
  readonly #host: ConsumerHost;
  readonly #nodes: readonly string[];
  /** The live connection, from the moment it opened (during its setup too) until it closes. */
  #model: ChannelModel | undefined;
  #waiters: Waiter[] = [];
  #closing: Promise<void> | undefined;
  #lastState = '';
  readonly #watch: Actor<typeof topologyWatchMachine>;
  #health: TopologyHealth = { ok: true, missing: [], conflicts: [], repaired: [], checks: 0 };
  /** Queues whose redeclaration the broker refused (406), with the error. */
  readonly #conflicts = new Map<string, string>();
  /** Retry queue declarations in flight: the retries of one batch share one per queue. */
  readonly #retryDeclarations = new Map<string, Promise<void>>();

  constructor(options: AmqpTransportOptions) {
    const endpoints = resolveConnections(options);
    const deliveryLimit = options.deliveryLimit ?? 20;
    const topologyCheckMs = options.topologyCheckMs ?? 30_000;
    if (!Number.isInteger(topologyCheckMs) || topologyCheckMs < 0) {
      throw new ConfigurationError('amqp.topologyCheckMs', 'must be an integer >= 0');
    }
    if (!Number.isInteger(deliveryLimit) || deliveryLimit < 1) {
      throw new ConfigurationError('amqp.deliveryLimit', 'must be an integer >= 1');
    }
    this.#logger = options.logger.child({ component: 'amqp' });
    this.#nodes = endpoints.map((endpoint) => endpoint.redactedUrl);
    this.#topologyOptions = {
      deadLetterExchange: options.deadLetterExchange ?? 'troupe.dead-letter',
      deliveryLimit,
    };
    const logger = this.#logger;
    this.#publisher = new Publisher({
      logger,
      channelFailed: () => this.#reopenPublishChannel(),
      exchangeExists: (exchange) => this.#exchangeExists(exchange),
      maxBacklog: options.maxPublishBacklog ?? 100_000,
    });
    this.#host = {
      logger,
      publishDeadLetter: (queue, message, info) => this.#publishDeadLetter(queue, message, info),
      publishRetry: (queue, message, delayMs, attempts) =>
        this.#publishRetry(queue, message, delayMs, attempts),
      countsDeliveries: (queue) => this.#countsDeliveries(queue),
      channelLost: (consumer, model) => this.#channelLost(consumer, model),
      forget: (consumer) => this.#consumers.delete(consumer),
    };
    this.#connectionInput = {
      open: (signal, index) => {
        const endpoint = endpoints[index] ?? endpoints[0];
        if (endpoint === undefined) return Promise.reject(new Error('no broker URL'));
        return this.#open(endpoint.connect, endpoint.socket, signal);
      },
      endpoints: this.#nodes,
      endpointOrder: options.urlOrder ?? 'in-order',
      backoff: options.reconnectBackoff ?? defaultBackoff,
      logger,
      ...(options.retryOnLoginRefused === undefined
        ? {}
        : { retryOnLoginRefused: options.retryOnLoginRefused }),
      ...(options.maxReconnectAttempts === undefined
        ? {}
        : { maxAttempts: options.maxReconnectAttempts }),
      ...(options.random === undefined ? {} : { random: options.random }),
      ...(options.openTimeoutMs === undefined ? {} : { openTimeoutMs: options.openTimeoutMs }),
    };
    this.#inspect = options.inspect;
    this.#actorClock = options.actorClock;
    logger.info({ nodes: this.#nodes, order: options.urlOrder ?? 'in-order' }, 'amqp connecting');
    this.#actor = this.#startActor();
    this.#watch = createActor(topologyWatchMachine, {
      id: 'amqp-topology',
      input: { intervalMs: topologyCheckMs, check: () => this.#checkTopology() },
      ...(this.#actorClock === undefined ? {} : { clock: this.#actorClock }),
    });
    this.#watch.start();
  }

  /** What the last topology checks found: for readiness (`/readyz`). */
  get topologyHealth(): TopologyHealth {
    return this.#health;
  }

  /** Checks the topology now (after the running check, if one runs). */
  checkTopology(): void {
    this.#watch.send({ type: 'topology.check' });
  }

  #startActor(): Actor<typeof connectionMachine> {
    const actor = createActor(connectionMachine, {
      id: 'amqp-connection',
      input: this.#connectionInput,
      ...(this.#inspect === undefined ? {} : { inspect: this.#inspect }),
      ...(this.#actorClock === undefined ? {} : { clock: this.#actorClock }),
    });
    actor.subscribe({
      next: (snapshot) => {
        if (this.#actor === actor) this.#onSnapshot(snapshot);
      },
      error: (err: unknown) => this.#logger.error({ err }, 'connection actor failed'),
    });
    this.#actor = actor;
    actor.start();
    return actor;
  }

  /**
   * Starts a fresh connection actor if the last one gave up reconnecting (`failed`):
   * what a supervisor does when it restarts the connection. Topology, consumers and
   * the publisher carry over. A no-op in any other state, and after {@link close}.
   */
  restart(): void {
    if (this.#closing !== undefined || this.#actor.getSnapshot().value !== 'failed') return;
    this.#generationBase += this.#actor.getSnapshot().context.generation;
    this.#publisher.reopen();
    this.#logger.info({ nodes: this.#nodes }, 'amqp connecting again');
    this.#startActor();
  }

  /** The connection actor, for inspection (`subscribe` to follow its chart). */
  get connection(): Actor<typeof connectionMachine> {
    return this.#actor;
  }

  /** The connection's state: `connecting`, `connected.flowing`, `connected.blocked`, `recovering`, `closing`, `closed` or `failed`. */
  get state(): string {
    return stateName(this.#actor.getSnapshot());
  }

  /**
   * The connection's state, the node it is on (or trying), and why the last attempt
   * failed: what `/readyz`, the metrics and the CLI report.
   */
  get status(): ConnectionStatus {
    const snapshot = this.#actor.getSnapshot();
    const { context } = snapshot;
    return {
      state: stateName(snapshot),
      connected: snapshot.matches('connected'),
      node: context.node,
      nodes: this.#nodes,
      generation: this.#generationBase + context.generation,
      attempt: context.attempt,
      lastFailure: context.lastFailure,
    };
  }

  /** Connections made so far: 1 after the first connect, one more per reconnect. */
  get generation(): number {
    return this.#generationBase + this.#actor.getSnapshot().context.generation;
  }

  /** Publishes waiting for a channel or for the socket to drain. */
  get publishBacklog(): number {
    return this.#publisher.backlog;
  }

  /** Resolves once connected (topology declared, consumers resumed); rejects once closed or failed. */
  async ready(): Promise<void> {
    await this.#whenConnected();
  }

  async declare(topology: readonly QueueTopology[]): Promise<void> {
    for (const entry of topology) {
      const limit = entry.deliveryLimit;
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
        throw new ConfigurationError(`${entry.queue}.deliveryLimit`, 'must be an integer >= 1');
      }
    }
    // Remembered at once, so that a reconnection declares it even if this call fails
    // for want of a connection; forgotten again if the broker refuses it for good.
    const previous = new Map(
      topology.map((entry) => [entry.queue, this.#topology.get(entry.queue)]),
    );
    for (const entry of topology) this.#topology.set(entry.queue, entry);
    const model = await this.#whenConnected();
    try {
      const channel = await model.createChannel();
      channel.on('error', (err: Error) => this.#logger.warn({ err }, 'topology channel error'));
      await declareTopology(channel, topology, this.#topologyOptions);
      await channel.close();
    } catch (error) {
      const translated = translateDeclareError(error);
      if (translated instanceof ConfigurationError) {
        for (const [queue, entry] of previous) {
          if (entry === undefined) this.#topology.delete(queue);
          else this.#topology.set(queue, entry);
        }
      }
      throw translated;
    }
  }

  async consume(
    queue: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<Subscription> {
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1 || options.prefetch > 65_535) {
      throw new ConfigurationError('prefetch', 'must be an integer from 1 to 65535');
    }
    const consumer = new AmqpConsumer(this.#host, queue, options, onDelivery);
    this.#consumers.add(consumer);
    try {
      const model = await this.#whenConnected();
      await consumer.start(model);
    } catch (error) {
      this.#consumers.delete(consumer);
      consumer.abandon();
      throw new TransientError(`cannot consume ${queue}`, { cause: error });
    }
    this.#logger.debug({ queue, prefetch: options.prefetch }, 'consuming');
    return consumer;
  }

  publish(
    exchange: string,
    routingKey: string,
    body: Uint8Array,
    options: PublishOptions = {},
  ): Promise<void> {
    const publishOptions: Options.Publish = {
      persistent: true,
      messageId: options.messageId ?? randomUUID(),
      timestamp: Math.floor(Date.now() / 1000),
      ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
      ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
      ...(options.headers === undefined ? {} : { headers: options.headers }),
    };
    return this.#publisher.publish(exchange, routingKey, toBuffer(body), publishOptions);
  }

  /** Closes the connection: unsettled deliveries go back to their queues (broker side). */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#watch.stop();
    this.#publisher.close(new Error('transport closed'));
    for (const consumer of this.#consumers) consumer.abandon();
    this.#consumers.clear();
    this.#actor.send({ type: 'connection.close' });
    await new Promise<void>((resolve) => {
      const subscription = this.#actor.subscribe({
        next: (snapshot) => {
          if (snapshot.status === 'done') {
            subscription.unsubscribe();
            resolve();
          }
        },
        error: () => resolve(),
      });
      if (this.#actor.getSnapshot().status !== 'active') {
        subscription.unsubscribe();
        resolve();
      }
    });
    this.#actor.stop();
  }

  /** Opens a connection and makes it ready; invoked by the connection actor. */
  async #open(
    fields: Options.Connect,
    socket: Parameters<typeof connect>[1],
    signal: AbortSignal,
  ): Promise<ChannelModel> {
    const model = await connect(fields, socket);
    model.on('error', (err: Error) => this.#logger.warn({ err }, 'connection error'));
    model.on('close', () => {
      if (this.#model === model) this.#model = undefined;
    });
    const abort = (): void => {
      model.close().catch(() => undefined);
    };
    signal.addEventListener('abort', abort, { once: true });
    try {
      if (signal.aborted) throw new Error('connection aborted');
      this.#model = model;
      const confirm = await model.createConfirmChannel();
      await this.#declareAll(model, [...this.#topology.values()]);
      this.#publisher.attach(confirm);
      await Promise.all([...this.#consumers].map((consumer) => this.#resume(consumer, model)));
      if (signal.aborted) throw new Error('connection aborted');
      return model;
    } catch (error) {
      if (this.#model === model) this.#model = undefined;
      abort();
      throw error;
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  #whenConnected(): Promise<ChannelModel> {
    const snapshot = this.#actor.getSnapshot();
    if (snapshot.matches('connected') && this.#model !== undefined) {
      return Promise.resolve(this.#model);
    }
    if (snapshot.status !== 'active' || this.#closing !== undefined) {
      return Promise.reject(new TransientError(`amqp connection ${stateName(snapshot)}`));
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #onSnapshot(snapshot: ConnectionSnapshot): void {
    const state = stateName(snapshot);
    if (state !== this.#lastState) {
      const previous = this.#lastState;
      this.#lastState = state;
      this.#logTransition(snapshot, state, previous);
    }
    if (snapshot.matches('connected') && this.#model !== undefined) {
      const model = this.#model;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const waiter of waiters) waiter.resolve(model);
    } else if (snapshot.status !== 'active') {
      const waiters = this.#waiters;
      this.#waiters = [];
      const error = new TransientError(`amqp connection ${state}`);
      for (const waiter of waiters) waiter.reject(error);
      if (snapshot.value === 'failed') this.#publisher.close(error);
    }
  }

  #logTransition(snapshot: ConnectionSnapshot, state: string, previous: string): void {
    const { context } = snapshot;
    const failure = context.lastFailure;
    switch (state) {
      case 'connected.flowing':
        if (previous === 'connected.blocked') break;
        this.#logger.info(
          { broker: context.node, generation: this.#generationBase + context.generation },
          'amqp connected',
        );
        break;
      case 'connected.blocked':
        this.#logger.warn({ reason: context.blockedReason }, 'amqp connection blocked');
        break;
      case 'recovering': {
        const fields = {
          broker: context.node,
          attempt: context.attempt,
          kind: failure?.kind,
          reason: failure?.description ?? context.lastError,
        };
        if (previous.startsWith('connected')) {
          this.#logger.warn(fields, 'amqp connection lost; reconnecting');
        } else if (failure?.kind === 'login-refused' || failure?.kind === 'vhost-refused') {
          // A configuration problem no retry will fix on its own: loud, and said so.
          this.#logger.error(
            fields,
            failure.kind === 'login-refused'
              ? 'amqp login refused (403 ACCESS_REFUSED): check the user name and password; retrying (amqp.retryOnLoginRefused: false gives up instead)'
              : 'amqp vhost refused: check that it exists and the user may use it; retrying',
          );
        } else {
          this.#logger.warn(
            fields,
            this.generation === 0
              ? 'amqp connect failed; retrying'
              : 'amqp reconnect failed; retrying',
          );
        }
        break;
      }
      case 'failed':
        this.#logger.error(
          {
            broker: context.node,
            kind: failure?.kind,
            reason: failure?.description ?? context.lastError,
          },
          failure?.kind === 'login-refused' && context.input.retryOnLoginRefused === false
            ? 'amqp login refused (403 ACCESS_REFUSED); not retrying (amqp.retryOnLoginRefused is false)'
            : 'amqp reconnection gave up',
        );
        break;
      case 'closed':
        this.#logger.info('amqp connection closed');
        break;
      default:
        break;
    }
  }

  #channelLost(consumer: AmqpConsumer, model: ChannelModel): void {
    // A closing connection closes its channels before it emits its own close: decide
    // once that has happened whether the connection survived the channel.
    queueMicrotask(() => {
      if (consumer.cancelled || this.#model !== model) return;
      // Whatever closed it (a deleted queue, say) may have taken more with it.
      this.checkTopology();
      this.#logger.warn({ queue: consumer.queue }, 'consumer channel lost; resuming');
      this.#resume(consumer, model).catch((err: unknown) => {
        this.#logger.error({ err, queue: consumer.queue }, 'consumer not resumed; reconnecting');
        this.#actor.send({
          type: 'connection.recycle',
          connection: model,
          reason: `consumer of ${consumer.queue} not resumed`,
        });
      });
    });
  }

  /** The broker closed the publish channel: open another on the same connection. */
  #reopenPublishChannel(): void {
    const model = this.#model;
    queueMicrotask(() => {
      if (model === undefined || this.#model !== model) return;
      model.createConfirmChannel().then(
        (channel) => {
          if (this.#model === model) this.#publisher.attach(channel);
          else channel.close().catch(() => undefined);
        },
        (err: unknown) => {
          this.#logger.error({ err }, 'publish channel not reopened; reconnecting');
          this.#actor.send({
            type: 'connection.recycle',
            connection: model,
            reason: 'publish channel not reopened',
          });
        },
      );
    });
  }

  async #exchangeExists(exchange: string): Promise<boolean> {
    if (exchange === '') return true;
    const model = await this.#whenConnected();
    const channel = await model.createChannel();
    channel.on('error', () => undefined);
    try {
      await channel.checkExchange(exchange);
      return true;
    } catch {
      return false;
    } finally {
      channel.close().catch(() => undefined);
    }
  }

  /**
   * Resumes a consumer on `model`, declaring its queue again if it is gone. A queue
   * that is gone and unknown (consumed without `declare`) leaves that consumer idle
   * until the next connection, logged, rather than taking the connection down for all.
   */
  async #resume(consumer: AmqpConsumer, model: ChannelModel): Promise<void> {
    try {
      await consumer.start(model);
    } catch (error) {
      const entry = this.#topology.get(consumer.queue);
      if (entry === undefined) {
        if ((error as { code?: unknown } | undefined)?.code !== 404) throw error;
        this.#logger.error(
          { err: error, queue: consumer.queue },
          'queue not found; consumer idle until the next connection',
        );
        return;
      }
      if (this.#model !== model) throw error;
      const channel = await model.createChannel();
      channel.on('error', (err: Error) => this.#logger.warn({ err }, 'topology channel error'));
      await declareTopology(channel, [entry], this.#topologyOptions);
      await channel.close();
      if ((error as { code?: unknown } | undefined)?.code === 404) {
        this.#logger.warn({ queue: consumer.queue }, 'queue was gone; declared again');
        this.#health = { ...this.#health, repaired: [`queue ${consumer.queue}`] };
      }
      await consumer.start(model);
    }
  }

  /**
   * Declares `entries` one by one on `model`. A queue that exists with other arguments
   * (406) is logged and recorded as a conflict, and the others are still declared: a
   * reconnection must not fail, and retry forever, over one queue an operator changed.
   */
  async #declareAll(model: ChannelModel, entries: readonly QueueTopology[]): Promise<void> {
    let channel: Awaited<ReturnType<ChannelModel['createChannel']>> | undefined;
    try {
      for (const entry of entries) {
        if (channel === undefined) {
          channel = await model.createChannel();
          channel.on('error', (err: Error) => this.#logger.warn({ err }, 'topology channel error'));
        }
        try {
          await declareTopology(channel, [entry], this.#topologyOptions);
          this.#conflicts.delete(entry.queue);
        } catch (error) {
          const translated = translateDeclareError(error);
          if (!(translated instanceof ConfigurationError)) throw error;
          // The broker closed the channel: the next entry gets another.
          channel = undefined;
          this.#conflicts.set(entry.queue, translated.message);
          this.#logger.error({ err: translated, queue: entry.queue }, 'queue not declared');
        }
      }
    } finally {
      channel?.close().catch(() => undefined);
    }
    this.#health = {
      ...this.#health,
      conflicts: [...this.#conflicts.values()],
      ok: this.#health.missing.length === 0 && this.#conflicts.size === 0,
    };
  }

  /** Names of the declared objects the broker does not have, looked up passively. */
  async #missingObjects(model: ChannelModel, entries: readonly QueueTopology[]): Promise<string[]> {
    let channel: Awaited<ReturnType<ChannelModel['createChannel']>> | undefined;
    // A failed look-up (404) closes its channel: the next one opens another.
    const exists = async (
      look: (ch: NonNullable<typeof channel>) => Promise<unknown>,
    ): Promise<boolean> => {
      if (channel === undefined) {
        channel = await model.createChannel();
        channel.on('error', () => undefined);
      }
      try {
        await look(channel);
        return true;
      } catch (error) {
        channel = undefined;
        if ((error as { code?: unknown } | undefined)?.code === 404) return false;
        throw error;
      }
    };
    const missing: string[] = [];
    const exchanges = new Map<string, boolean>();
    const exchangeExists = async (exchange: string): Promise<boolean> => {
      let known = exchanges.get(exchange);
      if (known === undefined) {
        known = await exists((ch) => ch.checkExchange(exchange));
        exchanges.set(exchange, known);
        if (!known) missing.push(`exchange ${exchange}`);
      }
      return known;
    };
    try {
      const { deadLetterExchange } = this.#topologyOptions;
      for (const entry of entries) {
        const queueFound = await exists((ch) => ch.checkQueue(entry.queue));
        if (!queueFound) missing.push(`queue ${entry.queue}`);
        for (const binding of entry.bindings) {
          if (binding.exchange === '') continue;
          const exchangeFound = await exchangeExists(binding.exchange);
          // A binding goes with its exchange or its queue; AMQP cannot look one up alone.
          if (!exchangeFound || !queueFound) {
            missing.push(`binding ${binding.exchange} → ${entry.queue} (${binding.routingKey})`);
          }
        }
        const dead = deadQueueName(entry.queue);
        const deadFound = await exists((ch) => ch.checkQueue(dead));
        if (!deadFound) missing.push(`queue ${dead}`);
        const dlxFound = await exchangeExists(deadLetterExchange);
        if (!deadFound || !dlxFound) {
          missing.push(`binding ${deadLetterExchange} → ${dead} (${entry.queue})`);
        }
      }
    } finally {
      (channel as { close(): Promise<void> } | undefined)?.close().catch(() => undefined);
    }
    return missing;
  }

  /**
   * One topology check (run by the topology watch): looks up every declared object;
   * declares everything again when something is missing (or, when nothing is, binds
   * again: a binding removed on its own cannot be looked up, and binding is idempotent),
   * then records what it found in {@link topologyHealth}.
   */
  async #checkTopology(): Promise<void> {
    const model = this.#model;
    const entries = [...this.#topology.values()];
    if (model === undefined || !this.#actor.getSnapshot().matches('connected')) return;
    try {
      const found = await this.#missingObjects(model, entries);
      let missing = found;
      if (found.length > 0) {
        this.#logger.warn({ missing: found }, 'topology objects missing; declaring them again');
        await this.#declareAll(model, entries);
        missing = await this.#missingObjects(model, entries);
      } else {
        await this.#declareAll(model, entries);
      }
      const repaired = found.filter((name) => !missing.includes(name));
      if (missing.length > 0) this.#logger.error({ missing }, 'topology objects still missing');
      this.#health = {
        ok: missing.length === 0 && this.#conflicts.size === 0,
        missing,
        conflicts: [...this.#conflicts.values()],
        repaired: repaired.length > 0 ? repaired : this.#health.repaired,
        checks: this.#health.checks + 1,
      };
    } catch (err) {
      // A lost connection: the reconnection declares everything anyway.
      this.#logger.debug({ err }, 'topology check interrupted');
      this.#health = { ...this.#health, checks: this.#health.checks + 1 };
    }
  }

  /**
   * Publishes a dead letter of `queue`. Its dead queue is declared first, once per
   * connection: a dead letter with nowhere to go would be confirmed and dropped by the
   * broker, and the original acked — lost (a queue consumed without `declare`, say).
   */
  async #publishDeadLetter(
    queue: string,
    message: ConsumeMessage,
    info: DeadLetterInfo,
  ): Promise<void> {
    const model = await this.#whenConnected();
    let ensured = this.#deadQueuesEnsured.get(model);
    if (ensured === undefined) {
      ensured = new Set();
      this.#deadQueuesEnsured.set(model, ensured);
    }
    if (!ensured.has(queue)) {
      const channel = await model.createChannel();
      channel.on('error', (err: Error) => this.#logger.warn({ err }, 'topology channel error'));
      try {
        const { deadLetterExchange } = this.#topologyOptions;
        await channel.assertExchange(deadLetterExchange, 'direct', { durable: true });
        await channel.assertQueue(
          deadQueueName(queue),
          deadQueueOptions(this.#topology.get(queue)),
        );
        await channel.bindQueue(deadQueueName(queue), deadLetterExchange, queue);
        ensured.add(queue);
      } finally {
        channel.close().catch(() => undefined);
      }
    }
    const options = copyOptions(message, {
      [troupeHeaders.reason]: info.reason,
      [troupeHeaders.processor]: info.processor,
      [troupeHeaders.attempts]: info.attempts,
      [troupeHeaders.routingKey]: originalRoutingKey(message, queue, this.#countsDeliveries(queue)),
    });
    return this.#publisher.publish(
      this.#topologyOptions.deadLetterExchange,
      queue,
      message.content,
      options,
    );
  }

  /**
   * Parks a message in the retry queue of its delay tier (declared again first, which
   * renews its expiry lease), from where the broker dead-letters it back to `queue`.
   */
  async #publishRetry(
    queue: string,
    message: ConsumeMessage,
    delayMs: number,
    attempts: number,
  ): Promise<void> {
    const tier = retryTier(delayMs);
    const queueType = this.#topology.get(queue)?.queueType;
    const retryQueue = retryQueueName(queue, tier, queueType);
    await this.#declareRetryQueue(retryQueue, retryQueueArguments(queue, tier, queueType));
    const options = copyOptions(message, {
      [troupeHeaders.retryAttempts]: attempts,
      [troupeHeaders.routingKey]: originalRoutingKey(message, queue, queueType === 'quorum'),
    });
    await this.#publisher.publish('', retryQueue, message.content, options);
  }

  /** Whether the broker counts deliveries of `queue`: a quorum queue, as declared. */
  #countsDeliveries(queue: string): boolean {
    return this.#topology.get(queue)?.queueType === 'quorum';
  }

  /**
   * Declares a retry queue on a channel of its own (a refusal closes only that channel).
   * Retries that arrive while a declaration of the same queue is in flight (a batch's,
   * settled in one pass) wait for that one instead of opening a channel each: its lease
   * starts a moment before their publishes, as theirs would.
   */
  #declareRetryQueue(retryQueue: string, args: Record<string, unknown>): Promise<void> {
    const inFlight = this.#retryDeclarations.get(retryQueue);
    if (inFlight !== undefined) return inFlight;
    const declared = (async () => {
      const model = await this.#whenConnected();
      const channel = await model.createChannel();
      channel.on('error', (err: Error) => this.#logger.warn({ err }, 'retry channel error'));
      try {
        await channel.assertQueue(retryQueue, { durable: true, arguments: args });
      } finally {
        channel.close().catch(() => undefined);
      }
    })().finally(() => this.#retryDeclarations.delete(retryQueue));
    this.#retryDeclarations.set(retryQueue, declared);
    return declared;
  }
}

/**
 * A declaration the broker refused for good — an object that exists with other
 * arguments (406 PRECONDITION_FAILED), or no permission (403) — is a configuration
 * error; anything else (a lost connection) is transient.
 */
function translateDeclareError(error: unknown): Error {
  if (error instanceof ConfigurationError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 406 || code === 403) {
    return new ConfigurationError('topology', message, { cause: error });
  }
  return new TransientError('topology declaration failed', { cause: error });
}

/**
 * The routing key a message was first published with (kept across retry queues).
 * `quorum`: `queue` is a quorum queue, whose retry queues are named apart.
 */
function originalRoutingKey(message: ConsumeMessage, queue: string, quorum: boolean): string {
  const { properties, fields } = message;
  return readDelivery({
    queue,
    headers: properties.headers ?? {},
    routingKey: fields.routingKey,
    exchange: fields.exchange,
    redelivered: fields.redelivered,
    brokerCountsDeliveries: quorum,
  }).routingKey;
}

/**
 * Publish options of a copy Troupe makes of `message` (dead letter, delayed retry): its
 * identifying properties, and only the headers the wire contract lets a copy carry
 * (`copyHeaders`: no CC/BCC, no broker history, no stale Troupe headers, nothing nested
 * too deep), plus `headers`.
 */
export function copyOptions(
  message: Pick<ConsumeMessage, 'properties'>,
  headers: Record<string, unknown>,
): Options.Publish {
  const { properties } = message;
  const options: Options.Publish = {
    persistent: true,
    headers: copyHeaders(properties.headers, headers),
  };
  // Not userId (the broker refuses one that is not the connection's user), nor
  // expiration, replyTo or priority: the copy is Troupe's message, not the publisher's.
  for (const key of [
    'messageId',
    'correlationId',
    'contentType',
    'contentEncoding',
    'timestamp',
    'type',
    'appId',
  ] as const) {
    const value: unknown = properties[key];
    if (value !== undefined && value !== null) Object.assign(options, { [key]: value });
  }
  return options;
}

function stateName(snapshot: ConnectionSnapshot): string {
  return chartStateName(snapshot.value);
}
