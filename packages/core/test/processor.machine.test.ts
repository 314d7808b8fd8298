// The processor chart as a running actor on a simulated clock: every row of the
// DESIGN.md table, with its effect on the delivery (ack, dead-letter, requeue), and
// the exactly-once settlement guarantee. No test waits on the wall clock.
import { createActor, SimulatedClock } from 'xstate';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineProcessor,
  InvalidMessageError,
  PermanentError,
  processorMachine,
  TransientError,
  type AnyProcessorDefinition,
  type ProcessorObserver,
  type RetryOptions,
} from '../src/index.js';
import { flush, recordingDelivery, silentLogger, type RecordingDelivery } from './helpers.js';
import { MemoryTestStore } from './memory-test-store.js';

const schema = z.object({ id: z.string().min(1), version: z.number().int() });

interface Harness {
  readonly actor: ReturnType<typeof createActor<typeof processorMachine>>;
  readonly clock: SimulatedClock;
  readonly store: MemoryTestStore;
  state(): unknown;
  deliver(delivery: RecordingDelivery): Promise<void>;
  advance(ms: number): Promise<void>;
}

function harness(
  definition: AnyProcessorDefinition,
  store = new MemoryTestStore(),
  observer?: ProcessorObserver,
  logger = silentLogger,
): Harness {
  const clock = new SimulatedClock();
  const actor = createActor(processorMachine, {
    clock,
    input: { definition, store, logger, random: () => 0.5, observer },
  });
  actor.subscribe({ error: () => undefined });
  actor.start();
  return {
    actor,
    clock,
    store,
    state: () => actor.getSnapshot().value,
    deliver: async (delivery) => {
      actor.send({
        type: 'batch.received',
        deliveries: [delivery],
        messageIds: [delivery.messageId],
      });
      await flush();
    },
    advance: async (ms) => {
      clock.increment(ms);
      await flush();
    },
  };
}

/** A processor whose handler runs `behaviour` per attempt (1-based). */
function processor(
  behaviour: (attempt: number, signal: AbortSignal) => unknown,
  retry: RetryOptions = {},
  extra: { persist?: (result: unknown) => Promise<void>; timeoutMs?: number } = {},
): AnyProcessorDefinition & { calls: { handle: number; persist: number } } {
  const calls = { handle: 0, persist: 0 };
  const base = {
    name: 'test-processor',
    queue: 'test.queue',
    bindings: [],
    schema,
    retry,
    ...(extra.timeoutMs === undefined ? {} : { timeoutMs: extra.timeoutMs }),
  };
  const handle = (message: z.infer<typeof schema>, ctx: { signal: AbortSignal }) => {
    calls.handle += 1;
    return (
      behaviour(calls.handle, ctx.signal) ?? {
        collection: 'docs',
        key: message.id,
        document: message,
        ifNewer: 'version',
      }
    );
  };
  const definition =
    extra.persist === undefined
      ? defineProcessor({
          ...base,
          handle: handle as never,
        })
      : defineProcessor({
          ...base,
          handle,
          persist: async (result) => {
            calls.persist += 1;
            await extra.persist?.(result);
          },
        });
  return Object.assign(definition as AnyProcessorDefinition, { calls });
}

