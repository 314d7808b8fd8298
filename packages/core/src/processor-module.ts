// Processors as modules an app loads by name: a processor with settings of its own
// declares them as a schema (`defineProcessorFactory`), and the app validates the
// `options` a configuration gives before creating the processor. Also the checks an app
// makes on whatever a module exports, so that a wrong export is named, not run.
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ConfigurationError } from './errors.js';
import type { AnyProcessorDefinition } from './processor.machine.js';

const factoryBrand = 'troupe.processor-factory';

/** A processor that takes options: the app validates them and calls `create`. */
export interface ProcessorFactory<TOptions = unknown> {
  readonly kind: typeof factoryBrand;
  /** The options' schema: zod, valibot, arktype or any Standard Schema. */
  readonly options: StandardSchemaV1<unknown, TOptions>;
  /** Builds the processor (usually with `defineProcessor`) from validated options. */
  readonly create: (options: TOptions) => AnyProcessorDefinition;
}

/**
 * Declares a processor with options of its own. The configuration's `options` for it are
 * validated against `options` (defaults applied), then passed to `create`.
 *
 * @example
 * export const audit = defineProcessorFactory({
 *   options: z.object({ collection: z.string().default('audit') }),
 *   create: ({ collection }) => defineProcessor({ name: 'audit', …, handle: (m) => ({ collection, key: m.id, document: m }) }),
 * });
 */
export function defineProcessorFactory<TSchema extends StandardSchemaV1>(spec: {
  readonly options: TSchema;
  readonly create: (options: StandardSchemaV1.InferOutput<TSchema>) => AnyProcessorDefinition;
}): ProcessorFactory<StandardSchemaV1.InferOutput<TSchema>> {
  if (typeof spec.options?.['~standard']?.validate !== 'function') {
    throw new ConfigurationError('options', 'must be a Standard Schema (zod, valibot, arktype, …)');
  }
  if (typeof spec.create !== 'function') {
    throw new ConfigurationError('create', 'must be a function');
  }
  return { kind: factoryBrand, options: spec.options, create: spec.create };
}

/** True for what {@link defineProcessorFactory} returns. */
export function isProcessorFactory(value: unknown): value is ProcessorFactory {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === factoryBrand &&
    typeof (value as { create?: unknown }).create === 'function'
  );
}

/** True for what `defineProcessor` returns (checked by shape: name, queue, schema, handler). */
export function isProcessorDefinition(value: unknown): value is AnyProcessorDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof AnyProcessorDefinition, unknown>>;
  return (
    typeof candidate.name === 'string' &&
    typeof candidate.queue === 'string' &&
    Array.isArray(candidate.bindings) &&
    typeof candidate.handle === 'function' &&
    // A definition persists per message (`persist`) or per batch (`persistBatch`, the default).
    (typeof candidate.persist === 'function' || typeof candidate.persistBatch === 'function') &&
    typeof candidate.maxBatch === 'number' &&
    typeof candidate.retry === 'object' &&
    typeof (candidate.schema as StandardSchemaV1 | undefined)?.['~standard']?.validate ===
      'function'
  );
}

/**
 * Validates `options` against a factory's schema and creates the processor.
 *
 * @throws ConfigurationError naming `field` (and the option at fault) when the options are invalid
 */
export async function createFromFactory(
  factory: ProcessorFactory,
  options: unknown,
  field: string,
): Promise<AnyProcessorDefinition> {
  const result = await factory.options['~standard'].validate(options ?? {});
  if (result.issues !== undefined) {
    const [issue] = result.issues;
    const path = (issue?.path ?? [])
      .map((segment) => String(typeof segment === 'object' ? segment.key : segment))
      .join('.');
    throw new ConfigurationError(
      path === '' ? field : `${field}.${path}`,
      issue?.message ?? 'invalid',
    );
  }
  return factory.create(result.value);
}
