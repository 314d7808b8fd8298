// The fault-injection harness: the app with fault hooks as a child process (in a vhost of
// its own, with an embedded store in a temporary directory, as in the end-to-end
// harness), a raw amqplib client that survives the broker closing its connection, the
// faults themselves, and an audit that counts instead of asserting, so that the report
// can be written before the test fails on a loss.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SqliteStore } from '@troupe/sqlite';
import { connect, type ChannelModel } from 'amqplib';
import { AppProcess, eventually, expectedCompanies, type TestEvent } from '../e2e/harness.js';
import { integer, pick, randomBytes } from './prng.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

/** The queues of the three example processors. */
export const queues = ['company.updated', 'company.invalidated', 'company.sync'] as const;

/** A message as published: any body, any properties. */
export interface RawMessage {
  readonly routingKey: string;
  readonly body: Buffer | string;
  readonly messageId?: string;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly headers?: Record<string, unknown>;
  /** A valid event, whose effect must reach the store. */
  readonly valid: boolean;
}

/** A message read back from a queue. */
export interface ReadMessage {
  readonly messageId: string | undefined;
  readonly headers: Record<string, unknown>;
  readonly bytes: number;
}

/**
 * amqplib, used directly, reconnecting on demand: the broker closing every connection of
 * the vhost closes this client's too, and it carries on as a real publisher would.
 */
export class FaultBroker {
  #model: Promise<ChannelModel> | undefined;
  constructor(readonly url: string) {}

  #connection(): Promise<ChannelModel> {
    this.#model ??= connect(this.url).then((model) => {
      const forget = (): void => {
        this.#model = undefined;
      };
      model.on('close', forget);
      model.on('error', forget);
      return model;
    });
    this.#model.catch(() => {
      this.#model = undefined;
    });
    return this.#model;
  }

  /** Publishes with confirms; a publish cut off by a lost connection is sent again. */
  async publish(messages: readonly RawMessage[], attempts = 5): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.#publishOnce(messages);
        return;
      } catch (error) {
        // Publishing again can duplicate a message the broker already had: harmless here,
        // since the audit expects effects (idempotent) and dead letters by message id.
        if (attempt >= attempts) throw error;
        this.#model = undefined;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  async #publishOnce(messages: readonly RawMessage[]): Promise<void> {
    const channel = await (await this.#connection()).createConfirmChannel();
    channel.on('error', () => undefined);
    await channel.assertExchange('companies', 'topic', { durable: true });
    for (const message of messages) {
      const ok = channel.publish(
        'companies',
        message.routingKey,
        typeof message.body === 'string' ? Buffer.from(message.body) : message.body,
        {
          persistent: true,
          ...(message.contentType === undefined ? {} : { contentType: message.contentType }),
          ...(message.contentEncoding === undefined
            ? {}
            : { contentEncoding: message.contentEncoding }),
          ...(message.messageId === undefined ? {} : { messageId: message.messageId }),
          ...(message.headers === undefined ? {} : { headers: message.headers }),
        },
      );
      if (!ok) await new Promise<void>((resolve) => channel.once('drain', () => resolve()));
    }
    await channel.waitForConfirms();
    await channel.close().catch(() => undefined);
  }

  /** Ready messages and consumers of a queue (zeros when it does not exist). */
  async queue(queue: string): Promise<{ messages: number; consumers: number }> {
    try {
      const channel = await (await this.#connection()).createChannel();
      channel.on('error', () => undefined);
      try {
        const { messageCount, consumerCount } = await channel.checkQueue(queue);
        return { messages: messageCount, consumers: consumerCount };
      } finally {
        await channel.close().catch(() => undefined);
      }
    } catch {
      return { messages: 0, consumers: 0 };
    }
  }

  async depth(queue: string): Promise<number> {
    return (await this.queue(queue)).messages;
  }

  /** Takes every message of a queue. */
  async drain(queue: string): Promise<ReadMessage[]> {
    const channel = await (await this.#connection()).createChannel();
    channel.on('error', () => undefined);
    const messages: ReadMessage[] = [];
    try {
      await channel.checkQueue(queue);
    } catch {
      return messages;
    }
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) break;
      const id = message.properties.messageId as unknown;
      messages.push({
        messageId: typeof id === 'string' ? id : undefined,
        headers: (message.properties.headers as Record<string, unknown> | undefined) ?? {},
        bytes: message.content.length,
      });
    }
    await channel.close().catch(() => undefined);
    return messages;
  }

  async close(): Promise<void> {
    const model = this.#model;
    this.#model = undefined;
    await model?.then((connection) => connection.close()).catch(() => undefined);
  }
}

