// The soak run (outside CI): the app with fault hooks on RabbitMQ under a steady load of
// company events, with a fault every few minutes (SIGKILL and restart, the broker closing
// the vhost's connections, a store outage, a poison flood, in turn), sampling throughput,
// heap, RSS, event-loop delay and queue depth. Afterwards the same audit as the fault
// suite (nothing lost, no duplicated effect), and a report: test/fault/reports/soak.md
// with a table, and soak.svg with the plot.
//
// Faults come on two schedules: every `--fault-every` seconds one of the broker closing the
// vhost's connections, a store outage, a poison flood (with one message whose headers are
// nested too deep for amqplib's decoder), in turn; and every `--kill-every` minutes a
// SIGKILL and restart, so that each process lives long enough for its heap, RSS, open file
// descriptors and broker channels to show a trend.
//
//   NODE_OPTIONS=--conditions=@troupe/source node --import tsx test/fault/soak.ts --minutes 60 [--rate 200] [--fault-every 120]
//     [--kill-every 20] [--sample 15] [--broker-every 60] [--seed 1]
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { SqliteStore } from '@troupe/sqlite';
import { publishNested } from '../../packages/amqp/test/hostile.js';
import { Vhost, type AppProcess } from '../e2e/harness.js';
import {
  closeVhostConnections,
  FaultBroker,
  metric,
  poisonFlood,
  queues,
  scrape,
  startFaultApp,
  type RawMessage,
} from './fault-harness.js';
import { mulberry32 } from './prng.js';

const execFileAsync = promisify(execFile);

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    rate: { type: 'string', default: '200' },
    'fault-every': { type: 'string', default: '120' },
    'kill-every': { type: 'string', default: '20' },
    sample: { type: 'string', default: '15' },
    'broker-every': { type: 'string', default: '60' },
    seed: { type: 'string', default: '1' },
    companies: { type: 'string', default: '2000' },
  },
});
const minutes = Number(args.minutes);
const rate = Number(args.rate);
const faultEveryMs = Number(args['fault-every']) * 1000;
const killEveryMs = Number(args['kill-every']) * 60_000;
const sampleMs = Number(args.sample) * 1000;
const brokerEveryMs = Number(args['broker-every']) * 1000;
const seed = Number(args.seed);
const companies = Number(args.companies);
const reports = join(dirname(fileURLToPath(import.meta.url)), 'reports');
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();

interface Sample {
  readonly t: number;
  readonly throughput: number;
  readonly heapMb: number;
  readonly rssMb: number;
  readonly loopP99Ms: number;
  readonly loopMaxMs: number;
  readonly depth: number;
  /** Open file descriptors of the app process (/proc/<pid>/fd). */
  readonly fds: number;
  /**
   * Channels and connections open on the soak's vhost (rabbitmqctl), on the samples
   * taken every `--broker-every` seconds; filled in when rabbitmqctl answers, so that it
   * never holds up the publisher.
   */
  channels?: number;
  connections?: number;
  /** When rabbitmqctl answered (s since the start): after a SIGKILL, not this process's. */
  brokerT?: number;
}

