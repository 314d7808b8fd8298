// End to end on RabbitMQ: `company-updated` with SQLite (WAL, synchronous FULL) and a
// backlog, three ways in one run, each on its own vhost-free queue copy of the same
// backlog and its own database file:
// - Troupe: the supervisor app, configured only through its troupe.config.json;
// - a per-message consumer: amqplib + better-sqlite3, write then ack each delivery;
// - a batched group-commit consumer: the deliveries that arrived together are written
//   in one transaction and acked with one `multiple` ack.
// Every run starts with the same backlog in `company.updated` (on a vhost of its own):
// same start, same end (every message stored, which each side acks right after), same
// decode work. The backlog is two spans of 20,000 messages, timed apart: the first from
// the first stored document to the 20,000th (the process cold: V8 still compiling its
// hot paths), the second from there to the last (the same process warm, as a service
// that has run for a while). Each consumer runs in a process of its own (the two
// hand-written ones are the scripts in baselines/) and is observed from here the same
// way: its database counted every 20 ms, its CPU (every thread) read from /proc. The
// report also counts each row's store calls: the hand-written consumers count their own
// transactions, the app's persist steps are read from its /metrics.
//
//   node --import tsx test/bench/e2e.ts [--quick]   (written to reports/e2e.md)
//   … [--rounds=N] [--span=N] [--only=group,troupe-250] [--app-node-args="…"]
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AmqpTransport } from '@troupe/amqp';
import { companyUpdated } from '@troupe/processor-company-updated';
import { pino } from 'pino';
import { connect } from 'amqplib';
import Database from 'better-sqlite3';
import { countSql, groupPrefetch } from './baselines/shared.js';
import { metric, scrape } from '../fault/fault-harness.js';

const exec = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const quick = process.argv.includes('--quick');
/** `--span=N`: messages per timed span; the backlog is two spans (cold, then warm). */
const span = Number(
  process.argv.find((arg) => arg.startsWith('--span='))?.slice('--span='.length) ??
    (quick ? 5_000 : 20_000),
);
if (!Number.isInteger(span) || span < 1) throw new Error(`--span must be a whole number >= 1`);
const backlog = 2 * span;
/** `--rounds=N`: rounds of every row, alternating. */
const rounds = Number(
  process.argv.find((arg) => arg.startsWith('--rounds='))?.slice('--rounds='.length) ??
    (quick ? 1 : 5),
);
const queue = 'company.updated';
/** maxBatch when a processor's configuration says nothing: core's default (company-updated sets none). */
const defaultMaxBatch = companyUpdated.maxBatch;
/** `--app-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"`: extra node arguments for the app (profiling). */
const appNodeArgs = (
  process.argv
    .find((arg) => arg.startsWith('--app-node-args='))
    ?.slice('--app-node-args='.length) ?? ''
)
  .split(' ')
  .filter((arg) => arg !== '');
/** `--only=group,troupe-250`: the rows to run (per-message, group, troupe-<maxBatch>). */
const only = process.argv
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');

/** One timed span of a row. */
interface Span {
  readonly msgPerSecond: number;
  /** CPU time of the consumer's process (all its threads) per message stored in the span. */
  readonly cpuMicros: number;
  /** CPU time of the local RabbitMQ (its `beam.smp` processes) per message stored; NaN if not found. */
  readonly brokerCpuMicros: number;
}

/** A row's store calls: the app's persist steps, a hand-written consumer's transactions. */
interface StoreCalls {
  readonly calls: number;
  /** Messages they stored. */
  readonly messages: number;
  /** SQLite transactions they made (the app's group commit can join several calls in one). */
  readonly transactions: number;
}

interface Result {
  readonly name: string;
  /** The first span: first stored document → the span's last (the process cold). */
  readonly cold: Span;
  /** The second span: from there to the backlog's last (the same process warm). */
  readonly warm: Span;
  readonly storeCalls?: StoreCalls | undefined;
}

