// Store benchmark: single writes against batched writes (bulkUpsert of 100), and the
// group-committed paths workers take (many concurrent upserts; many concurrent bulkWrite
// calls), documents per second, in one run, on the embedded SQLite store (both writers,
// main thread and writer thread, in both synchronous modes) and on ArangoDB when
// ARANGO_URL is set. The event loop's worst delay during the concurrent rows shows what a
// commit costs the rest of the app. Every write is an upsert-if-newer, the path
// processors take. Figures are medians of alternating rounds. A report, never a timed
// assertion.
//
//   node --import tsx test/bench/store.ts [--quick]   writes test/bench/reports/store.md
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { KeyedDocument, Store, StoreWrite } from '@troupe/core';
import { ArangoStore } from '@troupe/arango';
import { SqliteStore, type SqliteSynchronous, type SqliteWriterMode } from '@troupe/sqlite';

/** One way of writing, measured. */
export interface WriteFigures {
  readonly documents: number;
  readonly ms: number;
  readonly docsPerSecond: number;
}

/** Concurrent callers, group-committed. */
export interface ConcurrentFigures extends WriteFigures {
  /** Callers writing at once. */
  readonly callers: number;
  /** Writes per call. */
  readonly perCall: number;
  /** Calls per commit (SQLite) on average, when the store reports it. */
  readonly callsPerCommit: number | undefined;
  /** The event loop's delay meanwhile, in ms: 99th percentile (median round), and worst. */
  readonly p99LoopDelayMs: number;
  readonly maxLoopDelayMs: number;
}

/** A write waiting for a lock another connection holds, on one writer. */
export interface LockStallFigures {
  readonly store: string;
  readonly lockMs: number;
  /** From the write's call to its resolution. */
  readonly writeMs: number;
  /** The event loop's worst delay meanwhile. */
  readonly maxLoopDelayMs: number;
}

/** Single against batched writes on one store. */
export interface StoreBenchFigures {
  readonly store: string;
  readonly single: WriteFigures;
  readonly bulk: WriteFigures & { readonly batchSize: number };
  /** Bulk documents per second over single documents per second. */
  readonly speedup: number;
  /** Many concurrent single upserts (workers persisting one message each). */
  readonly concurrentUpserts: ConcurrentFigures;
  /** Many concurrent bulkWrite calls (workers persisting a batch each). */
  readonly concurrentBatches: ConcurrentFigures;
}

/** Options of {@link benchStores}. */
export interface StoreBenchOptions {
  /** Fewer documents, for a smoke check. @default false */
  readonly quick?: boolean;
  /** Rounds per way of writing; the median is reported. @default 5 (1 when quick) */
  readonly rounds?: number;
  /** An ArangoDB to measure too. @default process.env.ARANGO_URL */
  readonly arangoUrl?: string | undefined;
}

const batchSize = 100;
/** Concurrent single upserts: workers persisting one message each. */
const concurrentUpserters = 64;
/** Concurrent bulkWrite callers and their batch: workers persisting a batch each. */
const concurrentWorkers = 16;
const workerBatch = 32;
const collection = 'bench';

function document(i: number, version: number): Record<string, unknown> {
  return {
    version,
    name: `company ${i}`,
    country: 'NL',
    employees: i % 500,
    tags: ['bench', `t${i % 7}`],
    address: { street: `Street ${i}`, city: 'Utrecht' },
  };
}

/**
 * Watches the event loop: a 1 ms timer re-armed on each tick records how late each tick
 * fired. `stop()` waits one more tick (so a delay that just ended is counted) and
 * returns the 99th percentile and the worst delay, in ms.
 */
function watchEventLoop(): { stop(): Promise<{ p99: number; max: number }> } {
  const delays: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const due = performance.now() + 1;
    timer = setTimeout(() => {
      delays.push(Math.max(0, performance.now() - due));
      arm();
    }, 1);
  };
  arm();
  return {
    async stop() {
      await new Promise((resolve) => setTimeout(resolve, 2));
      clearTimeout(timer);
      const sorted = [...delays].sort((a, b) => a - b);
      return {
        p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0,
        max: sorted.at(-1) ?? 0,
      };
    },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function timeSingle(store: Store, count: number, version: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i += 1) {
    await store.upsert(collection, `s${i}`, document(i, version), { ifNewer: 'version' });
  }
  return performance.now() - started;
}

async function timeBulk(store: Store, count: number, version: number): Promise<number> {
  const started = performance.now();
  for (let start = 0; start < count; start += batchSize) {
    const batch: KeyedDocument[] = [];
    for (let i = start; i < Math.min(count, start + batchSize); i += 1) {
      batch.push({ key: `b${i}`, document: document(i, version) });
    }
    await store.bulkUpsert(collection, batch, { ifNewer: 'version' });
  }
  return performance.now() - started;
}

