// The processors the configuration names, loaded by module specifier, and their
// configuration overrides. A team adds its processor package (a dependency of the
// project that holds troupe.config.json) and an entry under `processors`; the app itself
// knows no processor. Every load error names the processor, the module and the export.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  applyProcessorOverrides,
  ConfigurationError,
  createFromFactory,
  isProcessorDefinition,
  isProcessorFactory,
  type AnyProcessorDefinition,
  type QueueTopology,
  type RetryOptions,
} from '@troupe/core';
import type { Config, ProcessorEntry } from './config.js';

/**
 * A processor's module cannot be used: not found, failing to load, exporting no
 * processor, or an invalid definition. A code or packaging problem, not a configuration
 * field; the app exits with 2 on it, and the message is one line.
 */
export class ProcessorLoadError extends Error {
  override readonly name = 'ProcessorLoadError';
  readonly code = 'PROCESSOR_LOAD';
  constructor(
    readonly processor: string,
    readonly module: string,
    readonly exportName: string | undefined,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(
      `processor ${processor}: module ${module}${exportName === undefined ? '' : `, export ${exportName}`}: ${problem}`,
      options,
    );
  }
}

/** A ConfigurationError, from this copy of @troupe/core or another one. */
function asConfigurationError(error: unknown): { field: string; message: string } | undefined {
  const candidate = error as { code?: unknown; field?: unknown; message?: unknown } | null;
  return candidate?.code === 'CONFIGURATION' &&
    typeof candidate.field === 'string' &&
    typeof candidate.message === 'string'
    ? { field: candidate.field, message: candidate.message }
    : undefined;
}

/** `processors.x.handle: must be a function` → `handle must be a function`. */
function definitionProblem(error: { field: string; message: string }): string {
  const field = error.field.replace(/^processors\.[^.]*\./, '');
  return `invalid processor definition: ${field} ${error.message.slice(error.field.length + 2)}`;
}

/** Drops the fields a configuration left out (zod reports them as undefined). */
function definedOnly<T extends object>(
  value: T,
): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(
    Object.entries(value).filter(([, field]) => field !== undefined),
  ) as Partial<{ [K in keyof T]: Exclude<T[K], undefined> }>;
}

/** The `exports` target of a package for `import` (with the conditions node runs with). */
function exportsTarget(exportsField: unknown, conditions: readonly string[]): string | undefined {
  if (typeof exportsField === 'string') return exportsField;
  if (Array.isArray(exportsField)) {
    for (const item of exportsField) {
      const target = exportsTarget(item, conditions);
      if (target !== undefined) return target;
    }
    return undefined;
  }
  if (typeof exportsField !== 'object' || exportsField === null) return undefined;
  const map = exportsField as Record<string, unknown>;
  if ('.' in map) return exportsTarget(map['.'], conditions);
  for (const [condition, target] of Object.entries(map)) {
    if (conditions.includes(condition)) {
      const resolved = exportsTarget(target, conditions);
      if (resolved !== undefined) return resolved;
    }
  }
  return undefined;
}

/** Node's `--conditions` of this process, so that a workspace runs from its sources. */
function userConditions(): string[] {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const conditions: string[] = [];
  flags.forEach((flag, index) => {
    const match = /^(?:--conditions|-C)(?:=(.+))?$/.exec(flag);
    if (match === null) return;
    const value = match[1] ?? flags[index + 1];
    if (value !== undefined) conditions.push(value);
  });
  return conditions;
}

/**
 * Resolves `specifier` as the project at `baseDir` would import it (a package in its
 * node_modules, or a path relative to it), else as the working directory's would.
 */
function resolveModule(specifier: string, baseDir: string): string {
  try {
    return resolveFrom(specifier, baseDir);
  } catch (error) {
    // A configuration file kept elsewhere (TROUPE_CONFIG) still finds the packages of the
    // project the app runs in.
    if (specifier.startsWith('.') || resolve(baseDir) === process.cwd()) throw error;
    return resolveFrom(specifier, process.cwd());
  }
}

