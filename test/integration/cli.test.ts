// The `troupe` CLI as a user runs it (a child process), against the real RabbitMQ in a
// vhost of its own and an embedded store in a temporary directory.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '@troupe/sqlite';
import { connect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishNested } from '../../packages/amqp/test/hostile.js';
import { AppProcess, RawBroker, tempStorePath, Vhost } from '../e2e/harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

function troupe(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const merged: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...process.env, ...env })) {
    if (value !== undefined) merged[name] = value;
  }
  return new Promise((resolve) => {
    execFile(
      tsx,
      ['apps/supervisor/src/cli.ts', ...args],
      { cwd: root, env: merged },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// Each call starts a process (tsx): slow on a busy 2-core machine.
describe('troupe CLI', { timeout: 90_000 }, () => {
  const vhost = new Vhost();
  const store = tempStorePath();
  let broker: RawBroker;
  let env: Record<string, string>;

  beforeAll(async () => {
    await vhost.create();
    broker = new RawBroker(vhost.url);
    env = { TROUPE_AMQP_URL: vhost.url, TROUPE_STORE: `sqlite:${store.path}` };
  });
  afterAll(async () => {
    await broker.close();
    await vhost.dispose();
    store.dispose();
  });

  it('publishes with confirms into the declared topology', async () => {
    const result = await troupe(
      ['publish', 'company.updated', '{"id":"c1","name":"Acme","version":1}'],
      env,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(await broker.depth('company.updated')).toBe(1);
  });

  it('lists dead letters without taking them, then replays them without their headers', async () => {
    const model = await connect(vhost.url);
    const channel = await model.createConfirmChannel();
    for (const id of ['d1', 'd2']) {
      channel.sendToQueue('company.updated.dead', Buffer.from('{"id":'), {
        messageId: id,
        headers: {
          'x-troupe-reason': 'INVALID_MESSAGE: body is not valid JSON',
          'x-troupe-processor': 'company-updated',
          'x-troupe-attempts': 1,
          'x-troupe-original-routing-key': 'company.updated',
        },
      });
    }
    await channel.waitForConfirms();
    await model.close();

    const listed = await troupe(['dlq', 'list', 'company.updated'], env);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines.slice(0, 2).map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({
        messageId: 'd1',
        reason: 'INVALID_MESSAGE: body is not valid JSON',
      }),
      expect.objectContaining({ messageId: 'd2', processor: 'company-updated', attempts: 1 }),
    ]);
    expect(await broker.depth('company.updated.dead')).toBe(2);

    const before = await broker.depth('company.updated');
    const replayed = await troupe(['dlq', 'replay', 'company.updated'], env);
    expect(replayed.stdout).toMatch(/replayed 2 of 2 message/);
    expect(await broker.depth('company.updated.dead')).toBe(0);
    expect(await broker.depth('company.updated')).toBe(before + 2);
    const messages = await broker.drain('company.updated');
    const replayedMessages = messages.filter((m) => m.messageId === 'd1' || m.messageId === 'd2');
    expect(replayedMessages).toHaveLength(2);
    for (const message of replayedMessages) {
      expect(Object.keys(message.headers).filter((name) => name.startsWith('x-troupe-'))).toEqual(
        [],
      );
    }
  });

  it('lists and replays a dead letter whose headers nest 6,000 deep, exiting 0', async () => {
    await publishNested({
      url: vhost.url,
      exchange: '',
      routingKey: 'company.updated.dead',
      messageId: 'deep-cli',
      depth: 6000,
    });
    const listed = await troupe(['dlq', 'list', 'company.updated'], env);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('"messageId":"deep-cli"');
    expect(listed.stdout).toContain('nested deeper than 64 levels');
    const replayed = await troupe(['dlq', 'replay', 'company.updated'], env);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toMatch(/replayed 1 of 1 message/);
    const [message] = (await broker.drain('company.updated')).filter(
      (m) => m.messageId === 'deep-cli',
    );
    expect(message?.headers).not.toHaveProperty('deep');
  });

  it('reads the store', async () => {
    const writer = new SqliteStore({ path: store.path });
    await writer.upsert('companies', 'c7', { id: 'c7', version: 3 });
    await writer.close();
    const got = await troupe(['store', 'get', 'companies', 'c7'], env);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ _key: 'c7', version: 3 });
    expect((await troupe(['store', 'count', 'companies'], env)).stdout.trim()).toBe('1');
    const missing = await troupe(['store', 'get', 'companies', 'nope'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found/);
  });

  // Issue 13 (15): `store count` of a collection that does not exist printed 0, exit 0.
  it('store count/get of a collection that does not exist says so and exits 1', async () => {
    const writer = new SqliteStore({ path: store.path });
    await writer.upsert('companies', 'c8', { id: 'c8', version: 1 });
    await writer.close();
    const count = await troupe(['store', 'count', 'no_such_collection'], env);
    expect(count.code).toBe(1);
    expect(count.stdout).toBe('');
    expect(count.stderr).toMatch(/no collection "no_such_collection"/);
    const get = await troupe(['store', 'get', 'no_such_collection', 'k'], env);
    expect(get.code).toBe(1);
    expect(get.stderr).toMatch(/no collection "no_such_collection"/);
  });

  it('prints a processor chart as Mermaid or JSON', async () => {
    const mermaid = await troupe(['chart', 'company-updated']);
    expect(mermaid.code).toBe(0);
    // The processor's queue, bindings, retry policy and timeout beside its chart.
    expect(mermaid.stdout).toMatch(/^%% processor {3}company-updated\n/);
    expect(mermaid.stdout).toContain(
      '%% queue       company.updated (classic); dead letters in company.updated.dead',
    );
    expect(mermaid.stdout).toContain('%% bindings    companies → company.updated');
    expect(mermaid.stdout).toMatch(/%% retry {7}5 attempts, fixed 3000 ms, then dead-letter/);
    expect(mermaid.stdout).toContain('%% timeout     30000 ms per attempt');
    expect(mermaid.stdout).toMatch(/\nstateDiagram-v2\n/);
    for (const state of ['idle', 'consuming', 'persisting', 'retrying', 'failed']) {
      expect(mermaid.stdout).toContain(`state "${state}"`);
    }
    const processorJson = await troupe(['chart', 'company-sync', '--format', 'json']);
    expect(JSON.parse(processorJson.stdout)).toMatchObject({
      processor: 'company-sync',
      queue: 'company.sync',
      bindings: ['companies company.sync'],
      chart: { id: 'processor' },
    });
    const json = await troupe(['chart', 'supervisor', '--format', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 'supervisor' });
    expect((await troupe(['chart', 'nope'])).code).toBe(2);
  });

  it('inspects a running app: the tree with each actor state', async () => {
    const app = new AppProcess({
      TROUPE_AMQP_URL: vhost.url,
      TROUPE_STORE: `sqlite:${store.path}`,
    });
    try {
      await app.started();
      const [started] = app.logged('troupe started');
      const url = String(started?.['http']);
      const result = await troupe(['inspect', '--url', url]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/root \(supervisor\) running/);
      expect(result.stdout).toMatch(/pool:company-updated \(supervisor\) running/);
      expect(result.stdout).toMatch(/worker-1 \(worker\) idle/);
      expect(result.stdout).toMatch(/consumer \(consumer\) consuming/);
    } finally {
      app.kill('SIGTERM');
      expect((await app.exited).code).toBe(0);
    }
    const down = await troupe(['inspect', '--url', 'http://127.0.0.1:9']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach the app/);
  });

  it('answers usage errors with exit code 2 and help', async () => {
    expect((await troupe(['frobnicate'])).code).toBe(2);
    const bad = await troupe(['publish', 'company.updated', '{nope'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not valid JSON/);
    const noBroker = await troupe(['publish', 'company.updated', '{}'], {
      TROUPE_AMQP_URL: undefined,
    });
    expect(noBroker.code).toBe(2);
    expect(noBroker.stderr).toMatch(/no broker configured/);
    const unroutable = await troupe(['publish', 'company.nothing', '{}'], env);
    expect(unroutable.code).toBe(2);
    expect(unroutable.stderr).toMatch(/the broker would drop it/);
    const nowhere = await troupe(['dlq', 'replay', 'company.updated.nowhere'], env);
    expect(nowhere.code).toBe(1);
    const noQueue = await troupe(['retries'], env);
    expect(noQueue.code).toBe(2);
    expect(noQueue.stderr).toMatch(/expected <queue>/);
    for (const verb of ['publish', 'store', 'dlq', 'retries', 'start', 'chart', 'inspect']) {
      const help = await troupe([verb, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^Usage: troupe /);
    }
  });
});
