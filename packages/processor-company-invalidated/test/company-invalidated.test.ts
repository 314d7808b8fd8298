import { startProcessor, type ProcessorHarness } from '@troupe/memory';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { companyInvalidated } from '../src/index.js';

const logger = pino({ level: 'silent' });

describe('company-invalidated', () => {
  let app: ProcessorHarness;
  beforeEach(async () => {
    app = await startProcessor(companyInvalidated, { logger });
  });
  afterEach(() => app.stop());

  it('marks a known company invalidated and keeps its fields', async () => {
    await app.store.upsert('companies', 'c1', { id: 'c1', name: 'Acme', version: 3 });
    await app.publish({ id: 'c1', reason: 'duplicate', at: '2026-11-25T10:00:00Z' });
    await app.settled();
    expect(await app.store.get('companies', 'c1')).toEqual({
      _key: 'c1',
      id: 'c1',
      name: 'Acme',
      version: 3,
      invalidated: true,
      invalidation: { reason: 'duplicate', at: '2026-11-25T10:00:00Z' },
    });
  });

  it('creates the company when it is not known yet, stamping the time', async () => {
    const before = Date.now();
    await app.publish({ id: 'c9', reason: 'fraud' });
    await app.settled();
    const stored = await app.store.get('companies', 'c9');
    expect(stored).toMatchObject({ invalidated: true, invalidation: { reason: 'fraud' } });
    const at = Date.parse((stored?.['invalidation'] as { at: string }).at);
    expect(at).toBeGreaterThanOrEqual(before - 1000);
  });

  it('a redelivery with its own time writes the same document', async () => {
    const event = { id: 'c1', reason: 'merged', at: '2026-11-25T10:00:00Z' };
    await app.publish(event);
    await app.settled();
    const first = await app.store.get('companies', 'c1');
    await app.publish(event);
    await app.settled();
    expect(await app.store.get('companies', 'c1')).toEqual(first);
  });

  it('dead-letters an event without a reason', async () => {
    await app.publish({ id: 'c1' }, { messageId: 'no-reason' });
    await app.publish({ id: 'c1', reason: 'x', at: 'yesterday' }, { messageId: 'bad-time' });
    await app.settled();
    expect(
      app
        .deadLetters()
        .map((m) => m.messageId)
        .sort(),
    ).toEqual(['bad-time', 'no-reason']);
    expect(await app.store.count('companies')).toBe(0);
  });
});
