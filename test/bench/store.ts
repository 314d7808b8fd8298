// Store benchmark: single writes against batched writes (bulkUpsert of 100), documents
// per second, in one run, on the embedded SQLite store (both synchronous modes) and on
// ArangoDB when ARANGO_URL is set. Every write is an upsert-if-newer, the path processors
// take. Figures are medians of alternating rounds. A report, never a timed assertion.
//
//   node --import tsx test/bench/store.ts [--quick]   writes test/bench/reports/store.md
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyedDocument, Store } from '@troupe/core';
import { ArangoStore } from '@troupe/arango';
import { SqliteStore, type SqliteSynchronous } from '@troupe/sqlite';

/** One way of writing, measured. */
export interface WriteFigures {
  readonly documents: number;
  readonly ms: number;
  readonly docsPerSecond: number;
}

/** Single against batched writes on one store. */
export interface StoreBenchFigures {
  readonly store: string;
  readonly single: WriteFigures;
  readonly bulk: WriteFigures & { readonly batchSize: number };
  /** Bulk documents per second over single documents per second. */
  readonly speedup: number;
}

/** Options of {@link benchStores}. */
export interface StoreBenchOptions {
  /** Fewer documents, for a smoke check. @default false */
  readonly quick?: boolean;
  /** Rounds per way of writing; the median is reported. @default 3 (1 when quick) */
  readonly rounds?: number;
  /** An ArangoDB to measure too. @default process.env.ARANGO_URL */
  readonly arangoUrl?: string | undefined;
}

const batchSize = 100;
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

async function measure(
  name: string,
  store: Store,
  sizes: { single: number; bulk: number },
  rounds: number,
): Promise<StoreBenchFigures> {
  await store.ensureCollection(collection);
  // Warm-up: statements prepared, connections open, pages cached.
  await timeSingle(store, Math.min(50, sizes.single), 0);
  await timeBulk(store, Math.min(500, sizes.bulk), 0);
  const single: number[] = [];
  const bulk: number[] = [];
  for (let round = 1; round <= rounds; round += 1) {
    // Each round writes a higher version, so that every write is a real write.
    single.push(await timeSingle(store, sizes.single, round));
    bulk.push(await timeBulk(store, sizes.bulk, round));
  }
  const figures = (documents: number, ms: number): WriteFigures => ({
    documents,
    ms,
    docsPerSecond: (documents / ms) * 1000,
  });
  const s = figures(sizes.single, median(single));
  const b = figures(sizes.bulk, median(bulk));
  return {
    store: name,
    single: s,
    bulk: { ...b, batchSize },
    speedup: b.docsPerSecond / s.docsPerSecond,
  };
}

/** Runs the store benchmark and returns its figures (one entry per store measured). */
export async function benchStores(options: StoreBenchOptions = {}): Promise<StoreBenchFigures[]> {
  const quick = options.quick ?? false;
  const rounds = options.rounds ?? (quick ? 1 : 3);
  const results: StoreBenchFigures[] = [];
  const root = mkdtempSync(join(tmpdir(), 'troupe-bench-store-'));
  try {
    for (const synchronous of ['full', 'normal'] as const satisfies readonly SqliteSynchronous[]) {
      const store = new SqliteStore({ path: join(root, synchronous, 'troupe.db'), synchronous });
      try {
        results.push(
          await measure(
            `SqliteStore (WAL, synchronous=${synchronous.toUpperCase()})`,
            store,
            quick ? { single: 300, bulk: 3000 } : { single: 2000, bulk: 20_000 },
            rounds,
          ),
        );
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const arangoUrl = 'arangoUrl' in options ? options.arangoUrl : process.env['ARANGO_URL'];
  if (arangoUrl !== undefined && arangoUrl !== '') {
    const store = await ArangoStore.connect({ url: arangoUrl });
    try {
      results.push(
        await measure(
          'ArangoStore',
          store,
          quick ? { single: 200, bulk: 2000 } : { single: 1000, bulk: 10_000 },
          rounds,
        ),
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
): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '# Store benchmark',
    '',
    `${new Date().toISOString()} · Node ${process.version} · ${cpus().length} × ${cpu}`,
    '',
    'Upsert-if-newer of small JSON documents (~200 bytes): one `upsert` per document against',
    `\`bulkUpsert\` in batches of ${batchSize}, in the same run, medians of alternating rounds.`,
    'Generated by `node --import tsx test/bench/store.ts`.',
    '',
    '| store | single writes (docs/s) | batches of 100 (docs/s) | batched ÷ single |',
    '| --- | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.store} | ${rate(r.single.docsPerSecond)} (${r.single.documents} in ${r.single.ms.toFixed(0)} ms) | ${rate(r.bulk.docsPerSecond)} (${r.bulk.documents} in ${r.bulk.ms.toFixed(0)} ms) | ${r.speedup.toFixed(1)}× |`,
    ),
    '',
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
  const markdown = storeBenchMarkdown(
    results,
    results.some((r) => r.store === 'ArangoStore'),
  );
  const report = join(dirname(fileURLToPath(import.meta.url)), 'reports', 'store.md');
  mkdirSync(dirname(report), { recursive: true });
  writeFileSync(report, markdown);
  process.stdout.write(`${markdown}\nwritten to ${report}\n`);
}
