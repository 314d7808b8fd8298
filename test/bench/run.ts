// `pnpm bench`: Troupe's runtime against a baseline in the same process and run, written
// to test/bench/reports/latest.md. Figures are medians of alternating rounds, so that
// warm-up and GC drift hit both sides alike. Never a timed assertion: a report.
//
//   pnpm bench            full run
//   pnpm bench --quick    fewer messages, for a smoke check
import { execFileSync } from 'node:child_process';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createPool,
  defineProcessor,
  processorMachine,
  startSupervisor,
  supervisorChild,
  type ChildSpec,
  type Delivery,
} from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { createActor, setup } from 'xstate';
import {
  gc,
  logger,
  median,
  noop,
  plainRound,
  steadyPlain,
  steadyTroupe,
  troupeRound,
  until,
  type Round,
  type Steady,
} from './rounds.js';

const quick = process.argv.includes('--quick');
/** The steady-state shapes, in this process and in a child with the app's V8 setting. */
const steadyShapes = [
  [4, 1],
  [1, 32],
  [4, 32],
  [4, 64],
  [4, 100],
] as const;
const here = dirname(fileURLToPath(import.meta.url));

/** Messages per measured round, and rounds per pair of rows. */
const messages = quick ? 20_000 : 200_000;
const rounds = quick ? 3 : 7;

interface Throughput {
  readonly label: string;
  readonly msgPerSec: number;
  readonly cpuUsPerMsg: number;
}

/** One shape's two rows: the plain function and the pool, run in paired rounds. */
interface Pair {
  readonly concurrency: number;
  readonly maxBatch: number;
  readonly plain: Throughput;
  readonly troupe: Throughput;
  /** The median over rounds of (Troupe − plain) CPU µs/msg, each pair run back to back. */
  readonly overheadUsPerMsg: number;
}

/**
 * One pair of rows: the plain function with the broker's prefetch at `concurrency` ×
 * `maxBatch`, and a pool of `concurrency` workers taking batches of up to `maxBatch`.
 */
async function throughput(concurrency: number, maxBatch = 1): Promise<Pair> {
  const prefetch = concurrency * maxBatch;
  await plainRound(5000, prefetch); // warm-up
  await troupeRound(5000, concurrency, maxBatch);
  return paired(
    concurrency,
    maxBatch,
    () => plainRound(messages, prefetch),
    () => troupeRound(messages, concurrency, maxBatch),
  );
}

/**
 * Paired rounds of the two sides, each round's two runs back to back and in turn first;
 * the overhead is the median over rounds of the difference within a round.
 */
async function paired(
  concurrency: number,
  maxBatch: number,
  plainRun: () => Promise<Round>,
  troupeRun: () => Promise<Round>,
): Promise<Pair> {
  const plain: Round[] = [];
  const troupe: Round[] = [];
  for (let i = 0; i < rounds; i += 1) {
    if (i % 2 === 0) {
      plain.push(await plainRun());
      troupe.push(await troupeRun());
    } else {
      troupe.push(await troupeRun());
      plain.push(await plainRun());
    }
  }
  const perMessage = (round: Round): number => round.cpuUs / round.messages;
  const summary = (label: string, list: Round[]): Throughput => ({
    label,
    msgPerSec: median(list.map((r) => (r.messages / r.wallMs) * 1000)),
    cpuUsPerMsg: median(list.map(perMessage)),
  });
  return {
    concurrency,
    maxBatch,
    plain: summary(`plain async function (prefetch ${concurrency * maxBatch})`, plain),
    troupe: summary(maxBatch === 1 ? 'Troupe pool' : `Troupe pool, maxBatch ${maxBatch}`, troupe),
    overheadUsPerMsg: median(
      troupe.map((round, i) => perMessage(round) - perMessage(plain[i] ?? round)),
    ),
  };
}

/**
 * The steady state: both consumers started once and kept, as a service keeps its
 * consumer; each round enqueues one burst (off the clock) and measures until every
 * message of it is acked. What a message costs once the process is warm: no start-up,
 * no shutdown, and no recompiling of code that a pool started per round makes V8 throw
 * away (see the report).
 */
async function steady(concurrency: number, maxBatch: number): Promise<Pair> {
  const plainSide: Steady = await steadyPlain(concurrency * maxBatch);
  const troupeSide: Steady = await steadyTroupe(concurrency, maxBatch);
  // Warm-up: two bursts each, so that both sides run optimised code before the clock.
  for (let i = 0; i < 2; i += 1) {
    await plainSide.round(messages / 4);
    await troupeSide.round(messages / 4);
  }
  const result = await paired(
    concurrency,
    maxBatch,
    () => plainSide.round(messages),
    () => troupeSide.round(messages),
  );
  await troupeSide.stop();
  await plainSide.stop();
  return result;
}

