// The store port's contract, as one vitest suite that any Store implementation runs:
// the in-memory store, the embedded SQLite store, ArangoDB when one is reachable.
// Whatever passes it can stand behind a processor: keyed writes, a version guard
// evaluated by the store, JSON in and out, and errors in the core taxonomy.
import { PermanentError, TransientError, type Store, type StoreWrite } from '@troupe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** Options of {@link describeStoreContract}. */
export interface StoreContractOptions {
  /**
   * Number of concurrent upsert-if-newer calls in the race test.
   * @default 400
   */
  readonly raceWrites?: number;
  /** Timeout of each test in milliseconds, for stores behind a network. */
  readonly timeout?: number;
  /**
   * Number of concurrent bulkWrite calls in the coalescing test (each of 10 writes).
   * @default 50
   */
  readonly concurrentBatches?: number;
}

/** An object nested `depth` levels deep: more than JSON or a structured clone can walk. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < depth; i += 1) value = { child: value };
  return value;
}

let sequence = 0;

/** A collection name that is valid everywhere (ArangoDB's rules are the strictest) and unique per test. */
function uniqueCollection(): string {
  sequence += 1;
  return `contract_${process.pid}_${Date.now().toString(36)}_${sequence}`;
}

/** A deterministic shuffle (a linear congruential generator), so that a failure reproduces. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const result = [...items];
  let state = seed;
  for (let i = result.length - 1; i > 0; i -= 1) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    const j = state % (i + 1);
    const a = result[i] as T;
    result[i] = result[j] as T;
    result[j] = a;
  }
  return result;
}

/**
 * Declares the store contract as a vitest `describe` block named `Store contract: <name>`.
 * `makeStore` is called before each test and must return a fresh, open store; the suite
 * closes it after the test. Each test uses its own collection, so a shared database works.
 *
 * @example
 * describeStoreContract('MemoryStore', () => new MemoryStore());
 */
