// The store port: JSON documents in collections, by key. Writes are keyed and
// idempotent so that a redelivered message changes nothing. Implemented on arangojs,
// an embedded database and in memory.
import { PermanentError } from './errors.js';

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
  count(collection: string): Promise<number>;
  close(): Promise<void>;
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
