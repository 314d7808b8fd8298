// The start command the README gives (`npm start`), as a process manager runs it: a
// SIGTERM to that command must reach the app, which drains and exits 0, and leave no
// process behind (a wrapper that swallowed the signal left the app consuming, and the
// next start failed with EADDRINUSE).
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppProcess, leftoverProcesses, tempStorePath, Vhost } from './harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('npm start', () => {
  let vhost: Vhost;
  let store: { path: string; dispose(): void };
  let app: AppProcess | undefined;

  /**
   * The environment of an operator's shell: the suite's NODE_OPTIONS (which make the
   * processes it starts run the workspace's TypeScript sources) are not there, so
   * `npm start` runs the compiled app as it does in production.
   */
  const startEnvironment = (): Record<string, string> => ({
    TROUPE_AMQP_URL: vhost.url,
    TROUPE_STORE: `sqlite:${store.path}`,
    NODE_OPTIONS: '',
  });

  beforeEach(async () => {
    vhost = new Vhost();
    await vhost.create();
    store = tempStorePath();
  });

  afterEach(async () => {
    await app?.terminate();
    app = undefined;
    await vhost.dispose();
    store.dispose();
  });

  afterAll(() => {
    expect(leftoverProcesses()).toEqual([]);
  });

  it('SIGTERM to the command drains the app, exits 0 and leaves no process', async () => {
    app = new AppProcess(startEnvironment(), {
      file: 'npm',
      args: ['start', '--silent'],
      cwd: root,
    });
    await app.started();
    app.signalLeader('SIGTERM');
    const exit = await app.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(app.logged('drained; bye')).toHaveLength(1);
    expect(await app.leftBehind()).toBeUndefined();
  });

  // Ctrl-C in a terminal signals the whole foreground group: npm, which forwards it to
  // the app, and the app itself. Two SIGINTs a moment apart are one request to drain.
  it('Ctrl-C (SIGINT to the whole group) drains the app and exits 0', async () => {
    app = new AppProcess(startEnvironment(), {
      file: 'npm',
      args: ['start', '--silent'],
      cwd: root,
    });
    await app.started();
    app.kill('SIGINT');
    const exit = await app.exited;
    expect(app.logged('drained; bye')).toHaveLength(1);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await app.leftBehind()).toBeUndefined();
  });
});
