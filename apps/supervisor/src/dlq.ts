// The `troupe dlq` verbs' internals: listing a queue's dead letters (taking nothing
// away) and replaying them into the queue. Kept apart from the argument parsing so
// that tests run them in-process against the real broker.
import { deadLetterHeaders } from '@troupe/amqp';
import { connect } from 'amqplib';

/** Options of {@link listDeadLetters} and {@link replayDeadLetters}. */
export interface DeadLetterOptions {
  /** The broker URL. */
  readonly url: string;
  /** A queue, or its dead-letter queue (`<queue>.dead`). */
  readonly queue: string;
  /** At most this many messages. @default Infinity */
  readonly limit?: number;
  /** Receives each line of output. */
  readonly out: (line: string) => void;
}

/** What a run did. */
export interface DeadLetterSummary {
  readonly count: number;
}

/** Lists the dead letters of `queue` with their reasons; every one stays in the queue. */
export function listDeadLetters(options: DeadLetterOptions): Promise<DeadLetterSummary> {
  return run('list', options);
}

/** Replays the dead letters of `queue` into it, without their dead-letter headers. */
export function replayDeadLetters(options: DeadLetterOptions): Promise<DeadLetterSummary> {
  return run('replay', options);
}

async function run(
  action: 'list' | 'replay',
  { url, queue, limit = Infinity, out }: DeadLetterOptions,
): Promise<DeadLetterSummary> {
  const dead = queue.endsWith('.dead') ? queue : `${queue}.dead`;
  const target = dead.slice(0, -'.dead'.length);
  const model = await connect(url);
  // A failed check closes the channel with an error event; the awaited call reports it.
  model.on('error', () => undefined);
  try {
    const channel = await model.createConfirmChannel();
    channel.on('error', () => undefined);
    await channel.checkQueue(dead).catch((error: unknown) => {
      throw new Error(`no dead-letter queue ${dead}`, { cause: error });
    });
    if (action === 'replay') {
      // Replaying into a queue that is not there would drop every message.
      await channel.checkQueue(target).catch((error: unknown) => {
        throw new Error(`no queue ${target} to replay into`, { cause: error });
      });
    }
    let count = 0;
    const held = [];
    while (count < limit) {
      const message = await channel.get(dead, { noAck: false });
      if (message === false) break;
      count += 1;
      const headers = message.properties.headers ?? {};
      if (action === 'list') {
        held.push(message);
        out(
          JSON.stringify({
            messageId: message.properties.messageId as unknown,
            reason: headers[deadLetterHeaders.reason] as unknown,
            processor: headers[deadLetterHeaders.processor] as unknown,
            attempts: headers[deadLetterHeaders.attempts] as unknown,
            routingKey: headers[deadLetterHeaders.routingKey] as unknown,
            body: message.content.toString('utf8').slice(0, 200),
          }),
        );
      } else {
        // Replayed as it first arrived: the dead-letter headers go, the rest stays.
        const replayed = Object.fromEntries(
          Object.entries(headers).filter(
            ([name]) =>
              !name.startsWith('x-troupe-') &&
              !name.startsWith('x-death') &&
              !name.startsWith('x-first-death-') &&
              !name.startsWith('x-last-death-') &&
              name !== 'x-delivery-count',
          ),
        );
        channel.sendToQueue(target, message.content, {
          ...message.properties,
          headers: replayed,
        });
        await channel.waitForConfirms();
        channel.ack(message);
      }
    }
    // Listing takes nothing away: every message goes back to the dead-letter queue.
    for (const message of held) channel.nack(message, false, true);
    await channel.close();
    out(
      action === 'list'
        ? `${count} dead letter(s) in ${dead}`
        : `replayed ${count} message(s) from ${dead} to ${target}`,
    );
    return { count };
  } finally {
    await model.close().catch(() => undefined);
  }
}
