// The embedded default store: keyed JSON documents in one SQLite file through
// better-sqlite3, in WAL mode. Writes are group-committed: every write queued while a
// commit runs goes into the next transaction, on a writer thread by default. The version
// guard is part of the upsert statement, so it is evaluated atomically by SQLite,
// whichever connection or process writes.
import {
  ConfigurationError,
  PermanentError,
  TransientError,
  validCollection,
  validKey,
  type BulkWriteResult,
  type KeyedDocument,
  type Store,
  type StoredDocument,
  type StoreWriteStats,
  type StoreWrite,
  type TroupeError,
  type UpsertOptions,
  type WriteOptions,
  type WriteOutcome,
  type WriteResult,
} from '@troupe/core';
import Database from 'better-sqlite3';
import { classifySqliteError } from './classify.js';
import { prepareDatabaseFile } from './internal/file.js';
import {
  GroupCommit,
  InlineCommitter,
  ThreadCommitter,
  GroupFailed,
  Refused,
  type GroupStats,
} from './internal/group-commit.js';
import {
  prepareSchema,
  Writer,
  type EncodedWrite,
  type Operation,
  type OperationResult,
  type PlainError,
} from './internal/group.js';

/** How hard SQLite pushes a commit to the disk before it returns. */
export type SqliteSynchronous = 'normal' | 'full';

/** Where the store's commits run. */
export type SqliteWriterMode = 'thread' | 'inline';

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * The database file; its directory is created when absent. `':memory:'` keeps
   * everything in memory (tests only: no WAL, nothing survives the process, and the
   * writer is always `'inline'`).
   * @default './data/troupe.db'
   */
  readonly path?: string;
  /**
   * `'full'`: every commit is fsynced to the write-ahead log before its writes are
   * acknowledged, so an acknowledged write survives a process kill, an OS crash and a
   * power cut. `'normal'`: the WAL is fsynced only at checkpoints; an acknowledged write
   * survives a process kill (`kill -9`: it is in the OS page cache), but the last
   * transactions may roll back after an OS crash or power cut. Neither mode can corrupt
   * the file.
   * @default 'full'
   */
  readonly synchronous?: SqliteSynchronous;
  /**
   * Where commits run. `'thread'`: a worker thread owns the writing connection, so a
   * commit's fsync and a wait for another process's lock never block the event loop
   * (heartbeats, acks, /healthz); reads use a second connection on the main thread.
   * `'inline'`: one connection on the main thread, which each commit blocks. Either way,
   * writes that arrive while a commit runs are committed together in the next one.
   * @default 'thread'
   */
  readonly writer?: SqliteWriterMode;
  /**
   * Milliseconds a commit waits for another connection's lock before failing with
   * `SQLITE_BUSY` (a {@link TransientError}, retried by the worker's backoff). With
   * `writer: 'inline'` the wait blocks the event loop: keep it short there. Opening the
   * store waits as long for another process creating the same file.
   * @default 5000 with writer 'thread', 250 with writer 'inline'
   */
  readonly busyTimeout?: number;
}

/** What {@link SqliteStore.health} found. */
export type SqliteHealth =
  | { readonly healthy: true; readonly path: string; readonly journalMode: string }
  | {
      readonly healthy: false;
      readonly path: string;
      /** Why, in one line: e.g. `sqlite: SQLITE_READONLY: attempt to write a readonly database`. */
      readonly reason: string;
      readonly error: Error;
    };

