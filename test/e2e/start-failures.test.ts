// Starts that cannot complete: a broker that refuses the login or is not there, a store
// that is down, a store path that cannot be opened. The operations server answers from
// the first moment and says what is wrong; SIGTERM while still starting exits 0; a
// configuration error names the variable; no password is ever printed.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AppProcess, eventually, leftoverProcesses, tempStorePath } from './harness.js';

interface Readiness {
  readonly ready: boolean;
  readonly checks: Record<string, boolean>;
  readonly reasons?: Record<string, string>;
}

async function readiness(url: string): Promise<{ status: number; body: Readiness }> {
  const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: (await response.json()) as Readiness };
}

/** Every 4-character piece of `password`: none may appear in the output. */
function fragments(password: string): string[] {
  const pieces: string[] = [];
  for (let i = 0; i + 4 <= password.length; i += 1) pieces.push(password.slice(i, i + 4));
  return pieces;
}

function expectNoPart(output: readonly string[], password: string): void {
  const text = output.join('\n');
  for (const piece of fragments(password)) expect(text).not.toContain(piece);
}

describe('a start that cannot complete', () => {
  const apps: AppProcess[] = [];
  const cleanups: (() => void)[] = [];

  const launch = (env: Record<string, string>): AppProcess => {
    const store = tempStorePath();
    cleanups.push(store.dispose);
    const app = new AppProcess({
      TROUPE_STORE: `sqlite:${store.path}`,
      TROUPE_DEMO: 'off',
      ...env,
    });
    apps.push(app);
    return app;
  };

  /** Waits until /readyz reports `check` failing with a reason, and returns that reason. */
  /** Waits for /readyz to fail `check` with a reason that matches `expected`, and returns it. */
  const reasonOf = async (app: AppProcess, check: string, expected: RegExp): Promise<string> => {
    const url = app.httpUrl() ?? '';
    let reason = '';
    await eventually(
      async () => {
        const { status, body } = await readiness(url);
        reason = body.reasons?.[check] ?? '';
        return status === 503 && body.checks[check] === false && expected.test(reason);
      },
      20_000,
      `/readyz to report ${check} with a reason`,
    );
    return reason;
  };

  const expectDrainedOnSigterm = async (app: AppProcess): Promise<void> => {
    app.kill('SIGTERM');
    expect((await app.exited).code).toBe(0);
    expect(await app.leftBehind()).toBeUndefined();
  };

  afterEach(async () => {
    for (const app of apps.splice(0)) await app.terminate();
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  afterAll(() => {
    expect(leftoverProcesses()).toEqual([]);
  });

  it('a refused broker login: /healthz at once, /readyz names the refusal, SIGTERM exits 0', async () => {
    // No English word inside: the log may say "wrong user name or password".
    const password = 'Wr0ng7Qx9zK';
    const app = launch({ TROUPE_AMQP_URL: `amqp://guest:${password}@127.0.0.1:5672/` });
    await app.listening();
    const health = await fetch(`${app.httpUrl() ?? ''}/healthz`);
    expect(health.status).toBe(200);
    expect(await reasonOf(app, 'broker', /ACCESS.REFUSED|403/i)).toMatch(/ACCESS.REFUSED|403/i);
    await expectDrainedOnSigterm(app);
    expectNoPart(app.output, password);
  });

  it('no broker: /readyz names the refused connection, SIGTERM exits 0', async () => {
    const app = launch({ TROUPE_AMQP_URL: 'amqp://guest:guest@127.0.0.1:1/' });
    await app.listening();
    expect((await fetch(`${app.httpUrl() ?? ''}/healthz`)).status).toBe(200);
    expect(await reasonOf(app, 'broker', /ECONNREFUSED/)).toMatch(/ECONNREFUSED/);
    await expectDrainedOnSigterm(app);
  });

  it('an unreachable ArangoDB is retried and reported in /readyz, its password never printed', async () => {
    // An `@` and a `:` inside the password: the URL parser takes the last `@`.
    const password = 'Pa@ssw:0rdQz9';
    const app = launch({ TROUPE_STORE: `arangodb://root:${password}@127.0.0.1:18529/troupe` });
    await app.listening();
    expect(await reasonOf(app, 'store', /ECONNREFUSED|unreachable/i)).toMatch(
      /ECONNREFUSED|unreachable/i,
    );
    expect(app.child.exitCode).toBeNull();
    await expectDrainedOnSigterm(app);
    expectNoPart(app.output, password);
  });

  it('a / in the ArangoDB password: retried while unreachable, no part of the password printed', async () => {
    const password = 'Sec/retXq7Zk2';
    const app = launch({ TROUPE_STORE: `arangodb://root:${password}@127.0.0.1:18529/x` });
    await app.listening();
    expect(await reasonOf(app, 'store', /ECONNREFUSED|unreachable/i)).toMatch(
      /ECONNREFUSED|unreachable/i,
    );
    await expectDrainedOnSigterm(app);
    expectNoPart(app.output, password);
  });

  it('a store path that cannot be opened: exit 2 naming TROUPE_STORE and the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'troupe-e2e-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // A regular file where a directory should be: no mode bits to bypass, even as root.
    writeFileSync(join(dir, 'file'), '');
    chmodSync(join(dir, 'file'), 0o444);
    const path = join(dir, 'file', 'troupe.db');
    const app = launch({ TROUPE_STORE: `sqlite:${path}` });
    const exit = await app.exited;
    expect(exit.code).toBe(2);
    const text = app.output.join('\n');
    expect(text).toContain('TROUPE_STORE');
    expect(text).toContain(path);
  });
});