export function describeStoreContract(
  name: string,
  makeStore: () => Store | Promise<Store>,
  options: StoreContractOptions = {},
): void {
  const raceWrites = options.raceWrites ?? 400;
  const concurrentBatches = options.concurrentBatches ?? 50;
  const testOptions = options.timeout === undefined ? {} : { timeout: options.timeout };

  describe(`Store contract: ${name}`, testOptions, () => {
    let store: Store;
    let col: string;

    beforeEach(async () => {
      store = await makeStore();
      col = uniqueCollection();
      await store.ensureCollection(col);
    });

    afterEach(async () => {
      await store.close();
    });

    describe('collections', () => {
      it('ensureCollection is idempotent and keeps what is stored', async () => {
        await store.upsert(col, 'a', { n: 1 });
        await store.ensureCollection(col);
        await store.ensureCollection(col);
        expect(await store.count(col)).toBe(1);
        expect(await store.get(col, 'a')).toEqual({ _key: 'a', n: 1 });
      });

      it('a collection never ensured holds nothing, and is created by a first write', async () => {
        const fresh = uniqueCollection();
        expect(await store.get(fresh, 'a')).toBeUndefined();
        expect(await store.count(fresh)).toBe(0);
        expect(await store.remove(fresh, 'a')).toBe(false);
        expect(await store.upsert(fresh, 'a', { n: 1 })).toEqual({ written: true });
        expect(await store.get(fresh, 'a')).toEqual({ _key: 'a', n: 1 });
        const other = uniqueCollection();
        expect(await store.patch(other, 'p', { n: 2 })).toEqual({ written: true });
        expect(await store.count(other)).toBe(1);
        const third = uniqueCollection();
        expect(
          await store.bulkUpsert(third, [{ key: 'b', document: { version: 1 } }], {
            ifNewer: 'version',
          }),
        ).toEqual({ written: 1, skipped: 0 });
      });

      it('hasCollection: false for a collection never used, true once ensured or written to', async () => {
        const fresh = uniqueCollection();
        expect(await store.hasCollection(fresh)).toBe(false);
        expect(await store.count(fresh)).toBe(0);
        expect(await store.hasCollection(fresh)).toBe(false);
        expect(await store.hasCollection(col)).toBe(true);
        await store.upsert(fresh, 'a', { n: 1 });
        expect(await store.hasCollection(fresh)).toBe(true);
        const batched = uniqueCollection();
        await store.bulkWrite([{ collection: batched, key: 'a', document: { n: 1 } }]);
        expect(await store.hasCollection(batched)).toBe(true);
      });

      it('health(), where the store has it, says an open store is healthy', async (ctx) => {
        if (store.health === undefined) {
          ctx.skip();
          return;
        }
        expect(await store.health()).toMatchObject({ healthy: true });
      });

      it('collections are separate', async () => {
        const other = uniqueCollection();
        await store.ensureCollection(other);
        await store.upsert(col, 'a', { n: 1 });
        expect(await store.get(other, 'a')).toBeUndefined();
        expect(await store.count(other)).toBe(0);
      });
    });

    describe('keyed writes', () => {
      it('get returns undefined for a missing key', async () => {
        expect(await store.get(col, 'missing')).toBeUndefined();
      });

      it('upsert inserts, then replaces the whole document', async () => {
        expect(await store.upsert(col, 'k1', { a: 1, b: 'x' })).toEqual({ written: true });
        expect(await store.get(col, 'k1')).toEqual({ _key: 'k1', a: 1, b: 'x' });
        expect(await store.upsert(col, 'k1', { a: 2 })).toEqual({ written: true });
        expect(await store.get(col, 'k1')).toEqual({ _key: 'k1', a: 2 });
      });

      it('the key argument wins over a `_key` field in the document', async () => {
        await store.upsert(col, 'k1', { _key: 'other', a: 1 });
        expect(await store.get(col, 'k1')).toEqual({ _key: 'k1', a: 1 });
        expect(await store.get(col, 'other')).toBeUndefined();
      });

      it('remove returns true when something was removed, false otherwise', async () => {
        await store.upsert(col, 'k1', { a: 1 });
        expect(await store.remove(col, 'k1')).toBe(true);
        expect(await store.get(col, 'k1')).toBeUndefined();
        expect(await store.remove(col, 'k1')).toBe(false);
        expect(await store.count(col)).toBe(0);
      });

      it('patch creates the document when absent', async () => {
        expect(await store.patch(col, 'p', { a: 1 })).toEqual({ written: true });
        expect(await store.get(col, 'p')).toEqual({ _key: 'p', a: 1 });
      });

      it('patch merges top-level fields into the stored document', async () => {
        await store.upsert(col, 'p', { a: 1, b: 2, nested: { x: 1, y: 2 } });
        expect(await store.patch(col, 'p', { b: 3, c: null, nested: { z: 3 } })).toEqual({
          written: true,
        });
        // Top-level merge: fields not in the patch stay, `null` is stored as `null`, and a
        // nested object in the patch replaces the stored one.
        expect(await store.get(col, 'p')).toEqual({
          _key: 'p',
          a: 1,
          b: 3,
          c: null,
          nested: { z: 3 },
        });
      });

      it('count counts the documents of one collection', async () => {
        for (const key of ['a', 'b', 'c']) await store.upsert(col, key, { key });
        await store.upsert(col, 'a', { again: true });
        expect(await store.count(col)).toBe(3);
      });
    });

    describe('upsert if newer', () => {
      const opts = { ifNewer: 'version' } as const;

      it('writes when nothing is stored', async () => {
        expect(await store.upsert(col, 'v', { version: 1, s: 'one' }, opts)).toEqual({
          written: true,
        });
        expect(await store.get(col, 'v')).toEqual({ _key: 'v', version: 1, s: 'one' });
      });

      it('writes a greater version', async () => {
        await store.upsert(col, 'v', { version: 1, s: 'one' }, opts);
        expect(await store.upsert(col, 'v', { version: 2, s: 'two' }, opts)).toEqual({
          written: true,
        });
        expect(await store.get(col, 'v')).toEqual({ _key: 'v', version: 2, s: 'two' });
      });

      it('keeps the stored document for an equal version', async () => {
        await store.upsert(col, 'v', { version: 2, s: 'two' }, opts);
        expect(await store.upsert(col, 'v', { version: 2, s: 'other' }, opts)).toEqual({
          written: false,
        });
        expect(await store.get(col, 'v')).toEqual({ _key: 'v', version: 2, s: 'two' });
      });

      it('keeps the stored document for a lower version', async () => {
        await store.upsert(col, 'v', { version: 5, s: 'five' }, opts);
        expect(await store.upsert(col, 'v', { version: 4, s: 'four' }, opts)).toEqual({
          written: false,
        });
        expect(await store.get(col, 'v')).toEqual({ _key: 'v', version: 5, s: 'five' });
      });

      it('compares numerically (10 is newer than 9), fractions included', async () => {
        await store.upsert(col, 'v', { version: 9 }, opts);
        expect((await store.upsert(col, 'v', { version: 10 }, opts)).written).toBe(true);
        expect((await store.upsert(col, 'v', { version: 10.5 }, opts)).written).toBe(true);
        expect((await store.upsert(col, 'v', { version: 10.25 }, opts)).written).toBe(false);
        expect(await store.get(col, 'v')).toEqual({ _key: 'v', version: 10.5 });
      });

      it('overwrites a stored document that has no version', async () => {
        await store.upsert(col, 'v', { s: 'unversioned' });
        expect(await store.upsert(col, 'v', { version: 1 }, opts)).toEqual({ written: true });
        expect(await store.get(col, 'v')).toEqual({ _key: 'v', version: 1 });
      });

      it('uses the field named by the option', async () => {
        await store.upsert(col, 'v', { rev: 3, version: 100 }, { ifNewer: 'rev' });
        expect(
          (await store.upsert(col, 'v', { rev: 4, version: 1 }, { ifNewer: 'rev' })).written,
        ).toBe(true);
        expect(
          (await store.upsert(col, 'v', { rev: 2, version: 999 }, { ifNewer: 'rev' })).written,
        ).toBe(false);
        expect(await store.get(col, 'v')).toEqual({ _key: 'v', rev: 4, version: 1 });
      });

      it('compares with the document stored now, whichever write stored it (a plain upsert, a patch, a guard on another field)', async () => {
        await store.upsert(col, 'v', { version: 5, rev: 1 }, opts);
        await store.patch(col, 'v', { version: 9 });
        expect((await store.upsert(col, 'v', { version: 7 }, opts)).written).toBe(false);
        await store.upsert(col, 'v', { version: 3, rev: 1 });
        expect((await store.upsert(col, 'v', { version: 4, rev: 1 }, opts)).written).toBe(true);
        expect(
          (await store.upsert(col, 'v', { version: 2, rev: 8 }, { ifNewer: 'rev' })).written,
        ).toBe(true);
        expect((await store.upsert(col, 'v', { version: 3 }, opts)).written).toBe(true);
        expect((await store.upsert(col, 'v', { version: 2 }, opts)).written).toBe(false);
        expect(await store.get(col, 'v')).toEqual({ _key: 'v', version: 3 });
      });

      it('an equal version stays equal above 2^53, whichever write stored it', async () => {
        // JSON writes such a number in a shortest form whose digits are not its exact value.
        const version = 1796232354703123700;
        await store.upsert(col, 'v', { version });
        expect((await store.upsert(col, 'v', { version }, opts)).written).toBe(false);
        expect((await store.upsert(col, 'v', { version: version * 2 }, opts)).written).toBe(true);
        expect((await store.upsert(col, 'v', { version: version * 2 }, opts)).written).toBe(false);
      });

      it('a version the document does not serialize (a getter) is not stored, and guards nothing', async () => {
        class Versioned {
          readonly s = 'getter';
          get version(): number {
            return 5;
          }
        }
        const document = new Versioned() as unknown as Record<string, unknown>;
        expect((await store.upsert(col, 'v', document, opts)).written).toBe(true);
        expect(await store.get(col, 'v')).toEqual({ _key: 'v', s: 'getter' });
        expect((await store.upsert(col, 'v', { version: 1 }, opts)).written).toBe(true);
      });

      it('rejects an incoming document whose version is not a number (PermanentError)', async () => {
        await expect(store.upsert(col, 'v', { version: '2' }, opts)).rejects.toBeInstanceOf(
          PermanentError,
        );
        await expect(store.upsert(col, 'v', { s: 'none' }, opts)).rejects.toBeInstanceOf(
          PermanentError,
        );
        expect(await store.get(col, 'v')).toBeUndefined();
      });
    });

    describe('bulk upsert', () => {
      it('writes every document and counts them', async () => {
        const documents = Array.from({ length: 25 }, (_, i) => ({
          key: `b${i}`,
          document: { i },
        }));
        expect(await store.bulkUpsert(col, documents)).toEqual({ written: 25, skipped: 0 });
        expect(await store.count(col)).toBe(25);
        expect(await store.get(col, 'b7')).toEqual({ _key: 'b7', i: 7 });
      });

      it('an empty batch writes nothing', async () => {
        expect(await store.bulkUpsert(col, [])).toEqual({ written: 0, skipped: 0 });
      });

      it('applies the version rule per document and counts written and skipped', async () => {
        await store.bulkUpsert(col, [
          { key: 'a', document: { version: 5 } },
          { key: 'b', document: { version: 5 } },
          { key: 'c', document: { version: 5 } },
        ]);
        const result = await store.bulkUpsert(
          col,
          [
            { key: 'a', document: { version: 6, s: 'newer' } },
            { key: 'b', document: { version: 5, s: 'equal' } },
            { key: 'c', document: { version: 4, s: 'older' } },
            { key: 'd', document: { version: 1, s: 'new' } },
          ],
          { ifNewer: 'version' },
        );
        expect(result).toEqual({ written: 2, skipped: 2 });
        expect(await store.get(col, 'a')).toEqual({ _key: 'a', version: 6, s: 'newer' });
        expect(await store.get(col, 'b')).toEqual({ _key: 'b', version: 5 });
        expect(await store.get(col, 'c')).toEqual({ _key: 'c', version: 5 });
        expect(await store.get(col, 'd')).toEqual({ _key: 'd', version: 1, s: 'new' });
      });

      it('the same key twice in one batch: the highest version (or, unguarded, the last) stays', async () => {
        await store.bulkUpsert(
          col,
          [
            { key: 'd', document: { version: 2, s: 'two' } },
            { key: 'd', document: { version: 3, s: 'three' } },
            { key: 'd', document: { version: 1, s: 'one' } },
          ],
          { ifNewer: 'version' },
        );
        expect(await store.get(col, 'd')).toEqual({ _key: 'd', version: 3, s: 'three' });
        await store.bulkUpsert(col, [
          { key: 'e', document: { s: 'first' } },
          { key: 'e', document: { s: 'last' } },
        ]);
        expect(await store.get(col, 'e')).toEqual({ _key: 'e', s: 'last' });
        expect(await store.count(col)).toBe(2);
      });

      it('a non-numeric version anywhere in a guarded batch rejects it whole (PermanentError)', async () => {
        await expect(
          store.bulkUpsert(
            col,
            [
              { key: 'a', document: { version: 1 } },
              { key: 'b', document: { version: '2' } },
            ],
            { ifNewer: 'version' },
          ),
        ).rejects.toBeInstanceOf(PermanentError);
        expect(await store.count(col)).toBe(0);
      });

      it('an invalid key rejects the batch with a PermanentError and writes nothing', async () => {
        await expect(
          store.bulkUpsert(col, [
            { key: 'good', document: { n: 1 } },
            { key: 'bad key', document: { n: 2 } },
          ]),
        ).rejects.toBeInstanceOf(PermanentError);
        expect(await store.count(col)).toBe(0);
      });
    });

    describe('bulkWrite', () => {
      const guarded = { ifNewer: 'version' } as const;

      it('writes across collections and answers one outcome per write, in order', async () => {
        const other = uniqueCollection();
        const writes: StoreWrite[] = [
          { collection: col, key: 'a', document: { n: 1 } },
          { collection: other, key: 'a', document: { n: 2 } },
          { collection: col, key: 'b', document: { version: 1 }, ...guarded },
          { collection: other, key: 'c', document: { n: 3 } },
        ];
        expect(await store.bulkWrite(writes)).toEqual([
          { ok: true, written: true },
          { ok: true, written: true },
          { ok: true, written: true },
          { ok: true, written: true },
        ]);
        expect(await store.get(col, 'a')).toEqual({ _key: 'a', n: 1 });
        expect(await store.get(other, 'a')).toEqual({ _key: 'a', n: 2 });
        expect(await store.get(col, 'b')).toEqual({ _key: 'b', version: 1 });
        expect(await store.get(other, 'c')).toEqual({ _key: 'c', n: 3 });
        expect(await store.count(col)).toBe(2);
        expect(await store.count(other)).toBe(2);
      });

      it('writeStats(), where the store has it, counts the calls and documents of concurrent bulkWrites', async (ctx) => {
        if (store.writeStats === undefined) {
          ctx.skip();
          return;
        }
        const before = store.writeStats();
        await Promise.all([
          ...Array.from({ length: 5 }, (_, c) =>
            store.bulkWrite([
              { collection: col, key: `s${c}a`, document: { n: c } },
              { collection: col, key: `s${c}b`, document: { n: c } },
            ]),
          ),
          // A write refused before the database (a bad key) is no document sent.
          store.bulkWrite([
            { collection: col, key: 'bad key', document: {} },
            { collection: col, key: 'good', document: {} },
          ]),
        ]);
        const after = store.writeStats();
        expect(after.calls - before.calls).toBe(6);
        expect(after.documents - before.documents).toBe(11);
        expect(after.failures - before.failures).toBe(0);
        // Coalesced or not, at least one commit and never more than one per call.
        expect(after.commits - before.commits).toBeGreaterThanOrEqual(1);
        expect(after.commits - before.commits).toBeLessThanOrEqual(6);
        expect(await store.count(col)).toBe(11);
      });

      it('an empty batch writes nothing and answers no outcome', async () => {
        expect(await store.bulkWrite([])).toEqual([]);
        expect(await store.count(col)).toBe(0);
      });

      it('applies each write’s version guard: written true or false per write', async () => {
        await store.upsert(col, 'v', { version: 5, s: 'five' });
        const outcomes = await store.bulkWrite([
          { collection: col, key: 'v', document: { version: 4, s: 'older' }, ...guarded },
          { collection: col, key: 'w', document: { version: 1, s: 'new' }, ...guarded },
          { collection: col, key: 'v', document: { version: 5, s: 'equal' }, ...guarded },
          { collection: col, key: 'x', document: { s: 'unguarded' } },
        ]);
        expect(outcomes).toEqual([
          { ok: true, written: false },
          { ok: true, written: true },
          { ok: true, written: false },
          { ok: true, written: true },
        ]);
        expect(await store.get(col, 'v')).toEqual({ _key: 'v', version: 5, s: 'five' });
        expect(await store.get(col, 'w')).toEqual({ _key: 'w', version: 1, s: 'new' });
      });

      it('a write that fails on its own (bad key, version not a number, too deep) fails alone as a PermanentError', async () => {
        const outcomes = await store.bulkWrite([
          { collection: col, key: 'ok1', document: { n: 1 } },
          { collection: col, key: 'bad key', document: { n: 2 } },
          { collection: col, key: 'ok2', document: { version: 2 }, ...guarded },
          { collection: col, key: 'noversion', document: { version: '3' }, ...guarded },
          { collection: col, key: 'deep', document: nested(200_000) },
          { collection: col, key: 'ok3', document: { n: 3 } },
        ]);
        expect(outcomes.map((outcome) => outcome.ok)).toEqual([
          true,
          false,
          true,
          false,
          false,
          true,
        ]);
        for (const i of [1, 3, 4]) {
          const outcome = outcomes[i];
          expect(outcome?.ok === false ? outcome.error : undefined).toBeInstanceOf(PermanentError);
        }
        expect(await store.count(col)).toBe(3);
        expect(await store.get(col, 'ok3')).toEqual({ _key: 'ok3', n: 3 });
        expect(await store.get(col, 'noversion')).toBeUndefined();
      });

      it('the same key twice in one batch: applied in order', async () => {
        const outcomes = await store.bulkWrite([
          { collection: col, key: 'd', document: { version: 2, s: 'two' }, ...guarded },
          { collection: col, key: 'd', document: { version: 3, s: 'three' }, ...guarded },
          { collection: col, key: 'd', document: { version: 1, s: 'one' }, ...guarded },
          { collection: col, key: 'e', document: { s: 'first' } },
          { collection: col, key: 'e', document: { s: 'last' } },
        ]);
        expect(outcomes.every((outcome) => outcome.ok)).toBe(true);
        expect(await store.get(col, 'd')).toEqual({ _key: 'd', version: 3, s: 'three' });
        expect(await store.get(col, 'e')).toEqual({ _key: 'e', s: 'last' });
      });

      it('a redelivered batch changes nothing: every guarded write answers written: false', async () => {
        const batch: StoreWrite[] = Array.from({ length: 10 }, (_, i) => ({
          collection: col,
          key: `r${i}`,
          document: { version: i + 1 },
          ...guarded,
        }));
        expect((await store.bulkWrite(batch)).every((o) => o.ok && o.written)).toBe(true);
        expect((await store.bulkWrite(batch)).every((o) => o.ok && !o.written)).toBe(true);
        expect(await store.count(col)).toBe(10);
      });

      it('an aborted call rejects with a TransientError and writes nothing', async () => {
        const controller = new AbortController();
        controller.abort();
        await expect(
          store.bulkWrite([{ collection: col, key: 'a', document: { n: 1 } }], {
            signal: controller.signal,
          }),
        ).rejects.toBeInstanceOf(TransientError);
        expect(await store.get(col, 'a')).toBeUndefined();
      });

      it(`${concurrentBatches} concurrent calls (coalesced where the store can) each get their own outcomes, and every write is there`, async () => {
        const other = uniqueCollection();
        const calls = Array.from({ length: concurrentBatches }, (_, c) =>
          Array.from({ length: 10 }, (_, i): StoreWrite => ({
            collection: i % 2 === 0 ? col : other,
            key: `c${c}-${i}`,
            document: { version: c + 1, c, i },
            ...(i % 3 === 0 ? guarded : {}),
          })),
        );
        const results = await Promise.all(calls.map((writes) => store.bulkWrite(writes)));
        expect(results.map((outcomes) => outcomes.length)).toEqual(calls.map(() => 10));
        expect(results.flat().every((outcome) => outcome.ok && outcome.written)).toBe(true);
        expect(await store.count(col)).toBe(concurrentBatches * 5);
        expect(await store.count(other)).toBe(concurrentBatches * 5);
        const last = concurrentBatches - 1;
        expect(await store.get(other, `c${last}-9`)).toEqual({
          _key: `c${last}-9`,
          version: concurrentBatches,
          c: last,
          i: 9,
        });
      });
    });

    describe('keys', () => {
      const invalid = ['', 'has space', 'a/b', 'x'.repeat(255), 'é'];

      it.each(invalid)('upsert rejects the key %j with a PermanentError', async (key) => {
        await expect(store.upsert(col, key, { n: 1 })).rejects.toBeInstanceOf(PermanentError);
      });

      it.each(invalid)('patch rejects the key %j with a PermanentError', async (key) => {
        await expect(store.patch(col, key, { n: 1 })).rejects.toBeInstanceOf(PermanentError);
      });

      it('accepts the punctuation ArangoDB allows in keys', async () => {
        const key = "a-b_c:d.e@f(g)h+i,j=k;l$m!n*o'p%q";
        await store.upsert(col, key, { n: 1 });
        expect(await store.get(col, key)).toEqual({ _key: key, n: 1 });
        expect(await store.get(col, 'x'.repeat(254))).toBeUndefined();
      });
    });

    describe('documents are JSON, copied in and out', () => {
      it('round-trips JSON values', async () => {
        const document = {
          text: 'héllo ✓ "quoted" \\ \n',
          int: 42,
          negative: -7,
          float: 3.25,
          big: 9_007_199_254_740_991,
          yes: true,
          no: false,
          nothing: null,
          list: [1, 'two', { three: 3 }, [4]],
          nested: { deep: { deeper: ['x'] } },
          empty: {},
        };
        await store.upsert(col, 'json', document);
        expect(await store.get(col, 'json')).toEqual({ _key: 'json', ...document });
      });

      it('mutating the written object or a read result does not change what is stored', async () => {
        const document = { list: [1, 2], nested: { a: 1 } };
        await store.upsert(col, 'c', document);
        document.list.push(3);
        document.nested.a = 99;
        const first = await store.get(col, 'c');
        expect(first).toEqual({ _key: 'c', list: [1, 2], nested: { a: 1 } });
        (first?.['list'] as number[]).push(4);
        const second = await store.get(col, 'c');
        expect(second).toEqual({ _key: 'c', list: [1, 2], nested: { a: 1 } });
        expect(second).not.toBe(first);
      });
    });

    describe('redelivery', () => {
      it('a redelivered versioned write changes nothing', async () => {
        const message = { version: 3, name: 'acme', tags: ['a'] };
        expect((await store.upsert(col, 'r', message, { ifNewer: 'version' })).written).toBe(true);
        const before = await store.get(col, 'r');
        expect((await store.upsert(col, 'r', message, { ifNewer: 'version' })).written).toBe(false);
        expect(await store.get(col, 'r')).toEqual(before);
        expect(await store.count(col)).toBe(1);
      });

      it('a redelivered batch changes nothing and reports every document skipped', async () => {
        const batch = Array.from({ length: 10 }, (_, i) => ({
          key: `r${i}`,
          document: { version: i + 1, i },
        }));
        expect(await store.bulkUpsert(col, batch, { ifNewer: 'version' })).toEqual({
          written: 10,
          skipped: 0,
        });
        expect(await store.bulkUpsert(col, batch, { ifNewer: 'version' })).toEqual({
          written: 0,
          skipped: 10,
        });
        expect(await store.count(col)).toBe(10);
        expect(await store.get(col, 'r4')).toEqual({ _key: 'r4', version: 5, i: 4 });
      });

      it('a redelivered plain upsert leaves the same document', async () => {
        await store.upsert(col, 'r', { a: 1 });
        await store.upsert(col, 'r', { a: 1 });
        expect(await store.get(col, 'r')).toEqual({ _key: 'r', a: 1 });
        expect(await store.count(col)).toBe(1);
      });
    });

    describe('concurrency', () => {
      it(`${raceWrites} racing upsert-if-newer calls on the same keys leave the highest version`, async () => {
        const keys = ['k0', 'k1', 'k2', 'k3'];
        const perKey = Math.max(1, Math.floor(raceWrites / keys.length));
        const writes = shuffled(
          keys.flatMap((key) =>
            Array.from({ length: perKey }, (_, i) => ({ key, version: i + 1 })),
          ),
          7,
        );
        const results = await Promise.all(
          writes.map(({ key, version }) =>
            store.upsert(col, key, { version, by: `${key}@${version}` }, { ifNewer: 'version' }),
          ),
        );
        for (const key of keys) {
          expect(await store.get(col, key)).toEqual({
            _key: key,
            version: perKey,
            by: `${key}@${perKey}`,
          });
        }
        // Every key's highest version was written, and at least once per key something was.
        const written = results.filter((result) => result.written).length;
        expect(written).toBeGreaterThanOrEqual(keys.length);
        expect(written).toBeLessThanOrEqual(writes.length);
      });

      it('racing bulk upserts of overlapping keys leave the highest version of each', async () => {
        const batches = shuffled(
          Array.from({ length: 20 }, (_, b) => b + 1),
          11,
        ).map((version) =>
          Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, document: { version } })),
        );
        await Promise.all(
          batches.map((batch) => store.bulkUpsert(col, batch, { ifNewer: 'version' })),
        );
        for (let i = 0; i < 10; i += 1) {
          expect((await store.get(col, `k${i}`))?.['version']).toBe(20);
        }
      });
    });
  });
}
