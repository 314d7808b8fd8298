// How writes are encoded on the caller's thread and packed for the writer thread: the
// stored text is the one `JSON.stringify({ ...document, _key })` makes, whatever shape
// the document has, and packing loses nothing a write carries.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';
import { packWrites, unpackWrites, type EncodedWrite } from '../src/internal/group.js';

const root = mkdtempSync(join(tmpdir(), 'troupe-sqlite-encoding-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

class WithToJson {
  toJSON(): unknown {
    return { via: 'toJSON' };
  }
}

describe('sqlite store: document text', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['a plain object', { id: 'x', version: 1, nested: { a: [1, 'two'] } }],
    ['an empty object', {}],
    ['an object with a _key of its own', { a: 1, _key: 'other', b: 2 }],
    ['an object with its own toJSON', { a: 1, toJSON: () => ({ replaced: true }) }],
    ['a class instance with toJSON', new WithToJson() as unknown as Record<string, unknown>],
    ['an object without a prototype', Object.assign(Object.create(null) as object, { n: 1 })],
    ['text that needs escaping', { s: 'quote " backslash \\ newline \n emoji 😀' }],
  ];

  for (const writer of ['inline', 'thread'] as const) {
    it.each(cases)(`stores %s as {...document, _key} (writer ${writer})`, async (_, document) => {
      const store = new SqliteStore({ path: join(root, `${writer}.db`), writer });
      try {
        await store.upsert('c', 'k', document);
        const row = store.database
          .prepare("SELECT doc FROM troupe_documents WHERE collection = 'c' AND key = 'k'")
          .get() as { doc: string };
        expect(row.doc).toBe(JSON.stringify({ ...document, _key: 'k' }));
      } finally {
        await store.close();
      }
    });
  }
});

describe('sqlite store: writes packed for the writer thread', () => {
  it('unpacks what it packed, guards and no guards, versions, empty and non-ASCII text', () => {
    const writes: EncodedWrite[] = [
      { collection: 'companies', key: 'c-1', doc: '{"a":"é😀"}', field: 'version', version: 7 },
      { collection: 'c', key: 'k', doc: '{}', field: null, version: 0 },
      { collection: 'c', key: 'k2', doc: '{"x":""}', field: 'v😀', version: -1.5e300 },
      { collection: 'c', key: 'k3', doc: '{}', field: 'v', version: 2 ** 53 + 2 },
      { collection: 'c', key: 'k4', doc: '{}', field: 'v', version: Number.NaN },
    ];
    expect(unpackWrites(packWrites(writes))).toEqual(writes);
    expect(unpackWrites(packWrites([]))).toEqual([]);
  });
});
