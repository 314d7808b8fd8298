// The demo's processor: company updates, upserted unless the stored version is newer.
import { defineProcessor } from '@troupe/core';
import { z } from 'zod';

export const companyUpdated = defineProcessor({
  name: 'company-updated',
  queue: 'company.updated',
  bindings: [{ exchange: 'companies', routingKey: 'company.updated' }],
  schema: z.object({
    id: z.string().min(1),
    name: z.string().min(1),
    version: z.number().int().nonnegative(),
  }),
  handle: (company) => ({
    collection: 'companies',
    key: company.id,
    document: company,
    ifNewer: 'version',
  }),
  concurrency: 4,
  retry: {
    attempts: 5,
    backoff: { kind: 'exponential', minMs: 200, maxMs: 3000, randomFactor: 0.2 },
  },
});
