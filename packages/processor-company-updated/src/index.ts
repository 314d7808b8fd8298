// company.updated: `{ id, name, version, ... }` → `companies/<id>`, unless the stored
// version is newer or equal; then the message is acked and logged as stale. The version
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
  persist: async (company, { store, log }) => {
    const { written } = await store.upsert(companiesCollection, company.id, company, {
      ifNewer: 'version',
    });
    if (!written) {
      log.info({ companyId: company.id, version: company.version }, 'stale company update ignored');
    }
  },
  concurrency: 4,
});

export { companyDemoEvent } from './demo-events.js';
export type { DemoEvent } from './demo-events.js';
