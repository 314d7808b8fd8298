// An in-memory store with the store port's semantics: keyed upserts, a version guard
// evaluated atomically, merges, bulk writes. Documents are copied in and out, so a
// caller can never change what is stored by mutating an object.
import {
  PermanentError,
  toTroupeError,
  TroupeError,
  validKey,
  writeEach,
  type BulkWriteResult,
  type KeyedDocument,
  type Store,
  type StoredDocument,
  type StoreHealth,
  type StoreWrite,
  type UpsertOptions,
  type WriteOptions,
  type WriteOutcome,
  type WriteResult,
} from '@troupe/core';

function isNewer(
  incoming: Readonly<Record<string, unknown>>,
  stored: StoredDocument | undefined,
  field: string,
): boolean {
  const next = incoming[field];
  if (typeof next !== 'number') {
    throw new PermanentError(`version field ${JSON.stringify(field)} must be a number`);
  }
  if (stored === undefined) return true;
  const current = stored[field];
  return typeof current !== 'number' || next > current;
}

/** Runs a synchronous store operation as the port's promise; anything thrown becomes a rejection. */
function settle<T>(operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (error) {
    // Memory has no transient failures: anything else thrown here comes from the
    // document itself (not cloneable, nested too deep for the stack), and a retry would
    // fail the same way.
    if (error instanceof TroupeError) return Promise.reject(error);
    const message = toTroupeError(error).message;
    return Promise.reject(
      new PermanentError(`document cannot be stored: ${message}`, { cause: error }),
    );
  }
}

/** Keyed JSON documents in memory. Collections are created on first write. */
export class MemoryStore implements Store {
  readonly #collections = new Map<string, Map<string, StoredDocument>>();
  #closed = false;

  #collection(name: string): Map<string, StoredDocument> {
    if (this.#closed) throw new PermanentError('store closed');
    let collection = this.#collections.get(name);
    if (collection === undefined) {
      collection = new Map();
      this.#collections.set(name, collection);
    }
    return collection;
  }

  ensureCollection(collection: string): Promise<void> {
    return settle(() => void this.#collection(collection));
  }

  get(collection: string, key: string): Promise<StoredDocument | undefined> {
    const stored = this.#collections.get(collection)?.get(key);
    return Promise.resolve(stored === undefined ? undefined : structuredClone(stored));
  }

  #upsertSync(
    collection: Map<string, StoredDocument>,
    key: string,
    document: Readonly<Record<string, unknown>>,
    options: UpsertOptions | undefined,
  ): boolean {
    validKey(key);
    if (
      options?.ifNewer !== undefined &&
      !isNewer(document, collection.get(key), options.ifNewer)
    ) {
      return false;
    }
    collection.set(key, { ...structuredClone(document), _key: key });
    return true;
  }

  upsert(
    collection: string,
    key: string,
    document: Readonly<Record<string, unknown>>,
    options?: UpsertOptions,
  ): Promise<WriteResult> {
    return settle(() => ({
      written: this.#upsertSync(this.#collection(collection), key, document, options),
    }));
  }

  patch(
    collection: string,
    key: string,
    patch: Readonly<Record<string, unknown>>,
  ): Promise<WriteResult> {
    return settle(() => {
      const target = this.#collection(collection);
      const stored = target.get(validKey(key));
      target.set(key, { ...stored, ...structuredClone(patch), _key: key });
      return { written: true };
    });
  }

  remove(collection: string, key: string): Promise<boolean> {
    return Promise.resolve(this.#collections.get(collection)?.delete(key) ?? false);
  }

  bulkUpsert(
    collection: string,
    documents: readonly KeyedDocument[],
    options?: UpsertOptions,
  ): Promise<BulkWriteResult> {
    return settle(() => {
      const target = this.#collection(collection);
      // Validate the whole batch first: a batch is all or nothing, as in a transaction.
      for (const { key, document } of documents) {
        validKey(key);
        if (options?.ifNewer !== undefined) isNewer(document, undefined, options.ifNewer);
      }
      let written = 0;
      for (const { key, document } of documents) {
        if (this.#upsertSync(target, key, document, options)) written += 1;
      }
      return { written, skipped: documents.length - written };
    });
  }

  /** One upsert after the other: in memory, a batch costs what its writes cost. */
  bulkWrite(
    writes: readonly StoreWrite[],
    options?: WriteOptions,
  ): Promise<readonly WriteOutcome[]> {
    return writeEach(this, writes, options);
  }

  /** Healthy until closed. */
  health(): Promise<StoreHealth> {
    if (!this.#closed) return Promise.resolve({ healthy: true });
    const error = new PermanentError('store closed');
    return Promise.resolve({ healthy: false, reason: error.message, error });
  }

  hasCollection(collection: string): Promise<boolean> {
    return Promise.resolve(this.#collections.has(collection));
  }

  count(collection: string): Promise<number> {
    return Promise.resolve(this.#collections.get(collection)?.size ?? 0);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
