// Broker objects for a set of queue topologies: a durable topic exchange per binding
// exchange, each queue (classic or quorum, optionally single-active-consumer) with
// its bindings, and a direct dead-letter exchange with one `<queue>.dead` queue per
// queue, bound by the queue's name.
import {
  ConfigurationError,
  troupeHeaders,
  type AnyProcessorDefinition,
  type QueueTopology,
} from '@troupe/core';
import type { Channel } from 'amqplib';

/**
 * The topology of a set of processors: each one's queue, bindings, queue type and
 * single-active-consumer flag, for {@link AmqpTransport.declare}.
 *
 * @example
 * await transport.declare(processorTopology([companyUpdated, personUpdated]));
 */
export function processorTopology(
  definitions: readonly Pick<
    AnyProcessorDefinition,
    'queue' | 'bindings' | 'queueType' | 'singleActiveConsumer'
  >[],
): QueueTopology[] {
  return definitions.map((definition) => ({
    queue: definition.queue,
    bindings: definition.bindings,
    queueType: definition.queueType,
    singleActiveConsumer: definition.singleActiveConsumer,
  }));
}

/** How queues are declared. */
export interface TopologyOptions {
  /** The direct exchange dead letters go through. */
  readonly deadLetterExchange: string;
  /** Deliveries of a quorum queue message before the broker dead-letters it. */
  readonly deliveryLimit: number;
}

/** Header a delayed retry writes with the attempts made so far (the wire contract's). */
export const retryAttemptsHeader = troupeHeaders.retryAttempts;

/** The name of a queue's dead-letter queue. */
export const deadQueueName = (queue: string): string => `${queue}.dead`;

/**
 * How a queue's dead-letter queue is declared: durable, and a quorum queue when the
 * queue is one (a classic queue lives on one node of a cluster; while that node is down
 * it takes no dead letters and cannot be declared, so no replica could reconnect).
 */
export function deadQueueOptions(entry: Pick<QueueTopology, 'queueType'> | undefined): {
  durable: true;
  arguments?: Record<string, unknown>;
} {
  return entry?.queueType === 'quorum'
    ? { durable: true, arguments: { 'x-queue-type': 'quorum' } }
    : { durable: true };
}

/** The arguments a queue is declared with. */
export function queueArguments(
  entry: QueueTopology,
  options: TopologyOptions,
): Record<string, unknown> {
  return {
    // A safety net for messages the broker itself gives up on (a quorum queue's
    // delivery limit): they land in `<queue>.dead` too, with `x-death` headers.
    'x-dead-letter-exchange': options.deadLetterExchange,
    'x-dead-letter-routing-key': entry.queue,
    ...(entry.queueType === 'quorum'
      ? {
          'x-queue-type': 'quorum',
          'x-delivery-limit': entry.deliveryLimit ?? options.deliveryLimit,
        }
      : {}),
    ...(entry.singleActiveConsumer === true ? { 'x-single-active-consumer': true } : {}),
  };
}

/** Declares every object of `topology` on `channel`. Idempotent. */
export async function declareTopology(
  channel: Channel,
  topology: Iterable<QueueTopology>,
  options: TopologyOptions,
): Promise<void> {
  await channel.assertExchange(options.deadLetterExchange, 'direct', { durable: true });
  const exchanges = new Set<string>();
  for (const entry of topology) {
    for (const binding of entry.bindings) {
      if (binding.exchange !== '' && !exchanges.has(binding.exchange)) {
        exchanges.add(binding.exchange);
        await channel.assertExchange(binding.exchange, 'topic', { durable: true });
      }
    }
    const args = queueArguments(entry, options);
    try {
      await channel.assertQueue(entry.queue, { durable: true, arguments: args });
    } catch (error) {
      throw conflictError(entry.queue, args, error) ?? error;
    }
    for (const binding of entry.bindings) {
      if (binding.exchange !== '') {
        await channel.bindQueue(entry.queue, binding.exchange, binding.routingKey);
      }
    }
    const dead = deadQueueName(entry.queue);
    // A quorum queue's dead letters are replicated too: a classic queue lives on one node
    // of a cluster, and while that node is down it can neither take dead letters nor be
    // declared, so no replica could reconnect to the other nodes.
    await channel.assertQueue(dead, deadQueueOptions(entry));
    await channel.bindQueue(dead, options.deadLetterExchange, entry.queue);
  }
}

/** The broker's refusal of a redeclaration: `inequivalent arg 'A' … received X but current is Y`. */
const inequivalent =
  /inequivalent arg '([^']+)' for queue '[^']*' in vhost '[^']*': received (.+?) but current is (.+?)"?$/;

