// The broker application stopped and started under load (`rabbitmqctl stop_app` /
// `start_app`) while the app consumes: it must reconnect, declare its topology again,
// resume its consumers and lose nothing. Stopping the broker disturbs every other test
// and every other user of the machine's RabbitMQ, so this suite runs only when
// TROUPE_FAULT_BROKER_RESTART=1, and the broker is always started again (in a finally).
// Writes test/fault/reports/broker-restart.md (or TROUPE_FAULT_REPORT).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { companyEvents, Vhost, type AppProcess } from '../e2e/harness.js';
import {
  ackedBy,
  asRaw,
  audit,
  drainedWhenSettled,
  FaultBroker,
  reportPath,
  startFaultApp,
  timeUntil,
  writeReport,
  type FaultRecord,
} from './fault-harness.js';

const run = promisify(execFile);

/** `rabbitmqctl start_app`, tried again until the broker answers. */
async function startBroker(): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await run('rabbitmqctl', ['start_app']);
      await run('rabbitmqctl', ['await_startup']);
      return;
    } catch (error) {
      if (attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}
const enabled = process.env['TROUPE_FAULT_BROKER_RESTART'] === '1';
const n = Number(process.env['TROUPE_FAULT_N'] ?? 3000);
const downMs = 5000;

describe.skipIf(!enabled)(
  'broker application stop_app/start_app under load (skipped unless TROUPE_FAULT_BROKER_RESTART=1: it stops the shared RabbitMQ for every test on the machine)',
  () => {
    const vhost = new Vhost();
    const broker = new FaultBroker(vhost.url);
    const dir = mkdtempSync(join(tmpdir(), 'troupe-fault-'));
    const storePath = join(dir, 'troupe.db');
    const ledgerPath = join(dir, 'ledger.tsv');
    const apps: AppProcess[] = [];

    beforeAll(async () => {
      await vhost.create();
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

    it('the app reconnects after the broker restarts and loses nothing', async () => {
      const started = Date.now();
      const app = startFaultApp({
        TROUPE_AMQP_URL: vhost.url,
        TROUPE_STORE: `sqlite:${storePath}`,
        TROUPE_FAULT_LEDGER: ledgerPath,
      });
      apps.push(app);
      await app.started();
      const events = asRaw(companyEvents(n, Math.max(100, Math.floor(n / 20))));
      const half = Math.floor(events.length / 2);
      await broker.publish(events.slice(0, half));
      await timeUntil(async () => (await broker.depth('company.updated')) < half * 0.8, 10_000);
      const atMs = Date.now() - started;
      const connectedBefore = app.logged('amqp connected').length;
      const t0 = Date.now();
      try {
        await run('rabbitmqctl', ['stop_app']);
        await new Promise((resolve) => setTimeout(resolve, downMs));
      } finally {
        // Whatever happened, the shared broker is started again.
        await startBroker();
      }
      const brokerBack = Date.now();
      await broker.publish(events.slice(half));
      let baseline: number | undefined;
      const recovered = await timeUntil(async () => {
        if (app.logged('amqp connected').length <= connectedBefore) return false;
        const acked = (await ackedBy(app)) ?? 0;
        baseline ??= acked;
        return acked > baseline;
      }, 120_000);
      const faults: FaultRecord[] = [
        {
          kind: `broker stop_app, ${downMs / 1000} s down, start_app`,
          atMs,
          recoveryMs: recovered === undefined ? undefined : Date.now() - t0,
          detail: `stop_app → reconnected → first new ack (the ${downMs / 1000} s down and the broker's start included; ${Date.now() - brokerBack} ms after it answered again)`,
        },
      ];
      const drained = await drainedWhenSettled(broker, events, 120_000);
      const acksCounted = (await ackedBy(app)) ?? 0;
      app.kill('SIGTERM');
      const exit = await app.exited;
      const result = await audit({ broker, storePath, ledgerPath, messages: events, drained });
      writeReport(reportPath('broker-restart.md', true), {
        title: `Broker restart report (N = ${n})`,
        seed: 0,
        n,
        durationMs: Date.now() - started,
        faults,
        hangRecoveries: [],
        acksCounted,
        result,
        exitCodes: [exit.code],
        notes: [
          'Written by test/fault/broker-restart.test.ts (TROUPE_FAULT_BROKER_RESTART=1).',
          'Queues are durable and messages persistent, so what the broker held survives its restart; what was in flight is redelivered.',
        ],
      });
      expect(exit.code).toBe(0);
      expect(result.lostSamples).toEqual([]);
      expect(result.lost).toBe(0);
      expect(result.duplicatedEffects).toBe(0);
      expect(result.wrongDocuments).toBe(0);
      expect(recovered).toBeDefined();
    }, 300_000);
  },
);
