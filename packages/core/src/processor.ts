// Defining a processor: one call with a name, a queue, a schema, a handler, an
// optional persist step, a batch size and a retry policy. Types flow from the schema
// to the handler and from the handler's result to the persist step. Configuration
// overrides go through the same checks (applyProcessorOverrides).
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Logger } from 'pino';
import { ConfigurationError, PermanentError } from './errors.js';
import {
  defaultRetryPolicy,
  resolveRetryPolicy,
  type RetryOptions,
  type RetryPolicy,
} from './retry.js';
import type { Store, StoreWrite, WriteOptions } from './store.js';
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

/** A message of a batch, as {@link ProcessorSpecBase.handleBatch} sees it. */
export interface BatchMessage<TMessage> {
  readonly message: TMessage;
  readonly delivery: DeliveryInfo;
}

/**
 * What became of one message of a batch: data, not control flow.
 * - `done`: handled; `result` goes to the persist step.
 * - `invalid`: the message is wrong; dead-lettered with `reason`, never retried.
 * - `transient`: retried (with backoff) until the retry policy is spent.
 * - `permanent`: dead-lettered with the error's message.
 */
export type MessageOutcome<TResult> =
  | { readonly kind: 'done'; readonly result: TResult }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'transient'; readonly error: unknown }
  | { readonly kind: 'permanent'; readonly error: unknown };

/** The context of a batch step ({@link ProcessorSpecBase.handleBatch}, `persistBatch`). */
export interface BatchStepContext {
  /** Aborted on timeout, cancel and shutdown: pass it to every I/O call. */
  readonly signal: AbortSignal;
  /** A child logger bound to the actor and processor. */
  readonly log: Logger;
  readonly store: Store;
}

/** One handled message given to `persistBatch`. */
export interface PersistEntry<TResult> {
  readonly result: TResult;
  readonly delivery: DeliveryInfo;
}

/** What `persistBatch` says of one entry: stored, or failed with an error (classified). */
export type PersistOutcome =
  { readonly ok: true } | { readonly ok: false; readonly error: unknown };

/** Options shared by every form of {@link defineProcessor}. */
interface ProcessorSpecBase<TSchema extends StandardSchemaV1, TResult> {
  /** Unique processor name; used in logs, metrics, headers and actor ids. */
  readonly name: string;
  /** The queue it consumes. */
  readonly queue: string;
  /** Bindings of the queue to exchanges. */
  readonly bindings: readonly Binding[];
  /** The message schema: zod, valibot, arktype or any Standard Schema. */
  readonly schema: TSchema;
  /**
   * Does the work of one message; runs once per message of a batch, one after the
   * other. Throw to fail: retryable errors are retried, others dead-lettered.
   */
  readonly handle: (
    message: StandardSchemaV1.InferOutput<TSchema>,
    context: HandlerContext,
  ) => TResult | Promise<TResult>;
  /**
   * Does the work of a whole batch at once, instead of `handle` (which is then only its
   * type's source: it is not called). Returns one outcome per message, in order. Messages
   * that fail to decode are dead-lettered before and are not passed.
   */
  readonly handleBatch?: (
    messages: readonly BatchMessage<StandardSchemaV1.InferOutput<TSchema>>[],
    context: BatchStepContext,
  ) => Promise<readonly MessageOutcome<TResult>[]> | readonly MessageOutcome<TResult>[];
  readonly retry?: RetryOptions;
  /** Timeout of each message's handler; its signal is aborted when it passes. @default 30000 */
  readonly timeoutMs?: number;
  /**
   * Timeout of a batch's persist step; its signal is aborted when it passes and the
   * batch is retried as a transient failure. @default timeoutMs
   */
  readonly persistTimeoutMs?: number;
  /** Workers in the pool. @default 4 */
  readonly concurrency?: number;
  /**
   * Deliveries a worker takes at once, as one batch: it takes those already waiting,
   * up to this many, and never waits for more unless `batchTimeoutMs` is set. The
   * broker's prefetch is `concurrency × maxBatch`. @default 100
   */
  readonly maxBatch?: number;
  /**
   * How long a worker waits for its batch to fill to `maxBatch` before it starts.
   * Unset (the default), it never waits: at low load a batch is one message.
   */
  readonly batchTimeoutMs?: number;
  /**
   * Messages larger than this are dead-lettered unparsed, with their size as the
   * reason. @default 16777216 (16 MiB)
   */
  readonly maxMessageBytes?: number;
  /** Share of the scheduler's permits when a global cap is set. @default 1 */
  readonly weight?: number;
  /** @default 'classic' */
  readonly queueType?: 'classic' | 'quorum';
  /** @default false */
  readonly singleActiveConsumer?: boolean;
}

