// The app wires its store's commit totals into /metrics: on the embedded SQLite store,
// with the in-process broker and the demo publisher, the counters carry the `sqlite`
// label and move with what the processors store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';

const logger = pino({ level: 'silent' });
/** The repository's root, whose troupe.config.json names the example processors. */
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** `name{labels}` → value, from the app's /metrics. */
async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

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
    const url = `http://127.0.0.1:${app.http.port}`;
    let samples = await scrape(url);
    // Waits for the event asserted: documents stored (each scrape a fresh read).
    while ((samples.get('troupe_store_documents_total{store="sqlite"}') ?? 0) < 5) {
      await new Promise((resolve) => setImmediate(resolve));
      samples = await scrape(url);
    }
    const commits = samples.get('troupe_store_commits_total{store="sqlite"}') ?? 0;
    const calls = samples.get('troupe_store_calls_total{store="sqlite"}') ?? 0;
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(calls).toBeGreaterThanOrEqual(commits);
    expect(samples.get('troupe_store_commit_failures_total{store="sqlite"}')).toBe(0);
  });
});