/** Starts the app with fault hooks (test/fault/app-with-faults.ts) as a child process. */
export function startFaultApp(env: Record<string, string>): AppProcess {
  return new AppProcess(env, {
    file: process.execPath,
    args: ['--import', 'tsx', 'test/fault/app-with-faults.ts'],
    cwd: root,
  });
}

/** The broker closes every connection of `vhost` (and only those). Returns how many. */
export async function closeVhostConnections(vhost: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', [
    '-q',
    'list_connections',
    '--no-table-headers',
    'pid',
    'vhost',
  ]);
  const pids = stdout
    .split('\n')
    .map((line) => line.split('\t'))
    .filter(([pid, name]) => pid?.startsWith('<') === true && name === vhost)
    .map(([pid]) => pid ?? '');
  let closed = 0;
  for (const pid of pids) {
    // A connection can be gone between the listing and the close.
    await run('rabbitmqctl', ['close_connection', pid, 'fault test']).then(
      () => (closed += 1),
      () => undefined,
    );
  }
  return closed;
}

/** The app's /metrics as `name{labels}` → value (`name` alone without labels). */
export async function scrape(baseUrl: string): Promise<Map<string, number>> {
  const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** Sum of a metric over the series whose labels include every `labels` pair. */
export function metric(
  values: ReadonlyMap<string, number>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const [key, value] of values) {
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    const matches = Object.entries(labels).every(([label, wanted]) =>
      key.includes(`${label}="${wanted}"`),
    );
    if (matches) sum += value;
  }
  return sum;
}

/** Acks counted by a running app for company-updated (undefined when it does not answer). */
export async function ackedBy(app: AppProcess): Promise<number | undefined> {
  const url = app.httpUrl();
  if (url === undefined) return undefined;
  try {
    return metric(await scrape(url), 'troupe_messages_total', {
      processor: 'company-updated',
      outcome: 'acked',
    });
  } catch {
    return undefined;
  }
}

/** Milliseconds until `check` holds, polling every `everyMs`; undefined on timeout. */
export async function timeUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return undefined;
}

/** TestEvents as raw messages (JSON content type, message ids kept). */
export function asRaw(events: readonly TestEvent[]): RawMessage[] {
  return events.map((event) => ({
    routingKey: event.routingKey,
    body: event.body,
    messageId: event.messageId,
    contentType: 'application/json',
    valid: event.valid,
  }));
}

/** Kinds of poison message the flood is made of. */
export const poisonKinds = [
  'not-json',
  'truncated-json',
  'schema',
  'wrong-content-type',
  'non-utf8',
  'empty',
  'array',
  'proto-keys',
] as const;

/** `count` poison messages, spread over the three processors' routing keys. */
export function poisonFlood(count: number, random: () => number, prefix = 'poison'): RawMessage[] {
  const messages: RawMessage[] = [];
  for (let index = 0; index < count; index += 1) {
    const kind = poisonKinds[index % poisonKinds.length] ?? 'empty';
    const routingKey = index % 10 === 0 ? pick(random, queues) : 'company.updated';
    const base = { routingKey, messageId: `${prefix}-${index}-${kind}`, valid: false };
    const json = { ...base, contentType: 'application/json' };
    switch (kind) {
      case 'not-json':
        messages.push({ ...json, body: `not json ${integer(random, 0, 1e9)}` });
        break;
      case 'truncated-json':
        messages.push({ ...json, body: '{"id":"c-1","name":"x","version":'.slice(0, 25) });
        break;
      case 'schema':
        messages.push({ ...json, body: JSON.stringify({ id: '', version: -1 }) });
        break;
      case 'wrong-content-type':
        messages.push({
          ...base,
          contentType: 'text/plain',
          body: JSON.stringify({ id: 'c-1', name: 'x', version: 1 }),
        });
        break;
      case 'non-utf8':
        messages.push({
          ...json,
          body: Buffer.concat([
            Buffer.from('{"id":"'),
            randomBytes(random, 8),
            Buffer.from([0xff, 0xfe]),
            Buffer.from('"}'),
          ]),
        });
        break;
      case 'empty':
        messages.push({ ...json, body: '' });
        break;
      case 'array':
        messages.push({ ...json, body: '[1,2,3]' });
        break;
      case 'proto-keys':
        messages.push({
          ...json,
          body: '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
          // An own `__proto__` key (a literal would set the prototype instead).
          headers: JSON.parse(
            '{"__proto__":{"polluted":true},"constructor":"x","prototype":"y"}',
          ) as Record<string, unknown>,
        });
        break;
    }
  }
  return messages;
}

