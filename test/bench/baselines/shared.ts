// What both hand-written consumers share: the database as the Troupe app's SQLite store
// opens it (WAL, synchronous FULL), the upsert that keeps the newest version, and the
// decode Troupe does (UTF-8, JSON, the processor's own zod schema).
import { companySchema } from '@troupe/processor-company-updated';
import { writeFileSync } from 'node:fs';
import type { ConsumeMessage } from 'amqplib';
import Database from 'better-sqlite3';

export function openDb(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS companies (id TEXT PRIMARY KEY, doc TEXT NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID',
  );
  return db;
}

/** The group-commit consumer's prefetch: how much it holds in flight, one commit's worth at most. */
export const groupPrefetch = 1000;

/** Rows stored so far, as the benchmark reads them from another process. */
export const countSql = 'SELECT COUNT(*) AS n FROM companies';

export const upsertSql = `INSERT INTO companies (id, doc, version) VALUES (?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, version = excluded.version
  WHERE excluded.version > companies.version`;

const decoder = new TextDecoder('utf-8', { fatal: true });

export function decode(message: ConsumeMessage): { id: string; version: number } | undefined {
  try {
    const parsed = companySchema.safeParse(JSON.parse(decoder.decode(message.content)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** `node … <script> <amqp url> <queue> <database file>`; runs until SIGTERM. */
export function args(): { url: string; queue: string; path: string } {
  const [url, queue, path] = process.argv.slice(2);
  if (url === undefined || queue === undefined || path === undefined) {
    throw new Error('usage: <amqp url> <queue> <database file>');
  }
  return { url, queue, path };
}

/** Transactions a consumer committed and the messages they stored. */
export interface Commits {
  transactions: number;
  messages: number;
}

/**
 * Counts a consumer's commits; written as JSON to the file named by
 * `TROUPE_BENCH_COMMITS` (if set) when the consumer stops, for the benchmark's report.
 */
export function commitCounter(): { counts: Commits; write(): void } {
  const counts: Commits = { transactions: 0, messages: 0 };
  const file = process.env.TROUPE_BENCH_COMMITS;
  return {
    counts,
    write: () => {
      if (file !== undefined) writeFileSync(file, JSON.stringify(counts));
    },
  };
}
