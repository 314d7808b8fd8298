// Translates better-sqlite3's errors into core's taxonomy at the adapter boundary:
// lock contention and resource exhaustion may pass (transient); constraint, schema,
// corruption and misuse will not (permanent).
import { PermanentError, TransientError, TroupeError } from '@troupe/core';

/**
 * Primary SQLite result codes whose failure may pass on retry: another connection holds
 * the lock past `busy_timeout` (BUSY, LOCKED), the disk or memory ran out (FULL, NOMEM,
 * IOERR), the query was interrupted, the schema changed under a prepared statement, or
 * the file cannot be written or opened (READONLY, CANTOPEN: a failure of the store, which
 * an operator repairs, never of the message being written).
 */
const transientCodes: ReadonlySet<string> = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_FULL',
  'SQLITE_NOMEM',
  'SQLITE_IOERR',
  'SQLITE_INTERRUPT',
  'SQLITE_PROTOCOL',
  'SQLITE_SCHEMA',
  'SQLITE_READONLY',
  'SQLITE_CANTOPEN',
]);

/** The primary result code of an extended one: `SQLITE_BUSY_SNAPSHOT` → `SQLITE_BUSY`. */
function primaryCode(code: string): string {
  const match = /^SQLITE_[A-Z]+/.exec(code);
  return match === null ? code : match[0];
}

function sqliteCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const { code } = error;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/**
 * Classifies anything better-sqlite3 (or the store's own validation) throws:
 * a {@link TroupeError} is returned as it is; `SQLITE_BUSY*`, `SQLITE_LOCKED*`, `SQLITE_FULL`,
 * `SQLITE_NOMEM`, `SQLITE_IOERR*`, `SQLITE_INTERRUPT`, `SQLITE_PROTOCOL`, `SQLITE_SCHEMA`,
 * `SQLITE_READONLY*` and `SQLITE_CANTOPEN` become a {@link TransientError}; every other
 * SQLite code (`SQLITE_CONSTRAINT*`, `SQLITE_CORRUPT`, `SQLITE_ERROR`, `SQLITE_TOOBIG`…)
 * a {@link PermanentError}. A closed connection is permanent; a `TypeError` or `RangeError`
 * (a value SQLite cannot bind, a document JSON cannot encode) too. Anything else is transient.
 */
export function classifySqliteError(error: unknown): TroupeError {
  if (error instanceof TroupeError) return error;
  const code = sqliteCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code !== undefined) {
    return transientCodes.has(primaryCode(code))
      ? new TransientError(`sqlite: ${code}: ${message}`, { cause: error })
      : new PermanentError(`sqlite: ${code}: ${message}`, { cause: error });
  }
  if (error instanceof TypeError || error instanceof RangeError) {
    return new PermanentError(`sqlite: ${message}`, { cause: error });
  }
  return new TransientError(`sqlite: ${message}`, { cause: error });
}
