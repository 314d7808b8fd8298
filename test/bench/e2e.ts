// End to end on RabbitMQ: `company-updated` with SQLite (WAL, synchronous FULL) and a
// backlog, three ways in one run, each on its own vhost-free queue copy of the same
// backlog and its own database file:
// - Troupe: the supervisor app, configured only through its troupe.config.json;
// - a per-message consumer: amqplib + better-sqlite3, write then ack each delivery;
// - a batched group-commit consumer: the deliveries that arrived together are written
//   in one transaction and acked with one `multiple` ack.
// Every run starts with the same backlog in `company.updated` (on a vhost of its own)
// and is timed from its first stored document to its last: same start, same end
// (every message stored, which each side acks right after), same decode work.
//
//   node --import tsx test/bench/e2e.ts [--quick]   (written to reports/e2e.md)
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AmqpTransport } from '@troupe/amqp';
import { companySchema, companyUpdated } from '@troupe/processor-company-updated';
import { pino } from 'pino';
import { connect, type Channel, type ConsumeMessage } from 'amqplib';
import Database from 'better-sqlite3';

const exec = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const quick = process.argv.includes('--quick');
const backlog = quick ? 5_000 : 20_000;
const queue = 'company.updated';

interface Result {
  readonly name: string;
  readonly msgPerSecond: number;
  readonly seconds: number;
}

async function rabbitmqctl(...args: string[]): Promise<void> {
  await exec('rabbitmqctl', args);
}

/** A vhost of its own, with the app's topology (declared by the app on a dry run). */
async function freshVhost(): Promise<{ vhost: string; url: string }> {
  const vhost = `troupe-bench-${randomUUID().slice(0, 8)}`;
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  return { vhost, url: `amqp://guest:guest@127.0.0.1:5672/${vhost}` };
}

/** Declares the queue with the app's own transport and topology (same arguments), and fills it. */
async function fillBacklog(url: string): Promise<void> {
  const transport = new AmqpTransport({ url, logger: pino({ level: 'silent' }) });
  await transport.declare([
    {
      queue: companyUpdated.queue,
      bindings: companyUpdated.bindings,
      queueType: companyUpdated.queueType,
      singleActiveConsumer: companyUpdated.singleActiveConsumer,
    },
  ]);
  await transport.close();
  const model = await connect(url);
  const channel = await model.createConfirmChannel();
  for (let i = 0; i < backlog; i += 1) {
    const body = Buffer.from(
      JSON.stringify({ id: `c-${i}`, name: `Company ${i}`, version: 1, country: 'NL' }),
    );
    const ok = channel.publish('companies', 'company.updated', body, {
      persistent: true,
      messageId: `m-${i}`,
      contentType: 'application/json',
    });
    if (!ok) await new Promise((resolve) => channel.once('drain', resolve));
  }
  await channel.waitForConfirms();
  await model.close();
}

/**
 * Polls `count()` every `intervalMs` until it reaches the backlog; times first stored →
 * last stored. The baselines count their own commits (a counter, cheap to read); the
 * app's database is read from here, in another process, every 20 ms.
 */