/** A TCP port free now on the loopback interface. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The persist steps of processor `name`, read from the app's `/metrics` histogram once
 * they account for the whole backlog (the last commit can be counted in the database a
 * moment before its worker concludes the step). Undefined, with a warning, if they never
 * do within 10 s: the row's timings stand without it.
 */
async function storeCallsOf(port: number, name: string): Promise<StoreCalls | undefined> {
  const deadline = performance.now() + 10_000;
  let last = 'no answer';
  while (performance.now() < deadline) {
    try {
      const values = await scrape(`http://127.0.0.1:${port}`);
      const processor = { processor: name };
      const calls = metric(values, 'troupe_persist_batch_messages_count', processor);
      const messages = metric(values, 'troupe_persist_batch_messages_sum', processor);
      const transactions = metric(values, 'troupe_store_commits_total', { store: 'sqlite' });
      if (messages >= backlog && calls > 0 && transactions > 0) {
        return { calls, messages, transactions };
      }
      last = `${messages} messages counted`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.stderr.write(`bench: ${name}: persist steps not read from /metrics (${last})\n`);
  return undefined;
}

/** A hand-written consumer's transactions, as it wrote them to `file` when it stopped. */
function commitsIn(file: string): StoreCalls | undefined {
  try {
    const { transactions, messages } = JSON.parse(readFileSync(file, 'utf8')) as {
      transactions: number;
      messages: number;
    };
    return { calls: transactions, messages, transactions };
  } catch {
    return undefined;
  }
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

/** A reading of the consumer: documents stored, when, and its CPU time so far. */
interface Reading {
  readonly n: number;
  readonly at: number;
  readonly cpu: number;
  readonly brokerCpu: number;
}

/** The span between two readings, by the documents actually stored between them. */
function spanOf(from: Reading, to: Reading): Span {
  const stored = to.n - from.n;
  return {
    msgPerSecond: stored / ((to.at - from.at) / 1000),
    cpuMicros: (to.cpu - from.cpu) / stored,
    brokerCpuMicros: (to.brokerCpu - from.brokerCpu) / stored,
  };
}

/**
 * Polls `count()` every `intervalMs` until it reaches the backlog; times first stored →
 * first reading at or past `span` (cold), and from there → last stored (warm).
 */
async function timeStored(
  count: () => number,
  intervalMs: number,
  cpu: () => number,
  brokerCpu: () => number,
): Promise<{ cold: Span; warm: Span }> {
  let first: Reading | undefined;
  let middle: Reading | undefined;
  for (;;) {
    const n = count();
    const reading = (): Reading => ({
      n,
      at: performance.now(),
      cpu: cpu(),
      brokerCpu: brokerCpu(),
    });
    if (n > 0) first ??= reading();
    if (n >= span && first !== undefined) middle ??= reading();
    if (n >= backlog && first !== undefined && middle !== undefined) {
      return { cold: spanOf(first, middle), warm: spanOf(middle, reading()) };
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Another process's CPU time in µs, from /proc (Linux; clock ticks of 10 ms). */
function processCpu(pid: number | undefined): number {
  try {
    // The command name (in brackets) may hold spaces and brackets: fields follow the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

/** The local RabbitMQ's processes: the Erlang VMs (`beam.smp`) this machine runs RabbitMQ in. */
function brokerPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          return (
            readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('beam') &&
            readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('rabbit')
          );
        } catch {
          return false;
        }
      })
      .map(Number);
  } catch {
    return [];
  }
}

/** The local broker's CPU time in µs (NaN when no broker runs on this machine). */
function brokerCpu(pids: readonly number[]): number {
  if (pids.length === 0) return Number.NaN;
  return pids.reduce((sum, pid) => sum + processCpu(pid), 0);
}

/**
 * Runs one consumer in a process of its own until it has stored the backlog, observed
 * from here the same way for every row: its database counted every 20 ms through a
 * read-only connection, its CPU read from /proc. The hand-written consumers and the app
 * start the same way (their own process, their own connection) and end on the same
 * condition (every message stored, which each acks right after its commit).
 */
async function observed(
  name: string,
  command: readonly string[],
  database: { path: string; countSql: string },
  env: NodeJS.ProcessEnv = {},
  /** How the row's store calls are read: before the process is stopped, or after. */
  storeCalls: {
    readonly beforeStop?: () => Promise<StoreCalls | undefined>;
    readonly afterExit?: () => StoreCalls | undefined;
  } = {},
): Promise<Result> {
  const broker = brokerPids();
  const child: ChildProcess = spawn(process.execPath, command, {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: '', ...env },
  });
  let reader: Database.Database | undefined;
  const count = (): number => {
    try {
      reader ??= new Database(database.path, { readonly: true, fileMustExist: true });
      return (reader.prepare(database.countSql).get() as { n: number }).n;
    } catch {
      return 0;
    }
  };
  let exited = false;
  const ended = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => resolve());
  });
  /** SIGTERM, then SIGKILL if the process has not exited 30 s later. */
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await ended;
    clearTimeout(kill);
  };
  try {
    const { cold, warm } = await timeStored(
      () => {
        if (exited) throw new Error(`${name} exited before it stored the backlog`);
        return count();
      },
      20,
      () => processCpu(child.pid),
      () => brokerCpu(broker),
    );
    let calls = await storeCalls.beforeStop?.();
    await stop();
    calls ??= storeCalls.afterExit?.();
    return { name, cold, warm, storeCalls: calls };
  } finally {
    reader?.close();
    await stop();
  }
}

