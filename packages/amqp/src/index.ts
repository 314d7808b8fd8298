// @troupe/amqp: the transport port on RabbitMQ through amqplib.
export { AmqpTransport } from './amqp-transport.js';
export type { AmqpTransportOptions, ConnectionSnapshot } from './amqp-transport.js';
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
export { copyOptions } from './amqp-transport.js';
/** Header names of a dead letter's metadata (the wire contract's, from @troupe/core). */
export { deadLetterHeaders } from '@troupe/core';
/** Header a delayed retry writes with the attempts made so far. */
export const retryAttemptsHeader = 'x-troupe-retry-attempts';
export {
  deadQueueName,
  declareTopology,
  processorTopology,
  queueArguments,
  retryQueueArguments,
  retryQueueName,
  retryTier,
} from './topology.js';
export type { TopologyOptions } from './topology.js';