/** `'classic'` → "classic", `the value '20' of type 'long'` → 20, `none` → absent. */
function brokerValue(text: string): unknown {
  const typed = /^the value '([^']*)' of type '([^']*)'$/.exec(text);
  if (typed !== null) {
    const value = typed[1] ?? '';
    return /^(long|short|signedint|byte|unsignedint|unsignedshort|unsignedbyte)$/.test(
      typed[2] ?? '',
    )
      ? Number(value)
      : value;
  }
  if (text === 'none') return undefined;
  const quoted = /^'(.*)'$/.exec(text);
  return quoted === null ? text : quoted[1];
}

/**
 * The configuration error of a queue that exists with other arguments (406
 * PRECONDITION_FAILED), naming the queue, the arguments Troupe declares and those the
 * queue has, as far as the broker's refusal tells (AMQP cannot read a queue's arguments:
 * the broker names the first argument that differs and its current value). Undefined
 * for any other error.
 */
export function conflictError(
  queue: string,
  declared: Record<string, unknown>,
  error: unknown,
): ConfigurationError | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code !== 406 || typeof message !== 'string') return undefined;
  const match = inequivalent.exec(message);
  let existing = '(the broker did not say which argument differs)';
  if (match !== null) {
    const name = match[1] ?? '';
    let current = brokerValue(match[3] ?? '');
    // A queue declared without a type reports none: it is a classic queue.
    if (current === undefined && name === 'x-queue-type') current = 'classic';
    existing =
      current === undefined ? `no ${JSON.stringify(name)}` : JSON.stringify({ [name]: current });
    existing +=
      ' where they differ (the broker names the first difference only; AMQP cannot read the rest)';
  }
  return new ConfigurationError(
    'topology',
    `queue ${JSON.stringify(queue)} exists with other arguments: Troupe declares ${JSON.stringify(declared)}; the queue has ${existing}. Delete the queue (its messages with it) or set processors.<name>.queueType / deliveryLimit to match. Broker: ${message}`,
    { cause: error },
  );
}

/** Steps of the retry-delay ladder within a decade (at most ×1.5 apart; round values exact). */
const ladder = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10] as const;

/**
 * The delay a retry queue holds messages for: `delayMs` rounded to the nearest step of
 * a ladder (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ ms), so that jittered delays share a
 * few queues.
 *
 * @example
 * retryTier(3200) // 3000
 */
export function retryTier(delayMs: number): number {
  if (!Number.isFinite(delayMs) || delayMs <= 1) return 1;
  const decade = 10 ** Math.floor(Math.log10(delayMs));
  let best = decade;
  for (const step of ladder) {
    const candidate = step * decade;
    if (Math.abs(candidate - delayMs) < Math.abs(best - delayMs)) best = candidate;
  }
  return Math.round(best);
}

/**
 * Every delay tier {@link retryTier} can give, from 1 ms up to `maxMs`, in order: what a
 * tool looking for a queue's retry queues tries. The default bound is the largest
 * `x-message-ttl` RabbitMQ accepts (2³² − 1 ms, about 49 days).
 */
export function retryTiers(maxMs = 2 ** 32 - 1): number[] {
  const tiers = new Set<number>([1]);
  for (let decade = 1; decade <= maxMs; decade *= 10) {
    for (const step of ladder) {
      const tier = Math.round(step * decade);
      if (tier <= maxMs) tiers.add(tier);
    }
  }
  return [...tiers].sort((a, b) => a - b);
}

/**
 * The retry queue of `queue` holding messages for `tier` ms: `<queue>.retry.<tier>`, and
 * `<queue>.retry.<tier>.quorum` when `queue` is a quorum queue (a name of its own, so
 * that a classic retry queue an earlier version declared never meets quorum arguments;
 * unused, it expires).
 */
export const retryQueueName = (
  queue: string,
  tier: number,
  queueType?: QueueTopology['queueType'],
): string => `${queue}.retry.${tier}${queueType === 'quorum' ? '.quorum' : ''}`;

/**
 * Arguments of a retry queue: messages expire after `tier` ms and are dead-lettered
 * through the default exchange straight back to `queue` (not through the original
 * exchange, which would copy them to every other queue bound there). A classic retry
 * queue expires when unused for twice its delay plus a minute; declaring it again before
 * each publish renews that lease, so it never expires with messages in it.
 *
 * A quorum queue's retry queues are quorum queues, for the reason its dead-letter queue
 * is one: a classic queue lives on one node, and while that node is down the messages
 * waiting in it are out of reach and no retry can be parked there. They dead-letter
 * at least once (`x-dead-letter-strategy`, which needs `x-overflow: reject-publish`): a
 * message leaves only once `queue` has taken it, so a node lost at that moment loses
 * nothing (RabbitMQ 3.10 or later). They do not expire: a quorum queue's `x-expires`
 * counts from its creation, a redeclaration does not renew it, and it deletes the queue
 * with whatever is parked in it. They stay, a few per queue (one per delay tier used).
 */
export function retryQueueArguments(
  queue: string,
  tier: number,
  queueType?: QueueTopology['queueType'],
): Record<string, unknown> {
  const back = {
    'x-message-ttl': tier,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': queue,
  };
  return queueType === 'quorum'
    ? {
        ...back,
        'x-queue-type': 'quorum',
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      }
    : { ...back, 'x-expires': tier * 2 + 60_000 };
}
