// The store port: JSON documents in collections, by key. Writes are keyed and
// idempotent so that a redelivered message changes nothing. Implemented on arangojs,
// an embedded database and in memory.
import { PermanentError, TransientError, toTroupeError, type TroupeError } from './errors.js';

/** A stored document: plain JSON, keyed by `_key`. */
export type StoredDocument = Readonly<Record<string, unknown>> & { readonly _key: string };

/** Options of {@link Store.upsert}. */
export interface UpsertOptions {
  /**
   * Write only when the document's numeric field of this name is greater than the
   * stored one (or nothing is stored). The comparison happens atomically in the store.
   */
  readonly ifNewer?: string;
}

/** What a write did. */
export interface WriteResult {
  /** False when a version guard kept the stored document. */
  readonly written: boolean;
}

/** What a bulk write did. */
export interface BulkWriteResult {
  readonly written: number;
  readonly skipped: number;
}

/** One document of a bulk upsert. */
export interface KeyedDocument {
  readonly key: string;
  readonly document: Readonly<Record<string, unknown>>;
}

/**
 * One keyed document write: what a handler returns for the default persist step, and
 * one entry of {@link Store.bulkWrite}.
 */
export interface StoreWrite {
  readonly collection: string;
  readonly key: string;
  readonly document: Readonly<Record<string, unknown>>;
  /** Version guard: write only if this numeric field is greater than the stored one. */
  readonly ifNewer?: string;
}

/** Options of {@link Store.bulkWrite}. */
export interface WriteOptions {
  /**
   * Aborts the call: the store stops as soon as it can and rejects with a
   * TransientError. Writes are idempotent, so whatever was written before the abort is
   * safe to write again.
   */
  readonly signal?: AbortSignal | undefined;
}

/** What one write of {@link Store.bulkWrite} did. */
export type WriteOutcome =
  | { readonly ok: true; readonly written: boolean }
  | { readonly ok: false; readonly error: TroupeError };

/**
 * What {@link Store.health} found. Unhealthy carries a one-line `reason` (no
 * credentials) for a readiness check, and the classified error: a store that cannot be
 * reached or cannot write is a TransientError (wait and retry), never bad configuration.
 */
export type StoreHealth =
  | { readonly healthy: true }
  | { readonly healthy: false; readonly reason: string; readonly error: Error };

/**
 * How a store's writes have reached its database since it opened, as running totals
 * (see {@link Store.writeStats}). A store that coalesces calls (group commit) makes fewer
 * commits than it is given calls: `documents / commits` is what one commit carried.
 */
export interface StoreWriteStats {
  /**
   * Transactions (SQLite) or coalesced write groups (ArangoDB: one query, more when a
   * group must be split) run, failed ones included.
   */
  readonly commits: number;
  /** Of those, the ones that failed as a whole (the store down, busy, or aborted). */
  readonly failures: number;
  /** Store calls they carried (a worker's persist step with `bulkWrite` is one call). */
  readonly calls: number;
  /** Documents those calls handed to the database (writes refused before it are not counted). */
  readonly documents: number;
}

/** Keyed, idempotent document storage. Errors are TransientError or PermanentError. */
export interface Store {
  /** Creates the collection if absent. Idempotent. */
  ensureCollection(collection: string): Promise<void>;
  get(collection: string, key: string): Promise<StoredDocument | undefined>;
  /** Inserts or replaces the document at `key`. */
  upsert(
    collection: string,
    key: string,
    document: Readonly<Record<string, unknown>>,
    options?: UpsertOptions,
  ): Promise<WriteResult>;
  /** Merges `patch` into the document at `key`, creating it when absent. */
  patch(
    collection: string,
    key: string,
    patch: Readonly<Record<string, unknown>>,
  ): Promise<WriteResult>;
  /** Removes the document; true when something was removed. */
  remove(collection: string, key: string): Promise<boolean>;
  /** Upserts many documents with the same options as {@link Store.upsert}. */
  bulkUpsert(
    collection: string,
    documents: readonly KeyedDocument[],
    options?: UpsertOptions,
  ): Promise<BulkWriteResult>;
  /**
   * Writes a batch, across collections, in one transaction or request where the store
   * can, and resolves with one outcome per write, in order. A write that fails on its
   * own (an invalid key, a document the store refuses) fails alone, as a PermanentError
   * outcome, and the others are still written. A failure of the store itself (down,
   * busy, aborted) rejects the whole call with a TransientError; some writes may have
   * been made, which is safe because writes are idempotent.
   */
  bulkWrite(
    writes: readonly StoreWrite[],
    options?: WriteOptions,
  ): Promise<readonly WriteOutcome[]>;
  /**
   * Whether the collection exists: ensured, or created by a first write. Reads of a
   * collection that does not exist find nothing (`get` undefined, `count` 0); a caller
   * that must tell "empty" from "no such collection" (an operator's typo in
   * `troupe store count`) asks this.
   */
  hasCollection(collection: string): Promise<boolean>;
  count(collection: string): Promise<number>;
  /**
   * Whether the store can serve reads and writes now, for readiness checks; never
   * throws. Optional: a store without it is taken as healthy.
   */
  health?(): Promise<StoreHealth>;
  /**
   * Running totals of the store's commits and what they carried, for metrics; cheap and
   * synchronous (read at every scrape). Optional: a store that does not batch its writes
   * (in memory) has nothing to tell apart from its calls.
   */
  writeStats?(): StoreWriteStats;
  close(): Promise<void>;
}

/**
 * {@link Store.bulkWrite} made of single upserts, one after the other: for stores with
 * no cheaper batch (in memory), and as the reference the others are tested against.
 * A store failure (a TransientError) rejects the whole call; any other error is that
 * write's own outcome.
 */
export async function writeEach(
  store: Pick<Store, 'upsert'>,
  writes: readonly StoreWrite[],
  options?: WriteOptions,
): Promise<readonly WriteOutcome[]> {
  const outcomes: WriteOutcome[] = [];
  for (const write of writes) {
    if (options?.signal?.aborted === true) {
      throw new TransientError('store write aborted', { cause: options.signal.reason });
    }
    try {
      const { written } = await store.upsert(
        write.collection,
        write.key,
        write.document,
        write.ifNewer === undefined ? undefined : { ifNewer: write.ifNewer },
      );
      outcomes.push({ ok: true, written });
    } catch (error) {
      const failure = toTroupeError(error);
      if (failure.retryable) throw failure;
      outcomes.push({ ok: false, error: failure });
    }
  }
  return outcomes;
}

const keyPattern = /^[\w\-:.@()+,=;$!*'%]+$/;
const collectionPattern = /^[A-Za-z_][\w-]{0,255}$/;

/**
 * Whether `key` is a portable document key: ArangoDB's rules (1–254 characters of
 * letters, digits and `_-:.@()+,=;$!*'%`), which every store enforces so that data can
 * move between them.
 */
export function isValidKey(key: unknown): key is string {
  return typeof key === 'string' && key.length <= 254 && keyPattern.test(key);
}

/** Returns `key`, or throws a PermanentError when it is not a portable document key. */
export function validKey(key: string): string {
  if (!isValidKey(key)) throw new PermanentError(`invalid document key ${JSON.stringify(key)}`);
  return key;
}

/** Returns `name`, or throws a PermanentError when it is not a portable collection name. */
export function validCollection(name: string): string {
  if (typeof name !== 'string' || !collectionPattern.test(name)) {
    throw new PermanentError(`invalid collection name ${JSON.stringify(name)}`);
  }
  return name;
}