/**
 * The floor: what XState itself costs on this machine for the three events a message
 * takes through the processor chart (delivery, handler result, persist result), on a
 * trivial three-state machine with no actions.
 */
function xstateFloorUsPerMessage(): number {
  const machine = setup({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- XState's type declaration idiom
    types: {} as { events: { type: 'a' } | { type: 'b' } | { type: 'c' } },
  }).createMachine({
    initial: 'idle',
    states: {
      idle: { on: { a: 'busy' } },
      busy: { on: { b: 'storing' } },
      storing: { on: { c: 'idle' } },
    },
  });
  const actor = createActor(machine);
  actor.subscribe({ error: () => undefined });
  actor.start();
  const result = cpuUsPerMessage(() => {
    actor.send({ type: 'a' });
    actor.send({ type: 'b' });
    actor.send({ type: 'c' });
  });
  actor.stop();
  return result;
}

/** CPU µs per call of `message`: the median of 5 rounds of 100,000 (CPU, not wall time). */
function cpuUsPerMessage(message: () => void): number {
  const samples: number[] = [];
  for (let round = 0; round < 5; round += 1) {
    const calls = 100_000;
    const start = process.cpuUsage();
    for (let i = 0; i < calls; i += 1) message();
    const used = process.cpuUsage(start);
    samples.push((used.user + used.system) / calls);
  }
  return median(samples);
}

/**
 * The processor chart alone: one worker driven directly with a delivery whose handler
 * and persist step return at once, so each message runs idle → consuming.handling →
 * persisting → idle synchronously with no broker, no store, no promise, no dispatch.
 * The handler returns nothing to store, so the default persist step settles the batch
 * in the same step (a `persist` function would be awaited: every later batch would
 * arrive while the worker is still persisting and be refused, measuring nothing). Every
 * delivery must be acked, or the figure is refused.
 */
function chartAloneUsPerMessage(): number {
  const definition = defineProcessor({
    name: 'chart',
    queue: 'bench.chart',
    bindings: [],
    schema: noop.schema,
    handle: () => undefined,
  });
  let acks = 0;
  const body = Buffer.from('{"id":1}');
  const delivery: Delivery = {
    messageId: 'm',
    correlationId: undefined,
    routingKey: 'bench.chart',
    contentType: 'application/json',
    body,
    headers: {},
    redelivered: false,
    previousAttempts: 0,
    ack: () => {
      acks += 1;
    },
    requeue: () => undefined,
    deadLetter: () => undefined,
  };
  const actor = createActor(processorMachine, {
    input: { definition, store: new MemoryStore(), logger },
  });
  actor.subscribe({ error: () => undefined });
  actor.start();
  const result = cpuUsPerMessage(() =>
    actor.send({ type: 'batch.received', deliveries: [delivery], messageIds: ['m'] }),
  );
  actor.stop();
  const sent = 5 * 100_000;
  if (acks !== sent) throw new Error(`the chart acked ${acks} of ${sent} deliveries`);
  return result;
}

