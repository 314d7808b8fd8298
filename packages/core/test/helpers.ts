// Test doubles for core's unit tests: a delivery that records how it was settled, a
// silent logger, and a helper that lets pending promise callbacks run.
import { pino, type Logger } from 'pino';
import type { DeadLetterInfo, Delivery } from '../src/index.js';

export type Settlement =
  | { kind: 'ack' }
  | { kind: 'requeue' }
  | { kind: 'dead-letter'; info: DeadLetterInfo }
  | { kind: 'retry-later'; delayMs: number; attempts: number };

export interface RecordingDelivery extends Delivery {
  readonly settlements: Settlement[];
}

let counter = 0;

/** A delivery whose settlements are recorded (all of them: a second one would show). */
export function recordingDelivery(
  body: unknown,
  overrides: Partial<Pick<Delivery, 'contentType' | 'previousAttempts' | 'redelivered'>> & {
    /** Offer delayed redelivery, as the AMQP transport does. */
    readonly delayedRedelivery?: boolean;
  } = {},
): RecordingDelivery {
  const settlements: Settlement[] = [];
  counter += 1;
  return {
    messageId: `m-${counter}`,
    correlationId: undefined,
    routingKey: 'test.key',
    body: typeof body === 'string' ? Buffer.from(body) : Buffer.from(JSON.stringify(body)),
    headers: {},
    contentType: overrides.contentType ?? 'application/json',
    previousAttempts: overrides.previousAttempts ?? 0,
    redelivered: overrides.redelivered ?? false,
    settlements,
    ack: () => settlements.push({ kind: 'ack' }),
    requeue: () => settlements.push({ kind: 'requeue' }),
    deadLetter: (info) => settlements.push({ kind: 'dead-letter', info }),
    ...(overrides.delayedRedelivery === true
      ? {
          retryLater: (delayMs: number, attempts: number) =>
            settlements.push({ kind: 'retry-later', delayMs, attempts }),
        }
      : {}),
  };
}

export const silentLogger: Logger = pino({ level: 'silent' });

/** Lets queued promise callbacks and actor mailboxes run (no wall-clock wait). */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}