/** A dead letter read back, with the processor queue whose dead-letter queue held it. */
export interface DeadLetter extends ReadMessage {
  readonly queue: string;
}

/** Drains the three dead-letter queues. */
export async function drainDeadLetters(broker: FaultBroker): Promise<DeadLetter[]> {
  return (
    await Promise.all(
      queues.map(async (queue) =>
        (await broker.drain(`${queue}.dead`)).map((letter) => ({ ...letter, queue })),
      ),
    )
  ).flat();
}

/**
 * Waits until the processor queues are empty and every invalid message has been
 * dead-lettered, by id and not by count: a fault between a dead letter's publish and its
 * ack dead-letters that message twice, and the copy could reach a count while the last
 * invalid message is still in flight. Returns the letters it drained, for {@link audit}.
 */
export async function drainedWhenSettled(
  broker: FaultBroker,
  messages: readonly RawMessage[],
  timeoutMs: number,
): Promise<DeadLetter[]> {
  const invalid = messages.filter((message) => !message.valid).map((m) => m.messageId);
  const drained: DeadLetter[] = [];
  await eventually(
    async () => {
      for (const queue of queues) if ((await broker.depth(queue)) > 0) return false;
      drained.push(...(await drainDeadLetters(broker)));
      const ids = new Set(drained.map((letter) => letter.messageId));
      return invalid.every((id) => ids.has(id));
    },
    timeoutMs,
    'the queues to drain and every invalid message to be dead-lettered',
  );
  return drained;
}

/** What the audit found. */
export interface AuditResult {
  readonly sent: number;
  readonly validSent: number;
  readonly invalidSent: number;
  /** Valid messages whose effect is in the store (its version, or a newer one). */
  readonly processed: number;
  /** Distinct invalid messages found in their own queue's dead-letter queue. */
  readonly deadLettered: number;
  /** Dead letters beyond the first of a message (at least once: possible after a kill). */
  readonly deadLetterDuplicates: number;
  readonly deadLettersWithoutReason: number;
  /**
   * The first few dead letters without Troupe's reason: message id, queue, and the
   * broker's own `x-death` reason when the broker dead-lettered it (a delivery limit).
   */
  readonly unexplainedDeadLetters: readonly string[];
  /** Valid messages whose effect is missing, plus invalid ones not in their dead-letter queue. */
  readonly lost: number;
  readonly lostSamples: readonly string[];
  /** Valid messages that were dead-lettered instead of stored. */
  readonly validDeadLettered: number;
  /** Writes of one (company, version) beyond the first, from the effect ledger. */
  readonly duplicatedEffects: number;
  readonly ledgerWrites: number;
  /** Documents that should not exist, or whose content does not match their version. */
  readonly wrongDocuments: number;
  readonly storeCount: number;
  readonly expectedCount: number;
  /** Ready messages left in each processor queue after the apps stopped. */
  readonly leftInQueues: Readonly<Record<string, number>>;
  readonly reasons: Readonly<Record<string, number>>;
}

/**
 * Audits the store, the ledger and the dead-letter queues after every app has stopped.
 * Drains the dead-letter queues.
 */
