import type { Store, StoredDocument } from '@troupe/core';
import { MemoryStore, startProcessor, type ProcessorHarness } from '@troupe/memory';
import { pino } from 'pino';
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { companySync, latestPerCompany, maxSyncBatch } from '../src/index.js';

const logger = pino({ level: 'silent' });

/** A store whose reads lag behind its writes for the first `lag` reads (a replica). */
function laggingStore(inner: MemoryStore, lag: number): Store & { readonly reads: number } {
  let remaining = lag;
  let reads = 0;
  return {
    ensureCollection: (collection) => inner.ensureCollection(collection),
    upsert: (collection, key, document, options) =>
      inner.upsert(collection, key, document, options),
    patch: (collection, key, patch) => inner.patch(collection, key, patch),
    remove: (collection, key) => inner.remove(collection, key),
    bulkUpsert: (collection, documents, options) =>
      inner.bulkUpsert(collection, documents, options),
    bulkWrite: (writes, options) => inner.bulkWrite(writes, options),
    hasCollection: (collection) => inner.hasCollection(collection),
    count: (collection) => inner.count(collection),
    close: () => inner.close(),
    get: (collection: string, key: string): Promise<StoredDocument | undefined> => {
      reads += 1;
      if (remaining > 0) {
        remaining -= 1;
        return Promise.resolve(undefined);
      }
      return inner.get(collection, key);
    },
    get reads() {
      return reads;
    },
  };
}

const company = (id: string, version: number) => ({ id, name: `${id}@${version}`, version });

describe('company-sync', () => {
  let app: ProcessorHarness | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  it('bulk-upserts a batch with the version rule, then acks', async () => {
    const store = new MemoryStore();
    await store.upsert('companies', 'b', company('b', 5));
    app = await startProcessor(companySync, { logger, store });
    await app.publish({ companies: [company('a', 1), company('b', 4), company('c', 2)] });
    await app.settled();
    expect(await store.get('companies', 'a')).toMatchObject({ version: 1 });
    expect(await store.get('companies', 'b')).toMatchObject({ version: 5 });
    expect(await store.count('companies')).toBe(3);
    expect(app.transport.acked).toBe(1);
  });

  it('keeps the highest version of a company that appears twice in a batch', () => {
    expect(latestPerCompany([company('a', 2), company('a', 7), company('a', 3)])).toEqual([
      company('a', 7),
    ]);
  });

  it('retries the persist step until the writes are visible, on the simulated clock', async () => {
    const clock = new SimulatedClock();
    const store = laggingStore(new MemoryStore(), 1);
    app = await startProcessor(companySync, { logger, store, actorClock: clock });
    await app.publish({ companies: [company('a', 1)] });
    for (let i = 0; i < 20 && app.transport.acked === 0; i += 1) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect(app.transport.acked).toBe(0); // waiting in `retrying`, not sleeping
    clock.increment(4000);
    await app.settled();
    expect(app.transport.acked).toBe(1);
    expect(store.reads).toBe(2);
    expect(app.deadLetters()).toHaveLength(0);
  });

  it(`dead-letters a batch over ${maxSyncBatch} companies or an empty one`, async () => {
    app = await startProcessor(companySync, { logger });
    const big = Array.from({ length: maxSyncBatch + 1 }, (_, i) => company(`c${i}`, 1));
    await app.publish({ companies: big }, { messageId: 'too-big' });
    await app.publish({ companies: [] }, { messageId: 'empty' });
    await app.settled();
    expect(
      app
        .deadLetters()
        .map((m) => m.messageId)
        .sort(),
    ).toEqual(['empty', 'too-big']);
    expect(await app.store.count('companies')).toBe(0);
  });
});
