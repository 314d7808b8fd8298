// Fuzzed deliveries for the three example processors, from a seeded PRNG: random bytes,
// truncated and huge payloads, deeply nested JSON, wrong content types, non-UTF-8
// bodies, missing or hostile headers and prototype-pollution keys. Each case says what
// must become of it: dead-lettered, processed (stored), or either one.
import { integer, pick, randomBytes } from './prng.js';

/** The processors under fuzz and their routing keys (= queues). */
export const fuzzTargets = ['company.updated', 'company.invalidated', 'company.sync'] as const;
export type FuzzTarget = (typeof fuzzTargets)[number];

export type Expectation = 'dead' | 'processed' | 'either';

export interface FuzzCase {
  readonly kind: string;
  readonly target: FuzzTarget;
  readonly body: Buffer;
  readonly messageId: string | undefined;
  readonly contentType: string | undefined;
  readonly headers: Record<string, unknown> | undefined;
  readonly expect: Expectation;
  /**
   * AMQP cases only: a `deep` header nested this many tables deep, too deep for
   * amqplib's recursive encoder on a normal stack (published from a worker thread).
   */
  readonly nestedDepth?: number;
}

/** A valid body for `target`, with `id` as the company. */
export function validBody(
  target: FuzzTarget,
  id: string,
  extra: Record<string, unknown> = {},
): unknown {
  switch (target) {
    case 'company.updated':
      return { id, name: `name of ${id}`, version: 1, ...extra };
    case 'company.invalidated':
      return { id, reason: 'fuzz', at: '2026-01-01T00:00:00Z', ...extra };
    case 'company.sync':
      return { companies: [{ id, name: `name of ${id}`, version: 1, ...extra }] };
  }
}

/** Deeply nested JSON text: `levels` arrays or objects inside each other. */
export function deepJson(levels: number, kind: 'array' | 'object'): string {
  return kind === 'array'
    ? `${'['.repeat(levels)}${']'.repeat(levels)}`
    : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

/**
 * A queue name only CC/BCC headers point at: no exchange binds it, so only a copy
 * published through the default exchange (a delayed retry, a replay) carrying the
 * publisher's CC would land there. The AMQP fuzz run declares it and expects it empty.
 */
export const ccVictim = 'fuzz.cc-victim';

/** A header value nested `depth` tables and arrays deep. */
export function nestedValue(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let level = 0; level < depth; level += 1) value = level % 2 === 0 ? { n: value } : [value];
  return value;
}

/** Header sets a hostile or careless publisher sends (all encodable by amqplib). */
function hostileHeaders(random: () => number): Record<string, unknown> {
  const sets: (() => Record<string, unknown>)[] = [
    // Own `__proto__`, `constructor` and `prototype` keys (a literal would not make them own).
    () =>
      JSON.parse(
        '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"polluted":"yes"}}',
      ) as Record<string, unknown>,
    // Troupe's own headers, forged.
    () => ({
      'x-troupe-reason': 'forged',
      'x-troupe-attempts': 'many',
      'x-troupe-retry-attempts': 'NaN',
      'x-troupe-original-routing-key': 'company.sync',
      'x-delivery-count': -5,
    }),
    () => ({ 'x-troupe-retry-attempts': 1e12, 'x-delivery-count': 1e12 }),
    () => ({ 'x-death': 'not a list', 'x-first-death-queue': 42 }),
    () => ({ toString: 'x', valueOf: 'y', hasOwnProperty: 'z' }),
    () => ({ [`x-${'k'.repeat(200)}`]: 'v'.repeat(10_000) }),
    // Attempt counts and a routing key forged as if from a delayed retry of this queue.
    () => ({
      'x-troupe-retry-attempts': 999,
      'x-delivery-count': 4,
      'x-troupe-original-routing-key': 'company.sync',
      'x-death': [{ queue: 'company.updated.retry.100', reason: 'expired', count: 1 }],
    }),
    // Sender-selected distribution: copies Troupe makes must not carry these on.
    () => ({ CC: [ccVictim], BCC: [ccVictim] }),
    // Many headers, and nesting within the accepted depth.
    () => Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`h${i}`, i])),
    () => ({ nested: nestedValue(60) }),
  ];
  return pick(random, sets)();
}

const otherContentTypes = [
  'text/plain',
  'application/xml',
  'application/octet-stream',
  'x',
  'APPLICATION/JSON',
  'text/json',
];

/**
 * `count` cases per target, round-robin over the kinds; `huge` adds the multi-megabyte
 * and 100,000-level cases (once per target).
 */
