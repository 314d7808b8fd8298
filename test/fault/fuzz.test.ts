// Fuzzed input: seeded random deliveries (fuzz-cases.ts) to the three example processors,
// first in-process on @troupe/memory's harness (a real pool on the in-memory ports), then
// a smaller batch through the real app on RabbitMQ, published with raw amqplib. Nothing
// crashes; every delivery is dead-lettered with a reason or processed; Object.prototype
// is not polluted; the heap comes back to where it was. TROUPE_FUZZ_SEED reproduces a run
// (the seed is printed), TROUPE_FUZZ_N sets the cases per processor in-process.
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AnyProcessorDefinition } from '@troupe/core';
import { startProcessor, type ProcessorHarness } from '@troupe/memory';
import { companyInvalidated } from '@troupe/processor-company-invalidated';
import { companySync } from '@troupe/processor-company-sync';
import { companyUpdated } from '@troupe/processor-company-updated';
import { SqliteStore } from '@troupe/sqlite';
import { connect } from 'amqplib';
import { pino } from 'pino';
import { SimulatedClock } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, tempStorePath, Vhost, type AppProcess } from '../e2e/harness.js';
import { FaultBroker, metric, queues, scrape, startFaultApp } from './fault-harness.js';
import { publishNested } from '../../packages/amqp/test/hostile.js';
import {
  amqpHostileCases,
  ccVictim,
  deepJson,
  fuzzCases,
  fuzzTargets,
  type FuzzCase,
  type FuzzTarget,
} from './fuzz-cases.js';
import { mulberry32 } from './prng.js';

