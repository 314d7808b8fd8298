import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { configuredProcessors } from '../src/processors.js';

const fixtures = fileURLToPath(new URL('fixtures/', import.meta.url));

/** Loads a configuration whose module paths are relative to the fixtures directory. */
function configWith(processors: Record<string, Record<string, unknown>>) {
  const dir = mkdtempSync(join(tmpdir(), 'troupe-processors-'));
  const path = join(dir, 'troupe.config.json');
  writeFileSync(path, JSON.stringify({ processors }));
  return { ...loadConfig({ TROUPE_CONFIG: path }, dir), baseDir: fixtures };
}

describe('processors loaded by configuration', () => {
  it('loads a named export, and the only processor of a module without naming it', async () => {
    const named = await configuredProcessors(
      configWith({ echo: { module: './echo-processor.ts', export: 'echo', concurrency: 3 } }),
    );
    expect(named.map((p) => [p.name, p.queue, p.concurrency])).toEqual([
      ['echo', 'fixture.echo', 3],
    ]);
    const only = await configuredProcessors(
      configWith({ echo: { module: './echo-processor.ts' } }),
    );
    expect(only.map((p) => p.name)).toEqual(['echo']);
  });

  it("validates a factory's options with its schema, defaults applied, and names the option at fault", async () => {
    const [audit] = await configuredProcessors(
      configWith({ audit: { module: './audit-factory.ts', options: { collection: 'seen' } } }),
    );
    expect(audit?.queue).toBe('fixture.audit.seen');
    expect(audit?.concurrency).toBe(2);
    await expect(
      configuredProcessors(
        configWith({ audit: { module: './audit-factory.ts', options: { concurrency: 0 } } }),
      ),
    ).rejects.toThrow(
      expect.objectContaining({
        code: 'CONFIGURATION',
        field: 'processors.audit.options.concurrency',
      }),
    );
    await expect(
      configuredProcessors(configWith({ echo: { module: './echo-processor.ts', options: {} } })),
    ).rejects.toThrow(expect.objectContaining({ field: 'processors.echo.options' }));
  });

  it.each([
    [
      'a module that is not there',
      { module: '@nowhere/processor-missing' },
      /^processor p: module @nowhere\/processor-missing: not found from /,
    ],
    [
      'an export that is not there',
      { module: './echo-processor.ts', export: 'ecco' },
      /^processor p: module \.\/echo-processor\.ts, export ecco: no such export; the module exports echo, notAProcessor$/,
    ],
    [
      'an export that is not a processor',
      { module: './echo-processor.ts', export: 'notAProcessor' },
      /^processor p: module \.\/echo-processor\.ts, export notAProcessor: not a processor definition \(defineProcessor\) or factory \(defineProcessorFactory\): got number$/,
    ],
    [
      'a module with several processors and no export named',
      { module: './two-processors.ts' },
      /exports several processors \(first, second\): name one with "export"$/,
    ],
    [
      'an invalid definition',
      { module: './no-handler.ts' },
      /^processor p: module \.\/no-handler\.ts: invalid processor definition: handle must be a function$/,
    ],
    [
      'an entry named otherwise than its processor',
      { module: './echo-processor.ts', export: 'echo' },
      /^processor p: module \.\/echo-processor\.ts, export echo: defines processor "echo"; name its configuration entry after it$/,
    ],
  ])('names the processor, the module and the export: %s', async (_case, entry, message) => {
    const error: unknown = await configuredProcessors(configWith({ p: entry })).catch(
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: 'PROCESSOR_LOAD' });
    expect((error as Error).message).toMatch(message);
    // A code problem does not read like a configuration path.
    expect((error as Error).message).not.toMatch(/processors\.p\b/);
  });

  it('loads only the processors asked for, so that a broken one does not stop the others', async () => {
    const config = configWith({
      broken: { module: './no-handler.ts' },
      echo: { module: './echo-processor.ts' },
      off: { module: './no-handler.ts', enabled: false },
    });
    expect((await configuredProcessors(config, ['echo'])).map((p) => p.name)).toEqual(['echo']);
    await expect(configuredProcessors(config)).rejects.toThrow(/processor broken/);
  });
});
