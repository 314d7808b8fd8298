// One group commit: every operation queued since the last commit, run in one IMMEDIATE
// transaction on one connection. Used on the main thread and inside the writer thread, so
// it speaks plain data (no class instances cross a thread): each operation gets its own
// result, a write that fails on its own is that write's result, and anything else (the
// lock, the disk, a read-only file) fails the whole group.
import type Database from 'better-sqlite3';

/** A document ready for SQLite: validated and encoded on the caller's thread. */
export interface EncodedWrite {
  readonly collection: string;
  readonly key: string;
  /** The JSON text, `_key` included. */
  readonly doc: string;
  /** The JSON path of the version field (`$."version"`), or null without a guard. */
  readonly path: string | null;
}

/** What the store asks of one commit. */
export type Operation =
  | { readonly type: 'ensure'; readonly collection: string }
  /** Independent writes: each fails alone. */
  | { readonly type: 'writes'; readonly writes: readonly EncodedWrite[] }
  /** All or nothing (bulkUpsert): a failing write rolls the others back. */
  | { readonly type: 'bulk'; readonly writes: readonly EncodedWrite[] }
  | {
      readonly type: 'patch';
      readonly collection: string;
      readonly key: string;
      readonly patch: string;
    }
  | { readonly type: 'remove'; readonly collection: string; readonly key: string }
  /** A write that is rolled back: fails when the store cannot write (health). */
  | { readonly type: 'probe' };

/**
 * Writes packed for a trip to the writer thread: their strings in one text and their
 * lengths in one typed array. A structured clone of one string and one typed array is
 * two copies, where an array of write objects costs an object and four strings each,
 * serialized on the main thread and rebuilt on the other.
 */
export interface PackedWrites {
  /** Every write's collection, key, document and version path, one after the other. */
  readonly text: string;
  /** Four per write: the lengths of its collection, key and document, and of its path plus one (0: no path). */
  readonly lengths: Uint32Array;
}

/** Packs `writes` (see {@link PackedWrites}). */
export function packWrites(writes: readonly EncodedWrite[]): PackedWrites {
  const lengths = new Uint32Array(writes.length * 4);
  let text = '';
  let i = 0;
  for (const { collection, key, doc, path } of writes) {
    text += collection + key + doc + (path ?? '');
    lengths[i] = collection.length;
    lengths[i + 1] = key.length;
    lengths[i + 2] = doc.length;
    lengths[i + 3] = path === null ? 0 : path.length + 1;
    i += 4;
  }
  return { text, lengths };
}

/** The writes {@link packWrites} packed. */
export function unpackWrites({ text, lengths }: PackedWrites): EncodedWrite[] {
  const writes: EncodedWrite[] = [];
  let at = 0;
  for (let i = 0; i < lengths.length; i += 4) {
    const collection = text.slice(at, (at += lengths[i] ?? 0));
    const key = text.slice(at, (at += lengths[i + 1] ?? 0));
    const doc = text.slice(at, (at += lengths[i + 2] ?? 0));
    const pathLength = lengths[i + 3] ?? 0;
    const path = pathLength === 0 ? null : text.slice(at, (at += pathLength - 1));
    writes.push({ collection, key, doc, path });
  }
  return writes;
}

/** An error as plain data. */
export interface PlainError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

/** One write's result: the rows it changed (0 when a version guard kept the stored one), or its own error. */
export type WriteResult = number | { readonly error: PlainError };

/** One operation's result. */
export type OperationResult =
  | {
      readonly ok: true;
      /** A count; or each write's result (from the writer thread: an Int32Array when all are counts). */
      readonly value: number | ArrayLike<WriteResult>;
    }
  | { readonly ok: false; readonly error: PlainError };

/** One commit's result: every operation's, or the failure of the whole group. */
export type GroupResult =
  | { readonly ok: true; readonly results: readonly OperationResult[] }
  | { readonly ok: false; readonly error: PlainError };

/** Turns anything thrown into plain data that crosses a thread. */
export function plainError(error: unknown): PlainError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string'
      ? { name: error.name, message: error.message, code }
      : { name: error.name, message: error.message };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * Whether a statement's failure belongs to the write alone: a constraint (the
 * `json_valid` check refuses a document nested deeper than SQLite's JSON limit, a
 * trigger), a value too big or of the wrong type. SQLite rolls such a statement back and
 * the transaction goes on. Anything else (busy, I/O, read-only, full) is the store's.
 */
export function failsAlone(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH)/.test(code);
}

