import { startProcessor, type ProcessorHarness } from '@troupe/memory';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { companyUpdated } from '../src/index.js';

const logger = pino({ level: 'silent' });

describe('company-updated', () => {
  let app: ProcessorHarness;
  beforeEach(async () => {
    app = await startProcessor(companyUpdated, { logger });
  });
  afterEach(() => app.stop());

  it('upserts a company, keeping its extra fields', async () => {
    await app.publish({ id: 'c1', name: 'Acme', version: 1, country: 'NL' });
    await app.settled();
    expect(await app.store.get('companies', 'c1')).toEqual({
      _key: 'c1',
      id: 'c1',
      name: 'Acme',
      version: 1,
      country: 'NL',
    });
    expect(app.transport.acked).toBe(1);
  });

  it('applies a newer version and acks an older or equal one as stale', async () => {
    await app.publish({ id: 'c1', name: 'v2', version: 2 });
    await app.settled();
    await app.publish({ id: 'c1', name: 'v1', version: 1 });
    await app.publish({ id: 'c1', name: 'v2 again', version: 2 });
    await app.settled();
    expect(await app.store.get('companies', 'c1')).toMatchObject({ name: 'v2', version: 2 });
    await app.publish({ id: 'c1', name: 'v3', version: 3 });
    await app.settled();
    expect(await app.store.get('companies', 'c1')).toMatchObject({ name: 'v3', version: 3 });
    expect(app.transport.acked).toBe(4);
    expect(app.deadLetters()).toHaveLength(0);
  });

  it('dead-letters invalid payloads with the reason', async () => {
    await app.publish({ id: 'c1', version: 1 }, { messageId: 'no-name' });
    await app.publish('{"id":', { messageId: 'bad-json' });
    await app.publish({ id: 'c1', name: 'x', version: -1 }, { messageId: 'negative' });
    await app.settled();
    const dead = app.deadLetters();
    expect(dead.map((m) => m.messageId).sort()).toEqual(['bad-json', 'negative', 'no-name']);
    for (const message of dead) {
      expect(message.headers['x-troupe-reason']).toMatch(/^INVALID_MESSAGE: /);
      expect(message.headers['x-troupe-processor']).toBe('company-updated');
    }
    expect(await app.store.count('companies')).toBe(0);
  });
});
