// `troupe new processor <name>` in a temporary copy of the workspace's root files (the
// core and memory packages and node_modules linked in, as `pnpm install` would link
// them): the generated package passes the formatter, lint, typecheck and its own tests
// as generated, and is registered in the example configuration. Serial: it runs the
// CLI, tsc, eslint and vitest as processes, which is slow.
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const rootFiles = [
  'pnpm-workspace.yaml',
  'package.json',
  'troupe.config.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'tsconfig.base.json',
  'eslint.config.js',
  'vitest.config.ts',
  '.prettierrc.json',
];

function run(
  file: string,
  args: readonly string[],
  cwd: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), output: stdout + stderr });
    });
  });
}

describe('troupe new processor', () => {
  const workspace = mkdtempSync(join(tmpdir(), 'troupe-scaffold-'));
  const bin = (name: string): string => join(workspace, 'node_modules', '.bin', name);
  const generated = join(workspace, 'packages', 'processor-company-audit');
  let scaffolded: { code: number; output: string };

  beforeAll(async () => {
    for (const file of rootFiles) copyFileSync(join(root, file), join(workspace, file));
    symlinkSync(join(root, 'node_modules'), join(workspace, 'node_modules'));
    mkdirSync(join(workspace, 'packages'));
    for (const name of ['core', 'memory']) {
      symlinkSync(join(root, 'packages', name), join(workspace, 'packages', name));
    }
    scaffolded = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'apps/supervisor/src/cli.ts'),
        'new',
        'processor',
        'company-audit',
        '--skip-install',
      ],
      workspace,
    );
    // What `pnpm install` links for the new package's dependencies.
    const modules = join(generated, 'node_modules');
    mkdirSync(join(modules, '@troupe'), { recursive: true });
    for (const name of ['core', 'memory']) {
      symlinkSync(join(root, 'packages', name), join(modules, '@troupe', name));
    }
    for (const name of ['zod', 'pino', 'xstate']) {
      symlinkSync(
        realpathSync(join(root, 'packages/memory/node_modules', name)),
        join(modules, name),
      );
    }
  }, 120_000);

  afterAll(() => rmSync(workspace, { recursive: true, force: true }));

  it('writes the package and registers it in the example configuration and the builds', () => {
    expect(scaffolded.code, scaffolded.output).toBe(0);
    expect(scaffolded.output).toContain('created  packages/processor-company-audit/src/index.ts');
    const config = JSON.parse(readFileSync(join(workspace, 'troupe.config.json'), 'utf8')) as {
      processors: Record<string, unknown>;
    };
    expect(config.processors['company-audit']).toEqual({
      module: '@troupe/processor-company-audit',
    });
    expect(Object.keys(config.processors)).toContain('company-updated');
    const manifest = JSON.parse(readFileSync(join(workspace, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(manifest.dependencies['@troupe/processor-company-audit']).toBe('workspace:*');
    expect(readFileSync(join(workspace, 'tsconfig.json'), 'utf8')).toContain(
      '"path": "packages/processor-company-audit"',
    );
    // The processor itself stays within 30 lines.
    const source = readFileSync(join(generated, 'src/index.ts'), 'utf8');
    expect(source.trimEnd().split('\n').length).toBeLessThanOrEqual(30);
  });

  it('passes the formatter, lint, typecheck and its tests as generated', async () => {
    const formatted = await run(
      bin('prettier'),
      ['--check', 'packages/processor-company-audit', 'troupe.config.json', 'tsconfig.json'],
      workspace,
    );
    expect(formatted.code, formatted.output).toBe(0);
    const linted = await run(bin('eslint'), ['packages/processor-company-audit'], workspace);
    expect(linted.code, linted.output).toBe(0);
    const typed = await run(bin('tsc'), ['-b', 'packages/processor-company-audit'], workspace);
    expect(typed.code, typed.output).toBe(0);
    const tested = await run(bin('vitest'), ['run', 'packages/processor-company-audit'], workspace);
    expect(tested.code, tested.output).toBe(0);
    expect(tested.output).toMatch(/3 passed/);
  }, 400_000);

  it('refuses a name that is not kebab-case, or a package that exists', async () => {
    const cli = join(root, 'apps/supervisor/src/cli.ts');
    const bad = await run(
      process.execPath,
      ['--import', 'tsx', cli, 'new', 'processor', 'Company_Audit', '--skip-install'],
      workspace,
    );
    expect(bad.code).toBe(2);
    expect(bad.output).toMatch(/kebab-case/);
    const again = await run(
      process.execPath,
      ['--import', 'tsx', cli, 'new', 'processor', 'company-audit', '--skip-install'],
      workspace,
    );
    expect(again.code).toBe(2);
    expect(again.output).toMatch(/exists already/);
  }, 120_000);
});
