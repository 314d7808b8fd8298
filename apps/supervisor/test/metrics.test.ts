// /metrics through prom-client: every metric name the README lists is exposed, with the
// default process metrics beside them; a real pool's settlements, steps and actor states
// reach the exposition; histogram buckets are cumulative with the right sum and count;
// the app wires its store's commit totals in.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createPool,
  defineProcessor,
  startSupervisor,
  type ProcessorObserver,
  type SupervisorRuntime,
} from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { SqliteStore } from '@troupe/sqlite';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { Metrics } from '../src/metrics.js';

const readme = readFileSync(
  join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'README.md'),
  'utf8',
);

/** The metric names the README's `/metrics` paragraph lists. */
function readmeMetricNames(): string[] {
  const start = readme.indexOf('- `/metrics`');
  expect(start).toBeGreaterThan(0);
  const paragraph = readme.slice(start, readme.indexOf('\n\n', start));
  return [...new Set(paragraph.match(/troupe_[a-z_]+/g) ?? [])];
}

/** `name{labels}` → value, from exposition text. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    map.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return map;
}

const logger = pino({ level: 'silent' });
let metrics: Metrics | undefined;
let runtime: SupervisorRuntime | undefined;

afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
  metrics?.close();
  metrics = undefined;
});

/** `counted`, and a promise that resolves once it has seen `count` settlements. */
function settling(
  counted: ProcessorObserver,
  count: number,
): { observer: ProcessorObserver; allSettled: Promise<void> } {
  let settle: () => void = () => undefined;
  let settled = 0;
  const allSettled = new Promise<void>((resolve) => (settle = resolve));
  return {
    observer: {
      ...counted,
      settled: (outcome, ms, messageId) => {
        counted.settled(outcome, ms, messageId);
        settled += 1;
        if (settled === count) settle();
      },
    },
    allSettled,
  };
}

