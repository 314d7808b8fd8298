// End-to-end harness: the supervisor app as a child process on the real RabbitMQ, in a
// vhost of its own. The app runs in `node` itself (`--import tsx`), never under a
// wrapper process that a signal would stop instead of the app, and in a process group
// of its own, so that a kill reaches everything it started and a suite can check that
// nothing it started is left (the app's queue names are fixed, so isolation is by vhost), with
// an embedded store in a temporary directory. Events are published with amqplib
// directly — not with Troupe's publisher — and the audit reads the broker and the store.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SqliteStore } from '@troupe/sqlite';
import { connect, type ChannelModel } from 'amqplib';

const run = promisify(execFile);
const appDir = fileURLToPath(new URL('../../apps/supervisor/', import.meta.url));

/** Process groups (one per app started) that may still have a live process. */
const started = new Set<number>();

/** Whether process group `pgid` still has a process (a zombie counts until reaped). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The processes of group `pgid`, as `ps` lists them (for a test's message). */
function listGroup(pgid: number): string {
  try {
    return execFileSync('ps', ['-o', 'pid,stat,args', '-g', String(pgid)], { encoding: 'utf8' });
  } catch {
    return '(ps failed)';
  }
}

/**
 * The process groups of apps this process started that still have a live process: a
 * suite's teardown expects none.
 */
export function leftoverProcesses(): number[] {
  const alive: number[] = [];
  for (const pgid of started) {
    if (groupAlive(pgid)) alive.push(pgid);
    else started.delete(pgid);
  }
  return alive;
}

/** Whether an HTTP GET of `url` gets any answer (false when the connection is refused). */
export async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(5000) });
    return true;
  } catch {
    return false;
  }
}

/** A vhost for one test, with guest's permissions; removed by `dispose`. */
export class Vhost {
  readonly name = `troupe-e2e-${randomUUID().slice(0, 8)}`;
  readonly url = `amqp://guest:guest@127.0.0.1:5672/${this.name}`;

  async create(): Promise<void> {
    await run('rabbitmqctl', ['add_vhost', this.name]);
    await run('rabbitmqctl', ['set_permissions', '-p', this.name, 'guest', '.*', '.*', '.*']);
  }

  async dispose(): Promise<void> {
    await run('rabbitmqctl', ['delete_vhost', this.name]).catch(() => undefined);
  }
}

/** A program that starts the app, instead of `node --import tsx src/main.ts` in apps/supervisor. */
export interface AppCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd?: string;
}

/** One running app process. */
export class AppProcess {
  readonly child: ChildProcess;
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #started: Promise<void>;
  #listening: Promise<void>;

