// OpenTelemetry tracing of Troupe's message path, through `@opentelemetry/api` only (a
// no-op until the application registers an SDK). It wraps the two seams every message
// crosses: the transport port (publish injects W3C trace context into the message's
// headers; each delivery gets a consumer span whose parent is the context extracted from
// its headers, ended by its settlement) and the processor definition (the handler and
// the persist step run in child spans of their message's span). A retry is an event on
// the message span, a dead letter an error status with the reason.
import {
  context as contextApi,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Link,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type {
  ConsumeOptions,
  DeadLetterInfo,
  Delivery,
  HandlerContext,
  ProcessorDefinition,
  PublishOptions,
  Transport,
} from '@troupe/core';

/** Attribute names: the messaging semantic conventions, and Troupe's own under `troupe.`. */
export const attributes = {
  system: 'messaging.system',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
  destination: 'messaging.destination.name',
  routingKey: 'messaging.rabbitmq.destination.routing_key',
  messageId: 'messaging.message.id',
  conversationId: 'messaging.message.conversation_id',
  bodySize: 'messaging.message.body.size',
  consumerGroup: 'messaging.consumer.group.name',
  batchCount: 'messaging.batch.message_count',
  /** Not in the conventions: whether the broker delivered the message before. */
  redelivered: 'troupe.message.redelivered',
  /** Not in the conventions: the attempt this delivery starts at (1 for the first). */
  attempt: 'troupe.message.attempt',
  /** How the delivery was settled: ack, requeue, dead-letter, retry-later. */
  outcome: 'troupe.message.outcome',
  processor: 'troupe.processor',
  step: 'troupe.step',
} as const;

/** Span event names. */
export const events = {
  retry: 'troupe.retry',
  deadLettered: 'troupe.dead_lettered',
  requeued: 'troupe.requeued',
  redeliverLater: 'troupe.redeliver_later',
} as const;

const headerGetter: TextMapGetter<Readonly<Record<string, unknown>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (typeof value === 'string') return value;
    // amqplib hands string headers over as strings; a Buffer is decoded, anything else ignored.
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    return undefined;
  },
};

const headerSetter: TextMapSetter<Record<string, unknown>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** What the tracing keeps of a delivery between its arrival and its settlement. */
interface Traced {
  readonly span: Span;
  readonly context: Context;
}

/** Options of {@link MessageTracing}. */
export interface MessageTracingOptions {
  /** Where tracers come from. @default the global provider (`trace.getTracerProvider()`) */
  readonly tracerProvider?: TracerProvider | undefined;
  /**
   * `messaging.system` on publish and process spans: the broker behind the transport.
   * @default 'rabbitmq'
   */
  readonly system?: string | undefined;
}

/**
 * Traces messages through Troupe: wrap the transport and each processor definition.
 *
 * @example
 * ```ts
 * const tracing = new MessageTracing();
 * const transport = tracing.transport(new AmqpTransport({ url }));
 * createPool({ definition: tracing.processor(definition), transport, store, logger });
 * ```
 */
export class MessageTracing {
  readonly #tracer: Tracer;
  readonly #system: string;
  /** The span of each delivery being worked on, by message id. */
  readonly #inFlight = new Map<string, Traced>();

  constructor(options: MessageTracingOptions = {}) {
    const provider = options.tracerProvider ?? trace.getTracerProvider();
    this.#tracer = provider.getTracer('@troupe/otel', '0.1.0');
    this.#system = options.system ?? 'rabbitmq';
  }