describe('/metrics', () => {
  it('exposes every metric the README lists, and the default process metrics', async () => {
    metrics = new Metrics({
      brokerConnected: () => true,
      storeWrites: { kind: 'sqlite', stats: () => undefined },
    });
    metrics.observer('p');
    const text = await metrics.render();
    const names = readmeMetricNames();
    expect(names.length).toBeGreaterThanOrEqual(9);
    for (const name of names) expect(text).toContain(`# TYPE ${name} `);
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE nodejs_heap_size_used_bytes gauge');
    expect(samples(text).get('troupe_broker_connected')).toBe(1);
  });

  it('renders histograms cumulatively, with sum and count', async () => {
    metrics = new Metrics();
    const observer = metrics.observer('orders');
    observer.settled('acked', 3, 'm-1');
    observer.settled('acked', 20, 'm-2');
    observer.settled('dead-lettered', 2000, 'm-3');
    observer.retrying('persist', 'm-4');
    const first = samples(await metrics.render());
    const acked = (le: string) =>
      first.get(
        `troupe_message_duration_seconds_bucket{le="${le}",processor="orders",outcome="acked"}`,
      );
    expect(acked('0.001')).toBe(0);
    expect(acked('0.005')).toBe(1);
    expect(acked('0.01')).toBe(1);
    expect(acked('0.025')).toBe(2);
    expect(acked('+Inf')).toBe(2);
    expect(
      first.get('troupe_message_duration_seconds_count{processor="orders",outcome="acked"}'),
    ).toBe(2);
    expect(
      first.get('troupe_message_duration_seconds_sum{processor="orders",outcome="acked"}'),
    ).toBeCloseTo(0.023);
    expect(first.get('troupe_messages_total{processor="orders",outcome="dead-lettered"}')).toBe(1);
    expect(first.get('troupe_retries_total{processor="orders",step="persist"}')).toBe(1);
    // A second scrape shows the same totals (the cells are copied, not drained).
    observer.settled('acked', 3, 'm-1');
    const second = samples(await metrics.render());
    expect(second.get('troupe_messages_total{processor="orders",outcome="acked"}')).toBe(3);
    expect(
      second.get('troupe_message_duration_seconds_count{processor="orders",outcome="acked"}'),
    ).toBe(3);
  });

  it('counts the messages each persist step stored, per processor', async () => {
    metrics = new Metrics();
    const observer = metrics.observer('orders');
    observer.step('persist', 12, 250);
    observer.step('persist', 3, 1);
    observer.step('handle', 1, 1);
    const text = samples(await metrics.render());
    const bucket = (le: string) =>
      text.get(`troupe_persist_batch_messages_bucket{le="${le}",processor="orders"}`);
    expect(bucket('1')).toBe(1);
    expect(bucket('100')).toBe(1);
    expect(bucket('250')).toBe(2);
    expect(bucket('+Inf')).toBe(2);
    expect(text.get('troupe_persist_batch_messages_count{processor="orders"}')).toBe(2);
    expect(text.get('troupe_persist_batch_messages_sum{processor="orders"}')).toBe(251);
  });

  it('counts the messages of a real pool’s persist steps: several to a step when they wait together', async () => {
    const transport = new MemoryTransport();
    const store = new MemoryStore();
    const definition = defineProcessor({
      name: 'orders',
      queue: 'metrics.batches',
      bindings: [{ exchange: 'metrics', routingKey: 'batches' }],
      schema: z.object({ id: z.string() }),
      concurrency: 1,
      maxBatch: 10,
      handle: (order) => ({ collection: 'orders', key: order.id, document: order }),
    });
    await transport.declare([{ queue: definition.queue, bindings: definition.bindings }]);
    // Waiting before the pool starts: the worker takes them together.
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      await transport.publish('metrics', 'batches', Buffer.from(JSON.stringify({ id })), {});
    }
    metrics = new Metrics();
    const { observer, allSettled } = settling(metrics.observer('orders'), 5);
    const pool = createPool({ definition, transport, store, logger, observer });
    runtime = startSupervisor({ strategy: 'one-for-one', children: [pool.childSpec], logger });
    await allSettled;
    const text = samples(await metrics.render());
    expect(text.get('troupe_persist_batch_messages_sum{processor="orders"}')).toBe(5);
    expect(text.get('troupe_persist_batch_messages_count{processor="orders"}')).toBeLessThan(5);
  });

  it('counts the store’s commits and what they carried, from a real pool on SQLite', async () => {
    const transport = new MemoryTransport();
    const store = new SqliteStore({ path: ':memory:' });
    const definition = defineProcessor({
      name: 'orders',
      queue: 'metrics.commits',
      bindings: [{ exchange: 'metrics', routingKey: 'commits' }],
      schema: z.object({ id: z.string() }),
      concurrency: 2,
      maxBatch: 10,
      handle: (order) => ({ collection: 'orders', key: order.id, document: order }),
    });
    await transport.declare([{ queue: definition.queue, bindings: definition.bindings }]);
    for (let i = 0; i < 12; i += 1) {
      await transport.publish(
        'metrics',
        'commits',
        Buffer.from(JSON.stringify({ id: `o${i}` })),
        {},
      );
    }
    metrics = new Metrics({ storeWrites: { kind: 'sqlite', stats: () => store.writeStats() } });
    const { observer, allSettled } = settling(metrics.observer('orders'), 12);
    const pool = createPool({ definition, transport, store, logger, observer });
    runtime = startSupervisor({ strategy: 'one-for-one', children: [pool.childSpec], logger });
    try {
      await allSettled;
      const text = samples(await metrics.render());
      const commits = text.get('troupe_store_commits_total{store="sqlite"}') ?? Number.NaN;
      const calls = text.get('troupe_store_calls_total{store="sqlite"}') ?? Number.NaN;
      expect(text.get('troupe_store_documents_total{store="sqlite"}')).toBe(12);
      // Every persist step is a call; group commit makes no more commits than calls.
      const steps = text.get('troupe_persist_batch_messages_count{processor="orders"}') ?? 0;
      expect(calls).toBeGreaterThanOrEqual(steps);
      expect(commits).toBeGreaterThanOrEqual(1);
      expect(commits).toBeLessThanOrEqual(calls);
      expect(text.get('troupe_store_commit_failures_total{store="sqlite"}')).toBe(0);
      expect({ commits, failures: 0, calls, documents: 12 }).toEqual(store.writeStats());
    } finally {
      await runtime.shutdown();
      runtime = undefined;
      await store.close();
    }
  });

  it('leaves the store’s series out while it does not count its commits (in memory, not open yet)', async () => {
    metrics = new Metrics({ storeWrites: { kind: 'memory', stats: () => undefined } });
    const text = await metrics.render();
    expect(text).toContain('# TYPE troupe_store_commits_total counter');
    expect([...samples(text).keys()].filter((key) => key.startsWith('troupe_store_'))).toEqual([]);
  });

  it('counts what a real pool settles, and shows its actors by state', async () => {
    const transport = new MemoryTransport();
    const store = new MemoryStore();
    const definition = defineProcessor({
      name: 'orders',
      queue: 'metrics.orders',
      bindings: [{ exchange: 'metrics', routingKey: 'orders' }],
      schema: z.object({ id: z.string() }),
      concurrency: 2,
      handle: (order) => ({ collection: 'orders', key: order.id, document: order }),
    });
    await transport.declare([{ queue: definition.queue, bindings: definition.bindings }]);
    metrics = new Metrics({ root: () => runtime?.actor });
    const { observer, allSettled } = settling(metrics.observer('orders'), 3);
    const pool = createPool({ definition, transport, store, logger, observer });
    runtime = startSupervisor({ strategy: 'one-for-one', children: [pool.childSpec], logger });
    for (const body of ['{"id":"a"}', '{"id":"b"}', 'not json']) {
      await transport.publish('metrics', 'orders', Buffer.from(body), {});
    }
    await allSettled;
    const text = samples(await metrics.render());
    expect(text.get('troupe_messages_total{processor="orders",outcome="acked"}')).toBe(2);
    expect(text.get('troupe_messages_total{processor="orders",outcome="dead-lettered"}')).toBe(1);
    expect(text.get('troupe_step_duration_seconds_count{processor="orders",step="persist"}')).toBe(
      2,
    );
    // Two persist steps, one stored message each (the third message was dead-lettered).
    expect(text.get('troupe_persist_batch_messages_count{processor="orders"}')).toBe(2);
    expect(text.get('troupe_persist_batch_messages_sum{processor="orders"}')).toBe(2);
    expect(text.get('troupe_actors{machine="processor",state="idle"}')).toBe(2);
    expect(text.get('troupe_in_flight')).toBe(0);
    expect(text.get('troupe_restarts{supervisor="pool:orders",child="worker-1"}')).toBe(0);
  });
});

