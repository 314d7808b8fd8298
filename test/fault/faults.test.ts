// Fault injection through the real app and the real RabbitMQ: N company events
// (TROUPE_FAULT_N, 3,000 by default in CI; 100,000 for the full run) published with raw
// amqplib in chunks, and after each chunk a fault: SIGKILL of the app and a restart, the
// broker closing every connection of the test's vhost, a flood of poison messages, the
// store unavailable for a few seconds (every call failing), the SQLite file locked by
// another process's write transaction for longer than the busy timeout; all along, every 250th handler call hangs past its
// timeout. Then the audit: every valid event's effect in the store exactly once with the
// right version, every invalid message dead-lettered with a reason, queues empty, the
// app exits 0 on SIGTERM with every worker idle. The report goes to
// test/fault/reports/latest.md when TROUPE_FAULT_N is set (a deliberate run), to the
// temporary directory otherwise, or to TROUPE_FAULT_REPORT.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { companyEvents, eventually, Vhost, type AppProcess } from '../e2e/harness.js';
import {
  ackedBy,
  asRaw,
  audit,
  closeVhostConnections,
  FaultBroker,
  metric,
  poisonFlood,
  queues,
  reportPath,
  scrape,
  startFaultApp,
  timeUntil,
  writeReport,
  type FaultRecord,
  type RawMessage,
} from './fault-harness.js';
import { mulberry32 } from './prng.js';

const example = JSON.parse(
  readFileSync(new URL('../../troupe.config.json', import.meta.url), 'utf8'),
) as { processors: Record<string, Record<string, unknown>> };

