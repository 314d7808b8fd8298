import { defineProcessor, TransientError } from '@troupe/core';
import { pino } from 'pino';
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startProcessor, type ProcessorHarness } from '../src/index.js';

const logger = pino({ level: 'silent' });

/** Fails the first `failures` attempts of each message, transiently, then stores it. */
function flaky(failures: number) {
  const attempts: number[] = [];
  const definition = defineProcessor({
    name: 'flaky',
    queue: 'flaky',
    bindings: [{ exchange: 'tests', routingKey: 'flaky' }],
    schema: z.object({ id: z.string() }),
    handle: (message, { delivery }) => {
      attempts.push(delivery.attempt);
      if (delivery.attempt <= failures) throw new TransientError(`not yet (${delivery.attempt})`);
      return { collection: 'seen', key: message.id, document: message };
    },
    retry: { attempts: 3, backoff: { kind: 'fixed', delayMs: 5_000 } },
  });
  return { definition, attempts };
}

describe('startProcessor', () => {
  let app: ProcessorHarness | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  it('settled() advances a simulated clock through retry delays until the queue is quiet', async () => {
    const clock = new SimulatedClock();
    const { definition, attempts } = flaky(2);
    app = await startProcessor(definition, { logger, actorClock: clock });
    await app.publish({ id: 'a' });
    await app.settled();
    expect(attempts).toEqual([1, 2, 3]);
    // Two retry delays of 5 s went by on the simulated clock, none on the real one.
    expect(clock.now()).toBe(10_000);
    expect(await app.store.get('seen', 'a')).toMatchObject({ id: 'a' });
    expect(app.deadLetters()).toHaveLength(0);
  });

  it('dead-letters an exhausted retry with the documented reason format', async () => {
    const { definition } = flaky(5);
    app = await startProcessor(definition, { logger, actorClock: new SimulatedClock() });
    await app.publish({ id: 'b' }, { messageId: 'm-b' });
    await app.publish({ nope: true }, { messageId: 'm-invalid' });
    await app.settled();
    const reasons = Object.fromEntries(
      app.deadLetters().map((message) => [message.messageId, message.headers['x-troupe-reason']]),
    );
    expect(reasons['m-b']).toBe('retries exhausted after 3 attempts: TRANSIENT: not yet (3)');
    expect(reasons['m-invalid']).toMatch(/^INVALID_MESSAGE: /);
  });
});
