import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { demoEnabled, loadConfig } from '../src/config.js';
import { configJsonSchema, schemaFile } from '../src/json-schema.js';
import { configuredProcessors, configuredTopology } from '../src/processors.js';

const emptyDir = (): string => mkdtempSync(join(tmpdir(), 'troupe-config-'));
const appDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const example = JSON.parse(readFileSync(join(repoRoot, 'troupe.config.json'), 'utf8')) as {
  processors: Record<string, Record<string, unknown>>;
};

/** The example configuration with `processors` entries changed or added. */
function exampleWith(processors: Record<string, Record<string, unknown>>): Record<string, unknown> {
  const merged: Record<string, Record<string, unknown>> = { ...example.processors };
  for (const [name, entry] of Object.entries(processors)) {
    merged[name] = { ...merged[name], ...entry };
  }
  return { processors: merged };
}

/** A config file among the repository's packages, so that module specifiers resolve. */
function withExample(config: Record<string, unknown>): string {
  const path = join(emptyDir(), 'troupe.config.json');
  writeFileSync(path, JSON.stringify(config));
  return path;
}
const loadExample = (config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
  loadConfig({ ...env, TROUPE_CONFIG: withExample(config) }, repoRoot);

function withFile(config: unknown): string {
  const dir = emptyDir();
  writeFileSync(join(dir, 'troupe.config.json'), JSON.stringify(config));
  return dir;
}

describe('configuration', () => {
  it('defaults to the embedded broker and store; the example configuration runs the three company processors with the demo', async () => {
    const config = loadConfig({}, emptyDir());
    expect(config.amqp.url).toBeUndefined();
    expect(config.store).toBe('sqlite:./data/troupe.db');
    expect(config.http).toEqual({ port: 9464, host: '127.0.0.1' });
    expect(config.processors).toEqual({});
    expect(demoEnabled(config)).toBe(false);
    // The nearest troupe.config.json above the working directory: the repository's.
    const fromApp = loadConfig({}, appDir);
    expect(fromApp.baseDir).toBe(repoRoot.replace(/\/$/, ''));
    expect(demoEnabled(fromApp)).toBe(true);
    expect((await configuredProcessors(fromApp)).map((p) => p.name)).toEqual([
      'company-updated',
      'company-invalidated',
      'company-sync',
    ]);
  });

  it('reads the file and lets environment variables override it', async () => {
    const config = loadExample(
      { ...exampleWith({ 'company-sync': { enabled: false } }), http: { port: 1234 } },
      { TROUPE_HTTP_PORT: '5678', TROUPE_AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672' },
    );
    expect(config.http.port).toBe(5678);
    expect(config.amqp.url).toBe('amqp://guest:guest@127.0.0.1:5672');
    expect(demoEnabled(config)).toBe(false);
    expect((await configuredProcessors(config)).map((p) => p.name)).not.toContain('company-sync');
  });

  it.each([
    [{ TROUPE_HTTP_PORT: 'eighty' }, 'TROUPE_HTTP_PORT (http.port)'],
    [{ TROUPE_HTTP_PORT: '70000' }, 'TROUPE_HTTP_PORT (http.port)'],
    [{ TROUPE_LOG_LEVEL: 'loud' }, 'TROUPE_LOG_LEVEL (logLevel)'],
    [{ TROUPE_AMQP_URL: 'http://broker' }, 'TROUPE_AMQP_URL (amqp.url)'],
    [{ TROUPE_STORE: 'postgres://x' }, 'TROUPE_STORE (store)'],
    [{ TROUPE_DEMO: 'maybe' }, 'TROUPE_DEMO (demo.enabled)'],
  ])('names the variable at fault: %o', (env, field) => {
    expect(() => loadConfig(env, emptyDir())).toThrow(
      expect.objectContaining({ code: 'CONFIGURATION', field }),
    );
  });

  it('applies batch and timeout overrides through the checks of defineProcessor', async () => {
    const config = loadExample(
      exampleWith({
        'company-updated': { concurrency: 3, maxBatch: 32, batchTimeoutMs: 5, timeoutMs: 1000 },
      }),
    );
    const updated = (await configuredProcessors(config)).find((p) => p.name === 'company-updated');
    expect(updated).toMatchObject({
      concurrency: 3,
      maxBatch: 32,
      batchTimeoutMs: 5,
      timeoutMs: 1000,
      // persistTimeoutMs follows timeoutMs unless it is set itself.
      persistTimeoutMs: 1000,
    });
  });

  it('names the file field at fault', () => {
    const dir = withFile(exampleWith({ 'company-updated': { concurrency: 0 } }));
    expect(() => loadConfig({}, dir)).toThrow(
      expect.objectContaining({ field: 'processors.company-updated.concurrency' }),
    );
    expect(() => loadConfig({}, withFile({ processors: { x: {} } }))).toThrow(
      expect.objectContaining({ field: 'processors.x.module' }),
    );
    expect(() => loadConfig({}, withFile({ drainMs: 10, typo: true }))).toThrow(/typo/);
    expect(() => loadConfig({ TROUPE_DEMO: 'on' }, emptyDir())).toThrow(
      expect.objectContaining({ field: 'TROUPE_DEMO (demo.module)' }),
    );
  });

  it('rejects a bad retry override by name', async () => {
    const config = loadExample(
      exampleWith({
        'company-updated': { retry: { backoff: { kind: 'exponential', minMs: 500, maxMs: 100 } } },
      }),
    );
    await expect(configuredProcessors(config)).rejects.toThrow(
      expect.objectContaining({ field: 'processors.company-updated.retry.backoff.maxMs' }),
    );
  });

  it('applies overrides to the processor definitions', async () => {
    const config = loadExample(
      exampleWith({ 'company-updated': { concurrency: 9, retry: { attempts: 2 } } }),
    );
    const [updated] = await configuredProcessors(config);
    expect(updated?.concurrency).toBe(9);
    expect(updated?.retry.attempts).toBe(2);
    expect(updated?.retry.backoff).toEqual({ kind: 'fixed', delayMs: 3000 });
  });

  it('asks for an inspector token when the server listens beyond loopback', () => {
    expect(() => loadConfig({ TROUPE_HTTP_HOST: '0.0.0.0' }, emptyDir())).toThrow(
      expect.objectContaining({ field: 'TROUPE_INSPECTOR_TOKEN (inspector.token)' }),
    );
    expect(
      loadConfig({ TROUPE_HTTP_HOST: '0.0.0.0', TROUPE_INSPECTOR: 'off' }, emptyDir()).inspector
        .enabled,
    ).toBe(false);
    const config = loadConfig(
      { TROUPE_HTTP_HOST: '0.0.0.0', TROUPE_INSPECTOR_TOKEN: 'a-long-enough-token' },
      emptyDir(),
    );
    expect(config.inspector).toMatchObject({ enabled: true, controls: false });
    expect(() => loadConfig({ TROUPE_INSPECTOR_TOKEN: 'short' }, emptyDir())).toThrow(
      expect.objectContaining({ field: 'TROUPE_INSPECTOR_TOKEN (inspector.token)' }),
    );
  });

  it('takes a queue type and a delivery limit per processor, for the topology', async () => {
    const config = loadExample(
      exampleWith({
        'company-updated': { queueType: 'quorum', deliveryLimit: 5 },
        'company-sync': { queueType: 'quorum' },
      }),
    );
    const definitions = await configuredProcessors(config);
    const topology = configuredTopology(config, definitions);
    expect(topology.find((entry) => entry.queue === 'company.updated')).toMatchObject({
      queueType: 'quorum',
      deliveryLimit: 5,
    });
    const sync = definitions.find((p) => p.name === 'company-sync');
    const syncEntry = topology.find((entry) => entry.queue === sync?.queue);
    expect(syncEntry).toMatchObject({ queueType: 'quorum' });
    expect(syncEntry).not.toHaveProperty('deliveryLimit');
    expect(topology.find((entry) => entry.queue === 'company.invalidated')).toMatchObject({
      queueType: 'classic',
    });
  });

  it('refuses a delivery limit on a classic queue and an unknown queue type, naming the field', async () => {
    const classic = loadExample(exampleWith({ 'company-updated': { deliveryLimit: 5 } }));
    const definitions = await configuredProcessors(classic);
    expect(() => configuredTopology(classic, definitions)).toThrow(
      expect.objectContaining({ field: 'processors.company-updated.deliveryLimit' }),
    );
    expect(() =>
      loadConfig({}, withFile(exampleWith({ 'company-updated': { queueType: 'stream' } }))),
    ).toThrow(/processors\.company-updated\.queueType/);
  });

  it('reports a file that is not JSON', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'troupe.config.json'), '{ nope');
    expect(() => loadConfig({}, dir)).toThrow(/not valid JSON/);
  });

  it('keeps the committed JSON Schema in step with the code (pnpm --filter @troupe/supervisor schema)', () => {
    expect(JSON.parse(readFileSync(schemaFile, 'utf8'))).toEqual(configJsonSchema());
  });
});
