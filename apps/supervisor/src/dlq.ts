// The `troupe dlq` verbs' internals: listing a queue's dead letters (taking nothing
// away) and replaying them into the queue. Kept apart from the argument parsing so
// that tests run them in-process against the real broker.
//
// Both take at most the depth the dead-letter queue had when they started: while the
// app runs, still-invalid replayed messages are dead-lettered again behind them, and a
// run that read until the queue was empty would never end. A replayed message that
// comes round again in the same run is left where it is. A replayed copy carries only
// the headers the wire contract lets a copy carry (no CC/BCC, no broker history, no
// Troupe headers, nothing nested too deep).
import { copyOptions, deadLetterHeaders } from '@troupe/amqp';
import { headerProblem } from '@troupe/core';
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
  /** Messages listed or replayed. */
  readonly count: number;
  /** The dead-letter queue's depth when the run started (its upper bound). */
  readonly depth: number;
}

/** Replay reports its progress every this many messages (and at the end). */
const progressEvery = 100;

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
    const { messageCount: depth } = await channel.checkQueue(dead);
    const bound = Math.min(limit, depth);
    let count = 0;
    const held = [];
    const replayedIds = new Set<string>();
    while (count < bound) {
      const message = await channel.get(dead, { noAck: false });
      if (message === false) break;
      const headers = message.properties.headers ?? {};
      const messageId: unknown = message.properties.messageId;
      if (action === 'list') {
        count += 1;
        held.push(message);
        const problem = headerProblem(headers);
        out(
          JSON.stringify({
            messageId,
            reason: headers[deadLetterHeaders.reason] as unknown,
            processor: headers[deadLetterHeaders.processor] as unknown,
            attempts: headers[deadLetterHeaders.attempts] as unknown,
            routingKey: headers[deadLetterHeaders.routingKey] as unknown,
            ...(problem === undefined ? {} : { problem }),
            body: message.content.toString('utf8').slice(0, 200),
          }),
        );
        continue;
      }
      if (typeof messageId === 'string' && replayedIds.has(messageId)) {
        // Replayed in this run and dead again: not replayed twice. Back where it was.
        channel.nack(message, false, true);
        out(`${messageId} died again after its replay; left in ${dead}`);
        break;
      }
      const problem = headerProblem(headers);
      if (problem !== undefined) {
        out(`${String(messageId)}: ${problem}; replayed without it`);
      }
      // Replayed as it first arrived, as a copy Troupe makes: Troupe's and the broker's
      // headers go, and so do CC/BCC (which would copy it into other queues).
      channel.sendToQueue(target, message.content, copyOptions(message, {}));
      await channel.waitForConfirms();
      channel.ack(message);
      count += 1;
      if (typeof messageId === 'string') replayedIds.add(messageId);
      if (count === 1 || count % progressEvery === 0) {
        out(`replayed ${count} of ${bound} message(s)`);
      }
    }
    // Listing takes nothing away: every message goes back to the dead-letter queue.
    for (const message of held) channel.nack(message, false, true);
    await channel.close();
    out(
      action === 'list'
        ? `${count} dead letter(s) in ${dead}`
        : `replayed ${count} of ${bound} message(s) from ${dead} to ${target}`,
    );
    return { count, depth };
  } finally {
    await model.close().catch(() => undefined);
  }
}