describe('processor chart: happy path', () => {
  it('idle → consuming → persisting → idle, storing the result and acking once', async () => {
    const h = harness(processor(() => undefined));
    expect(h.state()).toBe('idle');
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(h.state()).toBe('idle');
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
    expect(await h.store.get('docs', 'a')).toMatchObject({ id: 'a', version: 1 });
  });

  it('a batch with nothing to store is settled in the step that received it (no store call, no persist event)', () => {
    const store = new MemoryTestStore();
    const definition = defineProcessor({
      name: 'no-writes',
      queue: 'q',
      bindings: [],
      schema,
      handle: () => undefined,
    });
    const actor = createActor(processorMachine, {
      input: { definition, store, logger: silentLogger },
    });
    const events: string[] = [];
    actor.system.inspect((event) => {
      if (event.type === '@xstate.event') events.push(event.event.type);
    });
    actor.start();
    const deliveries = [
      recordingDelivery({ id: 'a', version: 1 }),
      recordingDelivery({ id: 'b', version: 1 }),
    ];
    actor.send({
      type: 'batch.received',
      deliveries,
      messageIds: deliveries.map((delivery) => delivery.messageId),
    });
    // Synchronously: no promise was awaited between the batch and its acks.
    expect(actor.getSnapshot().value).toBe('idle');
    expect(deliveries.map((delivery) => delivery.settlements)).toEqual([
      [{ kind: 'ack' }],
      [{ kind: 'ack' }],
    ]);
    expect(events.filter((type) => type !== 'xstate.init')).toEqual(['batch.received']);
    actor.stop();
  });

  it('an idle worker keeps no reference to the deliveries of the batch it settled', async () => {
    // A settled batch held until the next one arrives keeps its deliveries (and on
    // RabbitMQ the socket chunks their bodies are slices of) alive across garbage
    // collections: at a broker's pace they are promoted to the old generation.
    const reachable = (root: unknown, targets: ReadonlySet<object>): boolean => {
      const seen = new Set<unknown>();
      const stack: unknown[] = [root];
      while (stack.length > 0) {
        const value = stack.pop();
        if (value === null || typeof value !== 'object' || seen.has(value)) continue;
        seen.add(value);
        if (targets.has(value)) return true;
        if (value instanceof Map) stack.push(...value.keys(), ...value.values());
        else if (value instanceof Set) stack.push(...value);
        for (const key of Reflect.ownKeys(value)) {
          stack.push((value as Record<PropertyKey, unknown>)[key]);
        }
      }
      return false;
    };
    const held = (h: Harness): ((deliveries: readonly RecordingDelivery[]) => boolean) => {
      return (deliveries) => {
        // What the worker carries from batch to batch; its configuration is left out.
        const { definition, store, log, dispatcher, observer, random, ...carried } =
          h.actor.getSnapshot().context;
        void [definition, store, log, dispatcher, observer, random];
        return reachable(carried, new Set(deliveries));
      };
    };
    // Stored, then acked.
    const stored = harness(processor(() => undefined));
    const first = recordingDelivery({ id: 'a', version: 1 });
    await stored.deliver(first);
    expect(first.settlements).toEqual([{ kind: 'ack' }]);
    expect(stored.state()).toBe('idle');
    expect(held(stored)([first])).toBe(false);
    // Failed once, retried on the clock, then acked.
    let attempts = 0;
    const retried = harness(
      processor(() => {
        attempts += 1;
        if (attempts === 1) throw new TransientError('once');
        return undefined;
      }),
    );
    const second = recordingDelivery({ id: 'b', version: 1 });
    await retried.deliver(second);
    await retried.advance(60_000);
    expect(second.settlements).toEqual([{ kind: 'ack' }]);
    expect(retried.state()).toBe('idle');
    expect(held(retried)([second])).toBe(false);
    // Dead-lettered.
    const refused = harness(processor(() => undefined));
    const third = recordingDelivery({ id: '', version: 1 });
    await refused.deliver(third);
    expect(third.settlements.map((settlement) => settlement.kind)).toEqual(['dead-letter']);
    expect(held(refused)([third])).toBe(false);
  });

  it('types flow from the schema to the handler and from the handler to persist', () => {
    const definition = defineProcessor({
      name: 'typed',
      queue: 'q',
      bindings: [],
      schema,
      handle: (message) => ({ upper: message.id.toUpperCase(), version: message.version }),
      persist: (result) => {
        // `result` is inferred from the handler: these lines fail to typecheck otherwise.
        const upper: string = result.upper;
        const version: number = result.version;
        expect(typeof upper).toBe('string');
        expect(typeof version).toBe('number');
      },
    });
    expect(definition.name).toBe('typed');
  });
});

