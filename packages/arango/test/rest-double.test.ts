// ArangoStore against a REST double of ArangoDB's documented HTTP API — not a live
// ArangoDB (see rest-double.ts for what that checks and what it cannot). The live suite,
// live.int.test.ts, runs the same contract against a real server when ARANGO_URL is set.
import { PermanentError, TransientError } from '@troupe/core';
import { describeStoreContract } from '@troupe/store-contract';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ArangoStore, bulkWriteQuery, upsertIfNewerQuery, upsertQuery } from '../src/index.js';
import { ArangoRestDouble } from './rest-double.js';

const double = new ArangoRestDouble({
  database: 'troupe',
  username: 'troupe',
  password: 's3cr:et',
});
let base = '';
let url = '';

beforeAll(async () => {
  base = await double.start();
  url = base.replace('http://', 'http://troupe:s3cr%3Aet@') + '/troupe';
});

afterAll(async () => {
  await double.stop();
  expect(double.violations).toEqual([]);
});

describeStoreContract(
  "ArangoStore against a REST double of ArangoDB's documented API (not a live ArangoDB)",
  () => new ArangoStore({ url }),
  // 400 racing writes through HTTP take seconds on a busy 2-core CI machine.
  { timeout: 30_000 },
);

describe("ArangoStore requests, checked by a REST double of ArangoDB's documented API (not a live ArangoDB)", () => {
  const stores: ArangoStore[] = [];
  const open = (
    options: Partial<ConstructorParameters<typeof ArangoStore>[0]> = {},
  ): ArangoStore => {
    const store = new ArangoStore({ url, ...options });
    stores.push(store);
    return store;
  };
  const since = (): (() => typeof double.requests) => {
    const start = double.requests.length;
    return () => double.requests.slice(start);
  };

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    double.cursorFaults.length = 0;
    double.delayMs = 0;
    double.refusedKeys.clear();
    expect(double.violations).toEqual([]);
  });

  it('connect() asks GET /_db/<db>/_api/version, then creates the collections (POST /_api/collection)', async () => {
    const requests = since();
    const store = await ArangoStore.connect({ url, collections: ['companies', 'people'] });
    stores.push(store);
    expect(requests().map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /_db/troupe/_api/version',
      'POST /_db/troupe/_api/collection',
      'POST /_db/troupe/_api/collection',
    ]);
    expect(requests()[1]?.body).toMatchObject({ name: 'companies' });
    expect(requests()[2]?.body).toMatchObject({ name: 'people' });
  });

  it('connect() ensures indexes (POST /_api/index?collection=<name>), idempotently', async () => {
    const options = {
      url,
      indexes: { indexed: [{ type: 'persistent' as const, fields: ['country', 'name'] }] },
    };
    stores.push(await ArangoStore.connect(options));
    const requests = since();
    stores.push(await ArangoStore.connect(options));
    const index = requests().find((r) => r.path === '/_db/troupe/_api/index');
    expect(index?.method).toBe('POST');
    expect(index?.search).toBe('?collection=indexed');
    expect(index?.body).toEqual({ type: 'persistent', fields: ['country', 'name'] });
    expect(double.indexes.get('indexed')).toHaveLength(1);
  });

  it('takes the credentials and the database from the URL (Basic auth, /_db/<name>/ paths)', async () => {
    const requests = since();
    await open().health();
    const [request] = requests();
    expect(request?.path).toBe('/_db/troupe/_api/version');
    expect(request?.headers.authorization).toBe(
      `Basic ${Buffer.from('troupe:s3cr:et').toString('base64')}`,
    );
  });

  it('ensureCollection ignores "duplicate name" (1207): the collection exists', async () => {
    const store = open();
    await store.ensureCollection('dupe');
    await open().ensureCollection('dupe');
    expect(double.collections.has('dupe')).toBe(true);
  });

  it('a versioned upsert is one cursor request: the guard travels as AQL with bind parameters', async () => {
    const store = open();
    await store.ensureCollection('guarded');
    const requests = since();
    await store.upsert('guarded', 'acme', { version: 3, name: 'Acme' }, { ifNewer: 'version' });
    const cursor = double.cursorRequests.at(-1);
    expect(requests()).toHaveLength(1);
    expect(cursor?.query).toBe(upsertIfNewerQuery);
    expect(cursor?.bindVars).toEqual({
      '@collection': 'guarded',
      field: 'version',
      docs: [{ _key: 'acme', version: 3, name: 'Acme' }],
    });
  });

  it('a bulk upsert of 100 documents is one cursor request', async () => {
    const store = open();
    await store.ensureCollection('bulk');
    const requests = since();
    const documents = Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, document: { i } }));
    expect(await store.bulkUpsert('bulk', documents)).toEqual({ written: 100, skipped: 0 });
    expect(requests()).toHaveLength(1);
    expect(double.cursorRequests.at(-1)?.query).toBe(upsertQuery);
    expect((double.cursorRequests.at(-1)?.bindVars['docs'] as unknown[]).length).toBe(100);
  });

  it('system attributes are neither sent nor returned', async () => {
    const store = open();
    await store.ensureCollection('system');
    await store.upsert('system', 'k', { _id: 'other/x', _rev: '_abc', a: 1 });
    expect(double.cursorRequests.at(-1)?.bindVars['docs']).toEqual([{ _key: 'k', a: 1 }]);
    expect(double.collections.get('system')?.get('k')).toMatchObject({ _id: 'system/k' });
    expect(await store.get('system', 'k')).toEqual({ _key: 'k', a: 1 });
  });

  it('an invalid key is refused before any request (PermanentError)', async () => {
    const store = open();
    const requests = since();
    await expect(store.upsert('c', 'a/b', {})).rejects.toBeInstanceOf(PermanentError);
    expect(requests()).toHaveLength(0);
  });

  it('a write-write conflict (409, errorNum 1200) is retried by arangojs (retryOnConflict)', async () => {
    const store = open();
    await store.ensureCollection('conflicts');
    const conflict = { status: 409, errorNum: 1200, errorMessage: 'write-write conflict' };
    double.cursorFaults.push(conflict, conflict);
    expect(await store.upsert('conflicts', 'k', { version: 1 }, { ifNewer: 'version' })).toEqual({
      written: true,
    });
  });

  it('a conflict that outlasts retryOnConflict is a TransientError', async () => {
    const store = open({ retryOnConflict: 1 });
    await store.ensureCollection('conflicts2');
    const conflict = { status: 409, errorNum: 1200, errorMessage: 'write-write conflict' };
    double.cursorFaults.push(conflict, conflict, conflict);
    const error: unknown = await store.upsert('conflicts2', 'k', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/1200/);
  });

  it('503 service unavailable is a TransientError', async () => {
    const store = open();
    await store.ensureCollection('unavailable');
    double.cursorFaults.push({ status: 503, errorNum: 503, errorMessage: 'service unavailable' });
    await expect(store.count('unavailable')).rejects.toBeInstanceOf(TransientError);
  });

  it('a write to an unknown collection (404, errorNum 1203) creates it and writes again', async () => {
    const requests = since();
    expect(await open().upsert('created_on_write', 'k', { a: 1 })).toEqual({ written: true });
    expect(requests().map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /_db/troupe/_api/cursor',
      'POST /_db/troupe/_api/collection',
      'POST /_db/troupe/_api/cursor',
    ]);
    expect(double.collections.get('created_on_write')?.get('k')).toMatchObject({ a: 1 });
  });

  it('1203 that persists after the collection was created is a PermanentError', async () => {
    const store = open();
    await store.ensureCollection('vanishing');
    const missing = { status: 404, errorNum: 1203, errorMessage: 'collection or view not found' };
    double.cursorFaults.push(missing, missing);
    const error: unknown = await store.upsert('vanishing', 'k', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toMatch(/1203/);
  });

  it('a unique constraint violation (409, errorNum 1210) is a PermanentError', async () => {
    const store = open();
    await store.ensureCollection('unique');
    double.cursorFaults.push({
      status: 409,
      errorNum: 1210,
      errorMessage: 'unique constraint violated',
    });
    await expect(store.upsert('unique', 'k', {})).rejects.toBeInstanceOf(PermanentError);
  });

  it('wrong credentials (401, errorNum 11) are a PermanentError', async () => {
    const store = open({ password: 'wrong' });
    await expect(store.count('c')).rejects.toBeInstanceOf(PermanentError);
  });

  it('a server that does not answer within `timeout` is a TransientError', async () => {
    const store = open({ timeout: 100 });
    await store.ensureCollection('slow');
    double.delayMs = 500;
    await expect(store.count('slow')).rejects.toBeInstanceOf(TransientError);
  });

  it('bulkWrite: concurrent calls go out as one AQL query (one request, one transaction) across collections', async () => {
    const store = open();
    await store.ensureCollection('bw_a');
    await store.ensureCollection('bw_b');
    const requests = since();
    const calls = Array.from({ length: 20 }, (_, c) =>
      store.bulkWrite(
        Array.from({ length: 5 }, (_, i) => ({
          collection: i % 2 === 0 ? 'bw_a' : 'bw_b',
          key: `k${c}-${i}`,
          document: { version: 1, c, i },
          ifNewer: 'version',
        })),
      ),
    );
    const results = await Promise.all(calls);
    expect(results.flat()).toHaveLength(100);
    expect(results.flat().every((outcome) => outcome.ok && outcome.written)).toBe(true);
    const sent = requests().map(
      (r) => r.body as { query: string; bindVars: Record<string, unknown> },
    );
    expect(sent).toHaveLength(1);
    expect(sent[0]?.query).toBe(bulkWriteQuery(2));
    expect(store.writeStats()).toEqual({ commits: 1, failures: 0, calls: 20, documents: 100 });
    expect(store.coalescerStats.largest).toBe(20);
    expect(double.collections.get('bw_a')?.size).toBe(60);
    expect(double.collections.get('bw_b')?.size).toBe(40);
  });

  it('bulkWrite: calls that arrive while maxWriteRequests are in flight share the next request', async () => {
    const store = open({ maxWriteRequests: 1 });
    await store.ensureCollection('bw_wait');
    const write = (key: string) => ({ collection: 'bw_wait', key, document: { n: 1 } });
    const release = double.pause();
    const arrived = double.nextRequest();
    const first = store.bulkWrite([write('first')]);
    await arrived;
    const waiting = [store.bulkWrite([write('w1')]), store.bulkWrite([write('w2')])];
    const requests = since();
    release();
    await Promise.all([first, ...waiting]);
    expect(requests()).toHaveLength(1);
    expect(store.writeStats()).toEqual({ commits: 2, failures: 0, calls: 3, documents: 3 });
  });

  it('bulkWrite: a call aborted while it waits is dropped (TransientError); the one in flight completes', async () => {
    const store = open({ maxWriteRequests: 1 });
    await store.ensureCollection('bw_abort');
    const release = double.pause();
    const arrived = double.nextRequest();
    const first = store.bulkWrite([{ collection: 'bw_abort', key: 'sent', document: {} }]);
    await arrived;
    const controller = new AbortController();
    const queued = store.bulkWrite([{ collection: 'bw_abort', key: 'dropped', document: {} }], {
      signal: controller.signal,
    });
    controller.abort();
    await expect(queued).rejects.toBeInstanceOf(TransientError);
    release();
    expect(await first).toEqual([{ ok: true, written: true }]);
    expect(double.collections.get('bw_abort')?.has('dropped')).toBe(false);
    expect(store.writeStats().commits).toBe(1);
  });

  it('bulkWrite: a document ArangoDB refuses (1210) fails alone; the query is split per write', async () => {
    const store = open();
    await store.ensureCollection('bw_refuse');
    double.refusedKeys.add('poison');
    const outcomes = await store.bulkWrite(
      ['a', 'poison', 'b'].map((key) => ({ collection: 'bw_refuse', key, document: { key } })),
    );
    expect(outcomes.map((outcome) => outcome.ok)).toEqual([true, false, true]);
    const refused = outcomes[1];
    expect(refused?.ok === false ? refused.error : undefined).toBeInstanceOf(PermanentError);
    expect([...(double.collections.get('bw_refuse')?.keys() ?? [])].sort()).toEqual(['a', 'b']);
    // Refused by ArangoDB, so sent: three documents in one group.
    expect(store.writeStats()).toEqual({ commits: 1, failures: 0, calls: 1, documents: 3 });
  });

  it('writeStats: a write refused before ArangoDB (a bad key) is not a document sent', async () => {
    const store = open();
    await store.ensureCollection('bw_stats');
    const outcomes = await store.bulkWrite([
      { collection: 'bw_stats', key: 'good', document: {} },
      { collection: 'bw_stats', key: 'bad key', document: {} },
    ]);
    expect(outcomes.map((outcome) => outcome.ok)).toEqual([true, false]);
    expect(store.writeStats()).toEqual({ commits: 1, failures: 0, calls: 1, documents: 1 });
  });

  it('bulkWrite: the same key in coalesced calls is written in call order (a second query), never twice in one', async () => {
    const store = open();
    await store.ensureCollection('bw_order');
    const requests = since();
    const [first, second] = await Promise.all([
      store.bulkWrite([{ collection: 'bw_order', key: 'k', document: { s: 'first' } }]),
      store.bulkWrite([{ collection: 'bw_order', key: 'k', document: { s: 'second' } }]),
    ]);
    expect([first, second]).toEqual([[{ ok: true, written: true }], [{ ok: true, written: true }]]);
    expect(requests()).toHaveLength(2);
    expect(double.collections.get('bw_order')?.get('k')).toMatchObject({ s: 'second' });
  });

  it('bulkWrite: a server failure rejects every coalesced call with a TransientError', async () => {
    const store = open();
    await store.ensureCollection('bw_down');
    double.cursorFaults.push({ status: 503, errorNum: 503, errorMessage: 'service unavailable' });
    const calls = [1, 2].map((n) =>
      store.bulkWrite([{ collection: 'bw_down', key: `k${n}`, document: {} }]),
    );
    for (const call of calls) await expect(call).rejects.toBeInstanceOf(TransientError);
    expect(store.writeStats()).toEqual({ commits: 1, failures: 1, calls: 2, documents: 2 });
  });

  it('hasCollection asks GET /_api/collection/<name>', async () => {
    const store = open();
    expect(await store.hasCollection('never_made')).toBe(false);
    await store.ensureCollection('made');
    expect(await open().hasCollection('made')).toBe(true);
  });

  it('health() reports the server and version, without throwing', async () => {
    const health = await open().health();
    expect(health).toMatchObject({ healthy: true, server: 'arango', version: '3.12.4' });
  });
});

