// @troupe/amqp: the transport port on RabbitMQ through amqplib.
export { AmqpTransport, copyOptions } from './amqp-transport.js';
export type {
  AmqpTransportOptions,
  ConnectionSnapshot,
  ConnectionStatus,
  TopologyHealth,
} from './amqp-transport.js';
export { describeConnectError, lostConnection } from './connect-failure.js';
export type { ConnectFailure, ConnectFailureKind } from './connect-failure.js';
export { connectionChildSpec, connectionWatchMachine } from './connection-child.js';
export type { ConnectionChildOptions } from './connection-child.js';
export { redactUrl, resolveConnection, resolveConnections } from './connection-options.js';
export type {
  AmqpConnectionOptions,
  AmqpTlsOptions,
  ResolvedConnection,
} from './connection-options.js';
export { connectionMachine } from './connection.machine.js';
export type {
  ConnectionEvent,
  ConnectionHandle,
  ConnectionInput,
  EndpointOrder,
} from './connection.machine.js';
// The wire contract's header names, from @troupe/core (kept here for earlier imports).
export { deadLetterHeaders } from '@troupe/core';
export { topologyWatchMachine } from './topology-watch.machine.js';
export type { TopologyWatchInput } from './topology-watch.machine.js';
export {
  conflictError,
  deadQueueName,
  deadQueueOptions,
  declareTopology,
  processorTopology,
  queueArguments,
  retryQueueArguments,
  retryAttemptsHeader,
  retryQueueName,
  retryTier,
  retryTiers,
} from './topology.js';
export type { TopologyOptions } from './topology.js';
