// Defining a processor: one call with a name, a queue, a schema, a handler, an
// optional persist step and a retry policy. Types flow from the schema to the
// handler and from the handler's result to the persist step.
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Logger } from 'pino';
import type { Batcher } from './batcher.machine.js';
import { ConfigurationError } from './errors.js';
import { resolveRetryPolicy, type RetryOptions, type RetryPolicy } from './retry.js';
import type { Store, StoreWrite } from './store.js';
import type { Binding } from './transport.js';

/** What a handler and a persist step know of the delivery they work on. */
export interface DeliveryInfo {
  readonly messageId: string;
  readonly correlationId: string | undefined;
  readonly routingKey: string;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly redelivered: boolean;
  /** 1 for the first attempt. */
  readonly attempt: number;
}

/** The second argument of a handler. */
export interface HandlerContext {
  /** Aborted on timeout, cancel and shutdown: pass it to every I/O call. */
  readonly signal: AbortSignal;
  /** A child logger bound to the actor, processor, message id and attempt. */
  readonly log: Logger;
  readonly store: Store;
  readonly delivery: DeliveryInfo;
}

/** The persist step's context: the same as the handler's. */
export type PersistContext = HandlerContext;

/** Results the default persist step knows how to store. */
export type PersistableResult = StoreWrite | readonly StoreWrite[] | undefined | void;

/** Options shared by both forms of {@link defineProcessor}. */
interface ProcessorSpecBase<TSchema extends StandardSchemaV1, TResult> {
  /** Unique processor name; used in logs, metrics, headers and actor ids. */
  readonly name: string;
  /** The queue it consumes. */
  readonly queue: string;
  /** Bindings of the queue to exchanges. */
  readonly bindings: readonly Binding[];
  /** The message schema: zod, valibot, arktype or any Standard Schema. */
  readonly schema: TSchema;
  /** Does the work. Throw to fail: retryable errors are retried, others dead-lettered. */
  readonly handle: (
    message: StandardSchemaV1.InferOutput<TSchema>,
    context: HandlerContext,
  ) => TResult | Promise<TResult>;
  readonly retry?: RetryOptions;
  /** Handler timeout; its signal is aborted when it passes. @default 30000 */
  readonly timeoutMs?: number;
  /** Workers in the pool, and so the prefetch. @default 4 */
  readonly concurrency?: number;
  /** Share of the scheduler's permits when a global cap is set. @default 1 */
  readonly weight?: number;
  /** @default 'classic' */
  readonly queueType?: 'classic' | 'quorum';
  /** @default false */
  readonly singleActiveConsumer?: boolean;
}

/** A processor whose results are written in batches (see {@link createBatcher}). */
export interface ProcessorSpecWithBatch<
  TSchema extends StandardSchemaV1,
  TResult,
> extends ProcessorSpecBase<TSchema, TResult> {
  /** Writes results together; each delivery is acked once its batch committed. */
  readonly batch: Batcher<TResult>;
  readonly persist?: undefined;
}

/** A processor with an explicit persist step. */
export interface ProcessorSpecWithPersist<
  TSchema extends StandardSchemaV1,
  TResult,
> extends ProcessorSpecBase<TSchema, TResult> {
  /** Stores the handler's result. Retried alone (the handler is not re-run). */
  readonly persist: (result: TResult, context: PersistContext) => void | Promise<void>;
}

/** A processor whose handler returns the writes to make (the default persist step). */
export interface ProcessorSpecDefaultPersist<
  TSchema extends StandardSchemaV1,
  TResult extends PersistableResult,
> extends ProcessorSpecBase<TSchema, TResult> {
  readonly persist?: undefined;
}

/** A resolved processor: defaults filled in and validated. */
export interface ProcessorDefinition<TMessage = unknown, TResult = unknown> {
  readonly name: string;
  readonly queue: string;
  readonly bindings: readonly Binding[];
  readonly schema: StandardSchemaV1<unknown, TMessage>;
  readonly handle: (message: TMessage, context: HandlerContext) => TResult | Promise<TResult>;
  readonly persist: (result: TResult, context: PersistContext) => void | Promise<void>;
  /** The batcher behind `persist`, when results are written in batches. */
  readonly batch: Batcher<TResult> | undefined;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly weight: number;
  readonly queueType: 'classic' | 'quorum';
  readonly singleActiveConsumer: boolean;
}

/** The longest delay a timer can hold (2³¹−1 ms); longer ones fire at once in Node. */
export const maxTimerDelayMs = 2_147_483_647;

