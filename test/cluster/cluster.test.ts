// Troupe on a three-node RabbitMQ cluster (scripts/cluster.sh), quorum queues, two app
// replicas connected to different nodes, and a node lost mid-stream, four ways:
//
// 1. no fault: the two replicas share the queues from different nodes;
// 2. the node holding company.updated's queue leader stopped (`stop_app`), started again;
// 3. the Erlang VM of the node replica B is on killed with SIGKILL, then booted again;
// 4. the node replica A is on stopped: A reconnects to the next address of its list.
//
// And one without the app, on the transport alone: a message waiting out a long retry
// delay in its quorum queue's retry queue when that retry queue's leader node stops
// comes back to its queue from the other two nodes, with its attempt count.
//
// Each scenario is audited as the fault suite audits (test/fault/fault-harness.ts, the
// same app with its effect ledger): zero lost, zero duplicated effects, every dead
// letter with a reason; the recovery time is measured from the fault until acks resume
// (and, when a replica was on the lost node, it has connected to another). A fault
// lasts until recovery has been seen, then the node comes back: nothing waits for time.
//
// Runs in the serial project where RabbitMQ is installed (and as root: the nodes run as
// the rabbitmq user); reports itself skipped elsewhere. TROUPE_CLUSTER_N sets the
// events per scenario (default 600) and, when set, writes test/fault/reports/cluster.md;
// otherwise the report goes to the temporary directory.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '@troupe/core';
import { AmqpTransport, retryQueueName, retryTier } from '@troupe/amqp';
import { pino } from 'pino';
import { AppProcess, companyEvents, eventually } from '../e2e/harness.js';
import {
  ackedBy,
  asRaw,
  audit,
  drainedWhenSettled,
  FaultBroker,
  queues,
  timeUntil,
  type AuditResult,
} from '../fault/fault-harness.js';
import { Cluster, clusterUnavailable, type NodeIndex } from './cluster-harness.js';

/** The repository's example configuration: the processors the app runs, by module. */
const example = JSON.parse(
  readFileSync(new URL('../../troupe.config.json', import.meta.url), 'utf8'),
) as { processors: Record<string, Record<string, unknown>> };

const root = fileURLToPath(new URL('../../', import.meta.url));
const unavailable = clusterUnavailable();
const n = Number(process.env['TROUPE_CLUSTER_N'] ?? 600);
const deliberate = process.env['TROUPE_CLUSTER_N'] !== undefined;
const reportFile = deliberate
  ? join(dirname(fileURLToPath(import.meta.url)), '../fault/reports/cluster.md')
  : join(tmpdir(), 'troupe-cluster-report.md');

interface ScenarioResult {
  readonly name: string;
  readonly replicaNodes: readonly (NodeIndex | undefined)[];
  readonly faultNode: NodeIndex | undefined;
  readonly recoveryMs: number | undefined;
  readonly rejoinMs: number | undefined;
  readonly detail: string;
  readonly result: AuditResult;
  readonly exitCodes: readonly (number | null)[];
  readonly durationMs: number;
}

/** What a fault does, given the running scenario; returns what happened. */
type Fault = (run: {
  readonly replicas: readonly Replica[];
  readonly cluster: Cluster;
}) => Promise<{ faultNode: NodeIndex; restore: () => Promise<void>; detail: string }>;

interface Replica {
  readonly name: string;
  readonly app: AppProcess;
  /** The node of its latest `amqp connected` line. */
  node(): NodeIndex | undefined;
  connections(): number;
}

if (unavailable !== undefined) {
  process.stdout.write(`cluster suite skipped: ${unavailable}\n`);
}

