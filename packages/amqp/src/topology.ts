// Broker objects for a set of queue topologies: a durable topic exchange per binding
// exchange, each queue (classic or quorum, optionally single-active-consumer) with
// its bindings, and a direct dead-letter exchange with one `<queue>.dead` queue per
// queue, bound by the queue's name.
import type { QueueTopology } from '@troupe/core';
import type { Channel } from 'amqplib';

/** How queues are declared. */
export interface TopologyOptions {
  /** The direct exchange dead letters go through. */
  readonly deadLetterExchange: string;
  /** Deliveries of a quorum queue message before the broker dead-letters it. */
  readonly deliveryLimit: number;
}

/** The name of a queue's dead-letter queue. */
export const deadQueueName = (queue: string): string => `${queue}.dead`;

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
      ? { 'x-queue-type': 'quorum', 'x-delivery-limit': options.deliveryLimit }
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
    await channel.assertQueue(entry.queue, {
      durable: true,
      arguments: queueArguments(entry, options),
    });
    for (const binding of entry.bindings) {
      if (binding.exchange !== '') {
        await channel.bindQueue(entry.queue, binding.exchange, binding.routingKey);
      }
    }
    const dead = deadQueueName(entry.queue);
    await channel.assertQueue(dead, { durable: true });
    await channel.bindQueue(dead, options.deadLetterExchange, entry.queue);
  }
}