async function timeStored(count: () => number, intervalMs: number): Promise<number> {
  let first: number | undefined;
  for (;;) {
    const n = count();
    if (n > 0) first ??= performance.now();
    if (n >= backlog && first !== undefined) return (performance.now() - first) / 1000;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function openDb(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS companies (id TEXT PRIMARY KEY, doc TEXT NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID',
  );
  return db;
}

const upsertSql = `INSERT INTO companies (id, doc, version) VALUES (?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, version = excluded.version
  WHERE excluded.version > companies.version`;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes as Troupe does: UTF-8, JSON, the processor's own zod schema. */
function decode(message: ConsumeMessage): { id: string; version: number } | undefined {
  try {
    const parsed = companySchema.safeParse(JSON.parse(decoder.decode(message.content)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The per-message consumer: one write (one commit) and one ack per delivery. */
async function perMessage(url: string, dir: string): Promise<Result> {
  const db = openDb(join(dir, 'per-message.db'));
  const upsert = db.prepare(upsertSql);
  const model = await connect(url);
  const channel = await model.createChannel();
  await channel.prefetch(64);
  let stored = 0;
  await channel.consume(queue, (message) => {
    if (message === null) return;
    const company = decode(message);
    if (company === undefined) {
      channel.nack(message, false, false);
      return;
    }
    upsert.run(company.id, JSON.stringify(company), company.version);
    channel.ack(message);
    stored += 1;
  });
  const seconds = await timeStored(() => stored, 5);
  await model.close();
  db.close();
  return { name: 'per-message amqplib + better-sqlite3', seconds, msgPerSecond: backlog / seconds };
}

/** The group-commit consumer: what arrived together, one transaction, one multiple ack. */
async function groupCommit(url: string, dir: string): Promise<Result> {
  const db = openDb(join(dir, 'group-commit.db'));
  const upsert = db.prepare(upsertSql);
  const model = await connect(url);
  const channel: Channel = await model.createChannel();
  await channel.prefetch(1000);
  let pending: ConsumeMessage[] = [];
  let scheduled = false;
  let stored = 0;
  const writeAll = db.transaction((companies: { id: string; version: number }[]) => {
    for (const company of companies) {
      upsert.run(company.id, JSON.stringify(company), company.version);
    }
  });
  const flush = (): void => {
    scheduled = false;
    const batch = pending;
    pending = [];
    const valid: { id: string; version: number }[] = [];
    for (const message of batch) {
      const company = decode(message);
      if (company === undefined) channel.nack(message, false, false);
      else valid.push(company);
    }
    writeAll(valid);
    const last = batch.at(-1);
    if (last !== undefined) channel.ack(last, true);
    stored += valid.length;
  };
  await channel.consume(queue, (message) => {
    if (message === null) return;
    pending.push(message);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  const seconds = await timeStored(() => stored, 5);
  await model.close();
  db.close();
  return {
    name: 'batched group-commit amqplib + better-sqlite3',
    seconds,
    msgPerSecond: backlog / seconds,
  };
}

/** Troupe: the app, configured only through troupe.config.json. */
async function troupe(
  url: string,
  dir: string,
  settings: { concurrency: number; maxBatch: number },
): Promise<Result> {
  const path = join(dir, `troupe-${settings.maxBatch}.db`);
  writeFileSync(
    join(dir, 'troupe.config.json'),
    JSON.stringify({
      amqp: { url },
      store: `sqlite:${path}`,
      http: { port: 0 },
      logLevel: 'warn',
      demo: { enabled: false },
      inspector: { enabled: false },
      processors: {
        'company-updated': { module: '@troupe/processor-company-updated', ...settings },
      },
    }),
  );
  // The compiled app, as production runs it (built once in main); its processor module
  // resolves from the repository, whose package.json depends on the example processors.
  const app: ChildProcess = spawn(
    process.execPath,
    [join(root, 'apps', 'supervisor', 'dist', 'main.js')],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        NODE_OPTIONS: '',
        TROUPE_CONFIG: join(dir, 'troupe.config.json'),
      },
    },
  );
  let reader: Database.Database | undefined;
  const count = (): number => {
    try {
      reader ??= new Database(path, { readonly: true, fileMustExist: true });
      return (
        reader
          .prepare("SELECT COUNT(*) AS n FROM troupe_documents WHERE collection = 'companies'")
          .get() as { n: number }
      ).n;
    } catch {
      return 0;
    }
  };
  let exited = false;
  app.once('exit', () => {
    exited = true;
  });
  const seconds = await timeStored(() => {
    if (exited) throw new Error('the Troupe app exited before it stored the backlog');
    return count();
  }, 20);
  reader?.close();
  app.kill('SIGTERM');
  if (!exited) await new Promise((resolve) => app.once('exit', resolve));
  return {
    name: `Troupe app (config file: concurrency ${settings.concurrency}, maxBatch ${settings.maxBatch})`,
    seconds,
    msgPerSecond: backlog / seconds,
  };
}

async function main(): Promise<void> {
  // The packages compiled to JavaScript (incremental: nothing to do when they are current).
  await exec(process.execPath, [
    join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-b',
    join(root, 'tsconfig.build.json'),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'troupe-e2e-bench-'));
  const runs: (() => Promise<Result>)[] = [
    async () => perMessage((await prepared()).url, dir),
    async () => groupCommit((await prepared()).url, dir),
    async () =>
      troupe((await prepared()).url, mkdtempSync(join(dir, 'app-')), {
        concurrency: 4,
        maxBatch: 1,
      }),
    async () =>
      troupe((await prepared()).url, mkdtempSync(join(dir, 'app-')), {
        concurrency: 4,
        maxBatch: 32,
      }),
    async () =>
      troupe((await prepared()).url, mkdtempSync(join(dir, 'app-')), {
        concurrency: 4,
        maxBatch: 256,
      }),
  ];
  const vhosts: string[] = [];
  async function prepared(): Promise<{ url: string }> {
    const { vhost, url } = await freshVhost();
    vhosts.push(vhost);
    await fillBacklog(url);
    return { url };
  }
  const results: Result[] = [];
  try {
    for (const run of runs) {
      const result = await run();
      process.stderr.write(`bench: ${result.name}: ${Math.round(result.msgPerSecond)} msg/s\n`);
      results.push(result);
    }
  } finally {
    for (const vhost of vhosts) await rabbitmqctl('delete_vhost', vhost).catch(() => undefined);
  }
  const batched = results[1];
  const perMsg = results[0];
  const lines = [
    '# End-to-end benchmark: company-updated on RabbitMQ with SQLite FULL',
    '',
    `Generated on ${new Date().toISOString()} by \`pnpm bench${quick ? ' --quick' : ''}\` (test/bench/e2e.ts),`,
    `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), the local RabbitMQ, a backlog of ${backlog.toLocaleString('en-US')} messages per row.`,
    'Each row gets the same backlog on a vhost of its own and its own database file (WAL,',
    'synchronous FULL), and is timed from its first stored document to its last. Troupe is the',
    'supervisor app started with a troupe.config.json and nothing else. The broker shares the',
    "machine's cores with Node: compare within the table.",
    '',
    '| consumer | msg/s | seconds | vs group commit | vs per-message |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...results.map(
      (result) =>
        `| ${result.name} | ${Math.round(result.msgPerSecond).toLocaleString('en-US')} | ${result.seconds.toFixed(2)} | ${batched === undefined ? '—' : `${Math.round((result.msgPerSecond / batched.msgPerSecond) * 100)}%`} | ${perMsg === undefined ? '—' : `${(result.msgPerSecond / perMsg.msgPerSecond).toFixed(1)}×`} |`,
    ),
    '',
    'Targets (issue 11): Troupe at least 90% of the group-commit baseline and at least 5× the per-message one.',
    '',
  ];
  const report = join(here, 'reports', 'e2e.md');
  mkdirSync(dirname(report), { recursive: true });
  writeFileSync(report, lines.join('\n'));
  process.stdout.write(`${lines.join('\n')}\nbench: report written to ${report}\n`);
}

await main();