/** Open file descriptors of `pid`, or -1 when it cannot be read. */
function openFds(pid: number | undefined): number {
  if (pid === undefined) return -1;
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** Lines of a `rabbitmqctl -q list_<what> vhost` listing that name `vhost`. */
async function countOnVhost(what: 'channels' | 'connections', vhost: string): Promise<number> {
  const { stdout } = await execFileAsync('rabbitmqctl', [
    '-q',
    `list_${what}`,
    '--no-table-headers',
    'vhost',
  ]);
  return stdout.split('\n').filter((line) => line.trim() === vhost).length;
}

/** Every app process started, so that a failed run leaves none behind. */
const apps: AppProcess[] = [];

const say = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const vhost = new Vhost();
  await vhost.create();
  const broker = new FaultBroker(vhost.url);
  const dir = mkdtempSync(join(tmpdir(), 'troupe-soak-'));
  const storePath = join(dir, 'troupe.db');
  const ledgerPath = join(dir, 'ledger.tsv');
  const env = {
    TROUPE_AMQP_URL: vhost.url,
    TROUPE_STORE: `sqlite:${storePath}`,
    TROUPE_FAULT_LEDGER: ledgerPath,
    TROUPE_FAULT_STORE_OUTAGE_MS: '4000',
  };
  const start = async (): Promise<AppProcess> => {
    const app = startFaultApp(env);
    apps.push(app);
    await app.started();
    return app;
  };
  let app = await start();
  const random = mulberry32(seed);

  // What the audit needs, kept compact: the highest version per company, the invalid ids.
  const expected = new Map<string, number>();
  const invalid = new Set<string>();
  let sent = 0;
  let version = 0;
  const nextBatch = (size: number): RawMessage[] => {
    const batch: RawMessage[] = [];
    for (let index = 0; index < size; index += 1) {
      version += 1;
      const id = `c-${version % companies}`;
      const messageId = `s-${version}`;
      if (version % 100 === 0) {
        invalid.add(messageId);
        batch.push({ routingKey: 'company.updated', body: '{"id":', messageId, valid: false });
        continue;
      }
      expected.set(id, version);
      batch.push({
        routingKey: 'company.updated',
        body: JSON.stringify({ id, name: `name-${version}`, version }),
        messageId,
        contentType: 'application/json',
        valid: true,
      });
    }
    return batch;
  };

  const faults: { t: number; kind: string }[] = [];
  const samples: Sample[] = [];
  const started = Date.now();
  const until = started + minutes * 60_000;
  let ackedBefore = 0;
  let lastAcked = 0;
  let lastSampleAt = started;
  let nextFault = started + faultEveryMs;
  let nextKill = started + killEveryMs;
  let nextBroker = started;
  let nextSample = started + sampleMs;
  let faultIndex = 0;

  while (Date.now() < until) {
    const tick = Date.now();
    const batch = nextBatch(rate);
    await broker.publish(batch);
    sent += batch.length;

    if (Date.now() >= nextSample) {
      nextSample += sampleMs;
      try {
        const metrics = await scrape(app.httpUrl() ?? '');
        const acked =
          ackedBefore +
          metric(metrics, 'troupe_messages_total', {
            processor: 'company-updated',
            outcome: 'acked',
          });
        const now = Date.now();
        samples.push({
          t: (now - started) / 1000,
          throughput: ((acked - lastAcked) * 1000) / (now - lastSampleAt),
          heapMb: metric(metrics, 'troupe_fault_heap_used_bytes') / 1024 / 1024,
          rssMb: metric(metrics, 'troupe_fault_rss_bytes') / 1024 / 1024,
          loopP99Ms:
            metric(metrics, 'troupe_fault_event_loop_delay_interval_seconds', {
              quantile: '0.99',
            }) * 1000,
          loopMaxMs:
            metric(metrics, 'troupe_fault_event_loop_delay_interval_seconds', { quantile: '1' }) *
            1000,
          depth: await broker.depth('company.updated'),
          fds: openFds(app.child.pid),
        });
        const sample = samples[samples.length - 1];
        if (now >= nextBroker && sample !== undefined) {
          nextBroker += brokerEveryMs;
          void (async () => {
            sample.channels = await countOnVhost('channels', vhost.name);
            sample.connections = await countOnVhost('connections', vhost.name);
            sample.brokerT = (Date.now() - started) / 1000;
            say(
              `t=${sample.t.toFixed(0)}s channels ${sample.channels} connections ${sample.connections}`,
            );
          })().catch((error: unknown) => say(`rabbitmqctl failed: ${String(error)}`));
        }
        lastAcked = acked;
        lastSampleAt = now;
        const last = samples[samples.length - 1];
        if (last !== undefined) {
          say(
            `t=${last.t.toFixed(0)}s ${last.throughput.toFixed(0)} msg/s heap ${last.heapMb.toFixed(1)} MB rss ${last.rssMb.toFixed(1)} MB loop p99 ${last.loopP99Ms.toFixed(1)} ms depth ${last.depth} fds ${last.fds}`,
          );
        }
      } catch (error) {
        say(`sample failed: ${String(error)}`);
      }
    }

    const killDue = Date.now() >= nextKill;
    if (killDue || Date.now() >= nextFault) {
      let kind: 'sigkill' | 'close-connections' | 'store-outage' | 'poison-flood' | undefined;
      if (killDue) {
        nextKill += killEveryMs;
        // The rotating fault due now (if any) waits for the next tick.
        kind = 'sigkill';
      } else {
        nextFault += faultEveryMs;
        kind = (['close-connections', 'store-outage', 'poison-flood'] as const)[faultIndex % 3];
        faultIndex += 1;
      }
      faults.push({ t: (Date.now() - started) / 1000, kind: kind ?? '' });
      say(`fault: ${kind ?? ''}`);
      switch (kind) {
        case 'sigkill': {
          const metrics = await scrape(app.httpUrl() ?? '').catch(() => new Map<string, number>());
          ackedBefore += metric(metrics, 'troupe_messages_total', {
            processor: 'company-updated',
            outcome: 'acked',
          });
          app.kill('SIGKILL');
          await app.exited;
          app = await start();
          break;
        }
        case 'close-connections':
          await closeVhostConnections(vhost.name);
          break;
        case 'store-outage':
          app.kill('SIGUSR2');
          break;
        case 'poison-flood': {
          const flood = poisonFlood(200, random, `soak-poison-${faultIndex}`);
          for (const message of flood) invalid.add(message.messageId ?? '');
          await broker.publish(flood);
          sent += flood.length;
          // One message whose headers amqplib's recursive decoder cannot take.
          const deepId = `soak-deep-${faultIndex}`;
          await publishNested({
            url: vhost.url,
            exchange: 'companies',
            routingKey: 'company.updated',
            messageId: deepId,
            depth: 6000,
          });
          invalid.add(deepId);
          sent += 1;
          break;
        }
        case undefined:
          break;
      }
    }
    await sleep(Math.max(0, 1000 - (Date.now() - tick)));
  }

  say('load stopped; draining');
  for (let waited = 0; waited < 300_000; waited += 500) {
    let depth = 0;
    for (const queue of queues) depth += await broker.depth(queue);
    if (depth === 0) break;
    await sleep(500);
  }
  await sleep(2000);
  app.kill('SIGTERM');
  const exit = await app.exited;

  // The audit.
  const store = new SqliteStore({ path: storePath });
  let lostCompanies = 0;
  let wrong = 0;
  try {
    for (const [id, wanted] of expected) {
      const document = await store.get('companies', id);
      const stored = Number(document?.['version'] ?? -1);
      if (stored < wanted) lostCompanies += 1;
      else if (stored !== wanted || document?.['name'] !== `name-${wanted}`) wrong += 1;
    }
  } finally {
    await store.close();
  }
  const dead = (await Promise.all(queues.map((queue) => broker.drain(`${queue}.dead`)))).flat();
  const deadIds = new Set(dead.map((letter) => letter.messageId ?? ''));
  const missingDead = [...invalid].filter((id) => !deadIds.has(id)).length;
  const writes = new Map<string, number>();
  for (const line of readFileSync(ledgerPath, 'utf8').split('\n')) {
    if (line !== '') writes.set(line, (writes.get(line) ?? 0) + 1);
  }
  let duplicated = 0;
  for (const count of writes.values()) duplicated += count - 1;
  const left: Record<string, number> = {};
  for (const queue of queues) left[queue] = await broker.depth(queue);
  await broker.close();
  await vhost.dispose();
  rmSync(dir, { recursive: true, force: true });

  const durationMin = (Date.now() - started) / 60_000;
  writeFileSync(join(reports, 'soak.svg'), plot(samples, faults));
  writeFileSync(
    join(reports, 'soak.md'),
    report({
      samples,
      faults,
      durationMin,
      sent,
      lostCompanies,
      wrong,
      missingDead,
      duplicated,
      deadLetters: dead.length,
      invalid: invalid.size,
      companies: expected.size,
      left,
      exitCode: exit.code,
    }),
  );
  say(
    `done: sent ${sent}, lost companies ${lostCompanies}, invalid not dead-lettered ${missingDead}, duplicated effects ${duplicated}, exit ${String(exit.code)}`,
  );
  process.exitCode =
    lostCompanies + missingDead + duplicated + wrong === 0 && exit.code === 0 ? 0 : 1;
}

