// The version guard's cost on SQLite's side, measured alone (not part of `pnpm bench`):
// CPU per guarded upsert of a ~500-byte document, 200 writes per transaction, three
// statements in alternating repetitions of one run, synchronous=OFF so that the disk is
// out of it:
// - the store's writer (`Writer` of packages/sqlite), whose guard compares the version
//   column when the stored row was written under the same guard;
// - the guard before the version column, which read both versions from the JSON;
// - what a team writes by hand for one collection: an integer version column of its own
//   table, no `json_valid` check, one key column.
//
//   NODE_OPTIONS=--conditions=@troupe/source node --import tsx test/bench/guard.ts [repetitions]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  prepareSchema,
  Writer,
  type EncodedWrite,
} from '../../packages/sqlite/src/internal/group.js';

const repetitions = Number(process.argv[2] ?? '5');
const keys = 2000;
const versions = 15;
const perTransaction = 200;

const dir = mkdtempSync(join(tmpdir(), 'troupe-guard-'));
const db = new Database(join(dir, 'guard.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = OFF');
prepareSchema(db);
db.exec(`
CREATE TABLE earlier (collection TEXT NOT NULL, key TEXT NOT NULL,
  doc TEXT NOT NULL CHECK (json_valid(doc)), PRIMARY KEY (collection, key)) WITHOUT ROWID;
CREATE TABLE by_hand (id TEXT PRIMARY KEY, doc TEXT NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;`);
const earlier = db.prepare(`INSERT INTO earlier (collection, key, doc) VALUES (?, ?, ?)
ON CONFLICT (collection, key) DO UPDATE SET doc = excluded.doc
WHERE coalesce(json_type(earlier.doc, ?), 'null') NOT IN ('integer', 'real')
   OR json_extract(excluded.doc, ?) > json_extract(earlier.doc, ?)`);
const byHand = db.prepare(`INSERT INTO by_hand (id, doc, version) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, version = excluded.version
WHERE excluded.version > by_hand.version`);
const writer = new Writer(db);

const writes: EncodedWrite[] = [];
for (let version = 1; version <= versions; version += 1) {
  for (let i = 0; i < keys; i += 1) {
    const key = `c${i}`;
    const doc = JSON.stringify({
      id: key,
      name: `Company ${i}`,
      version,
      address: { street: `Street ${i}`, city: 'Berlin', zip: '10115', country: 'DE' },
      tags: ['a', 'b', 'c'],
      description: 'x'.repeat(250),
      _key: key,
    });
    writes.push({ collection: 'companies', key, doc, field: 'version', version });
  }
}
const path = '$."version"';
const sides: Record<string, (batch: readonly EncodedWrite[]) => void> = {
  "the store's writer (version column)": (batch) => {
    const result = writer.commit([{ type: 'writes', writes: batch }]);
    if (!result.ok) throw new Error(result.error.message);
  },
  'the earlier guard (JSON only)': (batch) => {
    db.exec('BEGIN IMMEDIATE');
    for (const w of batch) earlier.run(w.collection, w.key, w.doc, path, path, path);
    db.exec('COMMIT');
  },
  'by hand (an integer column)': (batch) => {
    db.exec('BEGIN IMMEDIATE');
    for (const w of batch) byHand.run(w.key, w.doc, w.version);
    db.exec('COMMIT');
  },
};
const samples: Record<string, number[]> = {};
// The first repetition warms every side up and is not counted.
for (let repetition = 0; repetition <= repetitions; repetition += 1) {
  for (const [name, run] of Object.entries(sides)) {
    const cpu = process.cpuUsage();
    for (let at = 0; at < writes.length; at += perTransaction) {
      run(writes.slice(at, at + perTransaction));
    }
    const used = process.cpuUsage(cpu);
    if (repetition > 0) (samples[name] ??= []).push((used.user + used.system) / writes.length);
  }
}
db.close();
rmSync(dir, { recursive: true, force: true });
for (const [name, list] of Object.entries(samples)) {
  const sorted = [...list].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  process.stdout.write(
    `${name}: ${median.toFixed(2)} µs per write (${(sorted[0] ?? 0).toFixed(2)}–${(sorted.at(-1) ?? 0).toFixed(2)})\n`,
  );
}