export async function audit(options: {
  readonly broker: FaultBroker;
  readonly storePath: string;
  readonly ledgerPath: string;
  readonly messages: readonly RawMessage[];
  /** Dead letters the caller drained already (waiting for them by id), counted too. */
  readonly drained?: readonly DeadLetter[];
}): Promise<AuditResult> {
  const { broker, messages } = options;
  const valid = messages.filter((message) => message.valid);
  const invalid = messages.filter((message) => !message.valid);
  const expected = expectedCompanies(
    valid.map((message) => ({
      routingKey: message.routingKey,
      body: String(message.body),
      messageId: message.messageId ?? '',
      valid: true,
    })),
  );

  const leftInQueues: Record<string, number> = {};
  for (const queue of queues) leftInQueues[queue] = await broker.depth(queue);

  const dead = [...(options.drained ?? []), ...(await drainDeadLetters(broker))];
  const deadIds = new Map<string, number>();
  /** The processor queue whose dead-letter queue holds each message. */
  const deadIn = new Map<string, string>();
  const reasons: Record<string, number> = {};
  let deadLettersWithoutReason = 0;
  const unexplainedDeadLetters: string[] = [];
  for (const letter of dead) {
    const id = letter.messageId ?? '(none)';
    deadIds.set(id, (deadIds.get(id) ?? 0) + 1);
    deadIn.set(id, letter.queue);
    const reason = letter.headers['x-troupe-reason'];
    if (typeof reason !== 'string' || reason === '') {
      deadLettersWithoutReason += 1;
      if (unexplainedDeadLetters.length < 5) {
        const death = letter.headers['x-death'];
        const first: unknown = Array.isArray(death) ? death[0] : undefined;
        const brokers =
          typeof first === 'object' && first !== null
            ? String((first as Record<string, unknown>)['reason'])
            : 'none';
        unexplainedDeadLetters.push(`${id} in ${letter.queue}.dead (x-death: ${brokers})`);
      }
    }
    const kind = typeof reason === 'string' ? (reason.split(':')[0] ?? reason) : '(none)';
    reasons[kind] = (reasons[kind] ?? 0) + 1;
  }

  const store = new SqliteStore({ path: options.storePath });
  const stored = new Map<string, Record<string, unknown>>();
  let storeCount: number;
  try {
    for (const id of expected.keys()) {
      const document = await store.get('companies', id);
      if (document !== undefined) stored.set(id, document);
    }
    storeCount = await store.count('companies');
  } finally {
    await store.close();
  }

  const lostSamples: string[] = [];
  let lost = 0;
  let processed = 0;
  let validDeadLettered = 0;
  for (const message of valid) {
    const { id, version } = JSON.parse(String(message.body)) as { id: string; version: number };
    const storedVersion = Number(stored.get(id)?.['version'] ?? -1);
    if (storedVersion >= version) processed += 1;
    else {
      lost += 1;
      if (lostSamples.length < 10)
        lostSamples.push(`${message.messageId ?? '?'} (${id}@${version})`);
    }
    if (message.messageId !== undefined && deadIds.has(message.messageId)) validDeadLettered += 1;
  }
  let deadLettered = 0;
  const invalidIds = new Set<string>();
  for (const message of invalid) {
    const id = message.messageId ?? '';
    if (invalidIds.has(id)) continue;
    invalidIds.add(id);
    if (deadIds.has(id) && deadIn.get(id) === message.routingKey) deadLettered += 1;
    else if (deadIds.has(id)) {
      lost += 1;
      if (lostSamples.length < 10) {
        lostSamples.push(
          `${id} (in ${deadIn.get(id) ?? '?'}.dead, not ${message.routingKey}.dead)`,
        );
      }
    } else {
      lost += 1;
      if (lostSamples.length < 10) lostSamples.push(`${id} (invalid, not dead-lettered)`);
    }
  }
  let deadLetterDuplicates = 0;
  for (const [id, count] of deadIds) if (invalidIds.has(id)) deadLetterDuplicates += count - 1;

  let wrongDocuments = storeCount - expected.size;
  for (const [id, version] of expected) {
    const document = stored.get(id);
    if (document === undefined) continue;
    if (document['version'] !== version || document['name'] !== `name-${version}`) {
      wrongDocuments += 1;
    }
  }

  const writes = new Map<string, number>();
  if (existsSync(options.ledgerPath)) {
    for (const line of readFileSync(options.ledgerPath, 'utf8').split('\n')) {
      if (line !== '') writes.set(line, (writes.get(line) ?? 0) + 1);
    }
  }
  let duplicatedEffects = 0;
  let ledgerWrites = 0;
  for (const count of writes.values()) {
    ledgerWrites += count;
    duplicatedEffects += count - 1;
  }

  return {
    sent: messages.length,
    validSent: valid.length,
    invalidSent: invalid.length,
    processed,
    deadLettered,
    deadLetterDuplicates,
    deadLettersWithoutReason,
    unexplainedDeadLetters,
    lost,
    lostSamples,
    validDeadLettered,
    duplicatedEffects,
    ledgerWrites,
    wrongDocuments,
    storeCount,
    expectedCount: expected.size,
    leftInQueues,
    reasons,
  };
}

/** One fault as the report lists it. */
export interface FaultRecord {
  readonly kind: string;
  readonly atMs: number;
  /** From the fault's injection until the app acked past what it had in flight. */
  readonly recoveryMs: number | undefined;
  readonly detail: string;
}

