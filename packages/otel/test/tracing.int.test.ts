// Tracing across the real RabbitMQ, with the SDK's in-memory exporter: a publish in a
// trace reaches the consumer as the parent of the message's consumer span, whose
// children are the handle and persist steps (and the handler's own spans nest under
// handle); a retry is an event on the message span, with one handle span per attempt; a
// dead letter sets an error status with the reason. A batch span links its messages.
import { randomUUID } from 'node:crypto';
import { context, propagation, trace, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { AmqpTransport } from '@troupe/amqp';
import {
  createPool,
  defineProcessor,
  startSupervisor,
  TransientError,
  type SupervisorRuntime,
  type Transport,
} from '@troupe/core';
import { MemoryStore } from '@troupe/memory';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributes, events, MessageTracing } from '../src/index.js';

const brokerUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const logger = pino({ level: 'silent' });

/** Resolves when a span matching `predicate` has ended. */
class SpanWaiter implements SpanProcessor {
  readonly #waits: {
    predicate: (span: ReadableSpan) => boolean;
    resolve: (span: ReadableSpan) => void;
  }[] = [];
  readonly #ended: ReadableSpan[] = [];
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    this.#ended.push(span);
    for (const wait of [...this.#waits]) {
      if (wait.predicate(span)) {
        this.#waits.splice(this.#waits.indexOf(wait), 1);
        wait.resolve(span);
      }
    }
  }
  next(predicate: (span: ReadableSpan) => boolean): Promise<ReadableSpan> {
    const done = this.#ended.find(predicate);
    if (done !== undefined) return Promise.resolve(done);
    return new Promise((resolve) => this.#waits.push({ predicate, resolve }));
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const exporter = new InMemorySpanExporter();
const waiter = new SpanWaiter();
const provider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(exporter), waiter],
});
const tracer = provider.getTracer('test');
const tracing = new MessageTracing({ tracerProvider: provider });
const contextManager = new AsyncLocalStorageContextManager();

let amqp: AmqpTransport;
let transport: Transport;
let runtime: SupervisorRuntime | undefined;
const queues: string[] = [];

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  amqp = new AmqpTransport({ url: brokerUrl, logger });
  await amqp.ready();
  transport = tracing.transport(amqp);
});

afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
  exporter.reset();
});

afterAll(async () => {
  const { connect } = await import('amqplib');
  const admin = await connect(brokerUrl);
  const channel = await admin.createChannel();
  for (const queue of queues) {
    await channel.deleteQueue(queue);
    await channel.deleteQueue(`${queue}.dead`).catch(() => undefined);
  }
  await admin.close();
  await amqp.close();
  context.disable();
  propagation.disable();
});

const spanId = (span: ReadableSpan | undefined): string | undefined => span?.spanContext().spanId;
const parentId = (span: ReadableSpan | undefined): string | undefined =>
  span?.parentSpanContext?.spanId;