describe('processor chart: invalid messages', () => {
  it.each([
    ['bad JSON', '{"id": "a",', 'INVALID_MESSAGE'],
    ['schema failure', JSON.stringify({ id: '', version: 'x' }), 'INVALID_MESSAGE'],
  ])('%s: dead-lettered with the reason, never retried', async (_name, body, code) => {
    const definition = processor(() => undefined);
    const h = harness(definition);
    const delivery = recordingDelivery(body);
    await h.deliver(delivery);
    expect(h.state()).toBe('idle');
    expect(definition.calls.handle).toBe(0);
    expect(delivery.settlements).toHaveLength(1);
    const [settlement] = delivery.settlements;
    expect(settlement?.kind).toBe('dead-letter');
    if (settlement?.kind === 'dead-letter') {
      expect(settlement.info.reason.startsWith(code)).toBe(true);
      expect(settlement.info).toMatchObject({ processor: 'test-processor', attempts: 1 });
    }
  });

  it('a wrong content type is dead-lettered', async () => {
    const h = harness(processor(() => undefined));
    const delivery = recordingDelivery({ id: 'a', version: 1 }, { contentType: 'text/xml' });
    await h.deliver(delivery);
    expect(delivery.settlements[0]?.kind).toBe('dead-letter');
  });

  it('a permanent error from the handler is dead-lettered at once', async () => {
    const definition = processor(() => {
      throw new PermanentError('no such tenant');
    });
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(definition.calls.handle).toBe(1);
    expect(delivery.settlements).toMatchObject([
      { kind: 'dead-letter', info: { reason: 'PERMANENT: no such tenant', attempts: 1 } },
    ]);
  });

  it('an InvalidMessageError thrown by the handler is dead-lettered at once', async () => {
    const h = harness(
      processor(() => {
        throw new InvalidMessageError('unknown country code');
      }),
    );
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(delivery.settlements[0]?.kind).toBe('dead-letter');
  });
});

describe('processor chart: retries on the simulated clock', () => {
  it('retries a transient failure after the default 3 s, not before', async () => {
    const definition = processor((attempt) => {
      if (attempt < 3) throw new TransientError('db busy');
      return undefined;
    });
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(h.state()).toBe('retrying');
    expect(h.actor.getSnapshot().context.slot.entries[0]?.attempt).toBe(1);
    await h.advance(2999);
    expect(definition.calls.handle).toBe(1);
    expect(h.state()).toBe('retrying');
    await h.advance(1);
    expect(definition.calls.handle).toBe(2);
    expect(h.state()).toBe('retrying');
    await h.advance(3000);
    expect(definition.calls.handle).toBe(3);
    expect(h.state()).toBe('idle');
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });

  it('an unknown thrown value is treated as transient', async () => {
    const definition = processor((attempt) => {
      if (attempt === 1) throw new Error('ECONNRESET');
      return undefined;
    });
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(h.state()).toBe('retrying');
    await h.advance(3000);
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });

  it('dead-letters after the policy attempts are spent (default 5)', async () => {
    const definition = processor(() => {
      throw new TransientError('still down');
    });
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    for (let i = 0; i < 4; i += 1) await h.advance(3000);
    expect(definition.calls.handle).toBe(5);
    expect(h.state()).toBe('idle');
    expect(delivery.settlements).toHaveLength(1);
    expect(delivery.settlements[0]).toMatchObject({
      kind: 'dead-letter',
      info: { attempts: 5, processor: 'test-processor' },
    });
    const settlement = delivery.settlements[0];
    if (settlement?.kind === 'dead-letter') {
      expect(settlement.info.reason).toMatch(/^retries exhausted after 5 attempts: TRANSIENT/);
    }
  });

  it('counts attempts already made elsewhere (delayed redelivery)', async () => {
    const definition = processor(() => {
      throw new TransientError('down');
    });
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 }, { previousAttempts: 4 });
    await h.deliver(delivery);
    expect(definition.calls.handle).toBe(1);
    expect(delivery.settlements[0]).toMatchObject({ kind: 'dead-letter', info: { attempts: 5 } });
  });

  it('follows exponential backoff with a cap', async () => {
    const definition = processor(
      (attempt) => {
        if (attempt < 4) throw new TransientError('down');
        return undefined;
      },
      { attempts: 5, backoff: { kind: 'exponential', minMs: 100, maxMs: 250 } },
    );
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    const delays: number[] = [];
    while (h.state() === 'retrying') {
      delays.push(h.actor.getSnapshot().context.slot.plan?.delayMs ?? 0);
      await h.advance(h.actor.getSnapshot().context.slot.plan?.delayMs ?? 0);
    }
    expect(delays).toEqual([100, 200, 250]);
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });

  it("escalates when exhausted with onExhausted 'escalate': failed, delivery requeued", async () => {
    const definition = processor(
      () => {
        throw new TransientError('down');
      },
      { attempts: 2, backoff: { kind: 'fixed', delayMs: 10 }, onExhausted: 'escalate' },
    );
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    await h.advance(10);
    const snapshot = h.actor.getSnapshot();
    expect(snapshot.value).toBe('failed');
    expect(snapshot.status).toBe('done');
    expect(snapshot.output).toMatchObject({ exit: 'failed' });
    expect(snapshot.output?.reason).toMatch(/retries exhausted after 2 attempts/);
    expect(delivery.settlements).toEqual([{ kind: 'requeue' }]);
  });
});