/** A processor with an explicit persist step, run once per handled message. */
export interface ProcessorSpecWithPersist<
  TSchema extends StandardSchemaV1,
  TResult,
> extends ProcessorSpecBase<TSchema, TResult> {
  /** Stores the handler's result. Retried alone (the handler is not re-run). */
  readonly persist: (result: TResult, context: PersistContext) => void | Promise<void>;
  readonly persistBatch?: undefined;
}

/** A processor whose batches are stored by one call of its own. */
export interface ProcessorSpecWithPersistBatch<
  TSchema extends StandardSchemaV1,
  TResult,
> extends ProcessorSpecBase<TSchema, TResult> {
  /**
   * Stores the results of a batch; resolves with one outcome per entry, in order. A
   * rejection fails the whole batch (a TransientError retries it). Retried without
   * re-running the handler.
   */
  readonly persistBatch: (
    entries: readonly PersistEntry<TResult>[],
    context: BatchStepContext,
  ) => Promise<readonly PersistOutcome[]>;
  readonly persist?: undefined;
}

/**
 * A processor whose handler returns the writes to make (the default persist step: the
 * writes of a whole batch go to the store in one `bulkWrite`).
 */
export interface ProcessorSpecDefaultPersist<
  TSchema extends StandardSchemaV1,
  TResult extends PersistableResult,
> extends ProcessorSpecBase<TSchema, TResult> {
  readonly persist?: undefined;
  readonly persistBatch?: undefined;
}

/** A resolved processor: defaults filled in and validated. */
export interface ProcessorDefinition<TMessage = unknown, TResult = unknown> {
  readonly name: string;
  readonly queue: string;
  readonly bindings: readonly Binding[];
  readonly schema: StandardSchemaV1<unknown, TMessage>;
  readonly handle: (message: TMessage, context: HandlerContext) => TResult | Promise<TResult>;
  readonly handleBatch:
    | ((
        messages: readonly BatchMessage<TMessage>[],
        context: BatchStepContext,
      ) => Promise<readonly MessageOutcome<TResult>[]> | readonly MessageOutcome<TResult>[])
    | undefined;
  /** The per-message persist step, when the processor has one. */
  readonly persist:
    ((result: TResult, context: PersistContext) => void | Promise<void>) | undefined;
  /** The batch persist step: the processor's own, or the default one (one `bulkWrite`). */
  readonly persistBatch:
    | ((
        entries: readonly PersistEntry<TResult>[],
        context: BatchStepContext,
      ) => Promise<readonly PersistOutcome[]>)
    | undefined;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  readonly persistTimeoutMs: number;
  readonly concurrency: number;
  readonly maxBatch: number;
  readonly batchTimeoutMs: number | undefined;
  readonly maxMessageBytes: number;
  readonly weight: number;
  readonly queueType: 'classic' | 'quorum';
  readonly singleActiveConsumer: boolean;
}

/** The longest delay a timer can hold (2³¹−1 ms); longer ones fire at once in Node. */
export const maxTimerDelayMs = 2_147_483_647;

/** Stores what a handler returned: one write, several, or nothing. */
export async function persistWrites(
  result: PersistableResult,
  store: Store,
  options?: WriteOptions,
): Promise<void> {
  const writes = writesOf(result);
  if (writes.length === 0) return;
  const outcomes = await store.bulkWrite(writes, options);
  for (const outcome of outcomes) if (!outcome.ok) throw outcome.error;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return typeof value;
  const keys = Object.keys(value).slice(0, 5);
  return `an object with keys [${keys.join(', ')}]`;
}

function isStoreWrite(value: unknown): value is StoreWrite {
  if (typeof value !== 'object' || value === null) return false;
  const write = value as Partial<StoreWrite>;
  return (
    typeof write.collection === 'string' &&
    typeof write.key === 'string' &&
    typeof write.document === 'object' &&
    write.document !== null &&
    (write.ifNewer === undefined || typeof write.ifNewer === 'string')
  );
}

