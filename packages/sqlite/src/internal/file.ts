// Prepares the database file before SQLite opens it: creates its directory (without
// Node's recursive mkdir, which loops forever under /proc), refuses a file or directory
// the process cannot write, naming it, and repairs a `-wal`/`-shm` that an earlier
// read-only open left unwritable.
import { accessSync, chmodSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigurationError } from '@troupe/core';

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Creates `directory` and its missing parents, one level at a time. */
function makeDirectory(directory: string): void {
  const missing: string[] = [];
  for (let at = directory; !existsSync(at); at = dirname(at)) {
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const level of missing) {
    try {
      mkdirSync(level);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EEXIST') continue;
      throw new ConfigurationError(
        'path',
        `cannot create the directory ${level} of the database ${directory}: ${reason(error)}`,
        { cause: error },
      );
    }
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes `path` ready to open read-write, or throws a ConfigurationError naming it.
 *
 * Why the `-shm` repair: SQLite creates a database's `-wal` and `-shm` files with the
 * database file's own permissions. A database opened while it was read-only (mode 0444)
 * therefore gets a 0444 `-shm`, which its read-only connection cannot delete on close;
 * once the database is writable again, that `-shm` still refuses every write
 * (`SQLITE_READONLY`). The store now refuses to open a database it cannot write, so it
 * never creates such files, and gives a left-over one the database's mode again (what
 * SQLite would have given it).
 */
export function prepareDatabaseFile(path: string): void {
  const directory = dirname(path);
  makeDirectory(directory);
  if (!statSync(directory).isDirectory()) {
    throw new ConfigurationError(
      'path',
      `${directory} (the directory of ${path}) is not a directory`,
    );
  }
  if (!writable(directory)) {
    throw new ConfigurationError(
      'path',
      `cannot write the directory ${directory} of the database ${path} (SQLite creates its -wal and -shm files there)`,
    );
  }
  if (!existsSync(path)) return;
  if (!writable(path)) {
    throw new ConfigurationError('path', `cannot write the database file ${path} (read-only)`);
  }
  const mode = statSync(path).mode & 0o777;
  for (const companion of [`${path}-wal`, `${path}-shm`]) {
    if (!existsSync(companion) || writable(companion)) continue;
    try {
      chmodSync(companion, mode);
    } catch (error) {
      throw new ConfigurationError(
        'path',
        `${companion} is not writable and its mode cannot be restored: ${reason(error)}; remove it while no process has ${path} open`,
        { cause: error },
      );
    }
  }
}