// One table holds every collection's documents, keyed by (collection, key) in a
// WITHOUT ROWID B-tree: collection names are values, never SQL identifiers, so no
// dynamic DDL and nothing to quote; `count` and `get` are primary-key prefix look-ups.
export const schema = `
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

// Positional parameters: better-sqlite3 binds them from the arguments, where named ones
// cost a property look-up each on an object made for the call. The version guard reads
// its path three times, so the path is bound three times.
const upsertSql = `
INSERT INTO troupe_documents (collection, key, doc) VALUES (?, ?, ?)
ON CONFLICT (collection, key) DO UPDATE SET doc = excluded.doc`;

// The version guard, evaluated by SQLite inside the statement: the stored document is
// replaced only when it has no numeric version or a lower one. A skipped row counts
// zero changes.
const upsertIfNewerSql = `${upsertSql}
WHERE coalesce(json_type(troupe_documents.doc, ?), 'null') NOT IN ('integer', 'real')
   OR json_extract(excluded.doc, ?) > json_extract(troupe_documents.doc, ?)`;

/** The writing side of a connection: its prepared statements. */
export class Writer {
  readonly db: Database.Database;
  readonly #ensure: Database.Statement<[string]>;
  readonly #get: Database.Statement<[string, string], { doc: string }>;
  readonly #upsert: Database.Statement<[string, string, string]>;
  readonly #upsertIfNewer: Database.Statement<[string, string, string, string, string, string]>;
  readonly #remove: Database.Statement<[string, string]>;

  constructor(db: Database.Database) {
    this.db = db;
    this.#ensure = db.prepare('INSERT OR IGNORE INTO troupe_collections (name) VALUES (?)');
    this.#get = db.prepare('SELECT doc FROM troupe_documents WHERE collection = ? AND key = ?');
    this.#upsert = db.prepare(upsertSql);
    this.#upsertIfNewer = db.prepare(upsertIfNewerSql);
    this.#remove = db.prepare('DELETE FROM troupe_documents WHERE collection = ? AND key = ?');
  }

  #write({ collection, key, doc, path }: EncodedWrite): number {
    return path === null
      ? this.#upsert.run(collection, key, doc).changes
      : this.#upsertIfNewer.run(collection, key, doc, path, path, path).changes;
  }

  /** A write alone: its own failure is its result; the store's is thrown. */
  #writeAlone(write: EncodedWrite): WriteResult {
    try {
      return this.#write(write);
    } catch (error) {
      if (!failsAlone(error)) throw error;
      return { error: plainError(error) };
    }
  }

  #run(operation: Operation): OperationResult {
    switch (operation.type) {
      case 'ensure':
        this.#ensure.run(operation.collection);
        return { ok: true, value: 0 };
      case 'writes':
        return { ok: true, value: operation.writes.map((write) => this.#writeAlone(write)) };
      case 'bulk': {
        this.db.exec('SAVEPOINT troupe_bulk');
        try {
          let written = 0;
          for (const write of operation.writes) written += this.#write(write);
          this.db.exec('RELEASE troupe_bulk');
          return { ok: true, value: written };
        } catch (error) {
          if (!failsAlone(error)) throw error;
          this.db.exec('ROLLBACK TO troupe_bulk');
          this.db.exec('RELEASE troupe_bulk');
          return { ok: false, error: plainError(error) };
        }
      }
      case 'patch': {
        const { collection, key } = operation;
        try {
          const stored = this.#get.get(collection, key);
          const merged = {
            ...(stored === undefined ? {} : (JSON.parse(stored.doc) as Record<string, unknown>)),
            ...(JSON.parse(operation.patch) as Record<string, unknown>),
            _key: key,
          };
          this.#upsert.run(collection, key, JSON.stringify(merged));
          return { ok: true, value: 1 };
        } catch (error) {
          if (!failsAlone(error)) throw error;
          return { ok: false, error: plainError(error) };
        }
      }
      case 'remove':
        return { ok: true, value: this.#remove.run(operation.collection, operation.key).changes };
      case 'probe':
        this.db.exec('SAVEPOINT troupe_probe');
        try {
          this.#ensure.run('_troupe_health_probe');
        } finally {
          this.db.exec('ROLLBACK TO troupe_probe');
          this.db.exec('RELEASE troupe_probe');
        }
        return { ok: true, value: 0 };
    }
  }

  /**
   * Runs every operation in one `BEGIN IMMEDIATE … COMMIT` (the write lock taken up
   * front, so the transaction never has to upgrade a read lock). The commit is the
   * group's one fsync (with synchronous=FULL).
   */
  commit(operations: readonly Operation[]): GroupResult {
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      return { ok: false, error: plainError(error) };
    }
    try {
      const results = operations.map((operation) => this.#run(operation));
      this.db.exec('COMMIT');
      return { ok: true, results };
    } catch (error) {
      if (this.db.inTransaction) {
        try {
          this.db.exec('ROLLBACK');
        } catch {
          // The transaction is gone already (SQLite rolled it back on an I/O error).
        }
      }
      return { ok: false, error: plainError(error) };
    }
  }
}