describe('the app’s store metrics', () => {
  let app: App | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('counts the SQLite store’s commits, calls and documents as the demo’s messages are stored', async () => {
    dir = mkdtempSync(join(tmpdir(), 'troupe-store-metrics-'));
    // The repository's root, whose troupe.config.json names the example processors.
    const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
    const config = loadConfig(
      {
        TROUPE_STORE: `sqlite:${join(dir, 'troupe.db')}`,
        TROUPE_HTTP_PORT: '0',
        TROUPE_DEMO: 'on',
        TROUPE_DEMO_INTERVAL_MS: '5',
      },
      repoRoot,
    );
    app = await startApp(config, logger);
    const scrape = async (): Promise<Map<string, number>> =>
      samples(await (await fetch(`http://127.0.0.1:${app?.http.port}/metrics`)).text());
    let text = await scrape();
    // Waits for the event asserted: documents stored (each scrape a fresh read).
    while ((text.get('troupe_store_documents_total{store="sqlite"}') ?? 0) < 5) {
      await new Promise((resolve) => setImmediate(resolve));
      text = await scrape();
    }
    const commits = text.get('troupe_store_commits_total{store="sqlite"}') ?? 0;
    const calls = text.get('troupe_store_calls_total{store="sqlite"}') ?? 0;
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(calls).toBeGreaterThanOrEqual(commits);
    expect(text.get('troupe_store_commit_failures_total{store="sqlite"}')).toBe(0);
  });
});
