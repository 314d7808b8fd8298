// Differential test: random sequences of store operations, from fixed seeds, run against
// MemoryStore (the reference) and SqliteStore; every result, every error class and the
// final contents must agree.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@troupe/core';
import { MemoryStore } from '@troupe/memory';
import { SqliteStore } from '@troupe/sqlite';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'troupe-differential-'));

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A small deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Operation = (store: Store) => Promise<unknown>;

function operations(seed: number, count: number): Operation[] {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const keys = ['a', 'b', 'c', 'd', 'bad key', ''];
  const collections = ['one', 'two'];
  const doc = (): Record<string, unknown> => {
    const document: Record<string, unknown> = { n: Math.floor(next() * 100) };
    const v = next();
    if (v < 0.8) document['version'] = Math.floor(next() * 6);
    else if (v < 0.9) document['version'] = 'x';
    if (next() < 0.3) document['nested'] = { list: [next() < 0.5, null, 'é'] };
    return document;
  };
  const ops: Operation[] = [];
  for (let i = 0; i < count; i += 1) {
    const collection = pick(collections);
    const key = pick(keys);
    const guarded = next() < 0.6 ? { ifNewer: 'version' } : undefined;
    switch (pick(['upsert', 'patch', 'get', 'remove', 'bulk', 'count'] as const)) {
      case 'upsert': {
        const d = doc();
        ops.push((s) => s.upsert(collection, key, d, guarded));
        break;
      }
      case 'patch': {
        const d = doc();
        ops.push((s) => s.patch(collection, key, d));
        break;
      }
      case 'get':
        ops.push((s) => s.get(collection, key));
        break;
      case 'remove':
        ops.push((s) => s.remove(collection, key));
        break;
      case 'bulk': {
        const batch = Array.from({ length: 1 + Math.floor(next() * 4) }, () => ({
          key: pick(keys.slice(0, next() < 0.9 ? 4 : 6)),
          document: doc(),
        }));
        ops.push((s) => s.bulkUpsert(collection, batch, guarded));
        break;
      }
      case 'count':
        ops.push((s) => s.count(collection));
        break;
    }
  }
  return ops;
}

/** What an operation did, comparable across stores: its value, or its error's class. */
async function outcome(operation: Operation, store: Store): Promise<unknown> {
  try {
    return { value: await operation(store) };
  } catch (error) {
    return { error: error instanceof Error ? error.name : String(error) };
  }
}

async function contents(store: Store): Promise<unknown> {
  const snapshot: Record<string, unknown> = {};
  for (const collection of ['one', 'two']) {
    for (const key of ['a', 'b', 'c', 'd']) {
      snapshot[`${collection}/${key}`] = await store.get(collection, key);
    }
    snapshot[`${collection}#`] = await store.count(collection);
  }
  return snapshot;
}

describe('SqliteStore agrees with MemoryStore on random operation sequences', () => {
  it.each(Array.from({ length: 24 }, (_, i) => i + 1))('seed %i: 200 operations', async (seed) => {
    const reference = new MemoryStore();
    const sqlite = new SqliteStore({
      path: join(root, `seed-${seed}`, 'troupe.db'),
      synchronous: 'normal', // semantics, not durability: no fsync per write
    });
    try {
      for (const [index, operation] of operations(seed, 200).entries()) {
        const expected = await outcome(operation, reference);
        const actual = await outcome(operation, sqlite);
        expect(actual, `operation ${index}`).toEqual(expected);
      }
      expect(await contents(sqlite)).toEqual(await contents(reference));
    } finally {
      await sqlite.close();
      await reference.close();
    }
  });
});