describe('processor chart: persisting', () => {
  it('retries the persist step alone: the handler is not run again', async () => {
    let persistFailures = 2;
    const definition = processor(
      () => ({ ok: true }),
      {},
      {
        persist: () => {
          if (persistFailures > 0) {
            persistFailures -= 1;
            return Promise.reject(new TransientError('store unavailable'));
          }
          return Promise.resolve();
        },
      },
    );
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(h.state()).toBe('retrying');
    expect(h.actor.getSnapshot().context.slot.entries[0]?.failedStep).toBe('persist');
    await h.advance(3000);
    expect(h.state()).toBe('retrying');
    await h.advance(3000);
    expect(h.state()).toBe('idle');
    expect(definition.calls).toEqual({ handle: 1, persist: 3 });
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });

  it('a redelivered message with an older version changes nothing', async () => {
    const store = new MemoryTestStore();
    const h = harness(
      processor(() => undefined),
      store,
    );
    await h.deliver(recordingDelivery({ id: 'a', version: 2 }));
    const stale = recordingDelivery({ id: 'a', version: 1 }, { redelivered: true });
    await h.deliver(stale);
    expect(stale.settlements).toEqual([{ kind: 'ack' }]);
    expect(await store.get('docs', 'a')).toMatchObject({ version: 2 });
  });
});

