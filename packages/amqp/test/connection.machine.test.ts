// The connection chart as a pure actor on a simulated clock, with a fake connection:
// connect, lose it, back off (a delayed transition, no sleep), reconnect, block and
// unblock, give up after the budget, close from any state.
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { connectionMachine, type ConnectionHandle } from '../src/index.js';

class FakeConnection extends EventEmitter implements ConnectionHandle {
  closed = false;
  close(): Promise<void> {
    this.closed = true;
    this.emit('close');
    return Promise.resolve();
  }
}

const logger = pino({ level: 'silent' });

function start(options: { failures?: number; maxAttempts?: number } = {}) {
  const clock = new SimulatedClock();
  const opened: FakeConnection[] = [];
  let failures = options.failures ?? 0;
  const actor = createActor(connectionMachine, {
    clock,
    input: {
      open: () => {
        if (failures > 0) {
          failures -= 1;
          return Promise.reject(new Error('ECONNREFUSED'));
        }
        const connection = new FakeConnection();
        opened.push(connection);
        return Promise.resolve(connection);
      },
      backoff: { kind: 'exponential', minMs: 100, maxMs: 1000, randomFactor: 0.5 },
      random: () => 0.5,
      logger,
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    },
  });
  const errors: unknown[] = [];
  actor.subscribe({ error: (err) => errors.push(err) });
  actor.start();
  return { actor, clock, opened, errors };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('connectionMachine', () => {
  it('aborts an open that takes longer than openTimeoutMs, and recovers', () => {
    const clock = new SimulatedClock();
    const signals: AbortSignal[] = [];
    const actor = createActor(connectionMachine, {
      clock,
      input: {
        open: (signal) => {
          signals.push(signal);
          return new Promise<never>(() => undefined); // a broker that never answers
        },
        backoff: { kind: 'fixed', delayMs: 100 },
        openTimeoutMs: 5000,
        logger,
      },
    });
    actor.subscribe({ error: () => undefined });
    actor.start();
    clock.increment(4999);
    expect(actor.getSnapshot().value).toBe('connecting');
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('recovering');
    expect(actor.getSnapshot().context.lastError).toBe('connection not ready in time');
    expect(signals[0]?.aborted).toBe(true);
    clock.increment(100);
    expect(actor.getSnapshot().value).toBe('connecting');
    expect(signals).toHaveLength(2);
    actor.stop();
  });

  it('connects, and recovers after a loss with a backoff delay on the actor clock', async () => {
    const { actor, clock, opened } = start();
    expect(actor.getSnapshot().value).toBe('connecting');
    await settle();
    expect(actor.getSnapshot().value).toEqual({ connected: 'flowing' });
    expect(actor.getSnapshot().context.generation).toBe(1);

    opened[0]?.emit('close', new Error('CONNECTION_FORCED'));
    expect(actor.getSnapshot().value).toBe('recovering');
    expect(actor.getSnapshot().context.lastError).toBe('CONNECTION_FORCED');
    // First retry: 100 ms × (1 + 0.5 × 0.5) = 125 ms.
    clock.increment(124);
    expect(actor.getSnapshot().value).toBe('recovering');
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('connecting');
    await settle();
    expect(actor.getSnapshot().value).toEqual({ connected: 'flowing' });
    expect(actor.getSnapshot().context).toMatchObject({ generation: 2, attempt: 0 });
  });

  it('backs off exponentially while the broker refuses, then resets', async () => {
    const { actor, clock } = start({ failures: 3 });
    await settle();
    expect(actor.getSnapshot().value).toBe('recovering');
    clock.increment(125); // attempt 1: 125 ms
    await settle();
    expect(actor.getSnapshot().context.attempt).toBe(2);
    clock.increment(249);
    expect(actor.getSnapshot().value).toBe('recovering');
    clock.increment(1); // attempt 2: 250 ms
    await settle();
    clock.increment(500); // attempt 3: 500 ms
    await settle();
    expect(actor.getSnapshot().value).toEqual({ connected: 'flowing' });
    expect(actor.getSnapshot().context.attempt).toBe(0);
  });

  it('is blocked and unblocked by the broker while connected', async () => {
    const { actor, opened } = start();
    await settle();
    opened[0]?.emit('blocked', 'low on memory');
    expect(actor.getSnapshot().value).toEqual({ connected: 'blocked' });
    expect(actor.getSnapshot().context.blockedReason).toBe('low on memory');
    opened[0]?.emit('unblocked');
    expect(actor.getSnapshot().value).toEqual({ connected: 'flowing' });
  });

  it('ignores the loss of a connection that is not the current one', async () => {
    const { actor, opened } = start();
    await settle();
    actor.send({ type: 'connection.recycle', connection: new FakeConnection(), reason: 'stale' });
    expect(actor.getSnapshot().value).toEqual({ connected: 'flowing' });
    actor.send({ type: 'connection.recycle', connection: opened[0]!, reason: 'consumer lost' });
    expect(actor.getSnapshot().value).toBe('recovering');
    expect(opened[0]?.closed).toBe(true);
  });

  it('fails after maxAttempts reconnections in a row', async () => {
    const { actor, clock, errors } = start({ failures: 10, maxAttempts: 2 });
    await settle();
    clock.increment(125);
    await settle();
    clock.increment(250);
    await settle();
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().output).toEqual({ exit: 'failed', reason: 'ECONNREFUSED' });
    expect(errors).toEqual([]);
  });

  it('closes from connected, and from recovering without waiting for the delay', async () => {
    const first = start();
    await settle();
    first.actor.send({ type: 'connection.close' });
    await settle();
    expect(first.actor.getSnapshot().value).toBe('closed');
    expect(first.opened[0]?.closed).toBe(true);
    expect(first.actor.getSnapshot().output).toEqual({ exit: 'closed' });

    const second = start({ failures: 1 });
    await settle();
    expect(second.actor.getSnapshot().value).toBe('recovering');
    second.actor.send({ type: 'connection.close' });
    expect(second.actor.getSnapshot().value).toBe('closed');
  });
});