/** Calls per commit so far, for stores that count their commits. */
function commitCounter(store: Store): () => { commits: number; operations: number } | undefined {
  return () => (store instanceof SqliteStore ? { ...store.groupStats } : undefined);
}

/**
 * `callers` concurrent loops, each writing `perCall` documents per call (`upsert` when
 * 1, else `bulkWrite`) until `count` documents are written.
 */
async function timeConcurrent(
  store: Store,
  count: number,
  callers: number,
  perCall: number,
  version: number,
): Promise<{
  ms: number;
  callsPerCommit: number | undefined;
  p99LoopDelayMs: number;
  maxLoopDelayMs: number;
}> {
  const stats = commitCounter(store);
  const before = stats();
  let next = 0;
  const loop = async (caller: number): Promise<void> => {
    while (next < count) {
      const start = next;
      next += perCall;
      if (perCall === 1) {
        await store.upsert(collection, `c${start}`, document(start, version), {
          ifNewer: 'version',
        });
        continue;
      }
      const writes: StoreWrite[] = [];
      for (let i = start; i < Math.min(count, start + perCall); i += 1) {
        writes.push({
          collection,
          key: `w${caller % 2}-${i}`,
          document: document(i, version),
          ifNewer: 'version',
        });
      }
      await store.bulkWrite(writes);
    }
  };
  const watch = watchEventLoop();
  const started = performance.now();
  await Promise.all(Array.from({ length: callers }, (_, caller) => loop(caller)));
  const ms = performance.now() - started;
  const delay = await watch.stop();
  const after = stats();
  const callsPerCommit =
    before === undefined || after === undefined || after.commits === before.commits
      ? undefined
      : (after.operations - before.operations) / (after.commits - before.commits);
  return {
    ms,
    callsPerCommit,
    p99LoopDelayMs: delay.p99,
    maxLoopDelayMs: delay.max,
  };
}

/** One round's measurements on one store. */
interface Round {
  readonly single: number;
  readonly bulk: number;
  readonly upserts: Awaited<ReturnType<typeof timeConcurrent>>;
  readonly batches: Awaited<ReturnType<typeof timeConcurrent>>;
}

/** Warm-up: statements prepared, connections (and the writer thread) open, pages cached. */
async function warmUp(store: Store, sizes: { single: number; bulk: number }): Promise<void> {
  await store.ensureCollection(collection);
  await timeSingle(store, Math.min(50, sizes.single), 0);
  await timeBulk(store, Math.min(500, sizes.bulk), 0);
}

/** One round of every row on one store; each round writes a higher version. */
async function measureRound(
  store: Store,
  sizes: { single: number; bulk: number },
  round: number,
): Promise<Round> {
  return {
    single: await timeSingle(store, sizes.single, round),
    bulk: await timeBulk(store, sizes.bulk, round),
    upserts: await timeConcurrent(store, sizes.bulk / 2, concurrentUpserters, 1, round),
    batches: await timeConcurrent(store, sizes.bulk, concurrentWorkers, workerBatch, round),
  };
}

/** Medians over the rounds (the event loop's delays: the median round's p99, and the worst). */
function summarize(
  name: string,
  sizes: { single: number; bulk: number },
  rounds: readonly Round[],
): StoreBenchFigures {
  const concurrent = (
    measured: readonly Awaited<ReturnType<typeof timeConcurrent>>[],
    documents: number,
    callers: number,
    perCall: number,
  ): ConcurrentFigures => {
    const middle = [...measured].sort((a, b) => a.ms - b.ms)[Math.floor(measured.length / 2)];
    const ms = middle?.ms ?? 0;
    return {
      documents,
      ms,
      docsPerSecond: (documents / ms) * 1000,
      callers,
      perCall,
      callsPerCommit: middle?.callsPerCommit,
      p99LoopDelayMs: median(measured.map((m) => m.p99LoopDelayMs)),
      maxLoopDelayMs: Math.max(...measured.map((m) => m.maxLoopDelayMs)),
    };
  };
  const figures = (documents: number, ms: number): WriteFigures => ({
    documents,
    ms,
    docsPerSecond: (documents / ms) * 1000,
  });
  const s = figures(sizes.single, median(rounds.map((r) => r.single)));
  const b = figures(sizes.bulk, median(rounds.map((r) => r.bulk)));
  return {
    store: name,
    single: s,
    bulk: { ...b, batchSize },
    speedup: b.docsPerSecond / s.docsPerSecond,
    concurrentUpserts: concurrent(
      rounds.map((r) => r.upserts),
      sizes.bulk / 2,
      concurrentUpserters,
      1,
    ),
    concurrentBatches: concurrent(
      rounds.map((r) => r.batches),
      sizes.bulk,
      concurrentWorkers,
      workerBatch,
    ),
  };
}

