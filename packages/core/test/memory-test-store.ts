// A minimal Store for core's own tests (core cannot depend on @troupe/memory, which
// depends on core). The full in-memory store, and the contract suite every store
// passes, live in @troupe/memory and test/.
import type {
  BulkWriteResult,
  KeyedDocument,
  Store,
  StoredDocument,
  StoreWrite,
  UpsertOptions,
  WriteOptions,
  WriteOutcome,
  WriteResult,
} from '../src/index.js';
import { writeEach } from '../src/index.js';

export class MemoryTestStore implements Store {
  readonly #collections = new Map<string, Map<string, StoredDocument>>();

  #collection(name: string): Map<string, StoredDocument> {
    let collection = this.#collections.get(name);
    if (collection === undefined) {
      collection = new Map();
      this.#collections.set(name, collection);
    }
    return collection;
  }

  ensureCollection(collection: string): Promise<void> {
    this.#collection(collection);
    return Promise.resolve();
  }

  get(collection: string, key: string): Promise<StoredDocument | undefined> {
    return Promise.resolve(this.#collection(collection).get(key));
  }

  upsert(
    collection: string,
    key: string,
    document: Readonly<Record<string, unknown>>,
    options?: UpsertOptions,
  ): Promise<WriteResult> {
    const docs = this.#collection(collection);
    const field = options?.ifNewer;
    const stored = docs.get(key);
    if (
      field !== undefined &&
      stored !== undefined &&
      !(Number(document[field]) > Number(stored[field]))
    ) {
      return Promise.resolve({ written: false });
    }
    docs.set(key, { ...document, _key: key });
    return Promise.resolve({ written: true });
  }

  patch(
    collection: string,
    key: string,
    patch: Readonly<Record<string, unknown>>,
  ): Promise<WriteResult> {
    const docs = this.#collection(collection);
    docs.set(key, { ...docs.get(key), ...patch, _key: key });
    return Promise.resolve({ written: true });
  }

  remove(collection: string, key: string): Promise<boolean> {
    return Promise.resolve(this.#collection(collection).delete(key));
  }

  async bulkUpsert(
    collection: string,
    documents: readonly KeyedDocument[],
    options?: UpsertOptions,
  ): Promise<BulkWriteResult> {
    let written = 0;
    for (const { key, document } of documents) {
      if ((await this.upsert(collection, key, document, options)).written) written += 1;
    }
    return { written, skipped: documents.length - written };
  }

  bulkWrite(
    writes: readonly StoreWrite[],
    options?: WriteOptions,
  ): Promise<readonly WriteOutcome[]> {
    return writeEach(this, writes, options);
  }

  hasCollection(collection: string): Promise<boolean> {
    return Promise.resolve(this.#collections.has(collection));
  }

  count(collection: string): Promise<number> {
    return Promise.resolve(this.#collection(collection).size);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
