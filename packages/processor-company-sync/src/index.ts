// company.sync: `{ companies: [...] }` (up to 1,000) → one bulk upsert with the version
// rule, then a read-back that checks every write is visible before the message is acked.
// The loop this replaces polled and slept until the store caught up; here a write that
// is not visible yet fails the persist step with a transient error, so the chart goes
// to `retrying` and back to `persisting` after its backoff: states, not sleeps.
import { defineProcessor, TransientError, type Store } from '@troupe/core';
import {
  companiesCollection,
  companySchema,
  type Company,
} from '@troupe/processor-company-updated';
import { z } from 'zod';

export const maxSyncBatch = 1000;

export const syncSchema = z.object({
  companies: z.array(companySchema).min(1).max(maxSyncBatch),
});

/** Keeps the highest version of each company in a batch. */
export function latestPerCompany(companies: readonly Company[]): Company[] {
  const latest = new Map<string, Company>();
  for (const company of companies) {
    const seen = latest.get(company.id);
    if (seen === undefined || company.version > seen.version) latest.set(company.id, company);
  }
  return [...latest.values()];
}

/** Companies whose stored version is older than the one just written. */
export async function notYetVisible(
  store: Store,
  companies: readonly Company[],
): Promise<string[]> {
  const missing: string[] = [];
  for (const company of companies) {
    const stored = await store.get(companiesCollection, company.id);
    const version = stored?.['version'];
    if (typeof version !== 'number' || version < company.version) missing.push(company.id);
  }
  return missing;
}

export const companySync = defineProcessor({
  name: 'company-sync',
  queue: 'company.sync',
  bindings: [{ exchange: 'companies', routingKey: 'company.sync' }],
  schema: syncSchema,
  handle: (batch) => latestPerCompany(batch.companies),
  persist: async (companies, { store, log }) => {
    const result = await store.bulkUpsert(
      companiesCollection,
      companies.map((company) => ({ key: company.id, document: company })),
      { ifNewer: 'version' },
    );
    const missing = await notYetVisible(store, companies);
    if (missing.length > 0) {
      throw new TransientError(
        `${missing.length} of ${companies.length} writes not visible yet (first: ${missing[0]})`,
      );
    }
    log.info({ ...result, companies: companies.length }, 'company batch synced');
  },
  concurrency: 1,
  retry: {
    attempts: 5,
    backoff: { kind: 'exponential', minMs: 250, maxMs: 4000, randomFactor: 0.2 },
  },
});
