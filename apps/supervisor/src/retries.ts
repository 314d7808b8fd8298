// The `troupe retries` verb's internals: the messages of a queue that wait out a delayed
// retry, by retry queue (one per delay tier: `<queue>.retry.<ms>`, and
// `<queue>.retry.<ms>.quorum` for a quorum queue). Passive checks only: nothing is
// declared, taken or moved. Kept apart from the argument parsing so that tests run it
// in-process against the real broker.
import { retryQueueName, retryTiers } from '@troupe/amqp';
import { connect, type ChannelModel } from 'amqplib';

/** Options of {@link listRetryQueues}. */
export interface RetryListOptions {
  /** The broker URL. */
  readonly url: string;
  /** The processor's queue. */
  readonly queue: string;
  /** Receives each line of output. */
  readonly out: (line: string) => void;
}

/** One retry queue that exists. */
export interface RetryQueueDepth {
  readonly name: string;
  /** How long a message waits in it. */
  readonly delayMs: number;
  readonly type: 'classic' | 'quorum';
  /** Messages waiting in it (ready: a retry queue has no consumers). */
  readonly messages: number;
}

/** What the broker holds for `queue`'s delayed retries. */
export interface RetrySummary {
  readonly queues: readonly RetryQueueDepth[];
  /** Messages waiting in all of them. */
  readonly total: number;
}

/** Checks made at once, each on a channel of its own (a missing queue closes its channel). */
const checksAtOnce = 32;

/**
 * The broker's answer that a queue does not exist: 404, but not "home node … is down",
 * which is a classic queue that exists on a node the broker cannot reach.
 */
function isMissing(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === 404 && !(typeof message === 'string' && message.includes('home node'));
}

/** The messages in `name`, or undefined when it does not exist; any other failure throws. */
async function depthOf(model: ChannelModel, name: string): Promise<number | undefined> {
  const channel = await model.createChannel();
  channel.on('error', () => undefined);
  try {
    const { messageCount } = await channel.checkQueue(name);
    await channel.close().catch(() => undefined);
    return messageCount;
  } catch (error) {
    // A missing queue: the broker closed the channel. Anything else is the run's failure.
    if (isMissing(error)) return undefined;
    await channel.close().catch(() => undefined);
    throw new Error(
      `cannot check ${name}: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Lists `queue`'s retry queues with the messages waiting in each, shortest delay first.
 * Each candidate name (every delay tier, classic and quorum) is checked passively.
 */
export async function listRetryQueues({
  url,
  queue,
  out,
}: RetryListOptions): Promise<RetrySummary> {
  const candidates = retryTiers().flatMap((delayMs) =>
    (['classic', 'quorum'] as const).map((type) => ({
      name: retryQueueName(queue, delayMs, type),
      delayMs,
      type,
    })),
  );
  const model: ChannelModel = await connect(url);
  // A lost connection fails the checks in flight (they throw), so nothing is reported as
  // missing that was not seen missing.
  model.on('error', () => undefined);
  const found: RetryQueueDepth[] = [];
  try {
    if ((await depthOf(model, queue)) === undefined) throw new Error(`no queue ${queue}`);
    for (let at = 0; at < candidates.length; at += checksAtOnce) {
      const chunk = candidates.slice(at, at + checksAtOnce);
      const depths = await Promise.all(chunk.map(({ name }) => depthOf(model, name)));
      chunk.forEach((candidate, i) => {
        const messages = depths[i];
        if (messages !== undefined) found.push({ ...candidate, messages });
      });
    }
  } finally {
    await model.close().catch(() => undefined);
  }
  const total = found.reduce((sum, entry) => sum + entry.messages, 0);
  if (found.length === 0) {
    out(`${queue}: no retry queues (no message has waited out a delayed retry here)`);
  }
  for (const entry of found) {
    out(
      `${entry.name}  waits ${formatDelay(entry.delayMs)}  ${entry.type}  ${entry.messages} message${entry.messages === 1 ? '' : 's'}`,
    );
  }
  if (found.length > 0) {
    out(
      `${queue}: ${total} message${total === 1 ? '' : 's'} waiting in ${found.length} retry queue${found.length === 1 ? '' : 's'}`,
    );
  }
  return { queues: found, total };
}

/** `1500` → `1.5 s`, `120000` → `2 min`, `250000` → `4.2 min`, `250` → `250 ms`. */
function formatDelay(ms: number): string {
  const round = (value: number): number => Math.round(value * 10) / 10;
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${round(ms / 60_000)} min`;
  return `${round(ms / 3_600_000)} h`;
}