function heapUsed(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

/** Heap per idle worker: a pool of 1,000 workers waiting on an empty queue. */
async function memoryPerWorker(): Promise<number> {
  const workers = 1000;
  const transport = new MemoryTransport();
  const store = new MemoryStore();
  await transport.declare([{ queue: noop.queue, bindings: noop.bindings }]);
  const before = heapUsed();
  const pool = createPool({ definition: noop, transport, store, logger, concurrency: workers });
  const runtime = startSupervisor(pool.supervisorOptions());
  await until(() => runtime.actor.getSnapshot().value === 'running');
  const after = heapUsed();
  await runtime.shutdown();
  return (after - before) / workers;
}

interface StartUp {
  readonly actors: number;
  readonly startMs: number;
  readonly heapMb: number;
  readonly shutdownMs: number;
}

/** 10,000 idle processor actors under 100 supervisors under one root. */
async function tenThousandActors(): Promise<StartUp> {
  const supervisors = 100;
  const perSupervisor = 100;
  const store = new MemoryStore();
  const worker = (index: number): ChildSpec => ({
    id: `worker-${index}`,
    kind: 'worker',
    start: () => ({
      logic: processorMachine,
      input: { definition: noop, store, logger },
    }),
  });
  const children = Array.from({ length: supervisors }, (_, s) =>
    supervisorChild(`pool-${s}`, {
      strategy: 'one-for-one',
      logger,
      children: Array.from({ length: perSupervisor }, (_, w) => worker(w)),
    }),
  );
  const before = heapUsed();
  const start = process.hrtime.bigint();
  const runtime = startSupervisor({ strategy: 'one-for-one', logger, children });
  await until(() => runtime.actor.getSnapshot().value === 'running');
  const startMs = Number(process.hrtime.bigint() - start) / 1e6;
  const heapMb = (heapUsed() - before) / 1024 / 1024;
  const stopStart = process.hrtime.bigint();
  await runtime.shutdown();
  const shutdownMs = Number(process.hrtime.bigint() - stopStart) / 1e6;
  return { actors: supervisors * perSupervisor + supervisors + 1, startMs, heapMb, shutdownMs };
}

function version(pkg: string): string {
  try {
    const path = join(here, '..', 'node_modules', pkg, 'package.json');
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const fmt = (value: number, digits = 1): string =>
  value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Each pair as two rows (the plain function, then the Troupe pool) of a markdown table. */
function table(pairs: readonly Pair[]): string[] {
  const lines = [
    '| concurrency | maxBatch | runner | msg/s | CPU µs/msg | runtime overhead µs/msg |',
    '| ---: | ---: | --- | ---: | ---: | ---: |',
  ];
  for (const { concurrency, maxBatch, plain, troupe, overheadUsPerMsg } of pairs) {
    lines.push(
      `| ${concurrency} | ${maxBatch} | ${plain.label} | ${fmt(plain.msgPerSec, 0)} | ${fmt(plain.cpuUsPerMsg, 2)} | — |`,
      `| ${concurrency} | ${maxBatch} | ${troupe.label} | ${fmt(troupe.msgPerSec, 0)} | ${fmt(troupe.cpuUsPerMsg, 2)} | ${fmt(overheadUsPerMsg, 2)} |`,
    );
  }
  return lines;
}

/** The steady rows, in a child process started with the app's V8 setting (both sides alike). */
function steadyWithAppSetting(): Pair[] {
  const output = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      '--no-allocation-site-pretenuring',
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--steady-only',
      ...(quick ? ['--quick'] : []),
    ],
    { encoding: 'utf8', maxBuffer: 10 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Pair);
}

async function main(): Promise<void> {
  if (gc === undefined) process.stderr.write('bench: run with --expose-gc for memory figures\n');
  // The two single-actor figures first, while the process has run nothing else: later,
  // with every machine of a pool through XState's code, they come out a few µs higher.
  const floor = xstateFloorUsPerMessage();
  const chart = chartAloneUsPerMessage();
  const results: Pair[] = [];
  for (const [concurrency, maxBatch] of [
    [1, 1],
    [4, 1],
    [16, 1],
    [1, 32],
    [4, 32],
    [4, 64],
    [4, 100],
  ] as const) {
    process.stderr.write(`bench: throughput at concurrency ${concurrency} × batch ${maxBatch}…\n`);
    results.push(await throughput(concurrency, maxBatch));
  }
  const steadyResults: Pair[] = [];
  for (const [concurrency, maxBatch] of steadyShapes) {
    process.stderr.write(
      `bench: steady state at concurrency ${concurrency} × batch ${maxBatch}…\n`,
    );
    steadyResults.push(await steady(concurrency, maxBatch));
  }
  process.stderr.write("bench: steady state with the app's V8 setting (a child process)…\n");
  const appSetting = steadyWithAppSetting();
  process.stderr.write('bench: memory per idle worker…\n');
  const perWorker = await memoryPerWorker();
  process.stderr.write('bench: 10,000 actors…\n');
  const startUp = await tenThousandActors();

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '# Troupe benchmark report',
    '',
    `Generated by \`pnpm bench${quick ? ' --quick' : ''}\` on ${new Date().toISOString()}.`,
    '',
    `Machine: ${cpu}, ${cpus().length} cores, ${fmt(totalmem() / 2 ** 30, 0)} GiB, ${platform()} ${release()} ${arch()}.`,
    `Versions: Node ${process.version}, xstate ${version('xstate')}, pino ${version('pino')}, zod ${version('zod')}.`,
    '',
    '## In-process throughput (in-memory broker, no-op handler)',
    '',
    'Both sides consume the same in-memory queue and do the same work per message: decode and',
    'validate the JSON body against the zod schema, run the handler, run the default persist',
    'step, ack. The baseline is a plain async function per delivery; Troupe runs a supervised',
    'pool (a consumer and N processor actors driven by events). CPU is user + system time of',
    'the whole process (every thread) divided by messages. Each round runs the two sides back to',
    'back, in turn first; the runtime overhead is the median over rounds of the difference',
    `within a round. Medians of ${rounds} rounds of ${messages.toLocaleString('en-US')} messages.`,
    '',
    '### Steady state: a consumer started once, one burst per round',
    '',
    'Both consumers are started once and kept between rounds, as a service keeps its consumer;',
    'each round enqueues a burst (off the clock) and ends when every message of it is acked. This',
    'is the runtime CPU a message costs in a running service.',
    '',
    ...table(steadyResults),
    '',
    "#### The same, with the supervisor app's V8 setting",
    '',
    "The app turns V8's allocation-site pretenuring off for its process (apps/supervisor/src/v8-tuning.ts):",
    "after some hundreds of thousands of events V8 judges the small objects XState's interpreter",
    'makes per action long-lived, allocates them straight into the old generation, and every',
    'later collection pays for that garbage. The same rounds in a child process started with',
    '`--no-allocation-site-pretenuring`, both sides alike (the library alone, in a process the',
    'app does not start, runs as in the table above):',
    '',
    ...table(appSetting),
    '',
    '### Start to finish: a new consumer per round',
    '',
    'Each round starts a new consumer on a prefilled queue, consumes it and shuts the consumer',
    "down, all on the clock. On top of the steady state this counts the pool's start and",
    "shutdown and, mostly, V8 compiling the hot path again: the previous round's pool is",
    'garbage, and optimised code that referred to its objects is thrown away (`--trace-deopt`:',
    '"weak objects"), so every round re-optimises XState\'s interpreter and the worker\'s code on',
    "V8's background threads, whose CPU the figure includes. A service pays that once, when it",
    'starts.',
    '',
    ...table(results),
    '',
    'Targets (issue 2): at most 10 µs of runtime overhead per message; at least 100,000 msg/s on one core.',
    'Targets (issue 11): at batch ≥ 32, at most 2 µs of runtime CPU per message and at least 250,000 msg/s on one core,',
    'read on the steady-state rows (what a message costs a running service).',
    '',
    `XState floor on this machine: ${fmt(floor, 2)} µs of CPU per message for the three events a`,
    'message takes through the chart (delivery, handler result, persist result), measured on a',
    'trivial three-state machine with no actions, guards, timers or context.',
    '',
    `The processor chart alone: ${fmt(chart, 2)} µs of CPU per message — one worker driven directly`,
    'with a delivery whose handler and persist step return at once (no broker, no store, no',
    'promise): what XState costs to interpret this chart, plus the worker actions. Both figures',
    'are taken first, in a fresh process; the pool pays somewhat more for the same work.',
    '',
    '### Where the time goes',
    '',
    'A worker pays for its chart once per batch: one `batch.received` event, in whose macrostep',
    'the results of handlers that return at once are taken on, and one `persist.settled` event',
    'when a store call resolves. A batch with nothing to write, as with the no-op handler here,',
    'is settled in the step that received it: one event. No timer is armed for steps that',
    'return at once. With maxBatch 1 that is paid once per message, which is what "the',
    'processor chart alone" measures; at maxBatch 32 the chart costs each message a',
    'thirty-second of it, and the rest of the overhead is per-message work outside XState (the',
    "outcome records, the batch's write list, the settlement entries). The XState floor is kept",
    'to compare with earlier reports: it is what three events cost on a trivial machine, the',
    'price every message paid before workers took batches.',
    '',
    '## Memory and start-up',
    '',
    '| measure | value |',
    '| --- | ---: |',
    `| heap per idle worker (pool of 1,000) | ${fmt(perWorker / 1024, 1)} KiB |`,
    `| actors started (100 supervisors × 100 workers + root) | ${startUp.actors.toLocaleString('en-US')} |`,
    `| start-up until the root is running | ${fmt(startUp.startMs, 0)} ms |`,
    `| heap of those actors | ${fmt(startUp.heapMb, 1)} MiB |`,
    `| reverse-order shutdown of all of them | ${fmt(startUp.shutdownMs, 0)} ms |`,
    '',
  ];
  const report = lines.join('\n');
  const file = join(here, 'reports', 'latest.md');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, report);
  process.stdout.write(`${report}\nbench: report written to ${file}\n`);
}

if (process.argv.includes('--steady-only')) {
  for (const [concurrency, maxBatch] of steadyShapes) {
    process.stdout.write(`${JSON.stringify(await steady(concurrency, maxBatch))}\n`);
  }
} else {
  await main();
}