/**
 * The writes a handler's result asks the default persist step for.
 *
 * @throws PermanentError naming what the handler returned when it is not a store write,
 *   an array of them, or undefined
 */
export function writesOf(result: unknown): readonly StoreWrite[] {
  if (result === undefined || result === null) return [];
  if (Array.isArray(result)) {
    result.forEach((write: unknown, index) => {
      if (!isStoreWrite(write)) throw wrongShape(write, `item ${index} of the array`);
    });
    return result as readonly StoreWrite[];
  }
  if (!isStoreWrite(result)) throw wrongShape(result, 'the result');
  return [result];
}

function wrongShape(value: unknown, what: string): PermanentError {
  return new PermanentError(
    `handler result is not a store write: ${what} is ${describeValue(value)}; the default ` +
      'persist step expects { collection, key, document, ifNewer? }, an array of them, or ' +
      'undefined (give the processor a persist step to store anything else)',
  );
}

/** One outcome for every entry stored: outcomes are read, never changed. */
const stored: PersistOutcome = Object.freeze({ ok: true });

/** The default batch persist step: every write of the batch in one `bulkWrite`. */
export function persistWritesBatch(
  entries: readonly PersistEntry<unknown>[],
  context: BatchStepContext,
): Promise<readonly PersistOutcome[]> {
  // Whatever the step throws arrives as a rejection, as from an async function.
  return new Promise((resolve) => resolve(writeBatch(entries, context)));
}

/**
 * The default batch persist step as the worker runs it: synchronous when the batch has
 * nothing to write (no store call, no promise, so the worker settles the batch in the
 * same step as its handlers), one `bulkWrite` otherwise.
 *
 * @internal
 */
export function writeBatch(
  entries: readonly { readonly result: unknown }[],
  context: BatchStepContext,
): readonly PersistOutcome[] | Promise<readonly PersistOutcome[]> {
  const outcomes: PersistOutcome[] = [];
  let writes: StoreWrite[] | undefined;
  // Which writes belong to which entry, three numbers an entry: entry, first, end
  // (flat, so a message costs no array of its own).
  let spans: number[] | undefined;
  for (let index = 0; index < entries.length; index += 1) {
    const result = (entries[index] as { readonly result: unknown }).result;
    if (result === undefined || result === null) {
      outcomes.push(stored);
      continue;
    }
    writes ??= [];
    spans ??= [];
    const first = writes.length;
    if (!Array.isArray(result) && isStoreWrite(result)) {
      // One write, the usual case: no list made for it.
      writes.push(result);
    } else {
      let found: readonly StoreWrite[];
      try {
        found = writesOf(result);
      } catch (error) {
        outcomes.push({ ok: false, error });
        continue;
      }
      for (const write of found) writes.push(write);
    }
    outcomes.push(stored);
    if (writes.length > first) spans.push(index, first, writes.length);
  }
  if (writes === undefined || spans === undefined || writes.length === 0) return outcomes;
  const byEntry = spans;
  return context.store.bulkWrite(writes, { signal: context.signal }).then((results) => {
    for (let span = 0; span < byEntry.length; span += 3) {
      const index = byEntry[span] as number;
      const end = byEntry[span + 2] as number;
      for (let i = byEntry[span + 1] as number; i < end; i += 1) {
        const outcome = results[i];
        if (outcome !== undefined && !outcome.ok) {
          outcomes[index] = { ok: false, error: outcome.error };
          break;
        }
      }
    }
    return outcomes;
  });
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

/** 16 MiB: the default {@link ProcessorDefinition.maxMessageBytes}. */
export const defaultMaxMessageBytes = 16 * 1024 * 1024;

/** The largest batch a worker may take. */
export const maxBatchLimit = 10_000;

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
  spec: ProcessorSpecWithPersistBatch<TSchema, TResult>,
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
    readonly persistBatch?:
      | ((
          entries: readonly PersistEntry<TResult>[],
          context: BatchStepContext,
        ) => Promise<readonly PersistOutcome[]>)
      | undefined;
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
  if (spec.handleBatch !== undefined && typeof spec.handleBatch !== 'function') {
    throw new ConfigurationError(`${field}.handleBatch`, 'must be a function');
  }
  if (spec.persist !== undefined && spec.persistBatch !== undefined) {
    throw new ConfigurationError(
      `${field}.persist`,
      'give either persist or persistBatch, not both',
    );
  }
  const persistBatch =
    spec.persist !== undefined ? undefined : (spec.persistBatch ?? persistWritesBatch);
  const definition: ProcessorDefinition<StandardSchemaV1.InferOutput<TSchema>, TResult> = {
    name,
    queue: spec.queue,
    bindings: spec.bindings,
    schema: spec.schema,
    handle: spec.handle,
    handleBatch: spec.handleBatch,
    persist: spec.persist,
    persistBatch,
    retry: defaultRetryPolicy,
    timeoutMs: 30_000,
    persistTimeoutMs: 30_000,
    concurrency: 4,
    maxBatch: 100,
    batchTimeoutMs: undefined,
    maxMessageBytes: defaultMaxMessageBytes,
    weight: 1,
    queueType: spec.queueType ?? 'classic',
    singleActiveConsumer: spec.singleActiveConsumer ?? false,
  };
  return applyProcessorOverrides(definition, spec);
}