function resolveFrom(specifier: string, baseDir: string): string {
  const require = createRequire(join(baseDir, 'troupe.config.json'));
  try {
    return require.resolve(specifier);
  } catch (error) {
    // An ESM-only package (`exports` with `import` and no `default`): read its exports.
    if ((error as { code?: unknown }).code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw error;
    const [scope = '', name = ''] = specifier.split('/');
    const packageName = specifier.startsWith('@') ? `${scope}/${name}` : scope;
    if (packageName !== specifier) throw error;
    for (const directory of require.resolve.paths(specifier) ?? []) {
      const manifest = join(directory, packageName, 'package.json');
      if (!existsSync(manifest)) continue;
      const target = exportsTarget(
        (JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: unknown }).exports,
        [...userConditions(), 'import', 'node', 'default'],
      );
      if (target !== undefined) return join(dirname(manifest), target);
    }
    throw error;
  }
}

/** Imports a module named in the configuration. */
export async function importConfigured(
  processor: string,
  specifier: string,
  exportName: string | undefined,
  baseDir: string,
): Promise<Record<string, unknown>> {
  let path: string;
  try {
    path = resolveModule(specifier, baseDir);
  } catch (error) {
    throw new ProcessorLoadError(
      processor,
      specifier,
      exportName,
      `not found from ${baseDir}${resolve(baseDir) === process.cwd() ? '' : ` nor ${process.cwd()}`} (is it a dependency of the project there, and installed?)`,
      { cause: error },
    );
  }
  try {
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    const configurationError = asConfigurationError(error);
    if (configurationError !== undefined) {
      // defineProcessor at the module's top level rejected the definition.
      throw new ProcessorLoadError(
        processor,
        specifier,
        exportName,
        definitionProblem(configurationError),
        { cause: error },
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new ProcessorLoadError(
      processor,
      specifier,
      exportName,
      `cannot be loaded: ${message.split('\n')[0] ?? ''}`,
      { cause: error },
    );
  }
}

const describeValue = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;

/** The processor export of a module: the one named, else `default`, else the only one. */
function pickExport(
  processor: string,
  specifier: string,
  exported: Record<string, unknown>,
  exportName: string | undefined,
): { name: string; value: unknown } {
  if (exportName !== undefined) {
    if (!(exportName in exported)) {
      throw new ProcessorLoadError(
        processor,
        specifier,
        exportName,
        `no such export; the module exports ${Object.keys(exported).join(', ') || 'nothing'}`,
      );
    }
    return { name: exportName, value: exported[exportName] };
  }
  const usable = (value: unknown): boolean =>
    isProcessorDefinition(value) || isProcessorFactory(value);
  if (usable(exported.default)) return { name: 'default', value: exported.default };
  const candidates = Object.entries(exported).filter(([, value]) => usable(value));
  const [only] = candidates;
  if (candidates.length === 1 && only !== undefined) return { name: only[0], value: only[1] };
  throw new ProcessorLoadError(
    processor,
    specifier,
    undefined,
    candidates.length === 0
      ? `exports no processor definition (defineProcessor) or factory (defineProcessorFactory); it exports ${Object.keys(exported).join(', ') || 'nothing'}`
      : `exports several processors (${candidates.map(([name]) => name).join(', ')}): name one with "export"`,
  );
}

/**
 * Loads the processor the configuration entry `name` names: imports its module, picks
 * its export, validates its `options` (a factory's) and checks the definition.
 *
 * @throws ProcessorLoadError for a module or definition problem
 * @throws ConfigurationError naming the field for invalid options
 */
export async function loadProcessor(
  name: string,
  entry: ProcessorEntry,
  baseDir: string,
): Promise<AnyProcessorDefinition> {
  const exported = await importConfigured(name, entry.module, entry.export, baseDir);
  const picked = pickExport(name, entry.module, exported, entry.export);
  const fail = (problem: string, cause?: unknown): never => {
    throw new ProcessorLoadError(
      name,
      entry.module,
      picked.name,
      problem,
      cause === undefined ? undefined : { cause },
    );
  };
  let definition: AnyProcessorDefinition;
  if (isProcessorFactory(picked.value)) {
    try {
      definition = await createFromFactory(
        picked.value,
        entry.options,
        `processors.${name}.options`,
      );
    } catch (error) {
      const configurationError = asConfigurationError(error);
      if (configurationError?.field.startsWith(`processors.${name}.options`) === true) throw error;
      if (configurationError !== undefined)
        return fail(definitionProblem(configurationError), error);
      return fail(
        `its factory failed: ${error instanceof Error ? error.message : String(error)}`,
        error,
      );
    }
    if (!isProcessorDefinition(definition)) {
      return fail('its factory returned no processor definition (use defineProcessor)');
    }
  } else if (isProcessorDefinition(picked.value)) {
    if (entry.options !== undefined) {
      throw new ConfigurationError(
        `processors.${name}.options`,
        `${entry.module} takes no options (it is not a defineProcessorFactory)`,
      );
    }
    definition = picked.value;
  } else {
    return fail(
      `not a processor definition (defineProcessor) or factory (defineProcessorFactory): got ${describeValue(picked.value)}`,
    );
  }
  if (definition.name !== name) {
    return fail(
      `defines processor ${JSON.stringify(definition.name)}; name its configuration entry after it`,
    );
  }
  return definition;
}

/**
 * Applies the configuration's overrides (concurrency, batch size, weight, timeouts, queue
 * type, retry) with the same checks as defineProcessor: a value it would refuse is
 * refused here, naming the field.
 */
export function applyOverrides(
  definition: AnyProcessorDefinition,
  overrides: ProcessorEntry,
): AnyProcessorDefinition {
  // deliveryLimit belongs to the queue's topology, read where it is declared; module,
  // export and options to loading.
  const {
    enabled: _enabled,
    retry,
    deliveryLimit: _deliveryLimit,
    module: _module,
    export: _export,
    options: _options,
    ...settings
  } = overrides;
  return applyProcessorOverrides(definition, {
    ...definedOnly(settings),
    ...(retry === undefined ? {} : { retry: definedOnly(retry) as RetryOptions }),
  });
}

/** Where module specifiers in the configuration are resolved from. */
export function baseDirOf(config: Config): string {
  return config.baseDir ?? process.cwd();
}

/**
 * The enabled processors with their configured overrides applied, in configuration
 * order. `only` limits loading to those names (a CLI verb that needs one processor does
 * not load, nor fail on, the others).
 */
export async function configuredProcessors(
  config: Config,
  only?: readonly string[],
): Promise<AnyProcessorDefinition[]> {
  const selected: AnyProcessorDefinition[] = [];
  for (const [name, entry] of Object.entries(config.processors)) {
    if (!entry.enabled) continue;
    if (only !== undefined && !only.includes(name)) continue;
    const definition = await loadProcessor(name, entry, baseDirOf(config));
    selected.push(applyOverrides(definition, entry));
  }
  return selected;
}

/**
 * The broker topology of the enabled processors: each one's queue, bindings, queue
 * type and ordering flag, and its delivery limit from the configuration.
 */
export function configuredTopology(
  config: Config,
  definitions: readonly AnyProcessorDefinition[],
): QueueTopology[] {
  return definitions.map((definition) => {
    const deliveryLimit = config.processors[definition.name]?.deliveryLimit;
    if (deliveryLimit !== undefined && definition.queueType !== 'quorum') {
      throw new ConfigurationError(
        `processors.${definition.name}.deliveryLimit`,
        'applies to quorum queues only: set queueType to "quorum" as well',
      );
    }
    return {
      queue: definition.queue,
      bindings: definition.bindings,
      queueType: definition.queueType,
      singleActiveConsumer: definition.singleActiveConsumer,
      ...(deliveryLimit === undefined ? {} : { deliveryLimit }),
    };
  });
}
