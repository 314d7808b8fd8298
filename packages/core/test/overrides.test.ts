// Configuration overrides of a defined processor (issue 12, item 7): they go through
// defineProcessor's checks, name the field at fault, and leave what they do not name.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { applyProcessorOverrides, defineProcessor } from '../src/index.js';

const definition = defineProcessor({
  name: 'orders',
  queue: 'orders',
  bindings: [],
  schema: z.object({ id: z.string() }),
  handle: () => undefined,
  timeoutMs: 5000,
  maxBatch: 16,
});

describe('applyProcessorOverrides', () => {
  it('applies the fields given and keeps the others', () => {
    const overridden = applyProcessorOverrides(definition, {
      concurrency: 8,
      maxBatch: 64,
      batchTimeoutMs: 5,
      retry: { attempts: 2 },
    });
    expect(overridden).toMatchObject({
      concurrency: 8,
      maxBatch: 64,
      batchTimeoutMs: 5,
      timeoutMs: 5000,
      persistTimeoutMs: 5000,
      maxMessageBytes: 16 * 1024 * 1024,
    });
    expect(overridden.retry).toEqual({ ...definition.retry, attempts: 2 });
    expect(overridden.handle).toBe(definition.handle);
  });

  it('moves a persist timeout that follows the handler timeout along with it', () => {
    expect(applyProcessorOverrides(definition, { timeoutMs: 100 }).persistTimeoutMs).toBe(100);
    expect(
      applyProcessorOverrides(definition, { timeoutMs: 100, persistTimeoutMs: 900 })
        .persistTimeoutMs,
    ).toBe(900);
  });

  it.each([
    [{ concurrency: 0 }, 'processors.orders.concurrency'],
    [{ concurrency: 2.5 }, 'processors.orders.concurrency'],
    [{ maxBatch: 0 }, 'processors.orders.maxBatch'],
    [{ maxBatch: 1_000_000 }, 'processors.orders.maxBatch'],
    [{ batchTimeoutMs: -1 }, 'processors.orders.batchTimeoutMs'],
    [{ timeoutMs: 2 ** 31 }, 'processors.orders.timeoutMs'],
    [{ maxMessageBytes: 0 }, 'processors.orders.maxMessageBytes'],
    [{ weight: 5000 }, 'processors.orders.weight'],
    [{ retry: { attempts: 0 } }, 'processors.orders.retry.attempts'],
  ])('refuses %o as defineProcessor would, naming %s', (overrides, field) => {
    expect(() => applyProcessorOverrides(definition, overrides)).toThrow(
      expect.objectContaining({ code: 'CONFIGURATION', field }),
    );
    expect(() =>
      defineProcessor({
        name: 'orders',
        queue: 'orders',
        bindings: [],
        schema: z.object({ id: z.string() }),
        handle: () => undefined,
        ...overrides,
      }),
    ).toThrow(expect.objectContaining({ code: 'CONFIGURATION', field }));
  });
});
