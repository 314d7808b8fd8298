// The embedded default store: keyed JSON documents in one SQLite file through
// better-sqlite3, in WAL mode. The version guard is part of the upsert statement, so it
// is evaluated atomically by SQLite, whichever connection or process writes.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  PermanentError,
  validCollection,
  validKey,
  type BulkWriteResult,
  type KeyedDocument,
  type Store,
  type StoredDocument,
  type StoreWrite,
  type UpsertOptions,
  type WriteOptions,
  type WriteOutcome,
  type WriteResult,
  writeEach,
} from '@troupe/core';
import Database from 'better-sqlite3';
import { classifySqliteError } from './classify.js';

/** How hard SQLite pushes a commit to the disk before it returns. */
export type SqliteSynchronous = 'normal' | 'full';

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * The database file; its directory is created when absent. `':memory:'` keeps
   * everything in memory (tests only: no WAL, nothing survives the process).
   * @default './data/troupe.db'
   */
  readonly path?: string;
  /**
   * `'full'`: every commit is fsynced to the write-ahead log before the write is
   * acknowledged, so an acknowledged write survives a process kill, an OS crash and a
   * power cut. `'normal'`: the WAL is fsynced only at checkpoints; an acknowledged write
   * survives a process kill (`kill -9`: it is in the OS page cache), but the last
   * transactions may roll back after an OS crash or power cut. Neither mode can corrupt
   * the file.
   * @default 'full'
   */
  readonly synchronous?: SqliteSynchronous;
  /**
   * Milliseconds a write waits for another connection's lock before failing with
   * `SQLITE_BUSY` (a {@link TransientError}, retried by the worker's backoff). better-sqlite3
   * waits synchronously, blocking the event loop (every processor, /metrics, AMQP
   * heartbeats) for as long as this: keep it short and let retries do the waiting.
   * @default 250
   */
  readonly busyTimeout?: number;
}

/** What {@link SqliteStore.health} found. */
export type SqliteHealth =
  | { readonly healthy: true; readonly path: string; readonly journalMode: string }
  | { readonly healthy: false; readonly path: string; readonly error: Error };

