// better-sqlite3's errors, classified case by case.
import {
  InvalidMessageError,
  PermanentError,
  TransientError,
  type TroupeError,
} from '@troupe/core';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { classifySqliteError } from '../src/index.js';

const sqliteError = (code: string): Error => new Database.SqliteError(`${code} happened`, code);

describe('classifySqliteError', () => {
  it.each([
    'SQLITE_BUSY',
    'SQLITE_BUSY_SNAPSHOT',
    'SQLITE_BUSY_RECOVERY',
    'SQLITE_LOCKED',
    'SQLITE_LOCKED_SHAREDCACHE',
    'SQLITE_FULL',
    'SQLITE_NOMEM',
    'SQLITE_IOERR',
    'SQLITE_IOERR_FSYNC',
    'SQLITE_INTERRUPT',
    'SQLITE_PROTOCOL',
    'SQLITE_SCHEMA',
    // A file that cannot be written or opened is the store's failure, not the message's.
    'SQLITE_READONLY',
    'SQLITE_READONLY_CANTINIT',
    'SQLITE_CANTOPEN',
  ])('%s is transient', (code) => {
    const error = classifySqliteError(sqliteError(code));
    expect(error).toBeInstanceOf(TransientError);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(code);
  });

  it.each([
    'SQLITE_CONSTRAINT',
    'SQLITE_CONSTRAINT_PRIMARYKEY',
    'SQLITE_CONSTRAINT_CHECK',
    'SQLITE_CONSTRAINT_TRIGGER',
    'SQLITE_CORRUPT',
    'SQLITE_NOTADB',
    'SQLITE_ERROR',
    'SQLITE_TOOBIG',
    'SQLITE_MISMATCH',
    'SQLITE_MISUSE',
    'SQLITE_RANGE',
  ])('%s is permanent', (code) => {
    const error = classifySqliteError(sqliteError(code));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.retryable).toBe(false);
  });

  it('keeps the driver error as the cause', () => {
    const cause = sqliteError('SQLITE_BUSY');
    expect(classifySqliteError(cause).cause).toBe(cause);
  });

  it('a closed connection (TypeError) and an unencodable value (TypeError, RangeError) are permanent', () => {
    expect(
      classifySqliteError(new TypeError('The database connection is not open')),
    ).toBeInstanceOf(PermanentError);
    expect(classifySqliteError(new RangeError('too many parameters'))).toBeInstanceOf(
      PermanentError,
    );
  });

  it('returns Troupe errors unchanged', () => {
    const error: TroupeError = new InvalidMessageError('bad');
    expect(classifySqliteError(error)).toBe(error);
  });

  it('anything else is transient', () => {
    expect(classifySqliteError(new Error('something'))).toBeInstanceOf(TransientError);
    expect(classifySqliteError('a string')).toBeInstanceOf(TransientError);
  });
});
