// Batches, on the in-memory transport: the worker's observer, wrapped, starts a batch span
// linked to the spans of the messages it carries and ends it once they are all settled;
// a batch persist step gives each message its own `persist` span, in error for the
// entries that failed; every observer call still reaches the inner observer.
import { context, propagation, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { defineProcessor, type Delivery, type ProcessorDefinition } from '@troupe/core';
import { MemoryTransport } from '@troupe/memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributes, MessageTracing } from '../src/index.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracing = new MessageTracing({ tracerProvider: provider });

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterAll(() => {
  context.disable();
  propagation.disable();
});

/** Two deliveries taken from a traced in-memory queue, not settled yet. */
async function twoDeliveries(): Promise<{ deliveries: Delivery[]; transport: MemoryTransport }> {
  const transport = new MemoryTransport();
  await transport.declare([{ queue: 'q', bindings: [{ exchange: 'x', routingKey: 'k' }] }]);
  const traced = tracing.transport(transport);
  const deliveries: Delivery[] = [];
  await traced.consume('q', { prefetch: 10 }, (delivery) => deliveries.push(delivery));
  await traced.publish('x', 'k', Buffer.from('{"id":"a"}'), { messageId: 'a' });
  await traced.publish('x', 'k', Buffer.from('{"id":"b"}'), { messageId: 'b' });
  expect(deliveries.map((delivery) => delivery.messageId)).toEqual(['a', 'b']);
  return { deliveries, transport };
}

describe('batches', () => {
  it('links a batch span to its messages and ends it when the last one is settled', async () => {
    exporter.reset();
    const { deliveries, transport } = await twoDeliveries();
    const calls: string[] = [];
    const inner = {
      settled: (outcome: string, _ms: number, id?: string) =>
        calls.push(`settled ${outcome} ${id}`),
      step: () => calls.push('step'),
      retrying: () => calls.push('retrying'),
      batch: (ids: readonly string[]) => calls.push(`batch ${ids.join(',')}`),
    };
    const observer = tracing.observer('orders', inner);
    observer.batch(['a', 'b']);
    for (const delivery of deliveries) {
      delivery.ack();
      observer.settled('acked', 1, delivery.messageId);
      if (delivery.messageId === 'a') {
        expect(exporter.getFinishedSpans().some((span) => span.name === 'batch orders')).toBe(
          false,
        );
      }
    }
    observer.step();
    const spans = exporter.getFinishedSpans();
    const batch = spans.find((span) => span.name === 'batch orders');
    const messages = spans.filter((span) => span.name === 'process q');
    expect(batch?.links.map((link) => link.context.spanId).sort()).toEqual(
      messages.map((span) => span.spanContext().spanId).sort(),
    );
    expect(batch?.attributes[attributes.batchCount]).toBe(2);
    expect(calls).toEqual(['batch a,b', 'settled acked a', 'settled acked b', 'step']);
    await transport.close();
  });

  it('gives each message of a batch persist step its own persist span, failed ones in error', async () => {
    exporter.reset();
    const { deliveries, transport } = await twoDeliveries();
    const definition = defineProcessor({
      name: 'orders',
      queue: 'q',
      bindings: [],
      schema: z.object({ id: z.string() }),
      handle: (order) => ({ collection: 'orders', key: order.id, document: order }),
    });
    const withBatch = {
      ...definition,
      persistBatch: (entries: readonly { delivery: { messageId: string; attempt: number } }[]) =>
        Promise.resolve(
          entries.map((entry) =>
            entry.delivery.messageId === 'b'
              ? { ok: false, error: new Error('conflict') }
              : { ok: true },
          ),
        ),
    } as unknown as ProcessorDefinition;
    const traced = tracing.processor(withBatch) as unknown as {
      persistBatch: (entries: unknown[], context: unknown) => Promise<unknown>;
    };
    const outcomes = await traced.persistBatch(
      deliveries.map((delivery) => ({
        result: {},
        delivery: { messageId: delivery.messageId, attempt: 1 },
      })),
      {},
    );
    expect(outcomes).toEqual([{ ok: true }, { ok: false, error: new Error('conflict') }]);
    for (const delivery of deliveries) delivery.ack();
    const spans = exporter.getFinishedSpans();
    const parentOf = (id: string) =>
      spans
        .find((span) => span.name === 'process q' && span.attributes[attributes.messageId] === id)
        ?.spanContext().spanId;
    const persists = spans.filter((span) => span.name === 'persist');
    expect(
      persists.map((span) => [
        span.attributes[attributes.messageId],
        span.parentSpanContext?.spanId,
        span.status.code,
      ]),
    ).toEqual([
      ['a', parentOf('a'), SpanStatusCode.UNSET],
      ['b', parentOf('b'), SpanStatusCode.ERROR],
    ]);
    await transport.close();
  });
});