const seed = Number(process.env['TROUPE_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const perProcessor = Number(process.env['TROUPE_FUZZ_N'] ?? 240);

/** A dead letter's reason: an error code, or the retries exhausted on one. */
const reasonPattern = /^([A-Z_]+|retries exhausted after \d+ attempts: [A-Z_]+): ./;

const definitions: Record<FuzzTarget, AnyProcessorDefinition> = {
  'company.updated': companyUpdated,
  'company.invalidated': companyInvalidated,
  'company.sync': companySync,
};

/** A logger at `trace` that discards its output: every log call still serialises. */
const logger = pino(
  { level: 'trace' },
  new Writable({
    write: (_chunk, _encoding, callback) => callback(),
  }),
);

/** `gc()`, exposed at run time so that heap figures are measured after a collection. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

function heapUsedMb(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

function companyIdOf(fuzz: FuzzCase): string | undefined {
  try {
    const value = JSON.parse(fuzz.body.toString('utf8')) as {
      id?: unknown;
      companies?: { id?: unknown }[];
    };
    const id = value.id ?? value.companies?.[0]?.id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

function polluted(): unknown[] {
  const probe = {} as Record<string, unknown>;
  return [probe['polluted'], (Object.prototype as Record<string, unknown>)['polluted']].filter(
    (value) => value !== undefined,
  );
}

/** Waits for `promise`, failing after `ms` with `what`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe(`fuzzed deliveries, in-process on the memory harness (seed ${seed}, TROUPE_FUZZ_SEED to reproduce)`, () => {
  beforeAll(() => {
    process.stdout.write(`fuzz: seed=${seed} cases per processor=${perProcessor}\n`);
  });

  for (const target of fuzzTargets) {
    it(`${definitions[target].name}: every delivery dead-lettered with a reason or processed; no pollution; heap back`, async () => {
      const heapBefore = heapUsedMb();
      const random = mulberry32(seed ^ target.length);
      const cases = fuzzCases(random, perProcessor, { prefix: 'mem', huge: true }).filter(
        (fuzz) => fuzz.target === target,
      );
      const harness: ProcessorHarness = await startProcessor(definitions[target], {
        logger,
      });
      const binding = definitions[target].bindings[0];
      for (const fuzz of cases) {
        await harness.transport.publish(binding?.exchange ?? '', target, fuzz.body, {
          ...(fuzz.messageId === undefined ? {} : { messageId: fuzz.messageId }),
          ...(fuzz.contentType === undefined ? {} : { contentType: fuzz.contentType }),
          ...(fuzz.headers === undefined ? {} : { headers: fuzz.headers }),
        });
      }
      await within(harness.settled(), 90_000, `${target} to settle (seed ${seed})`);

      const dead = harness.deadLetters();
      const deadIds = new Map<string, number>();
      const reasons = new Map<string, string>();
      for (const letter of dead) {
        deadIds.set(letter.messageId, (deadIds.get(letter.messageId) ?? 0) + 1);
        reasons.set(letter.messageId, String(letter.headers['x-troupe-reason']));
        expect(String(letter.headers['x-troupe-reason'])).toMatch(reasonPattern);
        expect(letter.headers['x-troupe-processor']).toBe(definitions[target].name);
        expect(letter.headers).not.toHaveProperty('CC');
        expect(letter.headers).not.toHaveProperty('BCC');
      }
      const ours = new Set(cases.map((fuzz) => fuzz.messageId));
      const outcomes: Record<string, string[]> = {};
      const notable: string[] = [];
      for (const fuzz of cases) {
        const wasDead = fuzz.messageId !== undefined && deadIds.has(fuzz.messageId);
        (outcomes[fuzz.kind] ??= []).push(wasDead ? 'dead' : 'processed');
        if (wasDead && fuzz.expect === 'either' && fuzz.kind !== 'flipped-byte') {
          notable.push(`${fuzz.kind}: ${reasons.get(fuzz.messageId ?? '')?.slice(0, 100) ?? ''}`);
        }
        if (fuzz.messageId !== undefined) expect(deadIds.get(fuzz.messageId) ?? 0).toBeLessThan(2);
        if (fuzz.expect === 'dead') expect(wasDead, `${fuzz.kind} ${fuzz.messageId}`).toBe(true);
        if (fuzz.expect === 'processed') {
          expect(wasDead, `${fuzz.kind} ${fuzz.messageId}`).toBe(false);
          const id = companyIdOf(fuzz);
          expect(id).toBeDefined();
          expect(
            await harness.store.get('companies', id ?? ''),
            `${fuzz.kind} ${id}`,
          ).toBeDefined();
        }
      }
      // Messages published without an id are all valid: none of them is dead-lettered.
      expect(dead.filter((letter) => !ours.has(letter.messageId))).toEqual([]);
      expect(polluted()).toEqual([]);
      // Still alive: a valid event after all that is processed.
      const probe = `probe-${target}`;
      await harness.publish(
        target === 'company.sync'
          ? { companies: [{ id: probe, name: 'p', version: 1 }] }
          : target === 'company.invalidated'
            ? { id: probe, reason: 'probe' }
            : { id: probe, name: 'p', version: 1 },
      );
      await within(harness.settled(), 30_000, 'the probe');
      expect(await harness.store.get('companies', probe)).toBeDefined();
      expect(harness.runtime.actor.getSnapshot().status).toBe('active');
      await harness.stop();

      const heapAfter = heapUsedMb();
      process.stdout.write(
        `fuzz ${target}: ${cases.length} cases, ${dead.length} dead-lettered; heap ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MB; ${Object.entries(
          outcomes,
        )
          .map(
            ([kind, list]) =>
              `${kind} ${list.filter((o) => o === 'dead').length}/${list.length} dead`,
          )
          .join(', ')}${notable.map((line) => `\n  dead-lettered: ${line}`).join('')}\n`,
      );
      // Generous: the cases hold 15 MB of bodies; what the harness kept must be released.
      expect(heapAfter - heapBefore).toBeLessThan(64);
    }, 180_000);
  }
});

describe('a valid event that no store can write (a 100,000-level field)', () => {
  // Found by the fuzzer: the memory store used to classify the RangeError (maximum call
  // stack size exceeded) as TRANSIENT and retry it 5 times, 3 s apart, holding a worker;
  // the SQLite store said PERMANENT. Both dead-letter it at once now.
  it('on the memory store it is dead-lettered at once (PERMANENT), not retried as TRANSIENT', async () => {
    const clock = new SimulatedClock();
    const harness = await startProcessor(companyUpdated, { logger, actorClock: clock });
    try {
      await harness.publish(
        `{"id":"deep","name":"n","version":1,"deep":${deepJson(100_000, 'array')}}`,
        { messageId: 'deep' },
      );
      for (let step = 0; step < 20 && harness.deadLetters().length === 0; step += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        clock.increment(3500);
      }
      const [letter] = harness.deadLetters();
      expect(String(letter?.headers['x-troupe-reason'])).toMatch(/^PERMANENT: /);
      expect(letter?.headers['x-troupe-attempts']).toBe(1);
    } finally {
      await harness.stop();
    }
  });
});

describe(`fuzzed deliveries through the app on RabbitMQ (seed ${seed})`, () => {
  const vhost = new Vhost();
  const broker = new FaultBroker(vhost.url);
  const store = tempStorePath();
  let app: AppProcess | undefined;

  beforeAll(async () => {
    await vhost.create();
  });

  afterAll(async () => {
    if (app !== undefined && app.child.exitCode === null && app.child.signalCode === null) {
      app.kill('SIGKILL');
      await app.exited;
    }
    await broker.close();
    await vhost.dispose();
    store.dispose();
  });

  it('each delivery is dead-lettered with a reason or stored; the app stays ready and exits 0', async () => {
    // The real startApp, with /metrics telling whether Object.prototype was polluted.
    app = startFaultApp({ TROUPE_AMQP_URL: vhost.url, TROUPE_STORE: `sqlite:${store.path}` });
    await app.started();
    const random = mulberry32(seed);
    const hostile = amqpHostileCases('amqp');
    const cases = [...fuzzCases(random, 24, { prefix: 'amqp', huge: true }), ...hostile];
    const admin = await connect(vhost.url);
    await (await admin.createChannel()).assertQueue(ccVictim, { durable: true });
    await admin.close();
    // The deepest first: valid messages published behind them must still be processed.
    for (const fuzz of hostile.filter((item) => item.nestedDepth !== undefined)) {
      await publishNested({
        url: vhost.url,
        exchange: 'companies',
        routingKey: fuzz.target,
        messageId: fuzz.messageId ?? '',
        depth: fuzz.nestedDepth ?? 0,
        body: fuzz.body.toString('utf8'),
        headers: fuzz.headers ?? {},
      });
    }
    await broker.publish(
      cases
        .filter((fuzz) => fuzz.nestedDepth === undefined)
        .map((fuzz) => ({
          routingKey: fuzz.target,
          body: fuzz.body,
          valid: fuzz.expect === 'processed',
          ...(fuzz.messageId === undefined ? {} : { messageId: fuzz.messageId }),
          ...(fuzz.contentType === undefined ? {} : { contentType: fuzz.contentType }),
          ...(fuzz.headers === undefined ? {} : { headers: fuzz.headers }),
        })),
    );
    const mustDie = cases.filter((fuzz) => fuzz.expect === 'dead').length;
    const deadDepth = async (): Promise<number> => {
      let total = 0;
      for (const queue of queues) total += await broker.depth(`${queue}.dead`);
      return total;
    };
    const url = app.httpUrl() ?? '';
    await eventually(
      async () => {
        for (const queue of queues) if ((await broker.depth(queue)) > 0) return false;
        if ((await deadDepth()) < mustDie) return false;
        const metrics = await scrape(url);
        return metric(metrics, 'troupe_in_flight') === 0;
      },
      120_000,
      'the fuzzed deliveries to settle',
    );
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const metrics = await scrape(url);
    expect(metrics.get('troupe_fault_prototype_polluted')).toBe(0);
    app.kill('SIGTERM');
    expect((await app.exited).code).toBe(0);

    const dead = (await Promise.all(queues.map((queue) => broker.drain(`${queue}.dead`)))).flat();
    const deadIds = new Map<string, number>();
    const reasons = new Map<string, string>();
    for (const letter of dead) {
      expect(String(letter.headers['x-troupe-reason'])).toMatch(reasonPattern);
      // A copy Troupe made: no routing headers, nothing nested past the limit.
      expect(letter.headers).not.toHaveProperty('CC');
      expect(letter.headers).not.toHaveProperty('BCC');
      expect(letter.headers).not.toHaveProperty('deep');
      const id = letter.messageId ?? '(none)';
      reasons.set(id, String(letter.headers['x-troupe-reason']));
      deadIds.set(id, (deadIds.get(id) ?? 0) + 1);
    }
    const sqlite = new SqliteStore({ path: store.path });
    const outcomes: Record<string, string[]> = {};
    const notable: string[] = [];
    try {
      for (const fuzz of cases) {
        const wasDead = fuzz.messageId !== undefined && deadIds.has(fuzz.messageId);
        (outcomes[fuzz.kind] ??= []).push(wasDead ? 'dead' : 'processed');
        if (wasDead && fuzz.expect === 'either' && fuzz.kind !== 'flipped-byte') {
          notable.push(
            `${fuzz.target} ${fuzz.kind}: ${reasons.get(fuzz.messageId ?? '')?.slice(0, 100) ?? ''}`,
          );
        }
        if (fuzz.expect === 'dead') expect(wasDead, `${fuzz.kind} ${fuzz.messageId}`).toBe(true);
        if (fuzz.expect === 'processed') {
          expect(wasDead, `${fuzz.kind} ${fuzz.messageId}`).toBe(false);
          expect(await sqlite.get('companies', companyIdOf(fuzz) ?? ''), fuzz.kind).toBeDefined();
        }
        if (fuzz.expect === 'either' && !wasDead) {
          // Not dead-lettered: then it was processed and acked (its queue is empty).
          const id = companyIdOf(fuzz);
          if (id !== undefined && fuzz.kind !== 'flipped-byte') {
            expect(await sqlite.get('companies', id), `${fuzz.kind} ${id}`).toBeDefined();
          }
        }
      }
    } finally {
      await sqlite.close();
    }
    // Without a message id there is nothing to match; those cases are all valid.
    expect(deadIds.get('(none)') ?? 0).toBe(0);
    for (const fuzz of hostile) {
      expect(reasons.get(fuzz.messageId ?? ''), fuzz.kind).toMatch(
        /^INVALID_MESSAGE: header "deep" nested deeper than 64 levels/,
      );
    }
    // No copy went where a publisher's CC/BCC pointed.
    expect(await broker.depth(ccVictim)).toBe(0);
    process.stdout.write(
      `fuzz through RabbitMQ: ${cases.length} cases, ${dead.length} dead letters; ${Object.entries(
        outcomes,
      )
        .map(
          ([kind, list]) =>
            `${kind} ${list.filter((o) => o === 'dead').length}/${list.length} dead`,
        )
        .join(', ')}${notable.map((line) => `\n  dead-lettered: ${line}`).join('')}\n`,
    );
  }, 240_000);
});