const fieldPattern = /^[^"\\]{1,256}$/;

/** A version field's name, checked: it becomes a JSON path, `$."<field>"`, on the writer. */
function checkField(field: string): string {
  if (!fieldPattern.test(field)) {
    throw new PermanentError(`invalid version field name ${JSON.stringify(field)}`);
  }
  return field;
}

function versionOf(document: Readonly<Record<string, unknown>>, field: string): number {
  const version = document[field];
  if (typeof version !== 'number' || !Number.isFinite(version)) {
    throw new PermanentError(`version field ${JSON.stringify(field)} must be a finite number`);
  }
  return version;
}

/**
 * Whether the JSON of `document` carries its `field` as read: an own, enumerable property
 * of a document without `toJSON`, and not `_key` (which the store sets). Only then does
 * the row's version column record it; otherwise the guard reads the JSON.
 */
function recordsVersion(document: Readonly<Record<string, unknown>>, field: string): boolean {
  return (
    field !== '_key' &&
    !('toJSON' in document) &&
    Object.prototype.propertyIsEnumerable.call(document, field)
  );
}

/**
 * The JSON text of `{ ...document, _key: key }`. A plain object without `_key` or
 * `toJSON` is encoded as it is and `_key` appended to the text: the same text, without
 * the copy (the copy made JSON.stringify take four times as long).
 */
function withKey(document: Readonly<Record<string, unknown>>, key: string): string {
  const prototype: unknown = Object.getPrototypeOf(document);
  if (
    (prototype !== Object.prototype && prototype !== null) ||
    '_key' in document ||
    'toJSON' in document
  ) {
    return JSON.stringify({ ...document, _key: key });
  }
  const json = JSON.stringify(document);
  return `${json.length === 2 ? '{' : `${json.slice(0, -1)},`}"_key":${JSON.stringify(key)}}`;
}

/** Validates and encodes one write on the caller's thread; throws a PermanentError. */
function encodeWrite(
  collection: string,
  key: string,
  document: Readonly<Record<string, unknown>>,
  field: string | undefined,
): EncodedWrite {
  validCollection(collection);
  validKey(key);
  let version = 0;
  if (field !== undefined) {
    version = versionOf(document, checkField(field));
    if (!recordsVersion(document, field)) version = Number.NaN;
  }
  let doc: string;
  try {
    doc = withKey(document, key);
  } catch (error) {
    throw classifySqliteError(error);
  }
  return { collection, key, doc, field: field ?? null, version };
}

/** A failure of a statement, as core's taxonomy. */
function fromPlain(error: PlainError): TroupeError {
  const revived =
    error.name === 'RangeError'
      ? new RangeError(error.message)
      : error.name === 'TypeError'
        ? new TypeError(error.message)
        : Object.assign(
            new Error(error.message),
            error.code === undefined ? {} : { code: error.code },
          );
  return classifySqliteError(revived);
}

/** Runs a synchronous operation as the port's promise, with errors classified. */
function settle<T>(operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (error) {
    return Promise.reject(classifySqliteError(error));
  }
}

/**
 * Troupe's embedded default {@link Store}: one SQLite file in WAL mode. Writes are
 * group-committed (see {@link SqliteStoreOptions.writer}) and acknowledged only once
 * their commit returned; see {@link SqliteStoreOptions.synchronous} for what "committed"
 * survives.
 *
 * @example
 * const store = new SqliteStore({ path: './data/troupe.db' });
 * await store.ensureCollection('companies');
 * await store.upsert('companies', id, company, { ifNewer: 'version' });
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[string, string], { doc: string }>;
  readonly #count: Database.Statement<[string], { n: number }>;
  readonly #exists: Database.Statement<[string, string], { n: number }>;
  readonly #group: GroupCommit;
  /** The file this store writes, or `':memory:'`. */
  readonly path: string;
  /** Where commits run. */
  readonly writer: SqliteWriterMode;

  /**
   * Opens (and creates) the file. Throws a ConfigurationError naming the path when its
   * directory cannot be created or written, or the file is read-only.
   */
  constructor(options: SqliteStoreOptions = {}) {
    const path = options.path ?? './data/troupe.db';
    const synchronous = options.synchronous ?? 'full';
    if (synchronous !== 'full' && synchronous !== 'normal') {
      throw new ConfigurationError(
        'synchronous',
        `expected 'full' or 'normal', got ${String(synchronous)}`,
      );
    }
    const onDisk = path !== ':memory:' && path !== '';
    const writer = onDisk ? (options.writer ?? 'thread') : 'inline';
    if (writer !== 'thread' && writer !== 'inline') {
      throw new ConfigurationError(
        'writer',
        `expected 'thread' or 'inline', got ${String(writer)}`,
      );
    }
    const busyTimeout = options.busyTimeout ?? (writer === 'thread' ? 5000 : 250);
    this.path = path;
    this.writer = writer;
    if (onDisk) prepareDatabaseFile(path);
    let opened: Database.Database | undefined;
    try {
      // Opening may wait for another process creating the same file (the schema, the
      // switch to WAL) as long as a write would; afterwards, with the writer thread, the
      // main connection only reads, and a read in WAL mode never waits long.
      this.#db = opened = new Database(path, { timeout: busyTimeout });
      if (onDisk) this.#db.pragma('journal_mode = WAL');
      this.#db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
      prepareSchema(this.#db);
      if (writer === 'thread') this.#db.pragma('busy_timeout = 250');
      this.#get = this.#db.prepare(
        'SELECT doc FROM troupe_documents WHERE collection = ? AND key = ?',
      );
      this.#count = this.#db.prepare(
        'SELECT count(*) AS n FROM troupe_documents WHERE collection = ?',
      );
      this.#exists = this.#db.prepare(`SELECT
        EXISTS (SELECT 1 FROM troupe_collections WHERE name = ?)
        OR EXISTS (SELECT 1 FROM troupe_documents WHERE collection = ?) AS n`);
    } catch (error) {
      // A connection that opened and then failed (the schema, a pragma) is closed, not leaked.
      try {
        opened?.close();
      } catch {
        // Closing what failed to open properly: the open's error is the one to report.
      }
      const failure = classifySqliteError(error);
      throw new ConfigurationError('path', `cannot open ${path}: ${failure.message}`, {
        cause: error,
      });
    }
    this.#group = new GroupCommit(
      writer === 'thread'
        ? new ThreadCommitter({
            path,
            synchronous: synchronous === 'full' ? 'FULL' : 'NORMAL',
            busyTimeout,
          })
        : new InlineCommitter(new Writer(this.#db)),
    );
  }

  /**
   * The better-sqlite3 connection the store reads with: an escape hatch for processors
   * that accept being tied to this store (reporting queries, say). Documents are rows of
   * `troupe_documents` (`collection`, `key`, `doc` as JSON text; `version_field` and
   * `version` are the version guard's, cleared by a trigger when `doc` is changed alone).
   * With the `'thread'` writer, the store's own writes go through another connection.
   */
  get database(): Database.Database {
    return this.#db;
  }

  /** Commits and the operations they carried, for tests and benchmarks. */
  get groupStats(): Readonly<GroupStats> {
    return this.#group.stats;
  }

  /** Group commits so far and the calls and documents they carried (for metrics). */
  writeStats(): StoreWriteStats {
    const { commits, failures, operations, documents } = this.#group.stats;
    return { commits, failures, calls: operations, documents };
  }

  /**
   * Queues `operation` for the next group commit; rejects with the store's failure. Not
   * async, and neither is {@link #writes}: an async frame would keep the operation (and
   * its encoded documents) alive until its commit returns.
   */
  #submit(operation: Operation, signal?: AbortSignal): Promise<OperationResult> {
    return this.#group.submit(operation, signal).catch((reason: unknown) => {
      if (reason instanceof Refused) {
        throw reason.reason === 'aborted'
          ? new TransientError('sqlite: aborted before its commit')
          : new PermanentError('sqlite: the store is closed');
      }
      throw reason instanceof GroupFailed ? fromPlain(reason.failure) : classifySqliteError(reason);
    });
  }

  #value(operation: Operation): Promise<number> {
    return this.#submit(operation).then((result) => {
      if (!result.ok) throw fromPlain(result.error);
      return result.value as number;
    });
  }

  /**
   * Health, without throwing (for readiness checks): a read on the main connection, then
   * a write through the writer that is rolled back, so a store that can read but not
   * write (a read-only file or file system) is unhealthy, with the reason.
   */
  async health(): Promise<SqliteHealth> {
    try {
      this.#db.prepare('SELECT 1').get();
      const journalMode = String(this.#db.pragma('journal_mode', { simple: true }));
      await this.#value({ type: 'probe' });
      return { healthy: true, path: this.path, journalMode };
    } catch (error) {
      const failure = classifySqliteError(error);
      return { healthy: false, path: this.path, reason: failure.message, error: failure };
    }
  }

  async ensureCollection(collection: string): Promise<void> {
    await this.#value({ type: 'ensure', collection: validCollection(collection) });
  }

  /**
   * Whether `collection` exists: ensured, or written to (a first write creates a
   * collection, as in the other stores).
   */
  hasCollection(collection: string): Promise<boolean> {
    return settle(() => {
      validCollection(collection);
      return this.#exists.get(collection, collection)?.n === 1;
    });
  }

  get(collection: string, key: string): Promise<StoredDocument | undefined> {
    return settle(() => {
      const row = this.#get.get(validCollection(collection), key);
      return row === undefined ? undefined : (JSON.parse(row.doc) as StoredDocument);
    });
  }

  async upsert(
    collection: string,
    key: string,
    document: Readonly<Record<string, unknown>>,
    options?: UpsertOptions,
  ): Promise<WriteResult> {
    const [outcome] = await this.#writes([
      encodeWrite(collection, key, document, options?.ifNewer),
    ]);
    if (outcome === undefined) throw new PermanentError('sqlite: no outcome');
    if (!outcome.ok) throw outcome.error;
    return { written: outcome.written };
  }

  async patch(
    collection: string,
    key: string,
    patch: Readonly<Record<string, unknown>>,
  ): Promise<WriteResult> {
    validCollection(collection);
    validKey(key);
    let json: string;
    try {
      json = JSON.stringify(patch);
    } catch (error) {
      throw classifySqliteError(error);
    }
    await this.#value({ type: 'patch', collection, key, patch: json });
    return { written: true };
  }

  async remove(collection: string, key: string): Promise<boolean> {
    validCollection(collection);
    return (await this.#value({ type: 'remove', collection, key })) > 0;
  }

  /** All documents in one transaction: all or nothing. */
  bulkUpsert(
    collection: string,
    documents: readonly KeyedDocument[],
    options?: UpsertOptions,
  ): Promise<BulkWriteResult> {
    // Not async, as #writes: nothing here holds the encoded writes while they commit.
    let operation: Operation;
    try {
      validCollection(collection);
      const field = options?.ifNewer;
      if (field !== undefined) checkField(field);
      if (documents.length === 0) return Promise.resolve({ written: 0, skipped: 0 });
      operation = {
        type: 'bulk',
        writes: documents.map(({ key, document }) => encodeWrite(collection, key, document, field)),
      };
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const total = documents.length;
    return this.#value(operation).then((written) => ({ written, skipped: total - written }));
  }

  /**
   * Writes the batch in the next group commit, one transaction with every other call
   * queued meanwhile. Each write is validated and encoded first: an invalid key or
   * collection, a version field that is not a finite number or a document that JSON
   * cannot encode is that write's PermanentError outcome; so is a statement SQLite
   * refuses for that write alone (a document nested deeper than SQLite's JSON limit).
   * The call resolves once the commit returned. A failure of the store (the lock held
   * past `busyTimeout`, the disk, a read-only file) rejects it with a TransientError.
   *
   * `options.signal`: a call aborted while it waits for its commit is dropped and
   * rejects with a TransientError; once its commit has started it completes.
   */
  bulkWrite(
    writes: readonly StoreWrite[],
    options?: WriteOptions,
  ): Promise<readonly WriteOutcome[]> {
    if (options?.signal?.aborted === true) {
      return Promise.reject(new TransientError('sqlite: aborted before its commit'));
    }
    return this.#writes(
      writes.map((write) => {
        try {
          return encodeWrite(write.collection, write.key, write.document, write.ifNewer);
        } catch (error) {
          return classifySqliteError(error);
        }
      }),
      options?.signal,
    );
  }

  /** Commits the valid writes; an invalid one (an error already) is its own outcome. */
  #writes(
    items: readonly (EncodedWrite | TroupeError)[],
    signal?: AbortSignal,
  ): Promise<readonly WriteOutcome[]> {
    const outcomes: (WriteOutcome | undefined)[] = [];
    const valid: EncodedWrite[] = [];
    const positions: number[] = [];
    for (const [i, item] of items.entries()) {
      if (item instanceof Error) {
        outcomes.push({ ok: false, error: item });
      } else {
        valid.push(item);
        positions.push(i);
        outcomes.push(undefined);
      }
    }
    if (valid.length === 0) return Promise.resolve(outcomes as WriteOutcome[]);
    return this.#submit({ type: 'writes', writes: valid }, signal).then((result) => {
      if (!result.ok) throw fromPlain(result.error);
      const written = result.value as ArrayLike<number | { error: PlainError }>;
      for (const [j, position] of positions.entries()) {
        const own = written[j];
        outcomes[position] =
          typeof own === 'number'
            ? { ok: true, written: own > 0 }
            : {
                ok: false,
                error: fromPlain(own?.error ?? { name: 'Error', message: 'no result' }),
              };
      }
      return outcomes as WriteOutcome[];
    });
  }

  count(collection: string): Promise<number> {
    return settle(() => this.#count.get(validCollection(collection))?.n ?? 0);
  }

  /**
   * Commits what is queued, checkpoints the WAL into the database file and closes the
   * connections. Idempotent.
   */
  async close(): Promise<void> {
    const failure = await this.#group.close();
    await settle(() => {
      if (!this.#db.open) return;
      if (this.path !== ':memory:' && this.path !== '') this.#db.pragma('wal_checkpoint(TRUNCATE)');
      this.#db.close();
    });
    if (failure !== undefined) throw fromPlain(failure);
  }
}
