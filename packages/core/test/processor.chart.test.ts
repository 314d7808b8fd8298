// The processor chart's shape and its cost per batch. The chart keeps exactly five
// top-level states, tags the states in which a worker holds no work in progress
// (`drainable`, what pools read instead of state values), and makes the same few
// transitions for a batch of one message as for a batch of 64: one per batch, not per
// message. Transitions are counted from the running actor's inspection events.
import { createActor, SimulatedClock, type InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineProcessor,
  processorMachine,
  Scheduler,
  TransientError,
  type AnyProcessorDefinition,
  type Delivery,
  type SchedulerLane,
} from '../src/index.js';
import { MemoryTestStore } from './memory-test-store.js';
import { flush, recordingDelivery, silentLogger, type RecordingDelivery } from './helpers.js';

const schema = z.object({ id: z.string() });

function definition(fail: (id: string, attempt: number) => boolean = () => false) {
  return defineProcessor({
    name: 'chart',
    queue: 'chart.queue',
    bindings: [],
    schema,
    maxBatch: 64,
    retry: { attempts: 3, backoff: { kind: 'fixed', delayMs: 1000 } },
    handle: (message, { delivery }) => {
      if (fail(message.id, delivery.attempt)) throw new TransientError('not yet');
      return { collection: 'docs', key: message.id, document: message };
    },
  });
}

/** Runs a worker and records the state it is in after each event it takes. */
function run(def: AnyProcessorDefinition, lane?: SchedulerLane) {
  const clock = new SimulatedClock();
  const states: string[] = [];
  const actor = createActor(processorMachine, {
    clock,
    input: {
      definition: def,
      store: new MemoryTestStore(),
      logger: silentLogger,
      random: () => 0,
      ...(lane === undefined ? {} : { lane }),
    },
    inspect: (event: InspectionEvent) => {
      if (event.type !== '@xstate.snapshot' || event.actorRef !== actor) return;
      states.push(JSON.stringify((event.snapshot as unknown as { value: unknown }).value));
    },
  });
  actor.start();
  const send = async (deliveries: readonly Delivery[]) => {
    actor.send({
      type: 'batch.received',
      deliveries,
      messageIds: deliveries.map((delivery) => delivery.messageId),
    });
    await flush();
  };
  return { actor, clock, states, send };
}

const batch = (n: number, prefix = 'm'): RecordingDelivery[] =>
  Array.from({ length: n }, (_, i) => recordingDelivery({ id: `${prefix}${i}` }));

describe('processor chart: shape', () => {
  it('has exactly the five top-level states', () => {
    expect(Object.keys(processorMachine.states).sort()).toEqual(
      ['consuming', 'failed', 'idle', 'persisting', 'retrying'].sort(),
    );
  });

  it('tags idle, collecting and admitting as drainable, and no state with work in progress', () => {
    const tagged = (path: string) =>
      processorMachine.getStateNodeById(`processor.${path}`).tags.includes('drainable');
    expect(tagged('idle')).toBe(true);
    expect(tagged('consuming.collecting')).toBe(true);
    expect(tagged('consuming.admitting')).toBe(true);
    expect(tagged('consuming.handling')).toBe(false);
    expect(tagged('persisting')).toBe(false);
    expect(tagged('retrying')).toBe(false);
  });
});

describe('processor chart: one transition per batch, not per message', () => {
  it('makes the same transitions for a batch of 64 as for a batch of 1', async () => {
    const one = run(definition());
    await one.send(batch(1, 'a'));
    const many = run(definition());
    const deliveries = batch(64, 'b');
    await many.send(deliveries);
    expect(many.states).toEqual(one.states);
    for (const delivery of deliveries) expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });

  it('waits for one permit per batch in admitting when a global cap is set', async () => {
    const lane = new Scheduler({ capacity: 1 }).lane('chart');
    expect(lane.tryAcquire()).toBe(true);
    const worker = run(definition(), lane);
    const deliveries = batch(8);
    await worker.send(deliveries);
    expect(worker.states).toEqual(['"idle"', '{"consuming":"admitting"}']);
    lane.release();
    await flush();
    expect(worker.states).toEqual([
      '"idle"',
      '{"consuming":"admitting"}',
      '"persisting"',
      '"idle"',
    ]);
    for (const delivery of deliveries) expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });

  it('retries only the failed messages, as one smaller batch with their own attempts', async () => {
    const worker = run(definition((id, attempt) => id.endsWith('1') && attempt < 3));
    const deliveries = batch(12);
    await worker.send(deliveries);
    // m1 and m11 failed; the other ten are acked at once.
    expect(worker.actor.getSnapshot().value).toBe('retrying');
    expect(deliveries.filter((d) => d.settlements.length === 0).map((d) => d.messageId)).toEqual([
      deliveries[1]?.messageId,
      deliveries[11]?.messageId,
    ]);
    const { slot } = worker.actor.getSnapshot().context;
    expect(slot.entries.map((entry) => entry.attempt)).toEqual([1, 1]);
    worker.clock.increment(1000);
    await flush();
    expect(worker.actor.getSnapshot().context.slot.entries.map((entry) => entry.attempt)).toEqual([
      2, 2,
    ]);
    worker.clock.increment(1000);
    await flush();
    expect(worker.actor.getSnapshot().value).toBe('idle');
    for (const delivery of deliveries) expect(delivery.settlements).toEqual([{ kind: 'ack' }]);
  });
});
