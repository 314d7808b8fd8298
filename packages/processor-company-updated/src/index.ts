// company.updated: `{ id, name, version, ... }` → `companies/<id>`, unless the stored
// version is newer or equal; then the message is acked and logged as stale. A worker's
// batch (maxBatch, from troupe.config.json) is stored with one bulkWrite. The version
// guard is evaluated by the store, so racing workers and redeliveries change nothing.
//
// A newer update replaces the whole document: it is the company as its source now sees
// it, so an earlier `company.invalidated` mark does not survive it (the update
// re-validates the company). Keeping marks across updates would need a merge-if-newer
// write in the store port.
import { defineProcessor } from '@troupe/core';
import { z } from 'zod';

/** The collection company documents live in. */
export const companiesCollection = 'companies';

/** A company as the `companies` exchange carries it; unknown fields are kept. */
export const companySchema = z.looseObject({
  id: z.string().min(1).max(254),
  name: z.string().min(1),
  version: z.number().int().nonnegative(),
});

/** A company event's payload. */
export type Company = z.infer<typeof companySchema>;

export const companyUpdated = defineProcessor({
  name: 'company-updated',
  queue: 'company.updated',
  bindings: [{ exchange: 'companies', routingKey: 'company.updated' }],
  schema: companySchema,
  handle: (company) => company,
  // A worker's whole batch in one store call (one transaction in SQLite); a write the
  // store refuses fails its message alone.
  persistBatch: async (entries, { store, log, signal }) => {
    const outcomes = await store.bulkWrite(
      entries.map(({ result: company }) => ({
        collection: companiesCollection,
        key: company.id,
        document: company,
        ifNewer: 'version',
      })),
      { signal },
    );
    return outcomes.map((outcome, index) => {
      if (!outcome.ok) return { ok: false, error: outcome.error };
      const company = entries[index]?.result;
      if (!outcome.written && company !== undefined) {
        log.info(
          { companyId: company.id, version: company.version },
          'stale company update ignored',
        );
      }
      return { ok: true };
    });
  },
  concurrency: 4,
});

export { companyDemoEvent } from './demo-events.js';
export type { DemoEvent } from './demo-events.js';
