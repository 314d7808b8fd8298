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
  /** The version guard's field (`version`), or null without a guard. */
  readonly field: string | null;
  /**
   * The document's value of `field` (a finite number), kept in the row's version column;
   * NaN when the store cannot be sure the JSON carries that value (an inherited getter, `toJSON`,
   * `_key`), so the guard reads the JSON instead; 0 without a guard.
   */
  readonly version: number;
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
 * Writes packed for a trip to the writer thread: their strings in one text, their
 * lengths in one typed array and their versions in another. A structured clone of one
 * string and two typed arrays is three copies, where an array of write objects costs an
 * object and four strings each, serialized on the main thread and rebuilt on the other.
 */
export interface PackedWrites {
  /** Every write's collection, key, document and version field, one after the other. */
  readonly text: string;
  /** Four per write: the lengths of its collection, key and document, and of its field plus one (0: no guard). */
  readonly lengths: Uint32Array;
  /** One per write: its version (0 without a guard). */
  readonly versions: Float64Array;
}

/** Packs `writes` (see {@link PackedWrites}). */
export function packWrites(writes: readonly EncodedWrite[]): PackedWrites {
  const lengths = new Uint32Array(writes.length * 4);
  const versions = new Float64Array(writes.length);
  let text = '';
  let i = 0;
  let j = 0;
  for (const { collection, key, doc, field, version } of writes) {
    text += collection + key + doc + (field ?? '');
    lengths[i] = collection.length;
    lengths[i + 1] = key.length;
    lengths[i + 2] = doc.length;
    lengths[i + 3] = field === null ? 0 : field.length + 1;
    versions[j] = version;
    i += 4;
    j += 1;
  }
  return { text, lengths, versions };
}

/** The writes {@link packWrites} packed. */
export function unpackWrites({ text, lengths, versions }: PackedWrites): EncodedWrite[] {
  const writes: EncodedWrite[] = [];
  let at = 0;
  for (let i = 0, j = 0; i < lengths.length; i += 4, j += 1) {
    const collection = text.slice(at, (at += lengths[i] ?? 0));
    const key = text.slice(at, (at += lengths[i + 1] ?? 0));
    const doc = text.slice(at, (at += lengths[i + 2] ?? 0));
    const fieldLength = lengths[i + 3] ?? 0;
    const field = fieldLength === 0 ? null : text.slice(at, (at += fieldLength - 1));
    writes.push({ collection, key, doc, field, version: versions[j] ?? 0 });
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
// `version_field` and `version` remember the version guard of the write that stored the
// row, so that the next guarded write on the same field compares two numbers instead of
// parsing the stored document (see {@link upsertIfNewerSql}).
const tablesSql = `
CREATE TABLE IF NOT EXISTS troupe_collections (
  name TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS troupe_documents (
  collection TEXT NOT NULL,
  key TEXT NOT NULL,
  doc TEXT NOT NULL CHECK (json_valid(doc)),
  version_field TEXT,
  version NUMERIC,
  PRIMARY KEY (collection, key)
) WITHOUT ROWID;
`;

// A row whose document changes while its version columns stay as they were was written by
// something that does not know them: an earlier Troupe sharing the file during a rolling
// deploy or after a rollback, or SQL through the store's `database` that updates `doc`
// alone. Its columns may no longer describe its document, so they are cleared and the next
// guarded write reads the document itself. Troupe's own writes always change them: a
// guarded write raises the version or names another field, a plain one clears them.
const versionTrigger = 'troupe_documents_version_unknown';
const versionTriggerSql = `
CREATE TRIGGER IF NOT EXISTS ${versionTrigger} AFTER UPDATE OF doc ON troupe_documents
WHEN NEW.version_field IS NOT NULL AND NEW.version_field IS OLD.version_field
  AND NEW.version IS OLD.version
BEGIN
  UPDATE troupe_documents SET version_field = NULL, version = NULL
  WHERE collection = NEW.collection AND key = NEW.key;
END`;

const versionColumns = [
  ['version_field', 'TEXT'],
  ['version', 'NUMERIC'],
] as const;

/**
 * Creates the store's tables and the version columns' trigger, or brings a file an earlier
 * Troupe created up to them (the two columns added, left null: the guard then reads the
 * documents, as before). Reads first and writes only when something is missing, all of it
 * in one transaction: a file is never left with the columns and without the trigger, and
 * several processes opening the same file at once do it once.
 */
export function prepareSchema(db: Database.Database): void {
  const missing = (): { tables: boolean; columns: string[]; trigger: boolean } => {
    const columns = new Set(
      db
        .prepare<[], string>("SELECT name FROM pragma_table_info('troupe_documents')")
        .pluck()
        .all(),
    );
    const objects = new Set(
      db
        .prepare<[], string>("SELECT name FROM sqlite_schema WHERE type IN ('table', 'trigger')")
        .pluck()
        .all(),
    );
    return {
      tables: !objects.has('troupe_collections') || !objects.has('troupe_documents'),
      columns:
        columns.size === 0
          ? []
          : versionColumns
              .filter(([name]) => !columns.has(name))
              .map(([name, type]) => `${name} ${type}`),
      trigger: !objects.has(versionTrigger),
    };
  };
  const before = missing();
  if (!before.tables && before.columns.length === 0 && !before.trigger) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(tablesSql);
    for (const column of missing().columns) {
      db.exec(`ALTER TABLE troupe_documents ADD COLUMN ${column}`);
    }
    db.exec(versionTriggerSql);
    db.exec('COMMIT');
  } catch (error) {
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
    } catch {
      // The transaction is gone already; the first error is the one to report.
    }
    throw error;
  }
}

