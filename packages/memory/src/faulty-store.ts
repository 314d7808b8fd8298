// A store wrapper that fails on demand: the fault injection of tests and the soak run.
import { TransientError, type Store } from '@troupe/core';

type Method =
  'get' | 'upsert' | 'patch' | 'remove' | 'bulkUpsert' | 'bulkWrite' | 'hasCollection' | 'count';

/** A store that fails the next calls you ask it to, then behaves as the store it wraps. */
export interface FaultyStore extends Store {
  /** The next `count` calls (of `method`, or of any method) reject with `error`. */
  failNext(count: number, error?: Error, method?: Method): void;
  /** Calls made so far, by method. */
  readonly calls: Readonly<Record<Method, number>>;
}

/** Wraps a store so that tests can inject failures. */
export function faultyStore(inner: Store): FaultyStore {
  let remaining = 0;
  let failure: Error = new TransientError('injected store failure');
  let only: Method | undefined;
  const calls: Record<Method, number> = {
    get: 0,
    upsert: 0,
    patch: 0,
    remove: 0,
    bulkUpsert: 0,
    bulkWrite: 0,
    hasCollection: 0,
    count: 0,
  };
  const guard = <T>(method: Method, run: () => Promise<T>): Promise<T> => {
    calls[method] += 1;
    if (remaining > 0 && (only === undefined || only === method)) {
      remaining -= 1;
      return Promise.reject(failure);
    }
    return run();
  };
  return {
    calls,
    failNext(count, error = new TransientError('injected store failure'), method) {
      remaining = count;
      failure = error;
      only = method;
    },
    ensureCollection: (collection) => inner.ensureCollection(collection),
    get: (collection, key) => guard('get', () => inner.get(collection, key)),
    upsert: (collection, key, document, options) =>
      guard('upsert', () => inner.upsert(collection, key, document, options)),
    patch: (collection, key, patch) => guard('patch', () => inner.patch(collection, key, patch)),
    remove: (collection, key) => guard('remove', () => inner.remove(collection, key)),
    bulkUpsert: (collection, documents, options) =>
      guard('bulkUpsert', () => inner.bulkUpsert(collection, documents, options)),
    bulkWrite: (writes, options) => guard('bulkWrite', () => inner.bulkWrite(writes, options)),
    hasCollection: (collection) => guard('hasCollection', () => inner.hasCollection(collection)),
    count: (collection) => guard('count', () => inner.count(collection)),
    health: () => inner.health?.() ?? Promise.resolve({ healthy: true }),
    ...(inner.writeStats === undefined ? {} : { writeStats: inner.writeStats.bind(inner) }),
    close: () => inner.close(),
  };
}
