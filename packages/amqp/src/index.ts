// @troupe/amqp: the transport port on RabbitMQ through amqplib.
export { AmqpTransport, copyOptions } from './amqp-transport.js';
export type { AmqpTransportOptions, ConnectionSnapshot, TopologyHealth } from './amqp-transport.js';
export { connectionChildSpec, connectionWatchMachine } from './connection-child.js';
export type { ConnectionChildOptions } from './connection-child.js';
export { redactUrl, resolveConnection } from './connection-options.js';
export type {
  AmqpConnectionOptions,
  AmqpTlsOptions,
  ResolvedConnection,
} from './connection-options.js';
export { connectionMachine } from './connection.machine.js';
export type { ConnectionEvent, ConnectionHandle, ConnectionInput } from './connection.machine.js';
// The wire contract's header names, from @troupe/core (kept here for earlier imports).
export { deadLetterHeaders } from '@troupe/core';
export { topologyWatchMachine } from './topology-watch.machine.js';
export type { TopologyWatchInput } from './topology-watch.machine.js';
export {
  conflictError,
  deadQueueName,
  declareTopology,
  processorTopology,
  queueArguments,
  retryQueueArguments,
  retryAttemptsHeader,
  retryQueueName,
  retryTier,
} from './topology.js';
export type { TopologyOptions } from './topology.js';
