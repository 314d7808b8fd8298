// The wire contract every transport shares: the header names Troupe writes, which
// attempt counts it trusts and where from, which headers a copy it makes (dead letter,
// delayed retry, replay) carries, the header nesting it accepts, and how a chart's
// state value is named. One home, so that the AMQP and in-process transports cannot
// drift apart.

/** Headers Troupe writes. Everything under `x-troupe-` is Troupe's: copies rewrite it. */
export const troupeHeaders = {
  /** Dead letter: why (starting with the error code). */
  reason: 'x-troupe-reason',
  /** Dead letter: the processor that gave up. */
  processor: 'x-troupe-processor',
  /** Dead letter: attempts made, the failing one included. */
  attempts: 'x-troupe-attempts',
  /** Dead letter and delayed retry: the routing key the message was first published with. */
  routingKey: 'x-troupe-original-routing-key',
  /** Delayed retry: attempts made before the message was parked in a retry queue. */
  retryAttempts: 'x-troupe-retry-attempts',
} as const;

/** The header names of a dead letter's metadata. */
export const deadLetterHeaders = {
  reason: troupeHeaders.reason,
  processor: troupeHeaders.processor,
  attempts: troupeHeaders.attempts,
  routingKey: troupeHeaders.routingKey,
} as const;

/** Headers RabbitMQ writes about a message's own history. */
export const brokerHeaders = {
  /** Quorum queues: earlier deliveries of this message from this queue. */
  deliveryCount: 'x-delivery-count',
  /** Dead-lettering record, newest first. */
  death: 'x-death',
} as const;

/** Header tables nested deeper than this are refused (the message is dead-lettered). */
export const maxHeaderDepth = 64;

/** The prefix of Troupe's own headers. */
const troupePrefix = 'x-troupe-';

/** How a delivery reached its consumer, as the transport knows it. */
export interface DeliveryFacts {
  /** The queue it was consumed from. */
  readonly queue: string;
  /** Its headers as delivered. */
  readonly headers: Readonly<Record<string, unknown>>;
  /** The routing key it was delivered with. */
  readonly routingKey: string;
  /**
   * The exchange it was delivered through ('' for the default exchange, which is how a
   * retry queue returns a message); undefined where the transport has none.
   */
  readonly exchange: string | undefined;
  /** The broker delivered it before. */
  readonly redelivered: boolean;
  /** The queue's broker counts deliveries in `x-delivery-count` (RabbitMQ quorum queues). */
  readonly brokerCountsDeliveries: boolean;
}

/** What Troupe reads from a delivery's wire form. */
export interface DeliveryReading {
  /** Attempts made before this delivery, from trusted sources only. */
  readonly previousAttempts: number;
  /** The routing key the message was first published with. */
  readonly routingKey: string;
  /** Why the message cannot be accepted at all (dead-letter it unprocessed), if so. */
  readonly problem: string | undefined;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}

/**
 * The retry queues of `queue` are named `<queue>.retry.<delay ms>`, and
 * `<queue>.retry.<delay ms>.quorum` for a quorum queue (a quorum queue's messages wait in
 * quorum queues; the suffix keeps them apart from classic ones an earlier version made).
 */
export const retryQueuePrefix = (queue: string): string => `${queue}.retry.`;

/** What follows {@link retryQueuePrefix} in a retry queue's name: a classic one's, a quorum one's. */
const classicRetrySuffix = /^\d+$/;
const quorumRetrySuffix = /^\d+\.quorum$/;

/** A classic retry queue's suffix for any queue; a quorum one's only for a quorum queue. */
function isRetrySuffix(suffix: string, quorumQueue: boolean): boolean {
  return classicRetrySuffix.test(suffix) || (quorumQueue && quorumRetrySuffix.test(suffix));
}

/**
 * True when the broker itself returned the message from one of `queue`'s retry queues:
 * it came through the default exchange and the newest `x-death` entry says it expired
 * in `<queue>.retry.<n>` (or, for a quorum queue, `<queue>.retry.<n>.quorum`). A
 * publisher to an application exchange cannot meet this.
 */
