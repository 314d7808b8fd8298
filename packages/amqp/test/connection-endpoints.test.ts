// Several broker addresses (the nodes of a cluster) in the connection chart, as a pure
// actor on a simulated clock with fake connections: which node each attempt goes to (in
// order, or at random), the node named in the context, failures classified, and a
// refused login that gives up at once when asked to.
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { connectionMachine, type ConnectionHandle, type EndpointOrder } from '../src/index.js';

class FakeConnection extends EventEmitter implements ConnectionHandle {
  close(): Promise<void> {
    this.emit('close');
    return Promise.resolve();
  }
}

const logger = pino({ level: 'silent' });
const nodes = ['amqp://app:***@a:5672/', 'amqp://app:***@b:5672/', 'amqp://app:***@c:5672/'];
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Each node is down while its entry in `down` is true; `tried` records every attempt. */
function start(
  options: {
    order?: EndpointOrder;
    random?: () => number;
    down?: boolean[];
    error?: () => Error;
    retryOnLoginRefused?: boolean;
  } = {},
) {
  const clock = new SimulatedClock();
  const down = options.down ?? [false, false, false];
  const tried: number[] = [];
  const opened: FakeConnection[] = [];
  const actor = createActor(connectionMachine, {
    clock,
    input: {
      open: (_signal, endpoint) => {
        tried.push(endpoint);
        if (down[endpoint] === true) {
          return Promise.reject(
            options.error?.() ??
              Object.assign(new Error(`connect ECONNREFUSED ${endpoint}`), {
                code: 'ECONNREFUSED',
              }),
          );
        }
        const connection = new FakeConnection();
        opened.push(connection);
        return Promise.resolve(connection);
      },
      endpoints: nodes,
      endpointOrder: options.order ?? 'in-order',
      backoff: { kind: 'fixed', delayMs: 100 },
      random: options.random ?? (() => 0.5),
      logger,
      ...(options.retryOnLoginRefused === undefined
        ? {}
        : { retryOnLoginRefused: options.retryOnLoginRefused }),
    },
  });
  actor.start();
  return { actor, clock, tried, opened, down };
}

describe('connectionMachine with several broker addresses', () => {
  it('in order: starts with the first node and names it in the context', async () => {
    const { actor, tried } = start();
    await settle();
    expect(actor.getSnapshot().value).toEqual({ connected: 'flowing' });
    expect(tried).toEqual([0]);
    expect(actor.getSnapshot().context.node).toBe(nodes[0]);
  });

  it('in order: moves on to the next node after a refused attempt, wrapping around', async () => {
    const { actor, clock, tried } = start({ down: [true, true, false] });
    await settle();
    expect(actor.getSnapshot().value).toBe('recovering');
    expect(actor.getSnapshot().context.lastFailure?.kind).toBe('connection-refused');
    clock.increment(100);
    await settle();
    clock.increment(100);
    await settle();
    expect(tried).toEqual([0, 1, 2]);
    expect(actor.getSnapshot().value).toEqual({ connected: 'flowing' });
    expect(actor.getSnapshot().context.node).toBe(nodes[2]);
    expect(actor.getSnapshot().context.lastFailure).toBeUndefined();
  });

  it('in order: a lost connection reconnects to another node', async () => {
    const { actor, clock, tried, opened, down } = start();
    await settle();
    down[0] = true;
    opened[0]?.emit('close', new Error('CONNECTION_FORCED - broker forced connection closure'));
    expect(actor.getSnapshot().value).toBe('recovering');
    expect(actor.getSnapshot().context.lastFailure?.kind).toBe('lost');
    clock.increment(100);
    await settle();
    expect(tried).toEqual([0, 1]);
    expect(actor.getSnapshot().context).toMatchObject({ node: nodes[1], generation: 2 });
  });

  it('random: starts at a random node and never retries the node that just failed first', async () => {
    // random() = 0.9: the first pick is node 2 of 3; after node 2 fails, 0.9 of the two
    // others is node 1; after node 1 fails, node 2 again.
    const { actor, clock, tried } = start({
      order: 'random',
      random: () => 0.9,
      down: [false, true, true],
    });
    await settle();
    clock.increment(100);
    await settle();
    clock.increment(100);
    await settle();
    expect(tried).toEqual([2, 1, 2]);
    expect(tried.every((node, i) => i === 0 || node !== tried[i - 1])).toBe(true);
    expect(actor.getSnapshot().value).toBe('recovering');
  });

  it('random: reaches every node over many attempts', async () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 16_807) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const { clock, tried } = start({ order: 'random', random, down: [true, true, true] });
    for (let i = 0; i < 30; i += 1) {
      await settle();
      clock.increment(100);
    }
    expect(new Set(tried)).toEqual(new Set([0, 1, 2]));
  });

  const loginRefused = (): Error =>
    new Error(
      'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN."',
    );

  it('keeps retrying a refused login by default, and says it was a refused login', async () => {
    const { actor, clock, tried } = start({ down: [true, true, true], error: loginRefused });
    await settle();
    expect(actor.getSnapshot().context.lastFailure?.kind).toBe('login-refused');
    clock.increment(100);
    await settle();
    expect(tried).toHaveLength(2);
    expect(actor.getSnapshot().status).toBe('active');
  });

  it('gives up at once on a refused login when retryOnLoginRefused is false', async () => {
    const { actor, tried } = start({
      down: [true, true, true],
      error: loginRefused,
      retryOnLoginRefused: false,
    });
    await settle();
    expect(actor.getSnapshot().value).toBe('failed');
    expect(tried).toEqual([0]);
    expect(actor.getSnapshot().output).toEqual({
      exit: 'failed',
      reason: expect.stringContaining('ACCESS_REFUSED') as unknown,
    });
  });

  it('still retries other failures when retryOnLoginRefused is false', async () => {
    const { actor } = start({ down: [true, true, true], retryOnLoginRefused: false });
    await settle();
    expect(actor.getSnapshot().value).toBe('recovering');
  });
});