/**
 * The settings of a processor that configuration may override (`troupe.config.json`'s
 * `processors.<name>`): the same fields, with the same checks, as {@link defineProcessor}.
 */
export interface ProcessorOverrides {
  readonly concurrency?: number | undefined;
  readonly maxBatch?: number | undefined;
  readonly batchTimeoutMs?: number | undefined;
  readonly timeoutMs?: number | undefined;
  readonly persistTimeoutMs?: number | undefined;
  readonly maxMessageBytes?: number | undefined;
  readonly weight?: number | undefined;
  readonly queueType?: 'classic' | 'quorum' | undefined;
  readonly retry?: RetryOptions | undefined;
}

/**
 * Applies configuration overrides to a defined processor, through the checks of
 * {@link defineProcessor}: a value it would refuse is refused here too. Fields left
 * out keep the definition's value; `retry` is merged into the definition's policy.
 *
 * @throws ConfigurationError naming the field at fault (`processors.<name>.<field>`)
 */
export function applyProcessorOverrides<TMessage, TResult>(
  definition: ProcessorDefinition<TMessage, TResult>,
  overrides: ProcessorOverrides,
): ProcessorDefinition<TMessage, TResult> {
  const field = `processors.${definition.name}`;
  const timeoutMs = positiveInteger(
    `${field}.timeoutMs`,
    overrides.timeoutMs ?? definition.timeoutMs,
    maxTimerDelayMs,
  );
  const batchTimeoutMs = overrides.batchTimeoutMs ?? definition.batchTimeoutMs;
  return {
    ...definition,
    retry: resolveRetryPolicy(
      overrides.retry === undefined
        ? definition.retry
        : { ...definition.retry, ...overrides.retry },
      `${field}.retry`,
    ),
    timeoutMs,
    persistTimeoutMs: positiveInteger(
      `${field}.persistTimeoutMs`,
      overrides.persistTimeoutMs ??
        (overrides.timeoutMs !== undefined && definition.persistTimeoutMs === definition.timeoutMs
          ? timeoutMs
          : definition.persistTimeoutMs),
      maxTimerDelayMs,
    ),
    concurrency: positiveInteger(
      `${field}.concurrency`,
      overrides.concurrency ?? definition.concurrency,
      10_000,
    ),
    maxBatch: positiveInteger(
      `${field}.maxBatch`,
      overrides.maxBatch ?? definition.maxBatch,
      maxBatchLimit,
    ),
    batchTimeoutMs:
      batchTimeoutMs === undefined
        ? undefined
        : positiveInteger(`${field}.batchTimeoutMs`, batchTimeoutMs, maxTimerDelayMs),
    maxMessageBytes: positiveInteger(
      `${field}.maxMessageBytes`,
      overrides.maxMessageBytes ?? definition.maxMessageBytes,
    ),
    weight: positiveInteger(`${field}.weight`, overrides.weight ?? definition.weight, 1_000),
    queueType: queueTypeOf(`${field}.queueType`, overrides.queueType ?? definition.queueType),
  };
}

function queueTypeOf(field: string, value: unknown): 'classic' | 'quorum' {
  if (value === 'classic' || value === 'quorum') return value;
  throw new ConfigurationError(
    field,
    `must be 'classic' or 'quorum', got ${JSON.stringify(value)}`,
  );
}