export function cameBackFromRetry(facts: DeliveryFacts): boolean {
  if (facts.exchange !== '') return false;
  const deaths = facts.headers[brokerHeaders.death];
  if (!Array.isArray(deaths)) return false;
  const newest: unknown = deaths[0];
  if (typeof newest !== 'object' || newest === null) return false;
  const { queue, reason } = newest as { queue?: unknown; reason?: unknown };
  return (
    reason === 'expired' &&
    typeof queue === 'string' &&
    queue.startsWith(retryQueuePrefix(facts.queue)) &&
    isRetrySuffix(queue.slice(retryQueuePrefix(facts.queue).length), facts.brokerCountsDeliveries)
  );
}

/**
 * Reads a delivery by the attempt-count rule: `x-troupe-retry-attempts` counts only on
 * a message the broker returned from the queue's own retry queue
 * ({@link cameBackFromRetry}); `x-delivery-count` counts only on a redelivery from a
 * queue whose broker counts deliveries. Anything a publisher wrote is ignored.
 *
 * @example
 * const { previousAttempts, routingKey, problem } = readDelivery(facts);
 */
export function readDelivery(facts: DeliveryFacts): DeliveryReading {
  const { headers } = facts;
  const fromRetry = cameBackFromRetry(facts);
  const retried = fromRetry ? count(headers[troupeHeaders.retryAttempts]) : 0;
  const counted =
    facts.brokerCountsDeliveries && facts.redelivered
      ? count(headers[brokerHeaders.deliveryCount])
      : 0;
  const original = headers[troupeHeaders.routingKey];
  return {
    previousAttempts: retried + counted,
    routingKey: fromRetry && typeof original === 'string' ? original : facts.routingKey,
    problem: headerProblem(headers),
  };
}

/** Nesting depth of a header value: 0 for a scalar, 1 for a flat table or array. */
export function nestingDepth(value: unknown): number {
  let deepest = 0;
  // Iterative: the value may be nested far deeper than the stack allows.
  const stack: [unknown, number][] = [[value, 0]];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [node, depth] = entry;
    if (typeof node !== 'object' || node === null || ArrayBuffer.isView(node)) continue;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (deepest > maxHeaderDepth) return deepest;
    for (const child of Object.values(node)) stack.push([child, level]);
  }
  return deepest;
}

/** Why these headers cannot be accepted, or undefined when they can. */
export function headerProblem(headers: Readonly<Record<string, unknown>>): string | undefined {
  for (const [name, value] of Object.entries(headers)) {
    if (nestingDepth(value) > maxHeaderDepth) {
      return `header ${JSON.stringify(name)} nested deeper than ${maxHeaderDepth} levels`;
    }
  }
  return undefined;
}

/**
 * True for headers a copy never carries: RabbitMQ's sender-selected routing (`CC`,
 * `BCC`, which would send the copy to other queues), the broker's record of the
 * original's history (`x-delivery-count`, `x-death`, `x-first-death-*`,
 * `x-last-death-*`), Troupe's own (`x-troupe-*`, rewritten by each copy) and tables
 * nested deeper than {@link maxHeaderDepth}.
 */
export function isDroppedFromCopies(name: string, value: unknown): boolean {
  const lower = name.toLowerCase();
  return (
    lower === 'cc' ||
    lower === 'bcc' ||
    name === brokerHeaders.deliveryCount ||
    name === brokerHeaders.death ||
    name.startsWith('x-first-death-') ||
    name.startsWith('x-last-death-') ||
    name.startsWith(troupePrefix) ||
    nestingDepth(value) > maxHeaderDepth
  );
}

/**
 * The headers of a copy Troupe makes of a message: the publisher's own headers minus
 * those {@link isDroppedFromCopies} names, plus `added` (Troupe's).
 *
 * @example
 * copyHeaders(message.headers, { [troupeHeaders.reason]: 'INVALID_MESSAGE: …' })
 */
export function copyHeaders(
  headers: Readonly<Record<string, unknown>> | undefined,
  added: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!isDroppedFromCopies(name, value)) kept[name] = value;
  }
  return { ...kept, ...added };
}

/**
 * A chart's state value as one string: `idle`, `connected.flowing`, parallel regions
 * joined by commas.
 *
 * @example
 * stateName(actor.getSnapshot().value) // 'connected.flowing'
 */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return 'unknown';
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return 'unknown';
  return entries.map(([parent, child]) => `${parent}.${stateName(child)}`).join(',');
}