describe.skipIf(unavailable !== undefined)(
  `Troupe on a three-node RabbitMQ cluster (skipped where ${unavailable ?? 'rabbitmq-server is absent'})`,
  () => {
    const cluster = new Cluster();
    const results: ScenarioResult[] = [];
    const running: AppProcess[] = [];

    beforeAll(async () => {
      await cluster.start();
    }, 300_000);

    afterAll(async () => {
      for (const app of running) {
        if (app.child.exitCode === null && app.child.signalCode === null) app.kill('SIGKILL');
        await app.exited;
      }
      // Always: stop every node and remove its directory, whatever the tests did.
      await cluster.stop().catch((error: unknown) => {
        process.stderr.write(`cluster stop failed: ${String(error)}\n`);
      });
      rmSync(cluster.dir, { recursive: true, force: true });
      if (results.length > 0) writeClusterReport(reportFile, results);
    }, 300_000);

    function startReplica(name: string, order: readonly NodeIndex[], dir: string): Replica {
      // Quorum queues for every processor, from the config as an operator sets them.
      const config = join(dir, `troupe.config.${name}.json`);
      // The example configuration's processors (their modules), each on a quorum queue.
      const processors = Object.fromEntries(
        Object.entries(example.processors).map(([processor, entry]) => [
          processor,
          { ...entry, queueType: 'quorum' },
        ]),
      );
      writeFileSync(config, JSON.stringify({ processors }));
      const app = new AppProcess(
        {
          TROUPE_CONFIG: config,
          TROUPE_AMQP_URL: order.map((node) => cluster.url(node)).join(','),
          TROUPE_STORE: `sqlite:${join(dir, 'troupe.db')}`,
          TROUPE_FAULT_LEDGER: join(dir, 'ledger.tsv'),
          TROUPE_LOG_LEVEL: 'info',
        },
        {
          file: process.execPath,
          args: ['--import', 'tsx', 'test/fault/app-with-faults.ts'],
          cwd: root,
        },
      );
      running.push(app);
      return {
        name,
        app,
        node: () => cluster.nodeOf(app.logged('amqp connected').at(-1)?.['broker']),
        connections: () => app.logged('amqp connected').length,
      };
    }

    const totalAcks = async (replicas: readonly Replica[]): Promise<number> => {
      let sum = 0;
      for (const replica of replicas) sum += (await ackedBy(replica.app)) ?? 0;
      return sum;
    };

    async function scenario(name: string, fault: Fault | undefined): Promise<ScenarioResult> {
      const started = Date.now();
      const dir = mkdtempSync(join(tmpdir(), 'troupe-cluster-run-'));
      // Two replicas on different nodes: A prefers node 1, B node 2.
      const replicas = [startReplica('A', [1, 2, 3], dir), startReplica('B', [2, 3, 1], dir)];
      let passed = false;
      try {
        await Promise.all(replicas.map((replica) => replica.app.started()));
        await eventually(
          () => Promise.resolve(replicas.every((replica) => replica.connections() > 0)),
          60_000,
          'both replicas connected',
        );
        const replicaNodes = replicas.map((replica) => replica.node());
        expect(replicaNodes).toEqual([1, 2]);
        for (const queue of queues) expect(await cluster.typeOf(queue, 3)).toBe('quorum');

        const events = asRaw(companyEvents(n, Math.max(50, Math.floor(n / 10))));
        const half = Math.floor(events.length / 2);
        // Published through node 3 (never the faulted node before the fault is chosen).
        let publisher = new FaultBroker(cluster.url(3));
        await publisher.publish(events.slice(0, half));
        await timeUntil(
          async () => (await publisher.depth('company.updated')) < half * 0.8,
          60_000,
        );

        let faultNode: NodeIndex | undefined;
        let recoveryMs: number | undefined;
        let rejoinMs: number | undefined;
        let detail = 'no fault';
        if (fault !== undefined) {
          const connectedBefore = replicas.map((replica) => replica.connections());
          const nodesBefore = replicas.map((replica) => replica.node());
          const t0 = Date.now();
          const injected = await fault({ replicas, cluster });
          faultNode = injected.faultNode;
          detail = injected.detail;
          // Publish the rest through a node that is up.
          const up = ([1, 2, 3] as const).find((node) => node !== faultNode) ?? 1;
          await publisher.close();
          publisher = new FaultBroker(cluster.url(up));
          // Counted before the rest is published: with batches, a reconnected replica can
          // ack all of it between two polls, so a baseline taken after the reconnect would
          // see no new ack.
          const baseline = await totalAcks(replicas);
          const rest = publisher.publish(events.slice(half));
          // Recovered: every replica that was on the lost node has connected again (to
          // another node), and acks move again.
          const recovered = await timeUntil(async () => {
            const reconnected = replicas.every(
              (replica, i) =>
                nodesBefore[i] !== faultNode ||
                (replica.connections() > (connectedBefore[i] ?? 0) && replica.node() !== faultNode),
            );
            if (!reconnected) return false;
            return (await totalAcks(replicas)) > baseline;
          }, 90_000);
          recoveryMs = recovered === undefined ? undefined : Date.now() - t0;
          await rest;
          // The node comes back and the cluster is whole again.
          const t1 = Date.now();
          await injected.restore();
          rejoinMs = Date.now() - t1;
        } else {
          await publisher.publish(events.slice(half));
        }

        const drained = await drainedWhenSettled(publisher, events, 90_000);
        for (const replica of replicas) replica.app.kill('SIGTERM');
        const exits = await Promise.all(replicas.map((replica) => replica.app.exited));
        const result = await audit({
          broker: publisher,
          storePath: join(dir, 'troupe.db'),
          ledgerPath: join(dir, 'ledger.tsv'),
          messages: events,
          drained,
        });
        await publisher.close();
        const outcome: ScenarioResult = {
          name,
          replicaNodes,
          faultNode,
          recoveryMs,
          rejoinMs,
          detail,
          result,
          exitCodes: exits.map((exit) => exit.code),
          durationMs: Date.now() - started,
        };
        results.push(outcome);
        // Every scenario's audit must be clean. Asserted here, inside the `try`, so that an
        // unclean audit keeps the replicas' logs (below) as a throw does.
        expectClean(outcome);
        passed = true;
        return outcome;
      } finally {
        // A failed scenario must not leave its replicas consuming into the next one.
        for (const replica of replicas) {
          const { child } = replica.app;
          if (child.exitCode === null && child.signalCode === null) replica.app.kill('SIGKILL');
          await replica.app.exited;
          if (!passed) {
            const log = join(
              tmpdir(),
              `troupe-cluster-${name.replaceAll(/\W+/g, '-')}-${replica.name}.log`,
            );
            writeFileSync(log, replica.app.output.join('\n'));
            process.stderr.write(`replica ${replica.name} output: ${log}\n`);
          }
        }
        rmSync(dir, { recursive: true, force: true });
      }
    }

    function expectClean(outcome: ScenarioResult): void {
      expect(outcome.result.lostSamples).toEqual([]);
      expect(outcome.result.unexplainedDeadLetters).toEqual([]);
      expect(outcome.result.lost).toBe(0);
      expect(outcome.result.duplicatedEffects).toBe(0);
      expect(outcome.result.deadLettersWithoutReason).toBe(0);
      expect(outcome.result.wrongDocuments).toBe(0);
      expect(outcome.exitCodes).toEqual([0, 0]);
    }

    it('two replicas on different nodes share quorum queues: nothing lost or doubled', async () => {
      await scenario('two replicas on nodes 1 and 2, no fault', undefined);
    }, 300_000);

    it('the queue leader’s node stopped mid-stream (stop_app), then started again', async () => {
      const outcome = await scenario(
        'the leader’s node: stop_app, then start_app',
        async ({ cluster: c }) => {
          const leader = (await c.leaderOf('company.updated', 3)) ?? 1;
          await c.stopApp(leader);
          return {
            faultNode: leader,
            restore: async () => {
              await c.startApp(leader);
            },
            detail: `company.updated's leader was on node ${leader}`,
          };
        },
      );
      expect(outcome.recoveryMs).toBeDefined();
    }, 300_000);

    it('a node’s Erlang VM killed with SIGKILL, then booted again', async () => {
      const outcome = await scenario(
        'SIGKILL of the node replica B is on, then boot',
        async ({ replicas, cluster: c }) => {
          const node = replicas[1]?.node() ?? 2;
          await c.kill(node);
          return {
            faultNode: node,
            restore: async () => {
              await c.boot(node);
            },
            detail: `node ${node} (replica B's) killed; B reconnected elsewhere`,
          };
        },
      );
      expect(outcome.recoveryMs).toBeDefined();
    }, 300_000);

    it('the node a replica is on is lost: the replica reconnects to its next address', async () => {
      let nodeAfter: NodeIndex | undefined;
      const outcome = await scenario(
        'the node replica A is on: stop_app, A moves to its next URL',
        async ({ replicas, cluster: c }) => {
          const replica = replicas[0];
          const node = replica?.node() ?? 1;
          await c.stopApp(node);
          return {
            faultNode: node,
            restore: async () => {
              nodeAfter = replica?.node();
              await c.startApp(node);
            },
            detail: `node ${node} stopped; replica A (URLs 1, 2, 3) reconnected to the next`,
          };
        },
      );
      expect(outcome.recoveryMs).toBeDefined();
      // In order: after node 1, node 2.
      expect(nodeAfter).toBe(2);
    }, 300_000);

    it('a message waiting out a long retry survives the loss of its retry queue’s node', async () => {
      const queue = `retry-survives-${Date.now()}`;
      // Longer than stopping a node takes, so the message is still waiting when it stops.
      const delayMs = 30_000;
      const retryQueue = retryQueueName(queue, retryTier(delayMs), 'quorum');
      const logger = pino({ level: 'silent' });
      const topology = [{ queue, bindings: [], queueType: 'quorum' as const }];
      const first = new AmqpTransport({ url: cluster.url(1), logger });
      let second: AmqpTransport | undefined;
      let stopped: NodeIndex | undefined;
      const publisher = new FaultBroker(cluster.url(3));
      try {
        await first.declare(topology);
        await first.consume(queue, { prefetch: 1 }, (delivery: Delivery) => {
          delivery.retryLater?.(delayMs, 1);
        });
        await first.publish('', queue, Buffer.from('{"id":"late"}'), { messageId: 'late' });
        // Parked: the retry queue holds it and the queue itself is empty (its original acked).
        await eventually(
          async () =>
            (await publisher.depth(retryQueue)) === 1 && (await publisher.depth(queue)) === 0,
          60_000,
          'the message parked in the retry queue',
        );
        await first.close();
        const leader = await cluster.leaderOf(retryQueue, 3);
        expect(leader).toBeDefined();
        stopped = leader;
        if (stopped === undefined) return;
        await cluster.stopApp(stopped);
        // A consumer on a node that is up takes the message when its delay has passed.
        const up = ([1, 2, 3] as const).find((node) => node !== stopped) ?? 2;
        // Still waiting in the retry queue with its leader's node down: the loss is real.
        const onUp = new FaultBroker(cluster.url(up));
        try {
          // (Asked until the other nodes have elected its new leader.)
          await eventually(
            async () => (await onUp.depth(retryQueue)) === 1,
            delayMs / 2,
            'the message in the retry queue, read through a node that is up',
          );
        } finally {
          await onUp.close();
        }
        const back: Delivery[] = [];
        second = new AmqpTransport({ url: cluster.url(up), logger });
        await second.declare(topology);
        await second.consume(queue, { prefetch: 1 }, (delivery: Delivery) => {
          back.push(delivery);
          delivery.ack();
        });
        await eventually(
          () => Promise.resolve(back.length > 0),
          delayMs + 60_000,
          'the message back from the retry queue',
        );
        expect(back.map((delivery) => [delivery.messageId, delivery.previousAttempts])).toEqual([
          ['late', 1],
        ]);
      } finally {
        await second?.close();
        await first.close().catch(() => undefined);
        if (stopped !== undefined) await cluster.startApp(stopped);
        await publisher.close();
      }
    }, 300_000);
  },
);