/** Measures stores side by side: every round runs on each store in turn, so drift hits all. */
async function measureSideBySide(
  stores: readonly { readonly name: string; readonly store: Store }[],
  sizes: { single: number; bulk: number },
  rounds: number,
): Promise<StoreBenchFigures[]> {
  for (const { store } of stores) await warmUp(store, sizes);
  const measured = stores.map((): Round[] => []);
  for (let round = 1; round <= rounds; round += 1) {
    for (const [i, { store }] of stores.entries()) {
      measured[i]?.push(await measureRound(store, sizes, round));
    }
  }
  return stores.map(({ name }, i) => summarize(name, sizes, measured[i] ?? []));
}

/**
 * Another connection holds the write lock for `lockMs` (as a backup or a manual fix in
 * another process would) while the store writes: how long the event loop is blocked.
 */
async function lockStall(
  root: string,
  writer: SqliteWriterMode,
  lockMs: number,
): Promise<LockStallFigures> {
  const store = new SqliteStore({
    path: join(root, `lock-${writer}`, 'troupe.db'),
    writer,
    busyTimeout: lockMs * 4,
  });
  try {
    await store.ensureCollection(collection);
    // The lock is held by another thread (as another process would), so that it is
    // released on time even while this thread is blocked waiting for it.
    const holder = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const db = new (require(workerData.driver))(workerData.path);
       db.exec('BEGIN IMMEDIATE');
       parentPort.postMessage('locked');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.ms);
       db.exec('COMMIT');
       db.close();`,
      {
        eval: true,
        workerData: {
          driver: createRequire(import.meta.url).resolve('better-sqlite3'),
          path: store.path,
          ms: lockMs,
        },
      },
    );
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    await new Promise((resolve) => holder.once('message', resolve));
    const loop = watchEventLoop();
    const started = performance.now();
    await store.upsert(collection, 'locked', document(0, 1));
    const writeMs = performance.now() - started;
    const delay = await loop.stop();
    await exited;
    return {
      store: writer === 'thread' ? 'writer thread' : 'main-thread writer',
      lockMs,
      writeMs,
      maxLoopDelayMs: delay.max,
    };
  } finally {
    await store.close();
  }
}

/** Runs the lock-stall comparison on both writers. */
export async function benchLockStall(lockMs = 1000): Promise<LockStallFigures[]> {
  const root = mkdtempSync(join(tmpdir(), 'troupe-bench-lock-'));
  try {
    return [await lockStall(root, 'inline', lockMs), await lockStall(root, 'thread', lockMs)];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Runs the store benchmark and returns its figures (one entry per store measured). */
export async function benchStores(options: StoreBenchOptions = {}): Promise<StoreBenchFigures[]> {
  const quick = options.quick ?? false;
  const rounds = options.rounds ?? (quick ? 1 : 5);
  const results: StoreBenchFigures[] = [];
  const root = mkdtempSync(join(tmpdir(), 'troupe-bench-store-'));
  try {
    const variants = [
      ['full', 'inline'],
      ['full', 'thread'],
      ['normal', 'inline'],
      ['normal', 'thread'],
    ] as const satisfies readonly (readonly [SqliteSynchronous, SqliteWriterMode])[];
    const stores = variants.map(([synchronous, writer]) => ({
      name: `SqliteStore (WAL, synchronous=${synchronous.toUpperCase()}, ${writer === 'thread' ? 'writer thread' : 'main-thread writer'})`,
      store: new SqliteStore({
        path: join(root, `${synchronous}-${writer}`, 'troupe.db'),
        synchronous,
        writer,
      }),
    }));
    try {
      results.push(
        ...(await measureSideBySide(
          stores,
          quick ? { single: 300, bulk: 3000 } : { single: 2000, bulk: 20_000 },
          rounds,
        )),
      );
    } finally {
      for (const { store } of stores) await store.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const arangoUrl = 'arangoUrl' in options ? options.arangoUrl : process.env['ARANGO_URL'];
  if (arangoUrl !== undefined && arangoUrl !== '') {
    const store = await ArangoStore.connect({ url: arangoUrl });
    try {
      results.push(
        ...(await measureSideBySide(
          [{ name: 'ArangoStore', store }],
          quick ? { single: 200, bulk: 2000 } : { single: 1000, bulk: 10_000 },
          rounds,
        )),
      );
    } finally {
      await store.database
        .collection(collection)
        .drop()
        .catch(() => undefined);
      await store.close();
    }
  }
  return results;
}

const rate = (value: number): string => Math.round(value).toLocaleString('en-US');

/** The figures as a markdown report. */
export function storeBenchMarkdown(
  results: readonly StoreBenchFigures[],
  arangoMeasured: boolean,
  stalls: readonly LockStallFigures[] = [],
): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '# Store benchmark',
    '',
    `${new Date().toISOString()} · Node ${process.version} · ${cpus().length} × ${cpu}`,
    '',
    'Upsert-if-newer of small JSON documents (~200 bytes): one `upsert` per document against',
    `\`bulkUpsert\` in batches of ${batchSize}, in the same run, medians of alternating rounds`,
    '(each round runs every row on every store in turn).',
    'Generated by `node --import tsx test/bench/store.ts`.',
    '',
    '| store | single writes (docs/s) | batches of 100 (docs/s) | batched ÷ single |',
    '| --- | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.store} | ${rate(r.single.docsPerSecond)} (${r.single.documents} in ${r.single.ms.toFixed(0)} ms) | ${rate(r.bulk.docsPerSecond)} (${r.bulk.documents} in ${r.bulk.ms.toFixed(0)} ms) | ${r.speedup.toFixed(1)}× |`,
    ),
    '',
    '## Group commit: concurrent callers',
    '',
    `${concurrentUpserters} concurrent callers each writing one document per \`upsert\` (workers persisting`,
    `one message each), and ${concurrentWorkers} concurrent callers each writing ${workerBatch} documents per \`bulkWrite\``,
    '(workers persisting a batch each). Calls that arrive while a commit runs share the next',
    'one; "calls per commit" is how many did. "Event loop" is the delay the main thread\'s',
    'event loop saw during the row, p99 of the median round / worst of all rounds',
    '(heartbeats, acks and /healthz wait that long). Every round runs on each store in turn.',
    '',
    `| store | ${concurrentUpserters} × upsert (docs/s) | calls per commit | event loop p99 / max (ms) | ${concurrentWorkers} × bulkWrite of ${workerBatch} (docs/s) | calls per commit | event loop p99 / max (ms) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map((r) => {
      const u = r.concurrentUpserts;
      const b = r.concurrentBatches;
      const per = (value: number | undefined): string =>
        value === undefined ? '–' : value.toFixed(1);
      return `| ${r.store} | ${rate(u.docsPerSecond)} (${u.documents} in ${u.ms.toFixed(0)} ms) | ${per(u.callsPerCommit)} | ${u.p99LoopDelayMs.toFixed(1)} / ${u.maxLoopDelayMs.toFixed(1)} | ${rate(b.docsPerSecond)} (${b.documents} in ${b.ms.toFixed(0)} ms) | ${per(b.callsPerCommit)} | ${b.p99LoopDelayMs.toFixed(1)} / ${b.maxLoopDelayMs.toFixed(1)} |`;
    }),
    '',
    ...(stalls.length === 0
      ? []
      : [
          '## A lock held by another process',
          '',
          `Another connection holds the write lock (\`BEGIN IMMEDIATE\`) for ${stalls[0]?.lockMs ?? 0} ms while the store`,
          'writes one document (busy timeout longer than the lock, so the write succeeds once',
          'the lock is released). better-sqlite3 waits for a lock synchronously: on the main',
          'thread the whole event loop waits with it; on the writer thread only that thread does.',
          '',
          '| writer | write (ms) | event loop max delay (ms) |',
          '| --- | ---: | ---: |',
          ...stalls.map(
            (r) => `| ${r.store} | ${r.writeMs.toFixed(0)} | ${r.maxLoopDelayMs.toFixed(1)} |`,
          ),
          '',
        ]),
    'With synchronous=FULL every commit waits for an fsync of the write-ahead log, so a single',
    'write pays one fsync and a batch of 100 pays one for all; NORMAL fsyncs only at',
    'checkpoints (durable across a process crash, not a power cut).',
    '',
    arangoMeasured
      ? 'ArangoDB was measured at ARANGO_URL.'
      : 'ArangoDB: not measured (set ARANGO_URL to include it).',
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  const results = await benchStores({ quick });
  const stalls = await benchLockStall(quick ? 300 : 1000);
  const markdown = storeBenchMarkdown(
    results,
    results.some((r) => r.store === 'ArangoStore'),
    stalls,
  );
  const report = join(dirname(fileURLToPath(import.meta.url)), 'reports', 'store.md');
  mkdirSync(dirname(report), { recursive: true });
  writeFileSync(report, markdown);
  process.stdout.write(`${markdown}\nwritten to ${report}\n`);
}
