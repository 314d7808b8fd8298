// The `troupe` CLI never prints a password it was given, whatever the URL holds:
// hostile passwords in --url and TROUPE_AMQP_URL, on a broker port that refuses.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

function troupe(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'apps/supervisor/src/cli.ts', ...args],
      { cwd: root, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, output: `${stdout}\n${stderr}` });
      },
    );
  });
}

/** Every 4-character piece of `password`. */
function fragments(password: string): string[] {
  const pieces: string[] = [];
  for (let i = 0; i + 4 <= password.length; i += 1) pieces.push(password.slice(i, i + 4));
  return pieces;
}

describe('troupe CLI redaction', { timeout: 60_000 }, () => {
  const passwords = ['Qx/Zk9@Wv:Lm', 'Jh%40Tp%2FRb7'];

  it.each(passwords)(
    'never prints the password %s from --url or TROUPE_AMQP_URL',
    async (password) => {
      const url = `amqp://guest:${password}@127.0.0.1:1/`;
      for (const run of [
        troupe(['dlq', 'list', 'company.updated', '--url', url]),
        troupe(['dlq', 'list', 'company.updated'], { TROUPE_AMQP_URL: url }),
        troupe(['retries', 'company.updated', '--url', url]),
      ]) {
        const { code, output } = await run;
        expect(code).not.toBe(0);
        for (const piece of fragments(password)) expect(output).not.toContain(piece);
      }
    },
  );
});
