// The processors this app can run, and their configuration overrides. A team adds its
// processor package to package.json and to this list.
import {
  applyProcessorOverrides,
  ConfigurationError,
  type AnyProcessorDefinition,
  type QueueTopology,
  type RetryOptions,
} from '@troupe/core';
import { companyInvalidated } from '@troupe/processor-company-invalidated';
import { companySync } from '@troupe/processor-company-sync';
import { companyUpdated } from '@troupe/processor-company-updated';
import type { Config } from './config.js';

/** Drops the fields a configuration left out (zod reports them as undefined). */
function definedOnly<T extends object>(
  value: T,
): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(
    Object.entries(value).filter(([, field]) => field !== undefined),
  ) as Partial<{ [K in keyof T]: Exclude<T[K], undefined> }>;
}

export const availableProcessors: readonly AnyProcessorDefinition[] = [
  companyUpdated,
  companyInvalidated,
  companySync,
];

/** The enabled processors with their configured overrides applied, in start order. */
export function configuredProcessors(config: Config): AnyProcessorDefinition[] {
  const known = new Set(availableProcessors.map((definition) => definition.name));
  for (const name of Object.keys(config.processors)) {
    if (!known.has(name)) {
      throw new ConfigurationError(
        `processors.${name}`,
        `unknown processor; known: ${[...known].join(', ')}`,
      );
    }
  }
  const selected: AnyProcessorDefinition[] = [];
  for (const definition of availableProcessors) {
    const overrides = config.processors[definition.name];
    if (overrides?.enabled === false) continue;
    if (overrides === undefined) {
      selected.push(definition);
      continue;
    }
    // The same checks as defineProcessor (a value it would refuse is refused here).
    // deliveryLimit belongs to the queue's topology, read where it is declared.
    const { enabled: _enabled, retry, deliveryLimit: _deliveryLimit, ...settings } = overrides;
    selected.push(
      applyProcessorOverrides(definition, {
        ...definedOnly(settings),
        ...(retry === undefined ? {} : { retry: definedOnly(retry) as RetryOptions }),
      }),
    );
  }
  return selected;
}

/**
 * The broker topology of the enabled processors: each one's queue, bindings, queue
 * type and ordering flag, and its delivery limit from the configuration.
 */
export function configuredTopology(config: Config): QueueTopology[] {
  return configuredProcessors(config).map((definition) => {
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
