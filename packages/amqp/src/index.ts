// @troupe/amqp: the transport port on RabbitMQ through amqplib.
export { AmqpTransport } from './amqp-transport.js';
export type {
  AmqpTransportOptions,
  ConnectionSnapshot,
  ConnectionStatus,
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
export { deadLetterHeaders, retryAttemptsHeader } from './internal/consumer.js';
export {
  deadQueueName,
  deadQueueOptions,
  declareTopology,
  processorTopology,
  queueArguments,
  retryQueueArguments,
  retryQueueName,
  retryTier,
} from './topology.js';
export type { TopologyOptions } from './topology.js';