async function startProcessor(
  handle: (order: { id: string }) => unknown,
  retry = {},
): Promise<{ queue: string; exchange: string }> {
  const queue = `troupe-test.otel.${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  const definition = defineProcessor({
    name: 'orders',
    queue,
    bindings: [{ exchange: 'amq.topic', routingKey: queue }],
    schema: z.object({ id: z.string() }),
    concurrency: 1,
    retry,
    handle: (order) => {
      handle(order);
      return { collection: 'orders', key: order.id, document: order };
    },
  });
  await transport.declare([{ queue, bindings: definition.bindings }]);
  const pool = createPool({
    definition: tracing.processor(definition),
    transport,
    store: new MemoryStore(),
    logger,
  });
  runtime = startSupervisor({ strategy: 'one-for-one', children: [pool.childSpec], logger });
  return { queue, exchange: 'amq.topic' };
}

describe('tracing across RabbitMQ', () => {
  it('links publish → consume → handle and persist in one trace', async () => {
    const { queue, exchange } = await startProcessor(() => {
      // A span the handler starts nests under `handle`.
      tracer.startSpan('lookup', {}, context.active()).end();
    });
    await tracer.startActiveSpan('request', async (root) => {
      await transport.publish(exchange, queue, Buffer.from('{"id":"o-1"}'), { messageId: 'o-1' });
      root.end();
    });
    const consumer = await waiter.next((span) => span.name === `process ${queue}`);
    const spans = exporter.getFinishedSpans();
    const byName = (name: string) => spans.find((span) => span.name === name);
    const request = byName('request');
    const publish = byName(`publish ${exchange}`);
    const handle = byName('handle');
    const persist = byName('persist');
    const lookup = byName('lookup');
    expect(parentId(publish)).toBe(spanId(request));
    expect(parentId(consumer)).toBe(spanId(publish));
    expect(consumer.spanContext().traceId).toBe(request?.spanContext().traceId);
    expect(parentId(handle)).toBe(spanId(consumer));
    expect(parentId(persist)).toBe(spanId(consumer));
    expect(parentId(lookup)).toBe(spanId(handle));
    expect(consumer.attributes).toMatchObject({
      [attributes.system]: 'rabbitmq',
      [attributes.operationType]: 'process',
      [attributes.destination]: queue,
      [attributes.routingKey]: queue,
      [attributes.messageId]: 'o-1',
      [attributes.redelivered]: false,
      [attributes.attempt]: 1,
      [attributes.outcome]: 'ack',
    });
    expect(publish?.attributes).toMatchObject({
      [attributes.system]: 'rabbitmq',
      [attributes.destination]: exchange,
      [attributes.messageId]: 'o-1',
    });
    expect(consumer.status.code).toBe(SpanStatusCode.OK);
    // The message span ends when the delivery is settled, after persist.
    const nanos = (time: readonly [number, number] | undefined): bigint =>
      time === undefined ? -1n : BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
    expect(nanos(consumer.endTime) >= nanos(persist?.endTime)).toBe(true);
    expect(persist).toBeDefined();
  });

  it('records a retry on the message span, one handle span per attempt', async () => {
    let failures = 0;
    const { queue, exchange } = await startProcessor(
      () => {
        if (failures === 0) {
          failures += 1;
          throw new TransientError('store busy');
        }
      },
      { attempts: 3, backoff: { kind: 'fixed', delayMs: 5 } },
    );
    await transport.publish(exchange, queue, Buffer.from('{"id":"o-2"}'), { messageId: 'o-2' });
    const consumer = await waiter.next((span) => span.name === `process ${queue}`);
    const handles = exporter
      .getFinishedSpans()
      .filter((span) => span.name === 'handle' && parentId(span) === spanId(consumer));
    expect(handles.map((span) => span.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
    ]);
    expect(handles[0]?.events.some((event) => event.name === 'exception')).toBe(true);
    const retry = consumer.events.find((event) => event.name === events.retry);
    expect(retry?.attributes).toMatchObject({ [attributes.step]: 'handle', 'troupe.attempt': 2 });
    expect(consumer.attributes[attributes.outcome]).toBe('ack');
  });

  it('sets an error status with the reason on a dead-lettered message', async () => {
    const { queue, exchange } = await startProcessor(() => undefined);
    await transport.publish(exchange, queue, Buffer.from('not json'), { messageId: 'o-3' });
    const consumer = await waiter.next((span) => span.name === `process ${queue}`);
    expect(consumer.status.code).toBe(SpanStatusCode.ERROR);
    expect(consumer.status.message).toMatch(/INVALID_MESSAGE|json/i);
    expect(consumer.attributes[attributes.outcome]).toBe('dead-letter');
    const dead = consumer.events.find((event) => event.name === events.deadLettered);
    expect(dead?.attributes?.['troupe.reason']).toBe(consumer.status.message);
    expect(dead?.attributes?.[attributes.processor]).toBe('orders');
    expect(
      exporter
        .getFinishedSpans()
        .some((span) => span.name === 'persist' && parentId(span) === spanId(consumer)),
    ).toBe(false);
  });

  it('links a batch span to the spans of the messages it carries', async () => {
    let batch: ReadableSpan | undefined;
    const { queue, exchange } = await startProcessor((order) => {
      const span = tracing.startBatch('orders', [order.id, 'not-in-flight']);
      span.end();
      batch = span as unknown as ReadableSpan;
    });
    await transport.publish(exchange, queue, Buffer.from('{"id":"o-4"}'), { messageId: 'o-4' });
    const consumer = await waiter.next((span) => span.name === `process ${queue}`);
    expect(batch?.links.map((link) => link.context.spanId)).toEqual([spanId(consumer)]);
    expect(batch?.attributes[attributes.batchCount]).toBe(2);
  });

  it('is a no-op without a registered SDK: its tracer records nothing', () => {
    const untraced = new MessageTracing();
    expect(trace.getTracerProvider().getTracer('x').startSpan('x').isRecording()).toBe(false);
    expect(untraced.contextOf('none')).toBeUndefined();
  });
});
