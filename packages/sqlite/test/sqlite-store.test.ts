// What the contract suite does not cover: the file and its pragmas, lock contention as a
// TransientError, portable names, the closed store and the escape hatch.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { PermanentError, TransientError } from '@troupe/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SqliteStore, type SqliteStoreOptions } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'troupe-sqlite-'));
let n = 0;
const open: SqliteStore[] = [];

function openStore(options: Omit<SqliteStoreOptions, 'path'> = {}, path?: string): SqliteStore {
  n += 1;
  const store = new SqliteStore({
    path: path ?? join(root, `db-${n}`, 'nested', 'troupe.db'),
    ...options,
  });
  open.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.close()));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('SqliteStore: the file', () => {
  it('creates the directory of its file', () => {
    const store = openStore();
    expect(existsSync(store.path)).toBe(true);
  });

  it('runs in WAL mode with synchronous=FULL by default', () => {
    const store = openStore();
    expect(store.database.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.database.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('synchronous: normal sets synchronous=NORMAL', () => {
    const store = openStore({ synchronous: 'normal' });
    expect(store.database.pragma('synchronous', { simple: true })).toBe(1);
  });

  it('rejects an unknown synchronous mode, naming the option', () => {
    expect(() => openStore({ synchronous: 'off' as 'full' })).toThrow(/synchronous/);
  });

  it('keeps documents across close and reopen', async () => {
    const path = join(root, 'reopen', 'troupe.db');
    const first = openStore({}, path);
    await first.ensureCollection('c');
    await first.upsert('c', 'k', { version: 1 });
    await first.close();
    const second = openStore({}, path);
    expect(await second.get('c', 'k')).toEqual({ _key: 'k', version: 1 });
  });

  it('health() reports the file and WAL mode, and a closed store as unhealthy', async () => {
    const store = openStore();
    expect(await store.health()).toEqual({ healthy: true, path: store.path, journalMode: 'wal' });
    await store.close();
    const health = await store.health();
    expect(health.healthy).toBe(false);
  });

  it("':memory:' works without a file", async () => {
    const store = openStore({}, ':memory:');
    await store.upsert('c', 'k', { a: 1 });
    expect(await store.count('c')).toBe(1);
  });

  it('stores documents as JSON rows of troupe_documents (the escape hatch)', async () => {
    const store = openStore();
    await store.upsert('companies', 'acme', { version: 2, name: 'Acme' });
    const row = store.database
      .prepare(
        "SELECT json_extract(doc, '$.name') AS name FROM troupe_documents WHERE collection = ? AND key = ?",
      )
      .get('companies', 'acme');
    expect(row).toEqual({ name: 'Acme' });
  });
});

/** A row's version columns, read on the store's own connection. */
function columnsOf(store: SqliteStore, key: string): unknown {
  return store.database
    .prepare(
      "SELECT version_field, version FROM troupe_documents WHERE collection = 'c' AND key = ?",
    )
    .get(key);
}

describe('SqliteStore: the version columns', () => {
  // The guard compares a column when the stored row was written under a guard on the same
  // field; the document itself otherwise. These tests reach the file with plain SQL, as an
  // earlier Troupe or an operator would.
  const earlierSchema = `
    CREATE TABLE troupe_collections (name TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
    CREATE TABLE troupe_documents (
      collection TEXT NOT NULL, key TEXT NOT NULL,
      doc TEXT NOT NULL CHECK (json_valid(doc)),
      PRIMARY KEY (collection, key)
    ) WITHOUT ROWID;`;

  it('a file an earlier Troupe created is upgraded on open, and its documents guard as before', async () => {
    const path = join(root, 'earlier', 'troupe.db');
    mkdirSync(join(root, 'earlier'));
    const earlier = new Database(path);
    earlier.pragma('journal_mode = WAL');
    earlier.exec(earlierSchema);
    earlier
      .prepare('INSERT INTO troupe_documents (collection, key, doc) VALUES (?, ?, ?)')
      .run('c', 'k', JSON.stringify({ _key: 'k', version: 5 }));
    earlier.close();
    const store = openStore({}, path);
    const columns = store.database
      .prepare<[], string>("SELECT name FROM pragma_table_info('troupe_documents')")
      .pluck()
      .all();
    expect(columns).toEqual(['collection', 'key', 'doc', 'version_field', 'version']);
    expect((await store.upsert('c', 'k', { version: 4 }, { ifNewer: 'version' })).written).toBe(
      false,
    );
    expect((await store.upsert('c', 'k', { version: 6 }, { ifNewer: 'version' })).written).toBe(
      true,
    );
    expect((await store.upsert('c', 'k', { version: 6 }, { ifNewer: 'version' })).written).toBe(
      false,
    );
    expect(await store.get('c', 'k')).toEqual({ _key: 'k', version: 6 });
    const trigger = store.database
      .prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'trigger'")
      .get();
    expect(trigger).toEqual({ n: 1 });
    // The earlier Troupe, still writing to the file, changes the document alone: the
    // columns are cleared and the next guard reads the document it wrote.
    const earlierStill = new Database(path);
    earlierStill
      .prepare(
        `INSERT INTO troupe_documents (collection, key, doc) VALUES (?, ?, ?)
         ON CONFLICT (collection, key) DO UPDATE SET doc = excluded.doc
         WHERE json_extract(excluded.doc, '$.version') > json_extract(doc, '$.version')`,
      )
      .run('c', 'k', JSON.stringify({ _key: 'k', version: 8 }));
    earlierStill.close();
    expect(columnsOf(store, 'k')).toEqual({ version_field: null, version: null });
    expect((await store.upsert('c', 'k', { version: 7 }, { ifNewer: 'version' })).written).toBe(
      false,
    );
    await store.close();
    // Opened again: the same document.
    expect(await openStore({}, path).get('c', 'k')).toEqual({ _key: 'k', version: 8 });
  });

  it('a guarded write records its field and version; a plain write and a patch clear them', async () => {
    const store = openStore();
    await store.upsert('c', 'k', { version: 5 }, { ifNewer: 'version' });
    expect(columnsOf(store, 'k')).toEqual({ version_field: 'version', version: 5 });
    await store.bulkWrite([
      { collection: 'c', key: 'k', document: { version: 6.5 }, ifNewer: 'version' },
    ]);
    expect(columnsOf(store, 'k')).toEqual({ version_field: 'version', version: 6.5 });
    await store.patch('c', 'k', { version: 9 });
    expect(columnsOf(store, 'k')).toEqual({ version_field: null, version: null });
    await store.upsert('c', 'k', { rev: 2 }, { ifNewer: 'rev' });
    await store.upsert('c', 'k', { rev: 3 });
    expect(columnsOf(store, 'k')).toEqual({ version_field: null, version: null });
  });

  it('a version the JSON may not carry as read (a getter, `_key`) is not recorded: the guard reads the JSON', async () => {
    const store = openStore();
    class Company {
      readonly name = 'acme';
      get version(): number {
        return 5;
      }
    }
    // JSON.stringify leaves the getter out: nothing numeric is stored, so any version wins.
    await store.upsert('c', 'g', new Company() as unknown as Record<string, unknown>, {
      ifNewer: 'version',
    });
    expect(columnsOf(store, 'g')).toEqual({ version_field: null, version: null });
    expect((await store.upsert('c', 'g', { version: 1 }, { ifNewer: 'version' })).written).toBe(
      true,
    );
    // `_key` is the store's: the document's own is replaced by the key.
    await store.upsert('c', 'k', { _key: 5 }, { ifNewer: '_key' });
    expect(columnsOf(store, 'k')).toEqual({ version_field: null, version: null });
    expect((await store.upsert('c', 'k', { _key: 4 }, { ifNewer: '_key' })).written).toBe(true);
  });

  it('a document changed by SQL that does not know the columns is guarded by its new content', async () => {
    // An earlier Troupe sharing the file during a rolling deploy writes the document only.
    const store = openStore();
    await store.upsert('c', 'k', { version: 5 }, { ifNewer: 'version' });
    const other = new Database(store.path);
    other
      .prepare(
        'UPDATE troupe_documents SET doc = ? WHERE collection = ? AND key = ? AND json_extract(doc, ?) < ?',
      )
      .run(JSON.stringify({ _key: 'k', version: 9 }), 'c', 'k', '$."version"', 9);
    other.close();
    expect((await store.upsert('c', 'k', { version: 7 }, { ifNewer: 'version' })).written).toBe(
      false,
    );
    expect(await store.get('c', 'k')).toEqual({ _key: 'k', version: 9 });
    expect((await store.upsert('c', 'k', { version: 10 }, { ifNewer: 'version' })).written).toBe(
      true,
    );
  });
});

describe('SqliteStore: opening a file another process is creating', () => {
  // Two processes opening one new file at once (replicas, or the CLI beside the app):
  // the first creates the schema and switches to WAL under an exclusive lock. The other
  // waits for it with the store's busyTimeout, as its writes would, rather than with the
  // main connection's short read timeout, and opens.
  it('waits for the lock with busyTimeout and opens', async () => {
    const dir = join(root, 'opening');
    mkdirSync(dir);
    const path = join(dir, 'troupe.db');
    // Another thread creates the file and holds its exclusive lock (not in WAL mode yet,
    // so readers wait too) for a second: four times the main connection's read timeout
    // (250 ms), and well inside busyTimeout (5 s).
    const holder = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const Database = require(workerData.module);
       const db = new Database(workerData.path);
       db.exec('BEGIN EXCLUSIVE');
       parentPort.postMessage('locked');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
       db.exec('COMMIT');
       db.close();`,
      {
        eval: true,
        workerData: { path, module: createRequire(import.meta.url).resolve('better-sqlite3') },
      },
    );
    try {
      await new Promise((resolve) => holder.once('message', resolve));
      const store = openStore({}, path);
      expect(await store.health()).toMatchObject({ healthy: true });
    } finally {
      await holder.terminate();
    }
  });
});

describe('SqliteStore: errors', () => {
  // Issue 13 (3): a read-only store dead-lettered every message as PERMANENT while
  // /readyz said 200.
  it('a store that can read but not write is unhealthy, and its writes fail as the store (TransientError)', async () => {
    const store = openStore({ writer: 'inline' });
    await store.upsert('c', 'a', { n: 1 });
    store.database.pragma('query_only = 1');
    expect(await store.health()).toMatchObject({
      healthy: false,
      reason: expect.stringMatching(/SQLITE_READONLY/) as unknown,
    });
    await expect(store.upsert('c', 'k', { n: 1 })).rejects.toBeInstanceOf(TransientError);
    await expect(
      store.bulkWrite([{ collection: 'c', key: 'k', document: { n: 1 } }]),
    ).rejects.toBeInstanceOf(TransientError);
    store.database.pragma('query_only = 0');
    expect(await store.health()).toMatchObject({ healthy: true });
  });

  it('a write blocked by another connection past busyTimeout is a TransientError', async () => {
    const path = join(root, 'busy', 'troupe.db');
    const holder = openStore({}, path);
    const waiter = openStore({ busyTimeout: 50 }, path);
    holder.database.exec('BEGIN IMMEDIATE');
    try {
      const error: unknown = await waiter.upsert('c', 'k', { a: 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toMatch(/SQLITE_BUSY/);
      await expect(waiter.bulkUpsert('c', [{ key: 'k', document: {} }])).rejects.toBeInstanceOf(
        TransientError,
      );
    } finally {
      holder.database.exec('ROLLBACK');
    }
    expect(await waiter.upsert('c', 'k', { a: 1 })).toEqual({ written: true });
  });

  it.each(['', '1starts-with-digit', 'has space', 'a/b', 'x'.repeat(257)])(
    'rejects the collection name %j with a PermanentError',
    async (name) => {
      const store = openStore();
      await expect(store.ensureCollection(name)).rejects.toBeInstanceOf(PermanentError);
      await expect(store.upsert(name, 'k', {})).rejects.toBeInstanceOf(PermanentError);
    },
  );

  it('rejects a version field name that cannot be a JSON path', async () => {
    const store = openStore();
    await expect(store.upsert('c', 'k', { 'a"b': 1 }, { ifNewer: 'a"b' })).rejects.toBeInstanceOf(
      PermanentError,
    );
  });

  it('rejects a non-finite version', async () => {
    const store = openStore();
    await expect(
      store.upsert('c', 'k', { version: Number.NaN }, { ifNewer: 'version' }),
    ).rejects.toBeInstanceOf(PermanentError);
  });

  it('a document JSON cannot encode is a PermanentError', async () => {
    const store = openStore();
    await expect(store.upsert('c', 'k', { big: 1n })).rejects.toBeInstanceOf(PermanentError);
  });

  it('a closed store rejects with a PermanentError; close is idempotent', async () => {
    const store = openStore();
    await store.close();
    await store.close();
    await expect(store.upsert('c', 'k', {})).rejects.toBeInstanceOf(PermanentError);
    await expect(store.get('c', 'k')).rejects.toBeInstanceOf(PermanentError);
  });

  it('a failed batch rolls back whole', async () => {
    const store = openStore();
    await store.ensureCollection('c');
    store.database.exec(`
      CREATE TRIGGER refuse BEFORE INSERT ON troupe_documents WHEN NEW.key = 'poison'
      BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    await expect(
      store.bulkUpsert('c', [
        { key: 'a', document: {} },
        { key: 'poison', document: {} },
      ]),
    ).rejects.toBeInstanceOf(PermanentError);
    expect(await store.count('c')).toBe(0);
  });
});
