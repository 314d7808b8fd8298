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
  type StoreWriteStats,
  type StoreWrite,
  type UpsertOptions,
  type WriteOptions,
  type WriteOutcome,
  type WriteResult,
  type TroupeError,
} from '@troupe/core';
import { Database } from 'arangojs';
import { classifyArangoError } from './classify.js';
import { resolveConnection, type ArangoStoreOptions } from './connection.js';
import { Coalescer, type CoalescerStats, type Group } from './internal/coalescer.js';

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
  | {
      readonly healthy: false;
      /**
       * Why, in one line, without credentials: e.g. `arango: ECONNREFUSED …`. An
       * unreachable server is a TransientError (`error.retryable`): retry, it is not
       * bad configuration.
       */
      readonly reason: string;
      readonly error: Error;
      readonly latencyMs: number;
    };

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
 * The AQL of a coalesced bulkWrite over `collections` collections (`@@c0`, `@w0`, …). Each
 * write is `{ i, doc, field }`: its position, the document, and its version field (or
 * null). Every version guard is read first (`DOCUMENT()` before any `INSERT`: AQL allows
 * no document-reading function after a data modification, and one `INSERT` per
 * collection), then each collection gets one `INSERT` over the writes its guard let
 * through, and the query returns the positions written. One request, one transaction; a
 * key appears at most once per query (the store sends later writes to the same key in a
 * following query, so they apply in order).
 */
export function bulkWriteQuery(collections: number): string {
  const range = Array.from({ length: collections }, (_, c) => c);
  const reads = range.map(
    (c) => `LET g${c} = (
  FOR w IN @w${c}
    LET old = w.field == null ? null : DOCUMENT(@@c${c}, w.doc._key)
    FILTER w.field == null || old == null || !IS_NUMBER(old[w.field]) || old[w.field] < w.doc[w.field]
    RETURN w
)`,
  );
  const writes = range.map(
    (c) => `LET r${c} = (
  FOR w IN g${c}
    INSERT w.doc INTO @@c${c} OPTIONS { overwriteMode: "replace" }
    RETURN w.i
)`,
  );
  return `${[...reads, ...writes].join('\n')}\nRETURN [${range.map((c) => `r${c}`).join(', ')}]`;
}

/** One write of a bulkWrite, validated and encoded. */
interface EncodedWrite {
  readonly collection: string;
  readonly doc: Record<string, unknown>;
  readonly field: string | null;
}

/** A write in a coalesced request: its position in the group. */
interface Entry extends EncodedWrite {
  readonly i: number;
  readonly call: number;
  readonly index: number;
}

/** Validates and encodes a write, or returns its PermanentError. */
function encodeWrite(write: StoreWrite): EncodedWrite | TroupeError {
  try {
    validCollection(write.collection);
    validKey(write.key);
    if (write.ifNewer !== undefined) checkVersion(write.document, write.ifNewer);
    return {
      collection: write.collection,
      doc: encode(write.key, write.document),
      field: write.ifNewer ?? null,
    };
  } catch (error) {
    return classifyArangoError(error);
  }
}