function writeClusterReport(path: string, results: readonly ScenarioResult[]): void {
  const ms = (value: number | undefined): string => (value === undefined ? '—' : `${value} ms`);
  const lines = [
    `# Cluster report (N = ${n} events per scenario)`,
    '',
    `Generated by \`vitest run test/cluster\` (test/cluster/cluster.test.ts) on ${new Date().toISOString()}:`,
    'a three-node RabbitMQ 3.10 cluster on one machine (scripts/cluster.sh), the example processors on quorum queues,',
    'two replicas of the app (the fault suite’s app with its effect ledger; `processors.<name>.queueType: quorum` in its config), replica A with the URLs of nodes 1, 2, 3',
    'and replica B with 2, 3, 1 (in order), one SQLite store shared by both. Each scenario starts fresh replicas and a',
    `fresh store, publishes half of the events through node 3, injects its fault, publishes the rest through a node`,
    'that is up, waits for the queues to drain, stops both replicas with SIGTERM, and audits as the fault suite does.',
    '',
    '| scenario | replicas on | fault on | recovery | node back | lost | duplicated effects | dead letters (with reason / without) | exit codes | duration |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: |',
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.replicaNodes.map((node) => `node ${node ?? '?'}`).join(', ')} | ${r.faultNode === undefined ? '—' : `node ${r.faultNode}`} | ${ms(r.recoveryMs)} | ${ms(r.rejoinMs)} | **${r.result.lost}** | **${r.result.duplicatedEffects}** | ${r.result.deadLettered - r.result.deadLettersWithoutReason} / ${r.result.deadLettersWithoutReason} | ${r.exitCodes.join(', ')} | ${(r.durationMs / 1000).toFixed(1)} s |`,
    ),
    '',
    '## Audit per scenario',
    '',
    '| scenario | sent (valid / invalid) | processed | dead-lettered | duplicate dead letters | valid dead-lettered | store / expected | wrong documents | left in queues |',
    '| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |',
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.result.sent} (${r.result.validSent} / ${r.result.invalidSent}) | ${r.result.processed} | ${r.result.deadLettered} | ${r.result.deadLetterDuplicates} | ${r.result.validDeadLettered} | ${r.result.storeCount} / ${r.result.expectedCount} | ${r.result.wrongDocuments} | ${Object.values(r.result.leftInQueues).reduce((a, b) => a + b, 0)} |`,
    ),
    '',
    '## Faults',
    '',
    ...results.filter((r) => r.faultNode !== undefined).map((r) => `- ${r.name}: ${r.detail}.`),
    '',
    '## How it is measured',
    '',
    '- **Recovery**: from the fault’s injection (the `rabbitmqctl stop_app` or the SIGKILL returned) until every replica that was connected to the lost node has logged `amqp connected` to another node and the replicas’ acks (company-updated, from `/metrics`) have moved past their count at that moment. Polled every 50 ms, so it is accurate to about 50 ms plus one scrape.',
    '- **Node back**: how long bringing the node back took (`start_app` and `await_startup`, or booting a killed node until it runs), after recovery was seen; the app does not wait for it.',
    '- **Lost**, **duplicated effects**, dead letters: the fault suite’s audit (test/fault/README.md): a valid event whose version (or a newer one) is not in the store, an invalid one in no dead-letter queue; a (company, version) written twice in the effect ledger; every dead letter must carry `x-troupe-reason`.',
    "- **Left in queues**: ready messages after the last SIGTERM. The publisher sends a chunk again when its connection to a lost node is cut before the confirms (at least once), and a delivery in flight at SIGTERM goes back to its queue; every valid event's effect is in the store all the same (the *processed* column).",
    '- Quorum queues keep every message on a majority of nodes: one node of three down loses nothing and the queue’s leader moves to another node.',
    '',
  ];
  writeFileSync(path, lines.join('\n'));
  process.stdout.write(`cluster report: ${path}\n`);
}
