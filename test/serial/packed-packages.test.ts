// The packages as a team outside this repository gets them: built, packed with
// `pnpm pack`, installed with npm into a temporary project, a processor written there in
// TypeScript against the published declarations, run on the memory ports and through
// the `troupe` CLI (chart and start). Serial: it builds and installs, which is slow.
//
// npm installs the third-party dependencies with --prefer-offline: from its cache when
// they are there, else from the registry. Without either the suite reports itself
// skipped with npm's error.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppProcess, eventually } from '../e2e/harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = (name: string): string => join(root, 'node_modules', '.bin', name);

/** The packages a team installs (the supervisor brings the adapters it imports). */
const packages = ['core', 'memory', 'amqp', 'sqlite', 'arango', 'inspector', 'otel', 'supervisor'];

/** The environment outside the workspace: no `@troupe/source` condition. */
const outside = { ...process.env, NODE_OPTIONS: '' };

function run(
  file: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = outside,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr });
    });
  });
}

const files: Record<string, string> = {
  'tsconfig.json': JSON.stringify({
    compilerOptions: {
      target: 'ES2023',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      exactOptionalPropertyTypes: true,
      skipLibCheck: true,
      outDir: 'lib',
      rootDir: 'src',
      types: [],
    },
    include: ['src'],
  }),
  // The team's processor, typed from its schema through the published declarations.
  'src/greeter.ts': `import { defineProcessor } from '@troupe/core';
import { z } from 'zod';

export const greeter = defineProcessor({
  name: 'greeter',
  queue: 'greetings',
  bindings: [{ exchange: 'people', routingKey: 'person.arrived' }],
  schema: z.object({ id: z.string().min(1), name: z.string() }),
  handle: (person, { log, delivery }) => {
    log.info({ personId: person.id, attempt: delivery.attempt }, 'greeted');
    return { collection: 'greetings', key: person.id, document: { text: 'Hello, ' + person.name } };
  },
});

export function demo(n: number): { exchange: string; routingKey: string; body: string } {
  return { exchange: 'people', routingKey: 'person.arrived', body: JSON.stringify({ id: 'p' + n, name: 'Person ' + n }) };
}
`,
  // Its unit test, on the memory ports.
  'src/check.ts': `import { startProcessor } from '@troupe/memory';
import { pino } from 'pino';
import { greeter } from './greeter.js';

const app = await startProcessor(greeter, { logger: pino({ level: 'silent' }) });
await app.publish({ id: 'ada', name: 'Ada' });
await app.publish({ id: 42 }, { messageId: 'bad' });
await app.settled();
const stored = await app.store.get('greetings', 'ada');
const dead = app.deadLetters().map((message) => message.headers['x-troupe-reason']);
await app.stop();
console.log(JSON.stringify({ stored, dead }));
`,
  'troupe.config.json': JSON.stringify({
    processors: { greeter: { module: './lib/greeter.js', export: 'greeter' } },
    demo: { module: './lib/greeter.js', export: 'demo', intervalMs: 50 },
    store: 'memory:',
  }),
};

describe('the packed packages in a project outside the workspace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'troupe-packed-'));
  const tarballs = join(dir, 'tarballs');
  const project = join(dir, 'project');
  let skipped: string | undefined;

  beforeAll(async () => {
    const built = await run(bin('tsc'), ['-b', 'tsconfig.build.json'], root);
    expect(built.stdout + built.stderr).toBe('');
    mkdirSync(tarballs);
    const filters = packages.flatMap((name) => ['--filter', `@troupe/${name}`]);
    const packed = await run(
      bin('pnpm'),
      ['-r', ...filters, 'pack', '--pack-destination', tarballs],
      root,
    );
    expect(packed.code, packed.stderr).toBe(0);
    const found = readdirSync(tarballs);
    mkdirSync(join(project, 'src'), { recursive: true });
    const dependencies: Record<string, string> = { pino: '^10.4.0', zod: '^4.6.7' };
    for (const name of packages) {
      const tarball = found.find((file) => file.startsWith(`troupe-${name}-`));
      expect(tarball, `no tarball for @troupe/${name}`).toBeDefined();
      dependencies[`@troupe/${name}`] = `file:${join(tarballs, tarball ?? '')}`;
    }
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'a-team', private: true, type: 'module', dependencies }),
    );
    for (const [path, text] of Object.entries(files)) writeFileSync(join(project, path), text);
    const installed = await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
      project,
    );
    if (installed.code !== 0) {
      skipped = `npm could not install the dependencies (offline, and not in npm's cache?): ${installed.stderr.trim().split('\n').slice(-3).join(' ')}`;
      process.stdout.write(`packed packages: skipped: ${skipped}\n`);
    }
  }, 1_800_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('type-checks and compiles a processor against the published declarations', async (context) => {
    if (skipped !== undefined) context.skip(skipped);
    const compiled = await run(bin('tsc'), ['-p', 'tsconfig.json'], project);
    expect(compiled.stdout + compiled.stderr).toBe('');
  }, 120_000);

  it('runs the processor on the memory ports', async (context) => {
    if (skipped !== undefined) context.skip(skipped);
    const checked = await run(process.execPath, ['lib/check.js'], project);
    expect(checked.stderr).toBe('');
    const { stored, dead } = JSON.parse(checked.stdout) as { stored: unknown; dead: unknown[] };
    expect(stored).toEqual({ _key: 'ada', text: 'Hello, Ada' });
    expect(dead).toEqual([expect.stringMatching(/^INVALID_MESSAGE: /)]);
  }, 120_000);

  it('charts the processor and runs it in the app through the troupe CLI', async (context) => {
    if (skipped !== undefined) context.skip(skipped);
    const troupe = join(project, 'node_modules', '.bin', 'troupe');
    const chart = await run(troupe, ['chart', 'greeter'], project);
    expect(chart.stderr).toBe('');
    expect(chart.stdout).toContain('%% queue       greetings (classic)');
    expect(chart.stdout).toContain('%% bindings    people → person.arrived');
    expect(chart.stdout).toContain('stateDiagram-v2');

    const app = new AppProcess(
      { NODE_OPTIONS: '', TROUPE_INSPECTOR: 'off' },
      { file: troupe, args: ['start'], cwd: project },
    );
    try {
      await app.started();
      expect(app.logged('troupe started')[0]).toMatchObject({ processors: ['greeter'] });
      // The demo publisher of the project's own config feeds the processor.
      await eventually(
        () => Promise.resolve(app.logged('greeted').length >= 3),
        30_000,
        'three greetings',
      );
    } finally {
      app.kill('SIGTERM');
    }
    expect((await app.exited).code).toBe(0);
  }, 120_000);
});