  /**
   * The transport, traced: `publish` starts a producer span and injects its context into
   * the message headers (`traceparent`, `tracestate`); each delivery gets a consumer span
   * (`process <queue>`), child of the context in its headers, ended when it is settled.
   */
  transport<TTransport extends Transport>(transport: TTransport): Transport {
    return {
      declare: (topology) => transport.declare(topology),
      close: () => transport.close(),
      publish: (exchange, routingKey, body, options) =>
        this.#publish(transport, exchange, routingKey, body, options),
      consume: (queue: string, options: ConsumeOptions, onDelivery: (d: Delivery) => void) =>
        transport.consume(queue, options, (delivery) =>
          onDelivery(this.#delivered(queue, delivery)),
        ),
    };
  }

  async #publish(
    transport: Transport,
    exchange: string,
    routingKey: string,
    body: Uint8Array,
    options: PublishOptions | undefined,
  ): Promise<void> {
    const span = this.#tracer.startSpan(`publish ${exchange}`, {
      kind: SpanKind.PRODUCER,
      attributes: {
        [attributes.system]: this.#system,
        [attributes.operationName]: 'publish',
        [attributes.operationType]: 'send',
        [attributes.destination]: exchange,
        [attributes.routingKey]: routingKey,
        [attributes.bodySize]: body.byteLength,
        ...(options?.messageId === undefined ? {} : { [attributes.messageId]: options.messageId }),
        ...(options?.correlationId === undefined
          ? {}
          : { [attributes.conversationId]: options.correlationId }),
      },
    });
    const headers: Record<string, unknown> = { ...options?.headers };
    propagation.inject(trace.setSpan(contextApi.active(), span), headers, headerSetter);
    try {
      await transport.publish(exchange, routingKey, body, { ...options, headers });
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(error) });
      throw error;
    } finally {
      span.end();
    }
  }

  #delivered(queue: string, delivery: Delivery): Delivery {
    const parent = propagation.extract(contextApi.active(), delivery.headers, headerGetter);
    const span = this.#tracer.startSpan(
      `process ${queue}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          [attributes.system]: this.#system,
          [attributes.operationName]: 'process',
          [attributes.operationType]: 'process',
          [attributes.destination]: queue,
          [attributes.routingKey]: delivery.routingKey,
          [attributes.messageId]: delivery.messageId,
          [attributes.bodySize]: delivery.body.byteLength,
          [attributes.redelivered]: delivery.redelivered,
          [attributes.attempt]: delivery.previousAttempts + 1,
          ...(delivery.correlationId === undefined
            ? {}
            : { [attributes.conversationId]: delivery.correlationId }),
        },
      },
      parent,
    );
    const traced: Traced = { span, context: trace.setSpan(parent, span) };
    this.#inFlight.set(delivery.messageId, traced);
    let settled = false;
    const settle = (outcome: string, also: (span: Span) => void): void => {
      if (settled) return;
      settled = true;
      if (this.#inFlight.get(delivery.messageId) === traced) {
        this.#inFlight.delete(delivery.messageId);
      }
      span.setAttribute(attributes.outcome, outcome);
      also(span);
      span.end();
    };
    const traced_: Delivery = {
      messageId: delivery.messageId,
      correlationId: delivery.correlationId,
      routingKey: delivery.routingKey,
      contentType: delivery.contentType,
      body: delivery.body,
      headers: delivery.headers,
      redelivered: delivery.redelivered,
      previousAttempts: delivery.previousAttempts,
      ack: () => {
        delivery.ack();
        settle('ack', (s) => s.setStatus({ code: SpanStatusCode.OK }));
      },
      requeue: () => {
        delivery.requeue();
        settle('requeue', (s) => s.addEvent(events.requeued));
      },
      deadLetter: (info: DeadLetterInfo) => {
        delivery.deadLetter(info);
        settle('dead-letter', (s) => {
          s.addEvent(events.deadLettered, {
            'troupe.reason': info.reason,
            [attributes.processor]: info.processor,
            'troupe.attempts': info.attempts,
          });
          s.setStatus({ code: SpanStatusCode.ERROR, message: info.reason });
        });
      },
    };
    const retryLater = delivery.retryLater?.bind(delivery);
    if (retryLater !== undefined) {
      (traced_ as { retryLater?: Delivery['retryLater'] }).retryLater = (delayMs, attempts) => {
        retryLater(delayMs, attempts);
        settle('retry-later', (s) =>
          s.addEvent(events.redeliverLater, {
            'troupe.delay_ms': delayMs,
            'troupe.attempts': attempts,
          }),
        );
      };
    }
    return traced_;
  }

  /** The context of the span of the delivery `messageId` is in, while it is being worked on. */
  contextOf(messageId: string): Context | undefined {
    return this.#inFlight.get(messageId)?.context;
  }

  /**
   * The processor, traced: its handler and persist step each run in a child span of the
   * message's span (and in its context, so spans the handler starts nest under it). A
   * handler or persist run for the second time records a `troupe.retry` event first.
   */
  processor<TMessage, TResult>(
    definition: ProcessorDefinition<TMessage, TResult>,
  ): ProcessorDefinition<TMessage, TResult> {
    // The batch forms (`handleBatch`, `persistBatch`) are read structurally: a definition
    // has them when its worker takes batches.
    const { handle, persist, handleBatch, persistBatch } = definition as BatchForms<
      ProcessorDefinition<TMessage, TResult>
    >;
    const name = definition.name;
    // Built as a plain object: the batch forms' types differ between definition shapes.
    const traced: object = {
      ...definition,
      handle: (message: TMessage, context: HandlerContext) =>
        this.#step('handle', name, context, () => handle(message, context)),
      ...(typeof persist === 'function'
        ? {
            persist: (result: TResult, context: HandlerContext) =>
              this.#step('persist', name, context, () => persist(result, context)),
          }
        : {}),
      ...(typeof handleBatch === 'function'
        ? {
            handleBatch: (items: readonly BatchItem[], context: unknown) =>
              this.#batchStep('handle', name, items, () => handleBatch(items, context)),
          }
        : {}),
      ...(typeof persistBatch === 'function'
        ? {
            persistBatch: (entries: readonly BatchItem[], context: unknown) =>
              this.#batchStep('persist', name, entries, () => persistBatch(entries, context)),
          }
        : {}),
    };
    return traced as ProcessorDefinition<TMessage, TResult>;
  }

  /**
   * One call for a whole batch (`handleBatch`, `persistBatch`): a child span per message
   * in its own trace, all covering the call; an outcome list (`{ ok }`, or outcomes with a
   * `kind`) marks the messages that failed.
   */
  #batchStep<T>(
    step: 'handle' | 'persist',
    processor: string,
    items: readonly BatchItem[],
    run: () => T | Promise<T>,
  ): T | Promise<T> {
    const spans = items.map(({ delivery }) => {
      const message = this.#inFlight.get(delivery.messageId);
      if (message !== undefined && delivery.attempt > 1) {
        message.span.addEvent(events.retry, {
          [attributes.step]: step,
          'troupe.attempt': delivery.attempt,
        });
      }
      return this.#tracer.startSpan(
        step,
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            [attributes.step]: step,
            [attributes.processor]: processor,
            [attributes.messageId]: delivery.messageId,
            [attributes.batchCount]: items.length,
            'troupe.attempt': delivery.attempt,
          },
        },
        message?.context ?? contextApi.active(),
      );
    });
    const end = (outcomes: unknown): void => {
      spans.forEach((span, i) => {
        const outcome = Array.isArray(outcomes) ? (outcomes[i] as unknown) : undefined;
        const failure = failureOf(outcome);
        if (failure !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
        span.end();
      });
    };
    const fail = (error: unknown): never => {
      for (const span of spans) {
        span.recordException(error instanceof Error ? error : new Error(messageOf(error)));
        span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(error) });
        span.end();
      }
      throw error;
    };
    let result: T | Promise<T>;
    try {
      result = run();
    } catch (error) {
      return fail(error);
    }
    if (result instanceof Promise) {
      return result.then((value) => {
        end(value);
        return value;
      }, fail);
    }
    end(result);
    return result;
  }

  /**
   * The worker's observer with batch spans added: each batch a worker takes (`batch`)
   * starts a span linked to its messages' spans, ended once all of them are settled.
   * Every call is passed on to `inner` (the metrics) unchanged.
   */
  observer<TObserver extends object>(processor: string, inner: TObserver): TObserver {
    const observed = inner as ObserverLike;
    const open = new Map<string, { span: Span; left: number }>();
    return {
      ...inner,
      batch: (messageIds: readonly string[]) => {
        const span = this.startBatch(processor, messageIds);
        const batch = { span, left: messageIds.length };
        for (const id of messageIds) open.set(id, batch);
        if (batch.left === 0) span.end();
        observed.batch?.(messageIds);
      },
      settled: (...args: unknown[]) => {
        const messageId = args[2];
        const batch = typeof messageId === 'string' ? open.get(messageId) : undefined;
        if (batch !== undefined && typeof messageId === 'string') {
          open.delete(messageId);
          batch.left -= 1;
          if (batch.left === 0) batch.span.end();
        }
        observed.settled?.(...args);
      },
    };
  }

  #step<T>(
    step: 'handle' | 'persist',
    processor: string,
    context: HandlerContext,
    run: () => T | Promise<T>,
  ): T | Promise<T> {
    const { messageId, attempt } = context.delivery;
    const message = this.#inFlight.get(messageId);
    const parent = message?.context ?? contextApi.active();
    const counts = message === undefined ? undefined : stepCounts(message);
    if (message !== undefined && counts !== undefined) {
      const runs = (counts.get(step) ?? 0) + 1;
      counts.set(step, runs);
      if (runs > 1 || (step === 'handle' && attempt > 1)) {
        message.span.addEvent(events.retry, { [attributes.step]: step, 'troupe.attempt': attempt });
      }
    }
    const span = this.#tracer.startSpan(
      step,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [attributes.step]: step,
          [attributes.processor]: processor,
          [attributes.messageId]: messageId,
          'troupe.attempt': attempt,
        },
      },
      parent,
    );
    const fail = (error: unknown): never => {
      span.recordException(error instanceof Error ? error : new Error(messageOf(error)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(error) });
      span.end();
      throw error;
    };
    let result: T | Promise<T>;
    try {
      result = contextApi.with(trace.setSpan(parent, span), run);
    } catch (error) {
      return fail(error);
    }
    if (result instanceof Promise) {
      return result.then((value) => {
        span.end();
        return value;
      }, fail);
    }
    span.end();
    return result;
  }

  /**
   * A span for a batch of deliveries worked on together, linked to each message's span
   * (the batch is not any one message's child). Returns the span; the caller ends it.
   */
  startBatch(processor: string, messageIds: readonly string[]): Span {
    const links: Link[] = [];
    for (const id of messageIds) {
      const message = this.#inFlight.get(id);
      if (message !== undefined) links.push({ context: message.span.spanContext() });
    }
    return this.#tracer.startSpan(`batch ${processor}`, {
      kind: SpanKind.INTERNAL,
      links,
      attributes: {
        [attributes.processor]: processor,
        [attributes.batchCount]: messageIds.length,
      },
    });
  }
}

/** A definition with the batch forms a worker that takes batches has. */
type BatchForms<TDefinition> = TDefinition & {
  readonly handleBatch?: ((items: readonly BatchItem[], context: unknown) => unknown) | undefined;
  readonly persistBatch?:
    ((entries: readonly BatchItem[], context: unknown) => unknown) | undefined;
};

/** What a batch step knows of each of its deliveries. */
interface DeliveryLike {
  readonly messageId: string;
  readonly attempt: number;
}

/** One message (or one result) of a batch step. */
interface BatchItem {
  readonly delivery: DeliveryLike;
}

/** The observer methods the tracing reads; the others are passed on untouched. */
interface ObserverLike {
  settled?(...args: unknown[]): void;
  batch?(messageIds: readonly string[]): void;
}

/** Why one outcome of a batch step failed, or undefined when it did not. */
function failureOf(outcome: unknown): string | undefined {
  if (typeof outcome !== 'object' || outcome === null) return undefined;
  const { ok, kind, error, reason } = outcome as {
    ok?: unknown;
    kind?: unknown;
    error?: unknown;
    reason?: unknown;
  };
  if (ok === false) return messageOf(error);
  if (typeof kind === 'string' && kind !== 'done') {
    return typeof reason === 'string' ? reason : error === undefined ? kind : messageOf(error);
  }
  return undefined;
}

const counters = new WeakMap<Traced, Map<string, number>>();

function stepCounts(message: Traced): Map<string, number> {
  let counts = counters.get(message);
  if (counts === undefined) {
    counts = new Map();
    counters.set(message, counts);
  }
  return counts;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
