// The store contract against the SQLite store: a fresh database file in a temporary
// directory per test, in both synchronous modes and with both writers (the writer thread
// with FULL, the default; the main-thread writer with NORMAL).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStoreContract } from '@troupe/store-contract';
import { afterAll } from 'vitest';
import { SqliteStore } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'troupe-sqlite-contract-'));
let n = 0;

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describeStoreContract('SqliteStore (WAL, synchronous=FULL, writer thread)', () => {
  n += 1;
  return new SqliteStore({ path: join(root, `full-${n}`, 'troupe.db') });
});

describeStoreContract('SqliteStore (WAL, synchronous=NORMAL, main-thread writer)', () => {
  n += 1;
  return new SqliteStore({
    path: join(root, `normal-${n}`, 'troupe.db'),
    synchronous: 'normal',
    writer: 'inline',
  });
});