export function fuzzCases(
  random: () => number,
  count: number,
  options: { readonly prefix: string; readonly huge: boolean },
): FuzzCase[] {
  const cases: FuzzCase[] = [];
  let serial = 0;
  const add = (
    target: FuzzTarget,
    kind: string,
    body: Buffer | string,
    expect: Expectation,
    extra: {
      contentType?: string | undefined;
      headers?: Record<string, unknown>;
      noId?: boolean;
    } = {},
  ): void => {
    serial += 1;
    cases.push({
      kind,
      target,
      body: typeof body === 'string' ? Buffer.from(body) : body,
      messageId: extra.noId === true ? undefined : `${options.prefix}-${serial}-${kind}`,
      contentType: 'contentType' in extra ? extra.contentType : 'application/json',
      headers: extra.headers,
      expect,
    });
  };
  for (const target of fuzzTargets) {
    for (let index = 0; index < count; index += 1) {
      const id = `${options.prefix}-${target}-${index}`;
      const valid = JSON.stringify(validBody(target, id));
      switch (index % 12) {
        case 0:
          add(target, 'random-bytes', randomBytes(random, integer(random, 0, 4096)), 'dead');
          break;
        case 1:
          add(target, 'truncated', valid.slice(0, integer(random, 0, valid.length - 1)), 'dead');
          break;
        case 2: {
          const bytes = Buffer.from(valid);
          bytes[integer(random, 0, bytes.length - 1)] = integer(random, 0, 255);
          add(target, 'flipped-byte', bytes, 'either');
          break;
        }
        case 3:
          add(target, 'wrong-content-type', valid, 'dead', {
            contentType: pick(random, otherContentTypes),
          });
          break;
        case 4:
          add(target, 'no-content-type', valid, 'processed', { contentType: undefined });
          break;
        case 5:
          add(
            target,
            'non-utf8',
            Buffer.concat([
              Buffer.from(valid.slice(0, -2)),
              Buffer.from([0xc3, 0x28, 0xff]),
              Buffer.from('"}'),
            ]),
            'dead',
          );
          break;
        case 6:
          add(target, 'hostile-headers', valid, 'processed', { headers: hostileHeaders(random) });
          break;
        case 7:
          add(target, 'hostile-headers-invalid-body', 'nope', 'dead', {
            headers: hostileHeaders(random),
          });
          break;
        case 8:
          add(
            target,
            'proto-keys-in-body',
            // `__proto__`, `constructor` and `prototype` keys beside valid fields.
            `${valid.slice(0, -1)},"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"polluted":"yes"}}`,
            'either',
          );
          break;
        case 9:
          add(target, 'no-message-id', valid, 'processed', { noId: true });
          break;
        case 10:
          add(
            target,
            'json-scalar',
            pick(random, ['null', '0', '"s"', 'true', '[]', '{}']),
            'dead',
          );
          break;
        case 11:
          add(
            target,
            'wrong-types',
            JSON.stringify({ id: 1, name: [], version: '1', companies: {}, reason: 5 }),
            'dead',
          );
          break;
      }
    }
    if (options.huge) {
      const id = `${options.prefix}-${target}-huge`;
      // 5 MB: a valid event with a huge unknown field (kept by the loose company schema),
      // and 5 MB of garbage.
      add(
        target,
        'huge-valid',
        JSON.stringify(validBody(target, id, { blob: 'x'.repeat(5 * 1024 * 1024) })),
        'either',
      );
      add(target, 'huge-garbage', randomBytes(random, 5 * 1024 * 1024), 'dead');
      add(target, 'deep-array-100k', deepJson(100_000, 'array'), 'dead');
      add(target, 'deep-object-100k', deepJson(100_000, 'object'), 'dead');
      // Valid fields, and a 100,000-level value under an unknown key.
      add(
        target,
        'deep-inside-valid',
        `${JSON.stringify(validBody(target, `${id}-deep`)).slice(0, -1)},"deep":${deepJson(100_000, 'array')}}`,
        'either',
      );
    }
  }
  return cases;
}

/**
 * Hostile AMQP headers that only the wire can carry (or that only the AMQP transport
 * refuses): header tables nested just past the accepted depth (65) and 6,000 deep (past
 * what amqplib's recursive codec survives), on valid bodies. Each must be dead-lettered
 * unprocessed, with its reason, without the culprit header, and never take the
 * connection down.
 */
export function amqpHostileCases(prefix: string): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const target of fuzzTargets) {
    const body = (kind: string): Buffer =>
      Buffer.from(JSON.stringify(validBody(target, `${prefix}-${target}-${kind}`)));
    cases.push({
      kind: 'headers-nested-65',
      target,
      body: body('nested-65'),
      messageId: `${prefix}-${target}-nested-65`,
      contentType: 'application/json',
      headers: { deep: nestedValue(65), tenant: 'fuzz' },
      expect: 'dead',
    });
    cases.push({
      kind: 'headers-nested-6000',
      target,
      body: body('nested-6000'),
      messageId: `${prefix}-${target}-nested-6000`,
      contentType: 'application/json',
      headers: { CC: [ccVictim] },
      expect: 'dead',
      nestedDepth: 6000,
    });
  }
  return cases;
}
