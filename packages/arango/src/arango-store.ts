// The ArangoDB store: keyed, version-guarded writes through arangojs. Every write is one
// AQL query, so the version guard is evaluated by ArangoDB inside the query's transaction
// (never read in Node and written back), and a batch is one query too.
import {
  isValidKey,
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
import { Database } from 'arangojs';
import { classifyArangoError } from './classify.js';
import { resolveConnection, type ArangoStoreOptions } from './connection.js';

/** What {@link ArangoStore.health} found. */
export type ArangoHealth =
  | {
      readonly healthy: true;
      /** `arango`. */
      readonly server: string;
      /** e.g. `3.12.4`. */
      readonly version: string;
      readonly latencyMs: number;
    }
  | { readonly healthy: false; readonly error: Error; readonly latencyMs: number };

function checkVersion(document: Readonly<Record<string, unknown>>, field: string): void {
  const version = document[field];
  if (typeof version !== 'number' || !Number.isFinite(version)) {
    throw new PermanentError(`version field ${JSON.stringify(field)} must be a finite number`);
  }
}

/** A document as ArangoDB should store it: JSON (no shared references), keyed by `key`. */
function encode(key: string, document: Readonly<Record<string, unknown>>): Record<string, unknown> {
  let copy: Record<string, unknown>;
  try {
    copy = JSON.parse(JSON.stringify(document)) as Record<string, unknown>;
  } catch (error) {
    throw new PermanentError(`document ${JSON.stringify(key)} is not JSON`, { cause: error });
  }
  delete copy['_id'];
  delete copy['_rev'];
  return { ...copy, _key: key };
}

/** ArangoDB's duplicate-name error: the collection exists already. */
const duplicateName = 1207;

/** ArangoDB's "collection or view not found" (1203), once classified. */
function isCollectionNotFound(error: unknown): boolean {
  const cause = error instanceof PermanentError ? error.cause : undefined;
  return (cause as { errorNum?: unknown } | null | undefined)?.errorNum === 1203;
}

/**
 * The AQL of every keyed write: one query for one document or a batch. With a version
 * field, the stored document is read and the write filtered inside the query's
 * transaction: a concurrent write to the same key makes one of the two fail with a
 * write-write conflict (1200), which is retried, so the higher version always wins.
 * `overwriteMode: "replace"` makes the insert an insert-or-replace by `_key`.
 */
export const upsertQuery = `LET written = (
  FOR d IN @docs
    INSERT d INTO @@collection OPTIONS { overwriteMode: "replace" }
    RETURN 1
)
RETURN LENGTH(written)`;

/** {@link upsertQuery} with the version guard (`@field`) evaluated by ArangoDB. */
export const upsertIfNewerQuery = `LET written = (
  FOR d IN @docs
    LET old = DOCUMENT(@@collection, d._key)
    FILTER old == null || !IS_NUMBER(old[@field]) || old[@field] < d[@field]
    INSERT d INTO @@collection OPTIONS { overwriteMode: "replace" }
    RETURN 1
)
RETURN LENGTH(written)`;

/** Insert, or merge the top-level fields into the stored document (nested objects replaced). */
export const patchQuery = `INSERT @doc INTO @@collection
  OPTIONS { overwriteMode: "update", mergeObjects: false, keepNull: true }
RETURN 1`;

export const getQuery = `LET d = DOCUMENT(@@collection, @key)
RETURN d == null ? null : UNSET(d, "_id", "_rev")`;

export const removeQuery = `LET d = DOCUMENT(@@collection, @key)
FILTER d != null
REMOVE d IN @@collection
RETURN 1`;

export const countQuery = 'RETURN LENGTH(@@collection)';

/**
 * A {@link Store} on ArangoDB through arangojs 10. Create it with
 * {@link ArangoStore.connect}, which checks the server and creates the collections.
 *
 * @example
 * const store = await ArangoStore.connect({
 *   url: 'https://troupe:secret@arango.internal:8529/troupe',
 *   ca: readFileSync('/etc/troupe/arango-ca.pem'),
 *   collections: ['companies'],
 * });
 * await store.upsert('companies', id, company, { ifNewer: 'version' });
 */
export class ArangoStore implements Store {
  readonly #db: Database;
  readonly #ensured = new Set<string>();
  readonly #queryOptions: { readonly retryOnConflict?: number; readonly timeout?: number };

  /** Builds the store without a request; {@link ArangoStore.connect} also checks and prepares. */
  constructor(options: ArangoStoreOptions) {
    const { config } = resolveConnection(options);
    this.#db = new Database(config);
    // arangojs's `query()` sends its own (undefined) `retryOnConflict` and `timeout`,
    // which hide the connection-wide defaults: pass them with every query.
    this.#queryOptions = {
      ...(config.retryOnConflict === undefined ? {} : { retryOnConflict: config.retryOnConflict }),
      ...(config.timeout === undefined ? {} : { timeout: config.timeout }),
    };
  }

  /**
   * Connects: checks that the server answers (a `TransientError` when it does not),
   * creates `options.collections` when absent and ensures `options.indexes`.
   */
  static async connect(options: ArangoStoreOptions): Promise<ArangoStore> {
    const store = new ArangoStore(options);
    try {
      await store.#run(() => store.#db.version());
      for (const collection of options.collections ?? []) await store.ensureCollection(collection);
      for (const [collection, indexes] of Object.entries(options.indexes ?? {})) {
        await store.ensureCollection(collection);
        for (const index of indexes) {
          await store.#run(() => store.#db.collection(collection).ensureIndex(index));
        }
      }
      return store;
    } catch (error) {
      await store.close();
      throw error;
    }
  }

  /**
   * The arangojs `Database`: an escape hatch (raw AQL, transactions, indexes) for
   * processors that accept being tied to ArangoDB. Its errors are not classified.
   */
  get database(): Database {
    return this.#db;
  }

  /** Runs a request and classifies what it throws. */
  async #run<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw classifyArangoError(error);
    }
  }

  async #one<T>(query: string, bindVars: Record<string, unknown>): Promise<T | undefined> {
    return this.#run(async () => {
      const cursor = await this.#db.query<T>(query, bindVars, this.#queryOptions);
      const [first] = await cursor.all();
      return first;
    });
  }

  /**
   * Runs a write; when its collection does not exist (1203), creates it and runs the write
   * once more — collections are created on first write, as in the other stores.
   */
  async #write<T>(collection: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (!isCollectionNotFound(error)) throw error;
      this.#ensured.delete(collection);
      await this.ensureCollection(collection);
      return write();
    }
  }

  /** Runs a read; an unknown collection (1203) holds nothing, as in the other stores. */
  async #read<T>(read: () => Promise<T>, empty: T): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (isCollectionNotFound(error)) return empty;
      throw error;
    }
  }

  /** Health: the server's version and the round trip, without throwing. */
  async health(): Promise<ArangoHealth> {
    const started = performance.now();
    try {
      const { server, version } = await this.#run(() => this.#db.version());
      return { healthy: true, server, version, latencyMs: performance.now() - started };
    } catch (error) {
      return {
        healthy: false,
        error: error instanceof Error ? error : new Error(String(error)),
        latencyMs: performance.now() - started,
      };
    }
  }

  /** Creates the collection (a document collection) unless it exists. */
  async ensureCollection(collection: string): Promise<void> {
    validCollection(collection);
    if (this.#ensured.has(collection)) return;
    await this.#run(async () => {
      try {
        await this.#db.createCollection(collection);
      } catch (error) {
        const errorNum = (error as { errorNum?: unknown } | null)?.errorNum;
        if (errorNum !== duplicateName) throw error;
      }
    });
    this.#ensured.add(collection);
  }

  async get(collection: string, key: string): Promise<StoredDocument | undefined> {
    validCollection(collection);
    if (!isValidKey(key)) return undefined;
    const document = await this.#read(
      () => this.#one<StoredDocument | null>(getQuery, { '@collection': collection, key }),
      undefined,
    );
    return document ?? undefined;
  }

  async upsert(
    collection: string,
    key: string,
    document: Readonly<Record<string, unknown>>,
    options?: UpsertOptions,
  ): Promise<WriteResult> {
    const { written } = await this.bulkUpsert(collection, [{ key, document }], options);
    return { written: written > 0 };
  }

  async patch(
    collection: string,
    key: string,
    patch: Readonly<Record<string, unknown>>,
  ): Promise<WriteResult> {
    validCollection(collection);
    validKey(key);
    const doc = encode(key, patch);
    await this.#write(collection, () => this.#one(patchQuery, { '@collection': collection, doc }));
    return { written: true };
  }

  async remove(collection: string, key: string): Promise<boolean> {
    validCollection(collection);
    if (!isValidKey(key)) return false;
    const removed = await this.#read(
      () => this.#one<number>(removeQuery, { '@collection': collection, key }),
      undefined,
    );
    return removed === 1;
  }

  async bulkUpsert(
    collection: string,
    documents: readonly KeyedDocument[],
    options?: UpsertOptions,
  ): Promise<BulkWriteResult> {
    validCollection(collection);
    const field = options?.ifNewer;
    // One document per key: whether a query reads its own earlier writes to the same key
    // is not something to rely on, so the batch keeps, per key, the document that would
    // have won applied in order — the highest version, or without a guard the last one.
    const byKey = new Map<string, Record<string, unknown>>();
    for (const { key, document } of documents) {
      validKey(key);
      if (field !== undefined) checkVersion(document, field);
      const doc = encode(key, document);
      const previous = byKey.get(key);
      if (
        previous === undefined ||
        field === undefined ||
        (doc[field] as number) > (previous[field] as number)
      ) {
        byKey.set(key, doc);
      }
    }
    const docs = [...byKey.values()];
    if (docs.length === 0) return { written: 0, skipped: 0 };
    const written =
      field === undefined
        ? await this.#write(collection, () =>
            this.#one<number>(upsertQuery, { '@collection': collection, docs }),
          )
        : await this.#write(collection, () =>
            this.#one<number>(upsertIfNewerQuery, { '@collection': collection, docs, field }),
          );
    const count = written ?? 0;
    return { written: count, skipped: documents.length - count };
  }

  /** One upsert after the other for now (one request per batch is to come). */
  bulkWrite(
    writes: readonly StoreWrite[],
    options?: WriteOptions,
  ): Promise<readonly WriteOutcome[]> {
    return writeEach(this, writes, options);
  }

  /** Whether the collection exists (GET /_api/collection/<name>). */
  async hasCollection(collection: string): Promise<boolean> {
    validCollection(collection);
    if (this.#ensured.has(collection)) return true;
    return this.#run(() => this.#db.collection(collection).exists());
  }

  async count(collection: string): Promise<number> {
    validCollection(collection);
    const count = await this.#read(
      () => this.#one<number>(countQuery, { '@collection': collection }),
      undefined,
    );
    return count ?? 0;
  }

  /** Closes the connections. Idempotent. */
  close(): Promise<void> {
    this.#db.close();
    return Promise.resolve();
  }
}
