// OpenTelemetry export for the app, off by default and switched on by the standard
// `OTEL_*` variables: an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or
// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `OTEL_TRACES_EXPORTER=otlp` turns it on;
// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keeps it off. Spans go over
// OTLP/HTTP in batches; the exporter reads its endpoint, headers and timeout from the
// same variables, the resource its `service.name` from `OTEL_SERVICE_NAME` (default
// `troupe`) and `OTEL_RESOURCE_ATTRIBUTES`. The SDK and the exporter are loaded only when
// export is on: about 200 ms of CPU at every start otherwise, for nothing.
import { MessageTracing } from '@troupe/otel';

/** Tracing as the app runs it: the wrappers to use and the exporter to flush at exit. */
export interface AppTracing {
  readonly tracing: MessageTracing;
  /** Where spans go (for the start-up log line). */
  readonly endpoint: string;
  /** Flushes the spans not yet exported and stops the provider. */
  shutdown(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Whether the `OTEL_*` variables ask for trace export. */
export function tracingEnabled(env: Env): boolean {
  if ((env['OTEL_SDK_DISABLED'] ?? '').trim().toLowerCase() === 'true') return false;
  const exporters = (env['OTEL_TRACES_EXPORTER'] ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  if (exporters.includes('none')) return false;
  return (
    exporters.includes('otlp') ||
    (env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '') !== '' ||
    (env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? '') !== ''
  );
}

/**
 * Registers the OpenTelemetry SDK (global tracer provider, AsyncLocalStorage context,
 * W3C trace-context propagation) with an OTLP/HTTP exporter, when `env` asks for it;
 * otherwise returns undefined and registers nothing, so tracing stays a no-op.
 * `inProcess`: the app runs the embedded broker (`messaging.system` is `troupe`).
 */
export async function startTracing(
  env: Env,
  options: { readonly inProcess?: boolean } = {},
): Promise<AppTracing | undefined> {
  if (!tracingEnabled(env)) return undefined;
  const [
    { OTLPTraceExporter },
    { defaultResource, detectResources, envDetector, resourceFromAttributes },
    { BatchSpanProcessor },
    { NodeTracerProvider },
  ] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/sdk-trace-node'),
  ]);
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME'] ?? 'troupe' }))
    .merge(detectResources({ detectors: [envDetector] }));
  const endpoint =
    env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ??
    `${(env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? 'http://localhost:4318').replace(/\/+$/, '')}/v1/traces`;
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }))],
  });
  provider.register();
  return {
    // The embedded broker is not RabbitMQ: its spans say so.
    tracing: new MessageTracing(options.inProcess === true ? { system: 'troupe' } : {}),
    endpoint: endpoint.replace(/\/\/[^@/]*@/, '//***@'),
    shutdown: () => provider.shutdown(),
  };
}
