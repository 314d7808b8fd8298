// Opening the store at start-up on a simulated clock: transient failures are retried
// after the backoff (no time passes but the clock's), a permanent one ends it at once,
// and an abort stops the retries.
import { ConfigurationError, TransientError, type Store } from '@troupe/core';
import { MemoryStore } from '@troupe/memory';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { openStoreWithRetry } from '../src/store-opener.machine.js';

const logger = pino({ level: 'silent' });
const backoff = { kind: 'fixed', delayMs: 1000 } as const;

/** An `open` that fails with `failures` in turn, then opens a memory store. */
function flaky(failures: Error[]): { open: () => Promise<Store>; attempts: () => number } {
  let attempts = 0;
  return {
    open: () => {
      const failure = failures[attempts];
      attempts += 1;
      return failure === undefined ? Promise.resolve(new MemoryStore()) : Promise.reject(failure);
    },
    attempts: () => attempts,
  };
}

/** Lets the promises the chart waits on settle. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('openStoreWithRetry', () => {
  it('retries transient failures after the backoff, on the actor clock, reporting each', async () => {
    const clock = new SimulatedClock();
    const problems: (string | undefined)[] = [];
    const target = flaky([
      new TransientError('arangodb: unreachable: connect ECONNREFUSED 10.0.0.1:8529'),
      new TransientError('arangodb: unreachable: http://root:s3cr/et@db:8529 timed out'),
    ]);
    const opened = openStoreWithRetry({
      ...target,
      backoff,
      logger,
      clock,
      onProblem: (reason) => problems.push(reason),
    });
    await settle();
    expect(target.attempts()).toBe(1);
    clock.increment(999);
    await settle();
    expect(target.attempts()).toBe(1);
    clock.increment(1);
    await settle();
    expect(target.attempts()).toBe(2);
    clock.increment(1000);
    const store = await opened;
    expect(store).toBeInstanceOf(MemoryStore);
    expect(target.attempts()).toBe(3);
    expect(problems).toEqual([
      'arangodb: unreachable: connect ECONNREFUSED 10.0.0.1:8529',
      'arangodb: unreachable: http://root:***@db:8529 timed out',
      undefined,
    ]);
  });

  it('ends at the first permanent failure', async () => {
    const target = flaky([new ConfigurationError('url', 'bad'), new TransientError('never')]);
    await expect(
      openStoreWithRetry({ ...target, backoff, logger, clock: new SimulatedClock() }),
    ).rejects.toThrow('url: bad');
    expect(target.attempts()).toBe(1);
  });

  it('uses the given isTransient to decide', async () => {
    const target = flaky([new TransientError('EEXIST: mkdir')]);
    await expect(
      openStoreWithRetry({
        ...target,
        backoff,
        logger,
        clock: new SimulatedClock(),
        isTransient: () => false,
      }),
    ).rejects.toThrow('EEXIST');
  });

  it('stops retrying when aborted', async () => {
    const clock = new SimulatedClock();
    const controller = new AbortController();
    const target = flaky([new TransientError('down'), new TransientError('down')]);
    const opened = openStoreWithRetry({
      ...target,
      backoff,
      logger,
      clock,
      signal: controller.signal,
    });
    await settle();
    controller.abort(new Error('stopping'));
    await expect(opened).rejects.toThrow('stopping');
    clock.increment(10_000);
    await settle();
    expect(target.attempts()).toBe(1);
  });
});