  /**
   * `command` runs another entry instead of the app's `src/main.ts` (the fault suite's
   * app with fault hooks, say): a program, its arguments and its working directory.
   */
  constructor(env: Record<string, string>, command?: AppCommand) {
    this.child = spawn(
      command?.file ?? process.execPath,
      command?.args ?? ['--import', 'tsx', 'src/main.ts'],
      {
        cwd: command?.cwd ?? appDir,
        env: { ...process.env, TROUPE_HTTP_PORT: '0', TROUPE_LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        // A process group of its own: `kill` signals the whole group.
        detached: true,
      },
    );
    if (this.child.pid !== undefined) started.add(this.child.pid);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    let listening: () => void = () => undefined;
    this.#listening = new Promise((resolve, reject) => {
      listening = resolve;
      void this.exited.then(({ code }) =>
        reject(
          new Error(`app exited (${String(code)}) before listening:\n${this.output.join('\n')}`),
        ),
      );
    });
    this.#listening.catch(() => undefined);
    this.#started = new Promise((resolve, reject) => {
      let buffer = '';
      this.child.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          this.output.push(line);
          if (line.includes('"msg":"operations server listening"')) listening();
          if (line.includes('"msg":"troupe started"')) resolve();
        }
      });
      this.child.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
      void this.exited.then(({ code }) =>
        reject(
          new Error(`app exited (${String(code)}) before starting:\n${this.output.join('\n')}`),
        ),
      );
    });
    this.#started.catch(() => undefined);
  }

  started(): Promise<void> {
    return this.#started;
  }

  /** Resolves once the operations server listens (before the broker and the store are up). */
  listening(): Promise<void> {
    return this.#listening;
  }

  /** Sends `signal` to the app's process group: the app and anything it started. */
  kill(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  /**
   * Kills the whole group (SIGKILL) and resolves once no process of it is left: a
   * process orphaned by the group's leader is reaped by init, not by us, so that is
   * polled for (bounded).
   */
  async terminate(): Promise<void> {
    this.kill('SIGKILL');
    await this.exited;
    const pid = this.child.pid;
    const deadline = Date.now() + 10_000;
    while (pid !== undefined && groupAlive(pid) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Sends `signal` to the spawned process alone, as a process manager does to the
   * command it started (`npm start`, say), leaving the rest of its group to it.
   */
  signalLeader(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /**
   * Whether the app is gone: it exited, no process of its group is left, and its
   * operations port (once it had one) refuses connections.
   */
  async gone(): Promise<boolean> {
    return (await this.leftBehind()) === undefined;
  }

  /**
   * What is left of the app once it exited (undefined: nothing), for a test's message.
   * A process of the group that outlived the leader is reaped by init, not by us, so
   * its end is polled for (bounded) before it counts as left behind.
   */
  async leftBehind(): Promise<string | undefined> {
    await this.exited;
    const pid = this.child.pid;
    if (pid !== undefined) {
      const deadline = Date.now() + 5000;
      while (groupAlive(pid) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (groupAlive(pid)) return `a process in group ${pid}: ${listGroup(pid)}`;
    }
    const url = this.httpUrl();
    if (url !== undefined && (await answers(`${url}/healthz`))) return `${url} still answers`;
    return undefined;
  }

  /** The operations server's base URL, from the log (once it listens). */
  httpUrl(): string | undefined {
    const http =
      this.logged('troupe started')[0]?.['http'] ??
      this.logged('operations server listening')[0]?.['http'];
    return typeof http === 'string' ? http : undefined;
  }

  /** Log lines with this message. */
  logged(msg: string): Record<string, unknown>[] {
    return this.output
      .filter((line) => line.includes(`"msg":"${msg}"`))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/** A temporary directory with the store's file. */
export function tempStorePath(): { path: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'troupe-e2e-'));
  return {
    path: join(dir, 'troupe.db'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A company event the test publishes, and what it should leave behind. */
export interface TestEvent {
  readonly routingKey: string;
  readonly body: string;
  readonly messageId: string;
  readonly valid: boolean;
}

/**
 * `count` company.updated events over `companies` ids with rising versions, some
 * repeated verbatim (duplicates), some older than what came before (stale), and every
 * `invalidEvery`-th one invalid.
 */
export function companyEvents(count: number, companies = 100, invalidEvery = 50): TestEvent[] {
  const events: TestEvent[] = [];
  for (let n = 1; n <= count; n += 1) {
    const id = `c-${n % companies}`;
    if (n % invalidEvery === 0) {
      const body = n % (invalidEvery * 2) === 0 ? '{"id":' : JSON.stringify({ id, version: n });
      events.push({ routingKey: 'company.updated', body, messageId: `e-${n}`, valid: false });
      continue;
    }
    // Every 9th event is stale: a version older than one this id already had.
    const version = n % 9 === 0 && n > companies ? n - companies : n;
    const body = JSON.stringify({ id, name: `name-${version}`, version });
    events.push({ routingKey: 'company.updated', body, messageId: `e-${n}`, valid: true });
    // Every 13th event is delivered twice.
    if (n % 13 === 0) events.push({ ...events[events.length - 1]!, messageId: `e-${n}-dup` });
  }
  return events;
}

/** What the store must hold after `events`: the highest version per id. */
export function expectedCompanies(events: readonly TestEvent[]): Map<string, number> {
  const expected = new Map<string, number>();
  for (const event of events) {
    if (!event.valid) continue;
    const { id, version } = JSON.parse(event.body) as { id: string; version: number };
    expected.set(id, Math.max(expected.get(id) ?? -1, version));
  }
  return expected;
}

/** amqplib, used directly: a publisher and a broker inspector that are not Troupe. */
export class RawBroker {
  #model: ChannelModel | undefined;
  constructor(readonly url: string) {}

  async #connection(): Promise<ChannelModel> {
    this.#model ??= await connect(this.url);
    return this.#model;
  }

  /** Publishes with publisher confirms, many in flight. */
  async publish(events: readonly TestEvent[]): Promise<void> {
    const channel = await (await this.#connection()).createConfirmChannel();
    await channel.assertExchange('companies', 'topic', { durable: true });
    for (const event of events) {
      const ok = channel.publish('companies', event.routingKey, Buffer.from(event.body), {
        persistent: true,
        contentType: 'application/json',
        messageId: event.messageId,
      });
      if (!ok) await new Promise<void>((resolve) => channel.once('drain', () => resolve()));
    }
    await channel.waitForConfirms();
    await channel.close();
  }

  /** Ready and unacknowledged counts of a queue (0 when it does not exist). */
  async depth(queue: string): Promise<number> {
    const channel = await (await this.#connection()).createChannel();
    channel.on('error', () => undefined);
    try {
      const { messageCount } = await channel.checkQueue(queue);
      return messageCount;
    } catch {
      return 0;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Takes every message of a queue (acking them). */
  async drain(queue: string): Promise<{ messageId: string; headers: Record<string, unknown> }[]> {
    const channel = await (await this.#connection()).createChannel();
    const messages: { messageId: string; headers: Record<string, unknown> }[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) break;
      messages.push({
        messageId: String(message.properties.messageId),
        headers: message.properties.headers ?? {},
      });
    }
    await channel.close();
    return messages;
  }

  async close(): Promise<void> {
    await this.#model?.close().catch(() => undefined);
  }
}

/** Polls `check` until it holds or `timeoutMs` passes (broker-side effects have no event). */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Reads what the store holds for `ids`: version per company id, and the total count. */
export async function storedVersions(
  path: string,
  ids: Iterable<string>,
): Promise<{ versions: Map<string, number>; count: number }> {
  const store = new SqliteStore({ path });
  try {
    const versions = new Map<string, number>();
    for (const id of ids) {
      const doc = await store.get('companies', id);
      if (doc !== undefined) versions.set(id, Number(doc['version']));
    }
    return { versions, count: await store.count('companies') };
  } finally {
    await store.close();
  }
}
