// Durability and cross-process concurrency of the SQLite store, with real processes:
// a writer killed with SIGKILL mid-stream leaves a consistent file holding every write it
// acknowledged; writers in separate processes racing upsert-if-newer on the same keys
// leave the highest version.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';

const writer = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'troupe-sqlite-durability-'));

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

interface Exit {
  readonly lines: readonly string[];
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
  readonly stderr: string;
}

/**
 * Runs the writer; with `killAfter`, sends SIGKILL once that many acknowledged keys were
 * printed. Only complete lines count as acknowledged.
 */
function runWriter(args: readonly string[], killAfter?: number): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
      if (killAfter !== undefined && lines.length >= killAfter && child.exitCode === null) {
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ lines, signal, code, stderr }));
  });
}

describe('SqliteStore durability across kill -9 (child process, real file)', () => {
  it.each(['full', 'normal'] as const)(
    'synchronous=%s: after SIGKILL mid-stream the file passes integrity_check and holds every acknowledged write',
    async (synchronous) => {
      const path = join(root, synchronous, 'troupe.db');
      const exit = await runWriter([path, 'kill', synchronous], 3000);
      expect(exit.signal, exit.stderr).toBe('SIGKILL');
      expect(exit.lines.length).toBeGreaterThanOrEqual(3000);

      const store = new SqliteStore({ path });
      try {
        expect(store.database.pragma('integrity_check', { simple: true })).toBe('ok');
        const rows = store.database
          .prepare("SELECT key FROM troupe_documents WHERE collection = 'acked'")
          .pluck()
          .all() as string[];
        const present = new Set(rows);
        const missing = exit.lines.filter((key) => !present.has(key));
        expect(missing).toEqual([]);
        // A batch is one transaction: it is there whole or not at all.
        const batches = new Map<string, number>();
        for (const key of rows.filter((row) => row.startsWith('b'))) {
          const batch = key.slice(0, key.indexOf('-'));
          batches.set(batch, (batches.get(batch) ?? 0) + 1);
        }
        expect([...batches.values()].every((size) => size === 10)).toBe(true);
        const last = exit.lines.at(-1) ?? '';
        expect(await store.get('acked', last)).toMatchObject({ _key: last });
      } finally {
        await store.close();
      }
    },
    30_000,
  );
});

describe('SqliteStore group commit across kill -9 (child process, real file)', () => {
  it.each([
    ['full', 'thread'],
    ['full', 'inline'],
  ] as const)(
    'synchronous=%s, writer %s: eight concurrent bulkWrite loops, SIGKILL mid-stream: every write whose promise resolved is in the file',
    async (synchronous, writerMode) => {
      const path = join(root, `group-${synchronous}-${writerMode}`, 'troupe.db');
      const exit = await runWriter([path, 'group', synchronous, writerMode], 3000);
      expect(exit.signal, exit.stderr).toBe('SIGKILL');
      expect(exit.lines.length).toBeGreaterThanOrEqual(3000);
      const store = new SqliteStore({ path });
      try {
        expect(store.database.pragma('integrity_check', { simple: true })).toBe('ok');
        const rows = store.database
          .prepare("SELECT collection || '/' || key FROM troupe_documents")
          .pluck()
          .all() as string[];
        const present = new Set(rows);
        expect(exit.lines.filter((line) => !present.has(line))).toEqual([]);
        // A call's writes are in one transaction: there whole or not at all.
        const calls = new Map<string, number>();
        for (const row of rows) {
          const call = row.slice(row.indexOf('/') + 1, row.lastIndexOf('-'));
          calls.set(call, (calls.get(call) ?? 0) + 1);
        }
        expect([...calls.values()].every((size) => size === 10)).toBe(true);
      } finally {
        await store.close();
      }
    },
    30_000,
  );
});

describe('SqliteStore across processes', () => {
  it('four processes racing upsert-if-newer on the same ten keys leave the highest version', async () => {
    const path = join(root, 'race', 'troupe.db');
    const versions = 150;
    const exits = await Promise.all(
      [1, 2, 3, 4].map((seed) => runWriter([path, 'race', String(seed), String(versions)])),
    );
    let written = 0;
    for (const exit of exits) {
      expect(exit.code, exit.stderr).toBe(0);
      const report = JSON.parse(exit.lines[0] ?? '{}') as { written: number; total: number };
      expect(report.total).toBe(10 * versions);
      written += report.written;
    }
    const store = new SqliteStore({ path });
    try {
      for (let k = 0; k < 10; k += 1) {
        expect((await store.get('race', `k${k}`))?.['version']).toBe(versions);
      }
      // The same (key, version) is written by all four processes; the guard lets at most
      // one of them through, so no more writes happened than distinct versions exist.
      expect(written).toBeGreaterThanOrEqual(10);
      expect(written).toBeLessThanOrEqual(10 * versions);
      expect(store.database.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      await store.close();
    }
  }, 60_000);
});