describe('processor chart: timeouts, cancel and shutdown', () => {
  it('aborts the handler when it times out and retries', async () => {
    const signals: AbortSignal[] = [];
    const definition = processor(
      (attempt, signal) => {
        signals.push(signal);
        if (attempt === 1) return new Promise(() => undefined); // hangs
        return undefined;
      },
      {},
      { timeoutMs: 1000 },
    );
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(h.state()).toEqual({ consuming: 'handling' });
    await h.advance(999);
    expect(signals[0]?.aborted).toBe(false);
    await h.advance(1);
    expect(signals[0]?.aborted).toBe(true);
    expect(h.state()).toBe('retrying');
    expect(h.actor.getSnapshot().context.slot.entries[0]?.error?.code).toBe('HANDLER_TIMEOUT');
    await h.advance(3000);
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });

  it('times out a hung persist step: its signal is aborted and the batch retried', async () => {
    const signals: AbortSignal[] = [];
    let persists = 0;
    const definition = defineProcessor({
      name: 'test-processor',
      queue: 'test.queue',
      bindings: [],
      schema,
      handle: (message) => message,
      persistTimeoutMs: 500,
      persistBatch: (entries, { signal }) => {
        signals.push(signal);
        persists += 1;
        if (persists === 1) return new Promise(() => undefined); // hangs
        return Promise.resolve(entries.map(() => ({ ok: true as const })));
      },
    });
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(h.state()).toBe('persisting');
    await h.advance(499);
    expect(signals[0]?.aborted).toBe(false);
    await h.advance(1);
    expect(signals[0]?.aborted).toBe(true);
    expect(h.state()).toBe('retrying');
    expect(h.actor.getSnapshot().context.slot.entries[0]?.error?.message).toMatch(
      /persist step timed out after 500 ms/,
    );
    await h.advance(3000);
    expect(persists).toBe(2);
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });

  it('arms no timer for steps that return at once, and cancels those it armed', async () => {
    let release: (() => void) | undefined;
    const h = harness(
      processor(
        (attempt) =>
          attempt === 1
            ? new Promise<undefined>((resolve) => {
                release = () => resolve(undefined);
              })
            : undefined,
        {},
        { timeoutMs: 1000 },
      ),
    );
    const scheduled = (): number =>
      Object.keys(h.actor.system.getSnapshot()._scheduledEvents).length;
    const first = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(first);
    expect(h.state()).toEqual({ consuming: 'handling' });
    expect(scheduled()).toBe(1);
    release?.();
    await flush();
    expect(first.settlements).toEqual([{ kind: 'ack' }]);
    expect(scheduled()).toBe(0);
    const second = recordingDelivery({ id: 'b', version: 1 });
    await h.deliver(second);
    expect(second.settlements).toEqual([{ kind: 'ack' }]);
    expect(scheduled()).toBe(0);
  });

  it('ignores a result that arrives after the timeout (stale run)', async () => {
    let lateResolve: ((value: undefined) => void) | undefined;
    const definition = processor(
      (attempt) => {
        if (attempt === 1) {
          return new Promise<undefined>((resolve) => {
            lateResolve = resolve;
          });
        }
        return new Promise(() => undefined); // the retry hangs
      },
      {},
      { timeoutMs: 1000 },
    );
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    await h.advance(1000);
    await h.advance(3000);
    expect(h.state()).toEqual({ consuming: 'handling' });
    lateResolve?.(undefined);
    await flush();
    // The first run's late success must not move the second run on.
    expect(h.state()).toEqual({ consuming: 'handling' });
    // Nor may an event stamped with an older run number, whoever sends it.
    const { run } = h.actor.getSnapshot().context.slot;
    h.actor.send({ type: 'handler.settled', run: run - 1 });
    h.actor.send({ type: 'persist.settled', run: run - 1 });
    await flush();
    expect(h.state()).toEqual({ consuming: 'handling' });
    expect(delivery.settlements).toEqual([]);
  });

  it('cancel aborts the handler, requeues the delivery and returns to idle', async () => {
    let seen: AbortSignal | undefined;
    const h = harness(
      processor((_attempt, signal) => {
        seen = signal;
        return new Promise(() => undefined);
      }),
    );
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    h.actor.send({ type: 'cancel' });
    await flush();
    expect(seen?.aborted).toBe(true);
    expect(h.state()).toBe('idle');
    expect(delivery.settlements).toEqual([{ kind: 'requeue' }]);
  });

  it('cancel while waiting to retry requeues without another attempt', async () => {
    const definition = processor(() => {
      throw new TransientError('down');
    });
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    h.actor.send({ type: 'cancel' });
    await h.advance(10_000);
    expect(definition.calls.handle).toBe(1);
    expect(delivery.settlements).toEqual([{ kind: 'requeue' }]);
  });

  it('stopping the actor mid-handler aborts it and requeues the delivery', async () => {
    let seen: AbortSignal | undefined;
    const h = harness(
      processor((_attempt, signal) => {
        seen = signal;
        return new Promise(() => undefined);
      }),
    );
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    h.actor.stop();
    expect(seen?.aborted).toBe(true);
    expect(delivery.settlements).toEqual([{ kind: 'requeue' }]);
  });

  it('after shutdown, finishes the current delivery and refuses new ones', async () => {
    let finish: (() => void) | undefined;
    const h = harness(
      processor(
        () =>
          new Promise<undefined>((resolve) => {
            finish = () => resolve(undefined);
          }),
      ),
    );
    const first = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(first);
    h.actor.send({ type: 'shutdown' });
    const second = recordingDelivery({ id: 'b', version: 1 });
    await h.deliver(second);
    expect(second.settlements).toEqual([{ kind: 'requeue' }]);
    finish?.();
    await flush();
    expect(first.settlements).toEqual([{ kind: 'ack' }]);
    const third = recordingDelivery({ id: 'c', version: 1 });
    await h.deliver(third);
    expect(third.settlements).toEqual([{ kind: 'requeue' }]);
    expect(h.state()).toBe('idle');
  });

  it('settles every delivery exactly once under a storm of events', async () => {
    const definition = processor((attempt) => {
      if (attempt % 2 === 1) throw new TransientError('flaky');
      return undefined;
    });
    const h = harness(definition);
    const deliveries: RecordingDelivery[] = [];
    for (let i = 0; i < 20; i += 1) {
      const delivery = recordingDelivery({ id: `k${i}`, version: i });
      deliveries.push(delivery);
      await h.deliver(delivery);
      if (i % 3 === 0) h.actor.send({ type: 'cancel' });
      h.actor.send({ type: 'handler.settled', run: -1 });
      await h.advance(3000);
      h.actor.send({ type: 'cancel' });
      await flush();
    }
    for (const delivery of deliveries) expect(delivery.settlements).toHaveLength(1);
  });
});

