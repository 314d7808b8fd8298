// The database file as an operator meets it (issue 13): a read-only file, an `-shm` left
// unwritable by an earlier read-only open, a path under /proc, a path SQLite cannot open.
// The permission cases run the store in a child process as an unprivileged user (root
// ignores file modes); `/proc` runs in a child process because the hang it guards
// against is a synchronous loop nothing in-process could interrupt.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/open.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'troupe-sqlite-file-'));
chmodSync(root, 0o777);
const nobody = 65_534;
const asRoot = process.getuid?.() === 0;

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

interface Outcome {
  readonly opened: boolean;
  readonly healthy?: boolean;
  readonly written?: { ok: boolean; error?: { name: string; message: string } };
  readonly error?: { name: string; message: string; code?: string };
}

/** Runs the fixture, as the unprivileged `nobody` when this process is root. */
function open(path: string, mode = 'open'): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, mode], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(asRoot ? { uid: nobody, gid: nobody, env: { ...process.env, HOME: root } } : {}),
    });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(stdout) as Outcome);
      } catch {
        reject(new Error(`fixture printed ${JSON.stringify(stdout)}; stderr: ${stderr}`));
      }
    });
  });
}

/** A directory the child (as `nobody`) may write. */
function directory(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  if (asRoot) chownSync(dir, nobody, nobody);
  return dir;
}

describe('SqliteStore: the database file', { timeout: 30_000 }, () => {
  it('a read-only database file is refused at start, naming the path, and no 0444 -shm is left behind', async () => {
    const path = join(directory('readonly'), 't.db');
    expect(await open(path, 'create')).toMatchObject({ opened: true });
    chmodSync(path, 0o444);
    const outcome = await open(path);
    expect(outcome.opened).toBe(false);
    expect(outcome.error?.message).toContain(path);
    expect(outcome.error?.message).toMatch(/read-only/);
    expect(existsSync(`${path}-shm`)).toBe(false);
    // Made writable again, the next start works.
    chmodSync(path, 0o644);
    expect(await open(path)).toMatchObject({
      opened: true,
      healthy: true,
      written: { ok: true },
    });
  });

  it('an -shm left at 0444 by an earlier read-only open does not poison the next start', async () => {
    const path = join(directory('poisoned'), 't.db');
    expect(await open(path, 'create')).toMatchObject({ opened: true });
    // What an earlier run on the read-only file left: SQLite gave the -shm the mode of
    // the database file, and a read-only connection cannot remove it on close.
    chmodSync(path, 0o444);
    const reader = new Database(path);
    reader.prepare('SELECT count(*) FROM troupe_documents').get();
    expect(statSync(`${path}-shm`).mode & 0o777).toBe(0o444);
    chmodSync(path, 0o644);
    if (asRoot) chownSync(`${path}-shm`, nobody, nobody);
    const outcome = await open(path);
    reader.close();
    expect(outcome).toMatchObject({ opened: true, healthy: true, written: { ok: true } });
  });

  it('a path under /proc fails at once, naming the directory (it looped in mkdirSync at 97% CPU)', async () => {
    const outcome = await open('/proc/troupe-test/data/t.db');
    expect(outcome.opened).toBe(false);
    expect(outcome.error?.message).toContain('/proc/troupe-test');
  }, 5_000);

  it('a path SQLite cannot open is named in the error (it said only SQLITE_CANTOPEN)', async () => {
    const path = directory('a-directory');
    const outcome = await open(path);
    expect(outcome.opened).toBe(false);
    expect(outcome.error?.message).toContain(path);
  });
});
