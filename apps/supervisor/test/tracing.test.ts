// Trace export by the standard OTEL_* variables: off unless an OTLP endpoint or the otlp
// exporter is named (and never when the SDK is disabled); when on, a traced publish
// reaches the OTLP/HTTP endpoint as a span of the configured service once flushed.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryTransport } from '@troupe/memory';
import { describe, expect, it } from 'vitest';
import { startTracing, tracingEnabled } from '../src/tracing.js';

describe('tracing from OTEL_* variables', () => {
  it('is off by default and follows the standard switches', async () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_SERVICE_NAME: 'x' })).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe(
      true,
    );
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(
      tracingEnabled({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' }),
    ).toBe(false);
    expect(
      tracingEnabled({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' }),
    ).toBe(false);
    expect(await startTracing({})).toBeUndefined();
  });

  it('exports spans over OTLP/HTTP to the configured endpoint', async () => {
    let received: (request: { url: string; body: string }) => void = () => undefined;
    const request = new Promise<{ url: string; body: string }>((resolve) => (received = resolve));
    const collector = createServer((incoming: IncomingMessage, response) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        received({ url: incoming.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const port = (collector.address() as AddressInfo).port;
    try {
      const tracing = await startTracing({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_SERVICE_NAME: 'troupe-test',
      });
      expect(tracing?.endpoint).toBe(`http://127.0.0.1:${port}/v1/traces`);
      const transport = new MemoryTransport();
      await transport.declare([{ queue: 'q', bindings: [{ exchange: 'x', routingKey: 'k' }] }]);
      await tracing?.tracing.transport(transport).publish('x', 'k', Buffer.from('{}'), {
        messageId: 'm-1',
      });
      await tracing?.shutdown();
      const { url, body } = await request;
      expect(url).toBe('/v1/traces');
      expect(body).toContain('publish x');
      expect(body).toContain('troupe-test');
      await transport.close();
    } finally {
      collector.closeAllConnections();
      await new Promise<void>((resolve) => collector.close(() => resolve()));
    }
  });
});
