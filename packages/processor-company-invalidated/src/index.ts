// company.invalidated: `{ id, reason, at? }` → marks `companies/<id>` invalidated with
// the reason and the time, creating the document when the company is not known yet.
// The time is the event's own `at` when it has one, so a redelivery writes the same.
import { defineProcessor } from '@troupe/core';
import { z } from 'zod';

export const invalidationSchema = z.object({
  id: z.string().min(1).max(254),
  reason: z.string().min(1).max(1000),
  /** When the company was invalidated (ISO 8601). @default the time it is processed */
  at: z.iso.datetime({ offset: true }).optional(),
});

export const companyInvalidated = defineProcessor({
  name: 'company-invalidated',
  queue: 'company.invalidated',
  bindings: [{ exchange: 'companies', routingKey: 'company.invalidated' }],
  schema: invalidationSchema,
  handle: (event) => ({
    id: event.id,
    patch: {
      invalidated: true,
      invalidation: { reason: event.reason, at: event.at ?? new Date().toISOString() },
    },
  }),
  persist: async ({ id, patch }, { store }) => {
    await store.patch('companies', id, patch);
  },
  concurrency: 2,
});