const fieldPattern = /^[^"\\]{1,256}$/;

/** The JSON path of a version field, e.g. `$."version"`. */
function versionPath(field: string): string {
  if (!fieldPattern.test(field)) {
    throw new PermanentError(`invalid version field name ${JSON.stringify(field)}`);
  }
  return `$."${field}"`;
}

function checkVersion(document: Readonly<Record<string, unknown>>, field: string): void {
  const version = document[field];
  if (typeof version !== 'number' || !Number.isFinite(version)) {
    throw new PermanentError(`version field ${JSON.stringify(field)} must be a finite number`);
  }
}

function encode(key: string, document: Readonly<Record<string, unknown>>): string {
  return JSON.stringify({ ...document, _key: key });
}

/** Runs a synchronous operation as the port's promise, with errors classified. */
function settle<T>(operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (error) {
    return Promise.reject(classifySqliteError(error));
  }
}

// One table holds every collection's documents, keyed by (collection, key) in a
// WITHOUT ROWID B-tree: collection names are values, never SQL identifiers, so no
// dynamic DDL and nothing to quote; `count` and `get` are primary-key prefix look-ups.
const schema = `
CREATE TABLE IF NOT EXISTS troupe_collections (
  name TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS troupe_documents (
  collection TEXT NOT NULL,
  key TEXT NOT NULL,
  doc TEXT NOT NULL CHECK (json_valid(doc)),
  PRIMARY KEY (collection, key)
) WITHOUT ROWID;
`;

const upsertSql = `
INSERT INTO troupe_documents (collection, key, doc) VALUES (@collection, @key, @doc)
ON CONFLICT (collection, key) DO UPDATE SET doc = excluded.doc`;

// The version guard, evaluated by SQLite inside the statement: the stored document is
// replaced only when it has no numeric version or a lower one. A skipped row counts
// zero changes.
const upsertIfNewerSql = `${upsertSql}
WHERE coalesce(json_type(troupe_documents.doc, @path), 'null') NOT IN ('integer', 'real')
   OR json_extract(excluded.doc, @path) > json_extract(troupe_documents.doc, @path)`;

interface Statements {
  readonly ensure: Database.Statement<[string]>;
  readonly get: Database.Statement<[string, string], { doc: string }>;
  readonly upsert: Database.Statement<[{ collection: string; key: string; doc: string }]>;
  readonly upsertIfNewer: Database.Statement<
    [{ collection: string; key: string; doc: string; path: string }]
  >;
  readonly remove: Database.Statement<[string, string]>;
  readonly count: Database.Statement<[string], { n: number }>;
}

/**
 * Troupe's embedded default {@link Store}: one SQLite file in WAL mode. Writes are
 * synchronous in SQLite and acknowledged only once committed; see
 * {@link SqliteStoreOptions.synchronous} for what "committed" survives.
 *
 * @example
 * const store = new SqliteStore({ path: './data/troupe.db' });
 * await store.ensureCollection('companies');
 * await store.upsert('companies', id, company, { ifNewer: 'version' });
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #statements: Statements;
  readonly #bulk: (
    collection: string,
    documents: readonly KeyedDocument[],
    path: string | undefined,
  ) => number;
  readonly #patch: (collection: string, key: string, patch: string) => void;
  /** The file this store writes, or `':memory:'`. */
  readonly path: string;

  constructor(options: SqliteStoreOptions = {}) {
    const path = options.path ?? './data/troupe.db';
    const synchronous = options.synchronous ?? 'full';
    const busyTimeout = options.busyTimeout ?? 250;
    if (synchronous !== 'full' && synchronous !== 'normal') {
      throw new PermanentError(
        `synchronous: expected 'full' or 'normal', got ${String(synchronous)}`,
      );
    }
    this.path = path;
    try {
      if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
      this.#db = new Database(path, { timeout: busyTimeout });
      if (path !== ':memory:' && path !== '') this.#db.pragma('journal_mode = WAL');
      this.#db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
      this.#db.exec(schema);
      const db = this.#db;
      this.#statements = {
        ensure: db.prepare('INSERT OR IGNORE INTO troupe_collections (name) VALUES (?)'),
        get: db.prepare('SELECT doc FROM troupe_documents WHERE collection = ? AND key = ?'),
        upsert: db.prepare(upsertSql),
        upsertIfNewer: db.prepare(upsertIfNewerSql),
        remove: db.prepare('DELETE FROM troupe_documents WHERE collection = ? AND key = ?'),
        count: db.prepare('SELECT count(*) AS n FROM troupe_documents WHERE collection = ?'),
      };
    } catch (error) {
      throw classifySqliteError(error);
    }
    const statements = this.#statements;
    const write = (collection: string, key: string, doc: string, path: string | undefined) =>
      path === undefined
        ? statements.upsert.run({ collection, key, doc }).changes
        : statements.upsertIfNewer.run({ collection, key, doc, path }).changes;
    // BEGIN IMMEDIATE takes the write lock up front, so a transaction never has to
    // upgrade a read lock (which fails at once with SQLITE_BUSY, whatever the timeout).
    const bulk = this.#db.transaction(
      (collection: string, documents: readonly KeyedDocument[], path: string | undefined) => {
        let written = 0;
        for (const { key, document } of documents) {
          written += write(collection, key, encode(key, document), path);
        }
        return written;
      },
    );
    this.#bulk = (collection, documents, path) => bulk.immediate(collection, documents, path);
    const patch = this.#db.transaction((collection: string, key: string, json: string) => {
      const stored = statements.get.get(collection, key);
      const merged = {
        ...(stored === undefined ? {} : (JSON.parse(stored.doc) as Record<string, unknown>)),
        ...(JSON.parse(json) as Record<string, unknown>),
        _key: key,
      };
      statements.upsert.run({ collection, key, doc: JSON.stringify(merged) });
    });
    this.#patch = (collection, key, json) => patch.immediate(collection, key, json);
  }

  /**
   * The better-sqlite3 connection: an escape hatch for processors that accept being tied
   * to this store (reporting queries, say). Documents are rows of `troupe_documents`
   * (`collection`, `key`, `doc` as JSON text).
   */
  get database(): Database.Database {
    return this.#db;
  }

  /** Health: a trivial query on the connection, without throwing (for readiness checks). */
  health(): Promise<SqliteHealth> {
    try {
      this.#db.prepare('SELECT 1').get();
      const journalMode = String(this.#db.pragma('journal_mode', { simple: true }));
      return Promise.resolve({ healthy: true, path: this.path, journalMode });
    } catch (error) {
      return Promise.resolve({
        healthy: false,
        path: this.path,
        error: classifySqliteError(error),
      });
    }
  }

  ensureCollection(collection: string): Promise<void> {
    return settle(() => void this.#statements.ensure.run(validCollection(collection)));
  }

  get(collection: string, key: string): Promise<StoredDocument | undefined> {
    return settle(() => {
      const row = this.#statements.get.get(validCollection(collection), key);
      return row === undefined ? undefined : (JSON.parse(row.doc) as StoredDocument);
    });
  }

  upsert(
    collection: string,
    key: string,
    document: Readonly<Record<string, unknown>>,
    options?: UpsertOptions,
  ): Promise<WriteResult> {
    return settle(() => {
      validCollection(collection);
      validKey(key);
      const field = options?.ifNewer;
      if (field === undefined) {
        this.#statements.upsert.run({ collection, key, doc: encode(key, document) });
        return { written: true };
      }
      const path = versionPath(field);
      checkVersion(document, field);
      const changes = this.#statements.upsertIfNewer.run({
        collection,
        key,
        doc: encode(key, document),
        path,
      }).changes;
      return { written: changes > 0 };
    });
  }

  patch(
    collection: string,
    key: string,
    patch: Readonly<Record<string, unknown>>,
  ): Promise<WriteResult> {
    return settle(() => {
      this.#patch(validCollection(collection), validKey(key), JSON.stringify(patch));
      return { written: true };
    });
  }

  remove(collection: string, key: string): Promise<boolean> {
    return settle(() => this.#statements.remove.run(validCollection(collection), key).changes > 0);
  }

  bulkUpsert(
    collection: string,
    documents: readonly KeyedDocument[],
    options?: UpsertOptions,
  ): Promise<BulkWriteResult> {
    return settle(() => {
      validCollection(collection);
      const field = options?.ifNewer;
      const path = field === undefined ? undefined : versionPath(field);
      for (const { key, document } of documents) {
        validKey(key);
        if (field !== undefined) checkVersion(document, field);
      }
      if (documents.length === 0) return { written: 0, skipped: 0 };
      const written = this.#bulk(collection, documents, path);
      return { written, skipped: documents.length - written };
    });
  }

  /** One upsert after the other for now (a single transaction per batch is to come). */
  bulkWrite(
    writes: readonly StoreWrite[],
    options?: WriteOptions,
  ): Promise<readonly WriteOutcome[]> {
    return writeEach(this, writes, options);
  }

  count(collection: string): Promise<number> {
    return settle(() => this.#statements.count.get(validCollection(collection))?.n ?? 0);
  }

  /** Checkpoints the WAL into the database file and closes the connection. Idempotent. */
  close(): Promise<void> {
    return settle(() => {
      if (!this.#db.open) return;
      if (this.path !== ':memory:' && this.path !== '') this.#db.pragma('wal_checkpoint(TRUNCATE)');
      this.#db.close();
    });
  }
}
