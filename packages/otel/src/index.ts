// @troupe/otel: the public API. Everything exported is listed by name.
export { attributes, events, MessageTracing } from './message-tracing.js';
export type { MessageTracingOptions } from './message-tracing.js';