const n = Number(process.env['TROUPE_FAULT_N'] ?? 3000);
const seed = Number(process.env['TROUPE_FAULT_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const hangEvery = 250;
const handlerTimeoutMs = 1000;
const outageMs = 4000;
/** Generous: a few minutes for the CI size, scaled with N. */
const budgetMs = 120_000 + n * 20;

const lockMs = 6000;

type Fault =
  'sigkill' | 'close-connections' | 'poison-flood' | 'store-outage' | 'store-locked' | 'none';
const schedule: readonly Fault[] = [
  'sigkill',
  'close-connections',
  'poison-flood',
  'store-outage',
  'store-locked',
  'sigkill',
  'close-connections',
  'store-outage',
  'poison-flood',
  'none',
];

describe(`fault injection: ${n} company events under SIGKILL, closed connections, store outages, poison floods and hung handlers`, () => {
  const vhost = new Vhost();
  const broker = new FaultBroker(vhost.url);
  const dir = mkdtempSync(join(tmpdir(), 'troupe-fault-'));
  const storePath = join(dir, 'troupe.db');
  const ledgerPath = join(dir, 'ledger.tsv');
  const configPath = join(dir, 'troupe.config.json');
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    process.stdout.write(`fault suite: N=${n} seed=${seed} (TROUPE_FAULT_SEED to reproduce)\n`);
    await vhost.create();
    writeFileSync(
      configPath,
      // The example configuration's processors, company-updated with a short timeout.
      JSON.stringify({
        processors: {
          ...example.processors,
          'company-updated': {
            ...example.processors['company-updated'],
            timeoutMs: handlerTimeoutMs,
          },
        },
      }),
    );
  });

  afterAll(async () => {
    for (const app of apps) {
      if (app.child.exitCode === null && app.child.signalCode === null) app.kill('SIGKILL');
      await app.exited;
    }
    await broker.close();
    await vhost.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'every valid effect stored exactly once, every invalid message dead-lettered with a reason, nothing left, exit 0',
    async () => {
      const started = Date.now();
      const random = mulberry32(seed);
      const env = {
        TROUPE_AMQP_URL: vhost.url,
        TROUPE_STORE: `sqlite:${storePath}`,
        TROUPE_CONFIG: configPath,
        TROUPE_FAULT_LEDGER: ledgerPath,
        TROUPE_FAULT_HANG_EVERY: String(hangEvery),
        TROUPE_FAULT_STORE_OUTAGE_MS: String(outageMs),
        TROUPE_FAULT_SEED: String(seed),
      };
      let acksCounted = 0;
      const start = async (): Promise<AppProcess> => {
        const app = startFaultApp(env);
        apps.push(app);
        await app.started();
        return app;
      };
      const current = (): AppProcess => {
        const app = apps[apps.length - 1];
        if (app === undefined) throw new Error('no app');
        return app;
      };

      const events = asRaw(companyEvents(n, Math.max(100, Math.floor(n / 20))));
      const sent: RawMessage[] = [];
      const faults: FaultRecord[] = [];
      // Store calls the injected outages failed, per outage: an outage that fails nothing
      // (a store method the wrapper does not cover) tests nothing.
      const outageFailures: number[] = [];
      const watchers: Promise<void>[] = [];
      const chunkSize = Math.ceil(events.length / schedule.length);
      await start();

      for (const [index, fault] of schedule.entries()) {
        const chunk = events.slice(index * chunkSize, (index + 1) * chunkSize);
        // Half the chunk before the fault, half right after it: there is always a
        // backlog to recover into.
        const half = Math.floor(chunk.length / 2);
        await broker.publish(chunk.slice(0, half));
        sent.push(...chunk.slice(0, half));
        const before = await broker.depth('company.updated');
        // Inject once the app is working through the backlog.
        await timeUntil(async () => (await broker.depth('company.updated')) < before * 0.8, 10_000);
        const atMs = Date.now() - started;
        const rest = chunk.slice(half);
        switch (fault) {
          case 'sigkill': {
            const victim = current();
            acksCounted += (await ackedBy(victim)) ?? 0;
            const t0 = Date.now();
            victim.kill('SIGKILL');
            await victim.exited;
            const next = await start();
            await broker.publish(rest);
            const recoveryMs = await timeUntil(
              async () => ((await ackedBy(next)) ?? 0) > 0,
              30_000,
            );
            faults.push({
              kind: 'SIGKILL + restart',
              atMs,
              recoveryMs: recoveryMs === undefined ? undefined : Date.now() - t0,
              detail: `kill → first ack of the new process (startup included); ${before} ready at the fault`,
            });
            break;
          }
          case 'close-connections': {
            const app = current();
            const lostBefore = app.logged('amqp connection lost; reconnecting').length;
            const connectedBefore = app.logged('amqp connected').length;
            const closed = await closeVhostConnections(vhost.name);
            // Counted before the rest is published: with batches, the app can ack all of
            // it between two polls, so a baseline taken after the reconnect saw no new ack.
            const baseline = (await ackedBy(app)) ?? 0;
            await broker.publish(rest);
            const recovered = await timeUntil(async () => {
              if (app.logged('amqp connected').length <= connectedBefore) return false;
              return ((await ackedBy(app)) ?? 0) > baseline;
            }, 30_000);
            const lost = app.logged('amqp connection lost; reconnecting')[lostBefore];
            const t0 = typeof lost?.['time'] === 'number' ? lost['time'] : undefined;
            faults.push({
              kind: 'broker closes the vhost connections',
              atMs,
              recoveryMs: recovered === undefined || t0 === undefined ? undefined : Date.now() - t0,
              detail: `${closed} connections closed; connection lost (app log) → reconnected → first new ack`,
            });
            break;
          }
          case 'poison-flood': {
            const flood = poisonFlood(Math.max(200, Math.floor(n / 20)), random, `poison${index}`);
            // Every invalid message published before the flood's last one is ahead of it
            // (FIFO): the flood is through when that many dead letters are in.
            const target = sent.filter((m) => !m.valid).length + flood.length;
            const backlog = await broker.depth('company.updated');
            const t0 = Date.now();
            await broker.publish([...flood, ...rest]);
            sent.push(...flood);
            // Watched in the background: behind a large backlog the flood takes as long
            // as that backlog, and the schedule goes on meanwhile.
            const record: { -readonly [K in keyof FaultRecord]: FaultRecord[K] } = {
              kind: 'poison flood (drained behind the backlog)',
              atMs,
              recoveryMs: undefined,
              detail: `${flood.length} poison messages (8 kinds, 3 queues) published behind ${backlog} ready → all dead-lettered`,
            };
            faults.push(record);
            watchers.push(
              timeUntil(async () => (await deadLetterCount()) >= target, budgetMs, 200).then(
                (ms) => {
                  record.recoveryMs = ms === undefined ? undefined : Date.now() - t0;
                },
              ),
            );
            break;
          }
          case 'store-outage': {
            const app = current();
            const t0 = Date.now();
            app.kill('SIGUSR2');
            await new Promise((resolve) => setTimeout(resolve, 200));
            await broker.publish(rest);
            const baseline = (await ackedBy(app)) ?? 0;
            const recoveryMs = await timeUntil(
              async () => ((await ackedBy(app)) ?? 0) > baseline,
              30_000,
            );
            outageFailures.push(
              metric(await scrape(app.httpUrl() ?? ''), 'troupe_fault_injected_total', {
                fault: 'storeCallFailed',
              }),
            );
            faults.push({
              kind: `store unavailable for ${outageMs / 1000} s`,
              atMs,
              recoveryMs: recoveryMs === undefined ? undefined : Date.now() - t0,
              detail: 'outage start → first ack (retry backoff 3 s included)',
            });
            break;
          }
          case 'store-locked': {
            // The embedded database locked by another process's write transaction (as a
            // backup or a manual fix would), longer than the store's busy timeout.
            const app = current();
            const lock = new Database(storePath);
            const t0 = Date.now();
            try {
              lock.exec('BEGIN EXCLUSIVE');
              await broker.publish(rest);
              await new Promise((resolve) => setTimeout(resolve, lockMs - (Date.now() - t0)));
              lock.exec('COMMIT');
            } finally {
              lock.close();
            }
            const released = Date.now();
            let loopMaxMs = 0;
            let baseline: number | undefined;
            const recovered = await timeUntil(async () => {
              const sample = await appSample(app);
              if (sample === undefined) return false;
              loopMaxMs = Math.max(loopMaxMs, sample.loopMaxMs);
              baseline ??= sample.acked;
              return sample.acked > baseline;
            }, 30_000);
            faults.push({
              kind: `store locked by another process for ${lockMs / 1000} s`,
              atMs,
              recoveryMs: recovered === undefined ? undefined : Date.now() - t0,
              detail: `BEGIN EXCLUSIVE → COMMIT → first new ack (${Date.now() - released} ms after the release); app event loop blocked up to ${loopMaxMs.toFixed(0)} ms meanwhile`,
            });
            break;
          }
          case 'none':
            await broker.publish(rest);
            break;
        }
        sent.push(...rest);
      }

      // Everything settles: queues empty, the dead letters in, every worker idle.
      const invalidIds = new Set(sent.filter((m) => !m.valid).map((m) => m.messageId));
      await eventually(
        async () => {
          for (const queue of queues) if ((await broker.depth(queue)) > 0) return false;
          if ((await deadLetterCount()) < invalidIds.size) return false;
          const url = current().httpUrl();
          if (url === undefined) return false;
          const metrics = await scrape(url);
          const processors = metric(metrics, 'troupe_actors', { machine: 'processor' });
          const idle = metric(metrics, 'troupe_actors', { machine: 'processor', state: 'idle' });
          return processors > 0 && processors === idle && metric(metrics, 'troupe_in_flight') === 0;
        },
        budgetMs,
        'the queues to drain and every worker to be idle',
      ).catch((error: unknown) => process.stdout.write(`fault suite: ${String(error)}\n`));

      await Promise.all(watchers);
      const last = current();
      acksCounted += (await ackedBy(last)) ?? 0;
      last.kill('SIGTERM');
      const exit = await last.exited;
      const hangRecoveries = apps.flatMap((app) =>
        app.logged('fault hang recovered').map((line) => Number(line['ms'])),
      );
      const result = await audit({ broker, storePath, ledgerPath, messages: sent });
      const path = reportPath();
      writeReport(path, {
        title: `Fault-injection report (N = ${n})`,
        seed,
        n,
        durationMs: Date.now() - started,
        faults,
        hangRecoveries,
        acksCounted,
        result,
        exitCodes: [exit.code],
        notes: [
          'The app runs as a child process (test/fault/app-with-faults.ts: the real `startApp` plus fault hooks) on RabbitMQ in a vhost of its own, with the SQLite store in a temporary directory; events are published with amqplib and publisher confirms, half a chunk before each fault and half right after it, so that there is a backlog to recover into.',
          'Events: `companyEvents` of the end-to-end harness (rising versions, every 9th one stale, every 13th one sent twice, every 50th one invalid), over N/20 companies.',
          `Recovery is measured from the fault to the first acknowledgement made after it: for SIGKILL, from the kill to the first ack of the restarted process (its start-up included); for a closed connection, from the app's "connection lost" log line to the first ack after it reconnected; for a store outage (${outageMs} ms, every store call failing with a transient error), from its start to the first ack (the default retry is 3 s apart); for a poison flood, from its publication until all of it is in the dead-letter queues; for a hung handler (every ${hangEvery}th call, timeout ${handlerTimeoutMs} ms), from the hang to the next time its delivery is handled (the timeout plus the 3 s retry delay; shorter when another fault — a kill, a closed connection — cut the hang short and the delivery was redelivered at once). The poison flood is published behind the valid backlog, so its time is mostly that backlog's processing time.`,
          `Store locked: the test process holds \`BEGIN EXCLUSIVE\` on the SQLite file for ${lockMs / 1000} s. better-sqlite3 waits for a lock synchronously (busy timeout 5 s), so the whole app process stalls meanwhile — the event-loop figure in that row, measured in the app.`,
          'Lost: a valid event whose version (or a newer one) is not in the store, or an invalid message in no dead-letter queue. Duplicated effects: a (company, version) written twice according to the effect ledger, which the store wrapper appends after each write the store reports as done.',
          'Dead letters are published with confirms and then the original is acked, so a kill between the two leaves a duplicate dead letter (at least once): counted, not a loss.',
        ],
      });
      process.stdout.write(`fault suite: report written to ${path}\n`);

      expect(exit.code).toBe(0);
      expect(result.lostSamples).toEqual([]);
      expect(result.lost).toBe(0);
      expect(result.validDeadLettered).toBe(0);
      expect(result.duplicatedEffects).toBe(0);
      // The ledger is what makes "no duplicated effect" mean something: it must have seen
      // the writes (at least one per company stored; a kill between a commit and its
      // ledger line can drop a line, never add one).
      expect(result.ledgerWrites).toBeGreaterThan(0);
      expect(outageFailures.length).toBeGreaterThan(0);
      expect(outageFailures.every((failed) => failed > 0)).toBe(true);
      expect(result.wrongDocuments).toBe(0);
      expect(result.unexplainedDeadLetters).toEqual([]);
      expect(result.deadLettersWithoutReason).toBe(0);
      expect(result.deadLettered).toBe(invalidIds.size);
      expect(result.leftInQueues).toEqual({
        'company.updated': 0,
        'company.invalidated': 0,
        'company.sync': 0,
      });
      expect(faults.every((fault) => fault.recoveryMs !== undefined)).toBe(true);
    },
    budgetMs + 120_000,
  );

  /** Acks and the longest event-loop stall since the previous sample, from /metrics. */
  async function appSample(
    app: AppProcess,
  ): Promise<{ acked: number; loopMaxMs: number } | undefined> {
    const url = app.httpUrl();
    if (url === undefined) return undefined;
    try {
      const metrics = await scrape(url);
      return {
        acked: metric(metrics, 'troupe_messages_total', {
          processor: 'company-updated',
          outcome: 'acked',
        }),
        loopMaxMs:
          metric(metrics, 'troupe_fault_event_loop_delay_interval_seconds', { quantile: '1' }) *
          1000,
      };
    } catch {
      return undefined;
    }
  }

  async function deadLetterCount(): Promise<number> {
    let total = 0;
    for (const queue of queues) total += await broker.depth(`${queue}.dead`);
    return total;
  }
});