// Positional parameters: better-sqlite3 binds them from the arguments, where named ones
// cost a property look-up each on an object made for the call. A plain write clears the
// version columns: nothing says which field a later guard will name.
const upsertSql = `
INSERT INTO troupe_documents (collection, key, doc) VALUES (?, ?, ?)
ON CONFLICT (collection, key) DO UPDATE
SET doc = excluded.doc, version_field = NULL, version = NULL`;

// The version guard, evaluated by SQLite inside the statement: the stored document is
// replaced only when it has no numeric version or a lower one. A skipped row counts zero
// changes. When the stored row was written with a guard on the same field, its version
// column holds that field's value and nothing is parsed: the two versions are compared as
// the numbers the writers bound. Otherwise (a plain write, another field, a row from
// before the columns, a write whose version the caller could not vouch for) both
// documents' field is read from their JSON, as it always was (the path bound three times).
// A write binds a null field when the version it read is not certain to be the one in
// its JSON (see `recordsVersion` in the store); it is then stored with null columns.
const upsertIfNewerSql = `
INSERT INTO troupe_documents (collection, key, doc, version_field, version)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (collection, key) DO UPDATE
SET doc = excluded.doc, version_field = excluded.version_field, version = excluded.version
WHERE CASE WHEN troupe_documents.version_field = excluded.version_field
    AND troupe_documents.version IS NOT NULL AND excluded.version IS NOT NULL
  THEN excluded.version > troupe_documents.version
  ELSE coalesce(json_type(troupe_documents.doc, ?), 'null') NOT IN ('integer', 'real')
    OR json_extract(excluded.doc, ?) > json_extract(troupe_documents.doc, ?)
END`;

/** The writing side of a connection: its prepared statements. */
export class Writer {
  readonly db: Database.Database;
  readonly #ensure: Database.Statement<[string]>;
  readonly #get: Database.Statement<[string, string], { doc: string }>;
  readonly #upsert: Database.Statement<[string, string, string]>;
  readonly #upsertIfNewer: Database.Statement<
    [string, string, string, string | null, number | null, string, string, string]
  >;
  readonly #remove: Database.Statement<[string, string]>;

  constructor(db: Database.Database) {
    this.db = db;
    this.#ensure = db.prepare('INSERT OR IGNORE INTO troupe_collections (name) VALUES (?)');
    this.#get = db.prepare('SELECT doc FROM troupe_documents WHERE collection = ? AND key = ?');
    this.#upsert = db.prepare(upsertSql);
    this.#upsertIfNewer = db.prepare(upsertIfNewerSql);
    this.#remove = db.prepare('DELETE FROM troupe_documents WHERE collection = ? AND key = ?');
  }

  #write({ collection, key, doc, field, version }: EncodedWrite): number {
    if (field === null) return this.#upsert.run(collection, key, doc).changes;
    // The store checked the field's name: no quote or backslash to escape.
    const path = `$."${field}"`;
    // NaN: the store could not vouch for the version (see EncodedWrite.version).
    const recorded = !Number.isNaN(version);
    return this.#upsertIfNewer.run(
      collection,
      key,
      doc,
      recorded ? field : null,
      recorded ? version : null,
      path,
      path,
      path,
    ).changes;
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