/** Writes the fault suite's report (markdown). */
export function writeReport(
  path: string,
  run: {
    readonly title: string;
    readonly seed: number;
    readonly n: number;
    readonly durationMs: number;
    readonly faults: readonly FaultRecord[];
    readonly hangRecoveries: readonly number[];
    readonly acksCounted: number;
    readonly result: AuditResult;
    readonly exitCodes: readonly (number | null)[];
    readonly notes: readonly string[];
  },
): void {
  const { result } = run;
  const stats = (values: readonly number[]): string => {
    if (values.length === 0) return '—';
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number): number =>
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return `${sorted.length} × min ${at(0)} / median ${at(0.5)} / max ${sorted[sorted.length - 1] ?? 0} ms`;
  };
  const byKind = new Map<string, number[]>();
  for (const fault of run.faults) {
    const list = byKind.get(fault.kind) ?? [];
    if (fault.recoveryMs !== undefined) list.push(fault.recoveryMs);
    byKind.set(fault.kind, list);
  }
  const lines = [
    `# ${run.title}`,
    '',
    `Generated by \`vitest run test/fault\` (test/fault/faults.test.ts) on ${new Date().toISOString()}.`,
    `N = ${run.n} (\`TROUPE_FAULT_N\`), seed ${run.seed} (\`TROUPE_FAULT_SEED\`), ${(run.durationMs / 1000).toFixed(1)} s (${((result.sent * 1000) / run.durationMs).toFixed(0)} messages/s overall, faults and waits included).`,
    '',
    '## Totals',
    '',
    '| measure | value | target |',
    '| --- | ---: | ---: |',
    `| messages sent | ${result.sent} | |`,
    `| — valid company events (incl. verbatim duplicates and stale versions) | ${result.validSent} | |`,
    `| — invalid (every 50th event, and the poison flood) | ${result.invalidSent} | |`,
    `| processed: valid events whose effect is in the store | ${result.processed} | ${result.validSent} |`,
    `| acks counted by the app processes (last scrape of each; redeliveries included) | ${run.acksCounted} | |`,
    `| dead-lettered (distinct invalid messages in their queue's DLQ, with a reason) | ${result.deadLettered} | ${result.invalidSent} |`,
    `| dead letters without a reason | ${result.deadLettersWithoutReason} | 0 |`,
    `| duplicate dead letters (at-least-once, after a kill or a closed connection) | ${result.deadLetterDuplicates} | — |`,
    `| **lost** | **${result.lost}** | 0 |`,
    `| valid events dead-lettered instead of stored | ${result.validDeadLettered} | 0 |`,
    `| **duplicated effects** (same company and version written twice, from the ledger) | **${result.duplicatedEffects}** | 0 |`,
    `| writes in the effect ledger | ${result.ledgerWrites} | |`,
    `| documents in the store / expected | ${result.storeCount} / ${result.expectedCount} | equal |`,
    `| documents with a wrong version or content | ${result.wrongDocuments} | 0 |`,
    `| left in the processor queues after the last SIGTERM | ${Object.entries(result.leftInQueues)
      .map(([queue, depth]) => `${queue} ${depth}`)
      .join(', ')} | 0 |`,
    `| exit codes on the final SIGTERM | ${run.exitCodes.join(', ')} | 0 |`,
    '',
    `Dead-letter reasons: ${
      Object.entries(result.reasons)
        .map(([reason, count]) => `${reason} × ${count}`)
        .join(', ') || '—'
    }.`,
    ...(result.lostSamples.length > 0
      ? ['', `Lost (first ones): ${result.lostSamples.join(', ')}.`]
      : []),
    '',
    '## Recovery by kind of fault',
    '',
    '| fault | recovery |',
    '| --- | --- |',
    ...[...byKind].map(([kind, values]) => `| ${kind} | ${stats(values)} |`),
    `| handler hang (timeout, then retried) | ${stats(run.hangRecoveries)} |`,
    '',
    '## Faults in order',
    '',
    '| at | fault | recovery | detail |',
    '| ---: | --- | ---: | --- |',
    ...run.faults.map(
      (fault) =>
        `| ${(fault.atMs / 1000).toFixed(1)} s | ${fault.kind} | ${fault.recoveryMs === undefined ? '—' : `${fault.recoveryMs} ms`} | ${fault.detail} |`,
    ),
    '',
    '## How it is measured',
    '',
    ...run.notes.map((note) => `- ${note}`),
    '',
  ];
  writeFileSync(path, lines.join('\n'));
}

/**
 * Where a suite writes its report: TROUPE_FAULT_REPORT when set; reports/<name> for a
 * deliberate run (TROUPE_FAULT_N set, or the broker-restart suite); otherwise — the
 * CI-sized run that every `vitest run` makes — the temporary directory, so that the
 * committed report of the full run is not overwritten by a small one.
 */
export function reportPath(name = 'latest.md', deliberate = false): string {
  const explicit = process.env['TROUPE_FAULT_REPORT'];
  if (explicit !== undefined) return explicit;
  if (deliberate || process.env['TROUPE_FAULT_N'] !== undefined) {
    return join(dirname(fileURLToPath(import.meta.url)), 'reports', name);
  }
  return join(tmpdir(), `troupe-fault-${name}`);
}