describe('processor chart: observer (metrics)', () => {
  it('reports settlements, step durations and retries', async () => {
    const seen: string[] = [];
    const observer: ProcessorObserver = {
      settled: (outcome, elapsedMs) => {
        expect(elapsedMs).toBeGreaterThanOrEqual(0);
        seen.push(`settled:${outcome}`);
      },
      step: (step) => seen.push(`step:${step}`),
      retrying: (step) => seen.push(`retrying:${step}`),
    };
    const definition = processor((attempt) => {
      if (attempt === 1) throw new TransientError('once');
      return undefined;
    });
    const h = harness(definition, new MemoryTestStore(), observer);
    await h.deliver(recordingDelivery({ id: 'a', version: 1 }));
    await h.advance(3000);
    await h.deliver(recordingDelivery('not json'));
    await h.deliver(recordingDelivery({ id: 'b', version: 1 }));
    const hanging = harness(
      processor(() => new Promise(() => undefined)),
      new MemoryTestStore(),
      observer,
    );
    await hanging.deliver(recordingDelivery({ id: 'c', version: 1 }));
    hanging.actor.send({ type: 'cancel' });
    expect(seen).toEqual([
      'step:handle',
      'retrying:handle',
      'step:handle',
      'step:persist',
      'settled:acked',
      'step:handle',
      'settled:dead-lettered',
      'step:handle',
      'step:persist',
      'settled:acked',
      'settled:requeued',
    ]);
  });
});

describe('processor chart: hostile errors', () => {
  it('a thrown error whose message getter throws is retried, not a crash', async () => {
    const hostile = new Error('x');
    Object.defineProperty(hostile, 'message', {
      get() {
        throw new Error('gotcha');
      },
    });
    const definition = processor((attempt) => {
      if (attempt === 1) throw hostile;
      return undefined;
    });
    // A logger that really serialises: pino reads `message` and `cause` of what it logs.
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const h = harness(definition, new MemoryTestStore(), undefined, logger);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(h.actor.getSnapshot().status).toBe('active');
    expect(h.state()).toBe('retrying');
    expect(lines.join('')).toMatch(/attempt failed; retrying/);
    expect(h.actor.getSnapshot().context.slot.entries[0]?.error?.message).toBe(
      'unreadable error thrown',
    );
    await h.advance(3000);
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });

  it('a thrown proxy that refuses every inspection is retried, not a crash', async () => {
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    const definition = processor((attempt) => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point: handlers throw non-errors
      if (attempt === 1) throw revocable.proxy;
      return undefined;
    });
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(h.actor.getSnapshot().status).toBe('active');
    await h.advance(3000);
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });
});

describe('processor chart: delayed redelivery', () => {
  it('hands a long retry delay to the broker and frees the worker', async () => {
    const definition = processor(
      () => {
        throw new TransientError('down for a while');
      },
      { backoff: { kind: 'fixed', delayMs: 60_000 } },
    );
    const h = harness(definition);
    const delivery = recordingDelivery(
      { id: 'a', version: 1 },
      { delayedRedelivery: true, previousAttempts: 1 },
    );
    await h.deliver(delivery);
    expect(h.state()).toBe('idle');
    expect(delivery.settlements).toEqual([{ kind: 'retry-later', delayMs: 60_000, attempts: 2 }]);
  });

  it('waits out a short delay inline even when the broker could redeliver', async () => {
    const definition = processor((attempt) => {
      if (attempt === 1) throw new TransientError('blip');
      return undefined;
    });
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 }, { delayedRedelivery: true });
    await h.deliver(delivery);
    expect(h.state()).toBe('retrying');
    await h.advance(3000);
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });

  it('retries inline when the transport has no delayed redelivery', async () => {
    const definition = processor(
      (attempt) => {
        if (attempt === 1) throw new TransientError('down');
        return undefined;
      },
      { backoff: { kind: 'fixed', delayMs: 60_000 } },
    );
    const h = harness(definition);
    const delivery = recordingDelivery({ id: 'a', version: 1 });
    await h.deliver(delivery);
    expect(h.state()).toBe('retrying');
    await h.advance(60_000);
    expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });
});
