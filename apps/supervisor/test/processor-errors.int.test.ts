// A broken processor module, as a team would meet it: the app refuses to start with exit
// 2 and one line naming the processor, the module and the export, and the CLI still
// charts the other processors. Real processes (tsx), no broker.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const fixtures = fileURLToPath(new URL('fixtures/', import.meta.url));

function run(
  entry: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=@troupe/source', '--import', 'tsx', join(appDir, 'src', entry), ...args],
      { cwd: appDir, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : (error.code as number | null), stdout, stderr });
      },
    );
  });
}

describe('a broken processor definition', () => {
  const dir = mkdtempSync(join(tmpdir(), 'troupe-broken-'));
  const config = join(dir, 'troupe.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      processors: {
        broken: { module: join(fixtures, 'no-handler.ts') },
        echo: { module: join(fixtures, 'echo-processor.ts'), export: 'echo' },
      },
    }),
  );
  const env = { TROUPE_CONFIG: config, TROUPE_STORE: 'memory:', TROUPE_HTTP_PORT: '0' };

  it('fails start-up with exit 2 and one clear line', async () => {
    const { code, stderr } = await run('main.ts', [], env);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      `troupe: processor broken: module ${join(fixtures, 'no-handler.ts')}: invalid processor definition: handle must be a function`,
    ]);
  });

  it('does not break `troupe chart` of another processor', async () => {
    const { code, stdout } = await run('cli.ts', ['chart', 'echo'], env);
    expect(code).toBe(0);
    expect(stdout).toContain('%% queue       fixture.echo (classic)');
    expect(stdout).toContain('%% bindings    fixtures → echo');
    expect(stdout).toContain('stateDiagram-v2');
    const broken = await run('cli.ts', ['chart', 'broken'], env);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('troupe chart: processor broken: module ');
  });
});