/** Splits entries into rounds in which each (collection, key) appears once, in order. */
function rounds(entries: readonly Entry[]): Entry[][] {
  const result: Entry[][] = [];
  const seen = new Map<string, number>();
  for (const entry of entries) {
    const id = `${entry.collection}/${String(entry.doc['_key'])}`;
    const round = seen.get(id) ?? 0;
    seen.set(id, round + 1);
    (result[round] ??= []).push(entry);
  }
  return result;
}

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
  readonly #writes: Coalescer<EncodedWrite | TroupeError, WriteOutcome>;

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
    const maxWriteRequests = options.maxWriteRequests ?? 2;
    // Writes refused before ArangoDB (a bad key) travel as their error: not documents sent.
    this.#writes = new Coalescer(
      (group) => this.#sendGroup(group),
      maxWriteRequests,
      (item) => !(item instanceof Error),
    );
  }

  /** Coalesced requests and the calls they carried, for tests and benchmarks. */
  get coalescerStats(): Readonly<CoalescerStats> {
    return this.#writes.stats;
  }

  /**
   * Coalesced `bulkWrite` groups so far (each one AQL query, more when it must be split)
   * and the calls and documents they carried (for metrics). Single writes (`upsert`,
   * `patch`, `remove`) go out on their own and are not counted.
   */
  writeStats(): StoreWriteStats {
    const { requests, failures, calls, items } = this.#writes.stats;
    return { commits: requests, failures, calls, documents: items };
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
      const failure = classifyArangoError(error);
      return {
        healthy: false,
        reason: failure.message,
        error: failure,
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

  /**
   * Writes the batch in one AQL query ({@link bulkWriteQuery}), together with every
   * other bulkWrite call that arrives while `maxWriteRequests` requests are in flight:
   * one request, one transaction, for all of them. Each write's outcome is its own: an
   * invalid key or collection, a version field that is not a finite number or a
   * document JSON cannot encode fails alone (PermanentError) before the request; when
   * ArangoDB refuses a document (a unique index, a document too large), the request is
   * split into one query per write so that only that write fails. A failure of the
   * server (unreachable, timeout, conflict past `retryOnConflict`) rejects the call with
   * a TransientError.
   *
   * `options.signal`: a call aborted while it waits for a request is dropped and
   * rejects with a TransientError; once its request is sent it completes.
   */
  bulkWrite(
    writes: readonly StoreWrite[],
    options?: WriteOptions,
  ): Promise<readonly WriteOutcome[]> {
    if (writes.length === 0 && options?.signal?.aborted !== true) return Promise.resolve([]);
    return this.#writes.submit(writes.map(encodeWrite), options?.signal);
  }

  /** Runs one round of entries (each key once) as one query; the positions written. */
  async #query(entries: readonly Entry[]): Promise<Set<number>> {
    const byCollection = new Map<string, Entry[]>();
    for (const entry of entries) {
      const list = byCollection.get(entry.collection) ?? [];
      list.push(entry);
      byCollection.set(entry.collection, list);
    }
    const collections = [...byCollection.keys()];
    const bindVars: Record<string, unknown> = {};
    for (const [c, name] of collections.entries()) {
      bindVars[`@c${c}`] = name;
      bindVars[`w${c}`] = (byCollection.get(name) ?? []).map(({ i, doc, field }) => ({
        i,
        doc,
        field,
      }));
    }
    const run = async (): Promise<Set<number>> => {
      const written = await this.#one<number[][]>(bulkWriteQuery(collections.length), bindVars);
      return new Set((written ?? []).flat());
    };
    try {
      return await run();
    } catch (error) {
      if (!isCollectionNotFound(error)) throw error;
      // Collections are created on first write, as in the other stores.
      for (const name of collections) {
        this.#ensured.delete(name);
        await this.ensureCollection(name);
      }
      return run();
    }
  }

  /** Sends a coalesced group: one query per round, split per write when ArangoDB refuses one. */
  async #sendGroup(
    group: Group<EncodedWrite | TroupeError>,
  ): Promise<readonly (readonly WriteOutcome[] | Error)[]> {
    const outcomes: (WriteOutcome | undefined)[][] = group.map((items) =>
      items.map((item) => (item instanceof Error ? { ok: false, error: item } : undefined)),
    );
    const failed = new Map<number, Error>();
    const entries: Entry[] = [];
    for (const [call, items] of group.entries()) {
      for (const [index, item] of items.entries()) {
        if (!(item instanceof Error)) entries.push({ ...item, i: entries.length, call, index });
      }
    }
    const settle = (entry: Entry, written: boolean): void => {
      const row = outcomes[entry.call];
      if (row !== undefined) row[entry.index] = { ok: true, written };
    };
    for (const round of rounds(entries)) {
      try {
        const written = await this.#query(round);
        for (const entry of round) settle(entry, written.has(entry.i));
      } catch (error) {
        const failure = classifyArangoError(error);
        if (failure.retryable) throw failure;
        // A document ArangoDB refused: one query per write, so that it fails alone.
        await Promise.all(
          round.map(async (entry) => {
            try {
              settle(entry, (await this.#query([entry])).has(entry.i));
            } catch (own) {
              const ownFailure = classifyArangoError(own);
              if (ownFailure.retryable) failed.set(entry.call, ownFailure);
              const row = outcomes[entry.call];
              if (row !== undefined) row[entry.index] = { ok: false, error: ownFailure };
            }
          }),
        );
      }
    }
    return outcomes.map((row, call) => failed.get(call) ?? (row as WriteOutcome[]));
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