function fmtRange(from: number, to: number): string {
  return `${from.toFixed(0)}–${to.toFixed(0)} s`;
}

/** Least-squares slope of `y` over `x` (per unit of x). */
function slope(points: readonly (readonly [number, number])[]): number {
  const count = points.length;
  if (count < 2) return 0;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / count;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / count;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function report(run: {
  samples: readonly Sample[];
  faults: readonly { t: number; kind: string }[];
  durationMin: number;
  sent: number;
  lostCompanies: number;
  wrong: number;
  missingDead: number;
  duplicated: number;
  deadLetters: number;
  invalid: number;
  companies: number;
  left: Record<string, number>;
  exitCode: number | null;
}): string {
  const { samples } = run;
  // Heap, RSS and descriptors start again with each process a SIGKILL restarts: trends are
  // taken per process, over its samples after the first minute (start-up, and the backlog
  // the restart finds).
  const kills = run.faults.filter((f) => f.kind === 'sigkill').map((f) => f.t);
  const bounds = [0, ...kills, Number.POSITIVE_INFINITY];
  const stretches: Sample[][] = [];
  /** The end of each stretch's process: the next SIGKILL. */
  const ends: number[] = [];
  for (let index = 0; index + 1 < bounds.length; index += 1) {
    const from = bounds[index] ?? 0;
    const to = bounds[index + 1] ?? Number.POSITIVE_INFINITY;
    const candidate = samples.filter((s) => s.t > from + 60 && s.t < to);
    if (candidate.length >= 2) {
      stretches.push(candidate);
      ends.push(to);
    }
  }
  let stretch: readonly Sample[] = [];
  for (const candidate of stretches) if (candidate.length > stretch.length) stretch = candidate;
  const range = (values: readonly number[]): string =>
    values.length === 0
      ? '—'
      : `${values[0] ?? 0} / ${values[values.length - 1] ?? 0} / ${Math.min(...values)}–${Math.max(...values)}`;
  const processRows = stretches.map((part, index) => {
    // A count rabbitmqctl gave after the next SIGKILL describes the restart, not this process.
    const killedAt = ends[index] ?? Number.POSITIVE_INFINITY;
    const counted = part.filter((s) => (s.brokerT ?? 0) < killedAt);
    const first = part[0];
    const last = part[part.length - 1];
    const channels = counted.flatMap((s) => (s.channels === undefined ? [] : [s.channels]));
    const connections = counted.flatMap((s) =>
      s.connections === undefined ? [] : [s.connections],
    );
    return `| ${fmtRange(first?.t ?? 0, last?.t ?? 0)} | ${part.length} | ${slope(part.map((s) => [s.t / 60, s.heapMb] as const)).toFixed(2)} | ${slope(part.map((s) => [s.t / 60, s.rssMb] as const)).toFixed(2)} | ${range(part.map((s) => s.fds))} | ${range(channels)} | ${range(connections)} |`;
  });
  const heapSlope = slope(stretch.map((s) => [s.t / 60, s.heapMb] as const));
  const rssSlope = slope(stretch.map((s) => [s.t / 60, s.rssMb] as const));
  const stretchLabel =
    stretch.length === 0
      ? '—'
      : `${fmtRange(stretch[0]?.t ?? 0, stretch[stretch.length - 1]?.t ?? 0)}, ${stretch.length} samples`;
  const max = (pick: (s: Sample) => number): number => Math.max(0, ...samples.map(pick));
  const mean = (pick: (s: Sample) => number): number =>
    samples.length === 0 ? 0 : samples.reduce((sum, s) => sum + pick(s), 0) / samples.length;
  const fmt = (value: number, digits = 1): string => value.toFixed(digits);
  return [
    `# Soak run: ${fmt(run.durationMin)} minutes`,
    '',
    `Generated by \`NODE_OPTIONS=--conditions=@troupe/source node --import tsx test/fault/soak.ts --minutes ${minutes} --rate ${rate} --fault-every ${faultEveryMs / 1000} --kill-every ${killEveryMs / 60_000} --sample ${sampleMs / 1000} --broker-every ${brokerEveryMs / 1000} --seed ${seed}\` on ${new Date().toISOString()}, at commit ${commit}.`,
    run.durationMin >= 60
      ? `A ${fmt(run.durationMin)}-minute run.`
      : `**This is a ${fmt(run.durationMin)}-minute run**, shorter than an hour; run it with \`--minutes 60\` for that.`,
    '',
    `Steady load of ${rate} company.updated events per second (1 in 100 invalid) over ${companies} companies, published with raw amqplib. Faults on two schedules: every ${faultEveryMs / 1000} s, in turn, the broker closing the vhost's connections, the store unavailable for 4 s, and a flood of 200 poison messages plus one message whose headers are nested 6,000 tables deep; and every ${killEveryMs / 60_000} minutes a SIGKILL and restart. Samples every ${sampleMs / 1000} s from the app's /metrics (heap and RSS of the app process, event-loop delay since the previous sample) and from /proc (the app's open file descriptors); every ${brokerEveryMs / 1000} s the vhost's channels and connections from \`rabbitmqctl\` (they include the publisher's one connection and channel). A restart after SIGKILL starts a new process, so heap, RSS and descriptors start again from a fresh process there.`,
    '',
    '![soak plot](soak.svg)',
    '',
    '## Outcome',
    '',
    '| measure | value |',
    '| --- | ---: |',
    `| messages sent | ${run.sent} |`,
    `| companies expected in the store | ${run.companies} |`,
    `| **companies whose latest version is missing (lost)** | **${run.lostCompanies}** |`,
    `| documents with a wrong version or content | ${run.wrong} |`,
    `| invalid messages sent / dead letters / invalid not dead-lettered | ${run.invalid} / ${run.deadLetters} / ${run.missingDead} |`,
    `| **duplicated effects** (ledger) | **${run.duplicated}** |`,
    `| left in queues at the end | ${Object.entries(run.left)
      .map(([q, d]) => `${q} ${d}`)
      .join(', ')} |`,
    `| exit code on SIGTERM | ${String(run.exitCode)} |`,
    `| faults | ${run.faults.map((f) => `${f.kind} @ ${fmt(f.t, 0)} s`).join(', ') || '—'} |`,
    '',
    '## Figures',
    '',
    '| measure | value |',
    '| --- | ---: |',
    `| throughput, mean / max (msg/s) | ${fmt(mean((s) => s.throughput))} / ${fmt(max((s) => s.throughput))} |`,
    `| heap used, first / last / max (MB) | ${fmt(samples[0]?.heapMb ?? 0)} / ${fmt(samples[samples.length - 1]?.heapMb ?? 0)} / ${fmt(max((s) => s.heapMb))} |`,
    `| RSS, first / last / max (MB) | ${fmt(samples[0]?.rssMb ?? 0)} / ${fmt(samples[samples.length - 1]?.rssMb ?? 0)} / ${fmt(max((s) => s.rssMb))} |`,
    `| longest stretch of one process (no SIGKILL in it) | ${stretchLabel} |`,
    `| heap trend over that stretch (MB/min, least squares) | ${fmt(heapSlope, 2)} |`,
    `| RSS trend over that stretch (MB/min, least squares) | ${fmt(rssSlope, 2)} |`,
    `| event-loop delay p99, mean / max of samples (ms) | ${fmt(mean((s) => s.loopP99Ms))} / ${fmt(max((s) => s.loopP99Ms))} |`,
    `| event-loop delay max (ms) | ${fmt(max((s) => s.loopMaxMs))} |`,
    '',
    '## Per process',
    '',
    'One row per process (between SIGKILLs), over its samples after its first minute. Trends are least-squares slopes; descriptors, channels and connections are first / last / min–max.',
    '',
    '| samples from | n | heap trend (MB/min) | RSS trend (MB/min) | open fds | channels on the vhost | connections on the vhost |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...processRows,
    '',
    '## Samples',
    '',
    '| t (s) | throughput (msg/s) | heap (MB) | RSS (MB) | loop p99 (ms) | loop max (ms) | queue depth | open fds | channels |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...samples.map(
      (s) =>
        `| ${fmt(s.t, 0)} | ${fmt(s.throughput, 0)} | ${fmt(s.heapMb)} | ${fmt(s.rssMb)} | ${fmt(s.loopP99Ms)} | ${fmt(s.loopMaxMs)} | ${s.depth} | ${s.fds} | ${s.channels ?? ''} |`,
    ),
    '',
  ].join('\n');
}