describe('ArangoStore with no server listening', () => {
  it('ECONNREFUSED is a TransientError; health() reports it with a reason; connect() rejects with a TransientError (not a configuration error)', async () => {
    const closed = new ArangoRestDouble();
    const deadUrl = await closed.start();
    await closed.stop();
    const store = new ArangoStore({ url: deadUrl, timeout: 2000 });
    const error: unknown = await store.count('c').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    const health = await store.health();
    expect(health.healthy).toBe(false);
    // Unreachable is transient, with a reason the app can show in /readyz.
    expect(health).toMatchObject({
      reason: expect.stringMatching(/ECONNREFUSED|fetch failed/) as unknown,
    });
    expect(health.healthy === false && health.error).toBeInstanceOf(TransientError);
    await store.close();
    await expect(ArangoStore.connect({ url: deadUrl, timeout: 2000 })).rejects.toBeInstanceOf(
      TransientError,
    );
  });
});

describe('ArangoStore with several coordinators (two REST doubles, the first stopped)', () => {
  it.each(['ROUND_ROBIN', 'ONE_RANDOM', 'NONE'] as const)(
    '%s: every request fails over to the coordinator that answers',
    async (loadBalancingStrategy) => {
      const first = new ArangoRestDouble({ database: 'troupe', username: 'u', password: 'p' });
      const second = new ArangoRestDouble({ database: 'troupe', username: 'u', password: 'p' });
      const firstUrl = await first.start();
      const secondUrl = await second.start();
      await first.stop();
      const store = await ArangoStore.connect({
        url: [firstUrl, secondUrl],
        loadBalancingStrategy,
        database: 'troupe',
        username: 'u',
        password: 'p',
        collections: ['failover'],
      });
      try {
        const outcomes = await Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            store.bulkWrite([{ collection: 'failover', key: `k${i}`, document: { i } }]),
          ),
        );
        expect(outcomes.flat().every((outcome) => outcome.ok)).toBe(true);
        expect(await store.upsert('failover', 'single', { n: 1 })).toEqual({ written: true });
        expect(await store.count('failover')).toBe(6);
        expect(second.collections.get('failover')?.size).toBe(6);
        expect(first.requests).toEqual([]);
        expect(second.violations).toEqual([]);
      } finally {
        await store.close();
        await second.stop();
      }
    },
  );
});
