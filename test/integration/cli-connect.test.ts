// The `troupe` CLI says which connection failure it hit — refused login, refused
// connection, unknown vhost — naming the broker with its password redacted, for the
// verbs that connect (publish, dlq). A child process per call, as a user runs it.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

function troupe(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(tsx, ['apps/supervisor/src/cli.ts', ...args], { cwd: root }, (error, _out, stderr) => {
      resolve({
        code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1,
        stderr,
      });
    });
  });
}

const cases = [
  ['amqp://guest:Wr0ng-Secret@127.0.0.1:5672', /refused the login \(403 ACCESS_REFUSED\)/],
  ['amqp://guest:guest@127.0.0.1:1', /connection refused: no broker listens/],
  [
    `amqp://guest:guest@127.0.0.1:5672/troupe-missing-${randomUUID().slice(0, 8)}`,
    /refused the vhost/,
  ],
] as const;

describe('troupe CLI connection failures', { timeout: 90_000 }, () => {
  it.each(cases)('publish to %s says which failure it was', async (url, expected) => {
    const result = await troupe(['publish', 'company.updated', '{"id":"c1"}', '--url', url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(expected);
    expect(result.stderr).toContain('cannot connect to amqp://guest:***@127.0.0.1:');
    expect(result.stderr).not.toContain('Wr0ng-Secret');
  });

  it('dlq list says the login was refused', async () => {
    const result = await troupe(['dlq', 'list', 'company.updated', '--url', cases[0][0]]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(cases[0][1]);
    expect(result.stderr).not.toContain('Wr0ng-Secret');
  });
});