/** Stores what a handler returned: one write, several, or nothing. */
export async function persistWrites(result: PersistableResult, store: Store): Promise<void> {
  if (result === undefined) return;
  const writes: readonly StoreWrite[] = Array.isArray(result) ? result : [result as StoreWrite];
  for (const write of writes) {
    await store.upsert(
      write.collection,
      write.key,
      write.document,
      write.ifNewer === undefined ? undefined : { ifNewer: write.ifNewer },
    );
  }
}

function positiveInteger(field: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ConfigurationError(
      field,
      `must be an integer from 1 to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Defines a processor. Validates the options and fills the defaults in.
 *
 * @throws ConfigurationError naming the field at fault
 * @example
 * export const companyUpdated = defineProcessor({
 *   name: 'company-updated',
 *   queue: 'company.updated',
 *   bindings: [{ exchange: 'companies', routingKey: 'company.updated' }],
 *   schema: z.object({ id: z.string(), name: z.string(), version: z.number() }),
 *   handle: (company) => ({ collection: 'companies', key: company.id, document: company, ifNewer: 'version' }),
 * });
 */
export function defineProcessor<TSchema extends StandardSchemaV1, TResult>(
  spec: ProcessorSpecWithPersist<TSchema, TResult>,
): ProcessorDefinition<StandardSchemaV1.InferOutput<TSchema>, TResult>;
export function defineProcessor<TSchema extends StandardSchemaV1, TResult>(
  spec: ProcessorSpecWithBatch<TSchema, TResult>,
): ProcessorDefinition<StandardSchemaV1.InferOutput<TSchema>, TResult>;
export function defineProcessor<
  TSchema extends StandardSchemaV1,
  TResult extends PersistableResult,
>(
  spec: ProcessorSpecDefaultPersist<TSchema, TResult>,
): ProcessorDefinition<StandardSchemaV1.InferOutput<TSchema>, TResult>;
export function defineProcessor<TSchema extends StandardSchemaV1, TResult>(
  spec: ProcessorSpecBase<TSchema, TResult> & {
    readonly persist?:
      ((result: TResult, context: PersistContext) => void | Promise<void>) | undefined;
    readonly batch?: Batcher<TResult> | undefined;
  },
): ProcessorDefinition<StandardSchemaV1.InferOutput<TSchema>, TResult> {
  const name = spec.name;
  const field = `processors.${typeof name === 'string' && name !== '' ? name : '?'}`;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/i.test(name)) {
    throw new ConfigurationError(
      `${field}.name`,
      'must be a non-empty name of letters, digits, ".", "_" or "-"',
    );
  }
  if (typeof spec.queue !== 'string' || spec.queue === '') {
    throw new ConfigurationError(`${field}.queue`, 'must be a non-empty string');
  }
  if (typeof spec.schema?.['~standard']?.validate !== 'function') {
    throw new ConfigurationError(
      `${field}.schema`,
      'must be a Standard Schema (zod, valibot, arktype, …)',
    );
  }
  if (typeof spec.handle !== 'function') {
    throw new ConfigurationError(`${field}.handle`, 'must be a function');
  }
  const { batch } = spec;
  if (batch !== undefined && spec.persist !== undefined) {
    throw new ConfigurationError(`${field}.persist`, 'give either persist or batch, not both');
  }
  const persist =
    batch?.persist ??
    spec.persist ??
    ((result: TResult, context: PersistContext) =>
      persistWrites(result as PersistableResult, context.store));
  const concurrency = positiveInteger(`${field}.concurrency`, spec.concurrency ?? 4, 10_000);
  if (batch !== undefined && concurrency < batch.size) {
    // Each worker holds one delivery until its batch commits: a batch never fills otherwise.
    throw new ConfigurationError(
      `${field}.concurrency`,
      `must be at least batch.size (${batch.size}): each worker holds its delivery until the batch commits`,
    );
  }
  return {
    name,
    queue: spec.queue,
    bindings: spec.bindings,
    schema: spec.schema,
    handle: spec.handle,
    persist,
    batch,
    retry: resolveRetryPolicy(spec.retry, `${field}.retry`),
    timeoutMs: positiveInteger(`${field}.timeoutMs`, spec.timeoutMs ?? 30_000, maxTimerDelayMs),
    concurrency,
    weight: positiveInteger(`${field}.weight`, spec.weight ?? 1, 1_000),
    queueType: spec.queueType ?? 'classic',
    singleActiveConsumer: spec.singleActiveConsumer ?? false,
  };
}
