// @troupe/core: the public API. Everything exported is listed by name.
export { backoffDelay } from './backoff.js';
export type { Backoff, RandomSource } from './backoff.js';
export { resolveChildSpec } from './child-spec.js';
export type {
  ChildKind,
  ChildSpec,
  ChildStart,
  ResolvedChildSpec,
  Shutdown,
} from './child-spec.js';
export { consumerMachine } from './consumer.machine.js';
export type { ConsumerInput, ConsumerTag } from './consumer.machine.js';
export { decodeDelivery } from './decode.js';
export { Dispatcher } from './dispatcher.js';
export {
  CancelledError,
  ConfigurationError,
  errorCodes,
  HandlerTimeoutError,
  InvalidMessageError,
  PermanentError,
  toTroupeError,
  TransientError,
  TroupeError,
} from './errors.js';
export type { ErrorCode } from './errors.js';
export { createPool, poolWorkers, scalePool } from './pool.js';
export type { Pool, PoolOptions } from './pool.js';
export {
  applyProcessorOverrides,
  defaultMaxMessageBytes,
  defineProcessor,
  maxBatchLimit,
  maxTimerDelayMs,
  persistWrites,
  persistWritesBatch,
  writesOf,
} from './processor.js';
export type {
  BatchMessage,
  BatchStepContext,
  DeliveryInfo,
  HandlerContext,
  MessageOutcome,
  PersistableResult,
  PersistContext,
  PersistEntry,
  PersistOutcome,
  ProcessorDefinition,
  ProcessorOverrides,
  ProcessorSpecDefaultPersist,
  ProcessorSpecWithPersist,
  ProcessorSpecWithPersistBatch,
} from './processor.js';
export {
  createFromFactory,
  defineProcessorFactory,
  isProcessorDefinition,
  isProcessorFactory,
} from './processor-module.js';
export type { ProcessorFactory } from './processor-module.js';
export { processorMachine } from './processor.machine.js';
export type {
  AnyProcessorDefinition,
  BatchReceived,
  ProcessorContext,
  ProcessorEvent,
  ProcessorInput,
  ProcessorOutput,
  ProcessorTag,
  WorkerDispatcher,
  WorkerHandle,
} from './processor.machine.js';
export type { ProcessorObserver, SettlementOutcome, StepKind } from './observer.js';
export { redactCredentials, redactedMessage, redactedPassword } from './redact.js';
export { planRestart, shouldRestart } from './restart-plan.js';
export type { ExitKind, RestartPlan, RestartStrategy, RestartType } from './restart-plan.js';
export { defaultRetryPolicy, resolveRetryPolicy } from './retry.js';
export type { ExhaustedAction, RetryOptions, RetryPolicy } from './retry.js';
export { InspectionHub, startSupervisor } from './runtime.js';
export type { ActorClock, InspectionListener, StartOptions, SupervisorRuntime } from './runtime.js';
export { Scheduler } from './scheduler.js';
export type {
  PermitRequest,
  SchedulerLane,
  SchedulerOptions,
  SchedulerStats,
} from './scheduler.js';
export { decideFailure } from './settlement.js';
export type { FailureDecision } from './settlement.js';
export { isValidKey, validCollection, validKey, writeEach } from './store.js';
export type {
  BulkWriteResult,
  KeyedDocument,
  Store,
  StoreHealth,
  StoreWriteStats,
  StoredDocument,
  StoreWrite,
  UpsertOptions,
  WriteOptions,
  WriteOutcome,
  WriteResult,
} from './store.js';
export {
  exitKindOf,
  isSupervisorReady,
  supervisorChild,
  supervisorMachine,
} from './supervisor.machine.js';
export type {
  AutoShutdown,
  ChildAnswer,
  ChildRecord,
  ChildStatus,
  Clock,
  Intensity,
  Reply,
  RestartBackoff,
  SupervisorContext,
  SupervisorEvent,
  SupervisorOptions,
  SupervisorOutput,
  SupervisorRequest,
} from './supervisor.machine.js';
export {
  cancelChild,
  deleteChild,
  restartChild,
  startChild,
  terminateChild,
} from './supervisor/requests.js';
export type { SupervisorRef } from './supervisor/requests.js';
export {
  countChildren,
  supervisorView,
  supervisorViewOf,
  whichChildren,
} from './supervisor/view.js';
export type {
  ChildCounts,
  SupervisorChildView,
  SupervisorPhase,
  SupervisorSnapshotLike,
  SupervisorView,
  WhichChild,
} from './supervisor/view.js';
export { settleAll, settleOne } from './transport.js';
export type {
  Acknowledger,
  Binding,
  ConsumeOptions,
  DeadLetterInfo,
  Delivery,
  PublishOptions,
  QueueTopology,
  Settlement,
  Subscription,
  Transport,
} from './transport.js';
export {
  brokerHeaders,
  cameBackFromRetry,
  copyHeaders,
  deadLetterHeaders,
  headerProblem,
  isDroppedFromCopies,
  maxHeaderDepth,
  nestingDepth,
  readDelivery,
  retryQueuePrefix,
  stateName,
  troupeHeaders,
} from './wire.js';
export type { DeliveryFacts, DeliveryReading } from './wire.js';