/** A hand-written consumer of test/bench/baselines, on a fresh database file. */
function baseline(name: string, script: string, url: string, dir: string): Promise<Result> {
  const path = join(dir, `${script}-${randomUUID().slice(0, 8)}.db`);
  const commits = `${path}.commits.json`;
  return observed(
    name,
    [
      '--conditions=@troupe/source',
      '--import',
      'tsx',
      join(here, 'baselines', `${script}.ts`),
      url,
      queue,
      path,
    ],
    { path, countSql },
    { TROUPE_BENCH_COMMITS: commits },
    { afterExit: () => commitsIn(commits) },
  );
}

/** Troupe: the app, configured only through troupe.config.json. */
async function troupe(
  url: string,
  dir: string,
  settings: { concurrency: number; maxBatch: number },
): Promise<Result> {
  const path = join(dir, `troupe-${settings.maxBatch}.db`);
  const port = await freePort();
  writeFileSync(
    join(dir, 'troupe.config.json'),
    JSON.stringify({
      amqp: { url },
      store: `sqlite:${path}`,
      http: { port },
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
  return observed(
    `Troupe app (config file: concurrency ${settings.concurrency}, maxBatch ${settings.maxBatch}${settings.maxBatch === defaultMaxBatch ? ', the default' : ''}; prefetch ${settings.concurrency * settings.maxBatch}${settings.concurrency * settings.maxBatch === groupPrefetch ? ", the group-commit consumer's" : ''})`,
    [...appNodeArgs, join(root, 'apps', 'supervisor', 'dist', 'main.js')],
    { path, countSql: "SELECT COUNT(*) AS n FROM troupe_documents WHERE collection = 'companies'" },
    { NODE_ENV: 'production', TROUPE_CONFIG: join(dir, 'troupe.config.json') },
    { beforeStop: () => storeCallsOf(port, companyUpdated.name) },
  );
}

async function main(): Promise<void> {
  // The packages compiled to JavaScript (incremental: nothing to do when they are current).
  await exec(process.execPath, [
    join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-b',
    join(root, 'tsconfig.build.json'),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'troupe-e2e-bench-'));
  const troupeRow = (maxBatch: number) => async (): Promise<Result> =>
    troupe((await prepared()).url, mkdtempSync(join(dir, 'app-')), {
      concurrency: 4,
      maxBatch,
    });
  const rows: [string, () => Promise<Result>][] = [
    [
      'per-message',
      async () =>
        baseline(
          'per-message amqplib + better-sqlite3',
          'per-message',
          (await prepared()).url,
          dir,
        ),
    ],
    [
      'group',
      async () =>
        baseline(
          'batched group-commit amqplib + better-sqlite3',
          'group-commit',
          (await prepared()).url,
          dir,
        ),
    ],
    ['troupe-1', troupeRow(1)],
    ['troupe-32', troupeRow(32)],
    ['troupe-default', troupeRow(defaultMaxBatch)],
    // Four workers of 250: the group-commit consumer's prefetch, the same work in flight.
    ['troupe-250', troupeRow(250)],
  ];
  const chosen = rows.filter(([key]) => only === undefined || only.includes(key));
  const vhosts: string[] = [];
  async function prepared(): Promise<{ url: string }> {
    const { vhost, url } = await freshVhost();
    vhosts.push(vhost);
    await fillBacklog(url);
    return { url };
  }
  // Rounds alternate the rows (every row once per round), so that a burst of load on the
  // shared machine hits every row alike; each row reports its median round.
  const samples = new Map<string, Result[]>();
  const loadBefore = loadavg()[0] ?? 0;
  try {
    for (let round = 1; round <= rounds; round += 1) {
      for (const [key, run] of chosen) {
        const result = await run();
        const { cold, warm } = result;
        process.stderr.write(
          `bench: round ${round}: ${result.name}: cold ${Math.round(cold.msgPerSecond)} msg/s, ${cold.cpuMicros.toFixed(1)} µs CPU/msg (broker ${cold.brokerCpuMicros.toFixed(1)}); warm ${Math.round(warm.msgPerSecond)} msg/s, ${warm.cpuMicros.toFixed(1)} µs CPU/msg (broker ${warm.brokerCpuMicros.toFixed(1)})\n`,
        );
        samples.set(key, [...(samples.get(key) ?? []), result]);
      }
    }
  } finally {
    for (const vhost of vhosts) await rabbitmqctl('delete_vhost', vhost).catch(() => undefined);
  }
  const loadAfter = loadavg()[0] ?? 0;
  /** The median of the finite values (a broker process gone mid-row reads as NaN); NaN if none. */
  const median = (values: number[]): number => {
    const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
    if (sorted.length === 0) return Number.NaN;
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1
      ? (sorted[middle] ?? 0)
      : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  };
  type Phase = 'cold' | 'warm';
  const resultsOf = (phase: Phase) =>
    chosen.map(([key]) => {
      const runs = samples.get(key) ?? [];
      const rates = runs.map((run) => run[phase].msgPerSecond);
      return {
        key,
        name: runs[0]?.name ?? key,
        msgPerSecond: median(rates),
        low: Math.min(...rates),
        high: Math.max(...rates),
        cpuMicros: median(runs.map((run) => run[phase].cpuMicros)),
        brokerCpuMicros: median(runs.map((run) => run[phase].brokerCpuMicros)),
      };
    });
  const format = (n: number): string => Math.round(n).toLocaleString('en-US');
  const table = (phase: Phase): string[] => {
    const results = resultsOf(phase);
    const batched = results.find((result) => result.key === 'group');
    const perMsg = results.find((result) => result.key === 'per-message');
    return [
      '| consumer | msg/s (median) | lowest–highest | CPU µs/msg | broker CPU µs/msg | vs group commit | vs per-message |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...results.map(
        (result) =>
          `| ${result.name} | ${format(result.msgPerSecond)} | ${format(result.low)}–${format(result.high)} | ${result.cpuMicros.toFixed(1)} | ${Number.isNaN(result.brokerCpuMicros) ? '—' : result.brokerCpuMicros.toFixed(1)} | ${batched === undefined ? '—' : `${Math.round((result.msgPerSecond / batched.msgPerSecond) * 100)}%`} | ${perMsg === undefined ? '—' : `${(result.msgPerSecond / perMsg.msgPerSecond).toFixed(1)}×`} |`,
      ),
    ];
  };
  const storeCallTable = (): string[] => [
    '| consumer | store calls (median) | messages per call (median) | transactions (median) | messages per transaction (median) |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...chosen.flatMap(([key]) => {
      const runs = (samples.get(key) ?? []).flatMap((run) =>
        run.storeCalls === undefined ? [] : [{ name: run.name, ...run.storeCalls }],
      );
      const first = runs[0];
      if (first === undefined) return [];
      const perCall = median(runs.map((run) => run.messages / run.calls));
      const perTransaction = median(runs.map((run) => run.messages / run.transactions));
      return [
        `| ${first.name} | ${format(median(runs.map((run) => run.calls)))} | ${perCall.toFixed(1)} | ` +
          `${format(median(runs.map((run) => run.transactions)))} | ${perTransaction.toFixed(1)} |`,
      ];
    }),
  ];
  const count = span.toLocaleString('en-US');
  const lines = [
    '# End-to-end benchmark: company-updated on RabbitMQ with SQLite FULL',
    '',
    `Generated on ${new Date().toISOString()} by \`pnpm bench${quick ? ' --quick' : ''}\` (test/bench/e2e.ts),`,
    `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), the local RabbitMQ, a backlog of ${backlog.toLocaleString('en-US')} messages per row,`,
    `${rounds} round${rounds === 1 ? '' : 's'} with the rows alternating (load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after).`,
    'Each row gets the same backlog on a vhost of its own and its own database file (WAL,',
    `synchronous FULL). Each row is timed over two spans of ${count} messages: the first`,
    `from its first stored document to its ${count}th, the process cold (V8 still compiling`,
    'its hot paths), the second from there to the last, the same process warm. msg/s is the',
    "row's median round (lowest–highest in brackets), CPU is the consumer process's (every",
    "thread, user + system) per message stored in the span, broker CPU the local RabbitMQ's",
    '(its `beam.smp`) over the same span. Troupe is the supervisor app started with a',
    "troupe.config.json and nothing else. The broker shares the machine's cores with Node:",
    "compare within a table. The broker's figure includes its background work (statistics,",
    'timers), which weighs more on the slow rows than on the fast ones.',
    '',
    'On this machine RabbitMQ spends about as much CPU per message as the app, and more than',
    'the hand-written consumers: it delivers every message and takes every ack on the same',
    "two cores. While the two keep the cores busy, a row's rate is bounded by the cores over",
    "both CPU figures together, so one consumer's ratio to another moves less than its own",
    "CPU does. The broker's share also moves from round to round for the same consumer, and",
    'the rates with it (each round of each row is printed while the benchmark runs).',
    '',
    `## The first ${count} messages (the process cold)`,
    '',
    ...table('cold'),
    '',
    'Targets (issue 11): Troupe at least 90% of the group-commit baseline and at least 5× the per-message one.',
    '',
    `## The next ${count} messages (the same process warm)`,
    '',
    ...table('warm'),
    '',
    '## What each store call carried',
    '',
    "Over each row's whole backlog: the hand-written consumers' transactions, as each counted",
    "them (each is one store call), and the app's persist steps and SQLite transactions, from",
    'its `troupe_persist_batch_messages` histogram and `troupe_store_commits_total` counter',
    "(read from its `/metrics` once the backlog is stored). An app's persist step is one store",
    'call; its group commit joins the calls of several workers that arrive together in one',
    'transaction. The group-commit consumer commits what arrived together, up to its',
    'prefetch; a worker of the app stores what it took, up to `maxBatch`.',
    '',
    ...storeCallTable(),
    '',
  ];
  if (only !== undefined) {
    // A partial run (--only) prints its table and leaves the committed report alone.
    process.stdout.write(`${lines.join('\n')}\n`);
    return;
  }
  const report = join(here, 'reports', 'e2e.md');
  mkdirSync(dirname(report), { recursive: true });
  writeFileSync(report, lines.join('\n'));
  process.stdout.write(`${lines.join('\n')}\nbench: report written to ${report}\n`);
}

await main();