/** Stacked line charts (throughput, heap, RSS, loop p99, fds) with the faults marked. */
function plot(samples: readonly Sample[], faults: readonly { t: number; kind: string }[]): string {
  const width = 900;
  const panel = 150;
  const left = 70;
  const right = 20;
  const series: { name: string; unit: string; pick: (s: Sample) => number; color: string }[] = [
    { name: 'throughput', unit: 'msg/s', pick: (s) => s.throughput, color: '#1f77b4' },
    { name: 'heap used', unit: 'MB', pick: (s) => s.heapMb, color: '#2ca02c' },
    { name: 'RSS', unit: 'MB', pick: (s) => s.rssMb, color: '#9467bd' },
    { name: 'event-loop delay p99', unit: 'ms', pick: (s) => s.loopP99Ms, color: '#d62728' },
    {
      name: 'open file descriptors',
      unit: 'fds',
      pick: (s) => Math.max(0, s.fds),
      color: '#8c564b',
    },
  ];
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const x = (t: number): number => left + ((width - left - right) * t) / tMax;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${series.length * (panel + 30) + 40}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  series.forEach((line, index) => {
    const top = 20 + index * (panel + 30);
    const values = samples.map(line.pick);
    const vMax = Math.max(1e-9, ...values) * 1.1;
    const y = (v: number): number => top + panel - (panel * v) / vMax;
    parts.push(
      `<text x="${left}" y="${top - 5}" font-weight="bold">${line.name} (${line.unit})</text>`,
      `<line x1="${left}" y1="${top + panel}" x2="${width - right}" y2="${top + panel}" stroke="#999"/>`,
      `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + panel}" stroke="#999"/>`,
      `<text x="${left - 5}" y="${top + 10}" text-anchor="end">${vMax.toFixed(1)}</text>`,
      `<text x="${left - 5}" y="${top + panel}" text-anchor="end">0</text>`,
    );
    for (const fault of faults) {
      parts.push(
        `<line x1="${x(fault.t)}" y1="${top}" x2="${x(fault.t)}" y2="${top + panel}" stroke="#f90" stroke-dasharray="3,3"><title>${fault.kind}</title></line>`,
      );
      if (index === 0) {
        parts.push(`<text x="${x(fault.t) + 2}" y="${top + 10}" fill="#f90">${fault.kind}</text>`);
      }
    }
    const points = samples.map((s) => `${x(s.t).toFixed(1)},${y(line.pick(s)).toFixed(1)}`);
    parts.push(
      `<polyline fill="none" stroke="${line.color}" stroke-width="1.5" points="${points.join(' ')}"/>`,
    );
  });
  const bottom = 20 + series.length * (panel + 30) - 15;
  parts.push(
    `<text x="${left}" y="${bottom}">0 s</text>`,
    `<text x="${width - right}" y="${bottom}" text-anchor="end">${tMax.toFixed(0)} s</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

main().catch((error: unknown) => {
  process.stderr.write(
    `soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  for (const app of apps) app.kill('SIGKILL');
  process.exit(1);
});
