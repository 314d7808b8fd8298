// Group commit in the SQLite store: concurrent calls share one transaction, calls that
// arrive while a commit runs go into the next one, a call aborted while it waits is
// dropped, and with the writer thread a lock held by another connection no longer
// stalls the event loop.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PermanentError, TransientError, type StoreWrite } from '@troupe/core';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SqliteStore, type SqliteStoreOptions } from '../src/index.js';
import { GroupCommit, GroupFailed, type Committer } from '../src/internal/group-commit.js';
import type { EncodedWrite, GroupResult, Operation } from '../src/internal/group.js';

const root = mkdtempSync(join(tmpdir(), 'troupe-sqlite-group-'));
let n = 0;
const open: { close(): unknown }[] = [];

function openStore(options: Omit<SqliteStoreOptions, 'path'> = {}): SqliteStore {
  n += 1;
  const store = new SqliteStore({ path: join(root, `db-${n}`, 'troupe.db'), ...options });
  open.push(store);
  return store;
}

/** Another connection to the store's file, holding the write lock until released. */
function holdLock(store: SqliteStore): () => void {
  const holder = new Database(store.path);
  holder.exec('BEGIN IMMEDIATE');
  return () => {
    holder.exec('ROLLBACK');
    holder.close();
  };
}

/** One turn of the event loop. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const write = (key: string, collection = 'c'): StoreWrite => ({
  collection,
  key,
  document: { key, version: 1 },
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.close()));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe.each(['thread', 'inline'] as const)('SqliteStore group commit (writer %s)', (writer) => {
  it('concurrent bulkWrite, upsert, patch and remove calls share one transaction', async () => {
    const store = openStore({ writer });
    await store.ensureCollection('c');
    await store.upsert('c', 'gone', { n: 0 });
    const before = store.groupStats.commits;
    const stats = store.writeStats();
    const results = await Promise.all([
      ...Array.from({ length: 20 }, (_, c) =>
        store.bulkWrite([write(`a${c}`), write(`b${c}`, 'd')]),
      ),
      store.upsert('c', 'single', { n: 1 }),
      store.patch('c', 'patched', { n: 2 }),
      store.remove('c', 'gone'),
    ]);
    expect(store.groupStats.commits - before).toBe(1);
    expect(store.groupStats.largest).toBe(23);
    // What the metrics read: one commit, the 23 calls it carried, their 43 documents.
    const after = store.writeStats();
    expect({
      commits: after.commits - stats.commits,
      calls: after.calls - stats.calls,
      documents: after.documents - stats.documents,
      failures: after.failures - stats.failures,
    }).toEqual({ commits: 1, calls: 23, documents: 43, failures: 0 });
    expect(results.slice(0, 20).flat()).toEqual(
      Array.from({ length: 40 }, () => ({ ok: true, written: true })),
    );
    expect(results.slice(20)).toEqual([{ written: true }, { written: true }, true]);
    expect(await store.count('c')).toBe(22);
    expect(await store.count('d')).toBe(20);
  });

  it('a health probe (a write rolled back) is not counted as a commit', async () => {
    const store = openStore({ writer });
    await store.upsert('c', 'one', { n: 1 });
    const before = store.writeStats();
    expect(before).toEqual({ commits: 1, failures: 0, calls: 1, documents: 1 });
    expect((await store.health()).healthy).toBe(true);
    expect(store.writeStats()).toEqual(before);
  });

  it('a document nested deeper than SQLite’s JSON limit fails alone inside the transaction', async () => {
    const store = openStore({ writer });
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 1500; i += 1) deep = { child: deep };
    const outcomes = await store.bulkWrite([
      write('before'),
      { collection: 'c', key: 'deep', document: deep },
      write('after'),
    ]);
    expect(outcomes.map((outcome) => outcome.ok)).toEqual([true, false, true]);
    const failed = outcomes[1];
    expect(failed?.ok === false ? failed.error : undefined).toBeInstanceOf(PermanentError);
    expect(await store.count('c')).toBe(2);
  });
});

describe('SqliteStore group commit on the writer thread, while another connection holds the lock', () => {
  it('the event loop keeps turning and reads answer; calls that arrive meanwhile commit together next', async () => {
    const store = openStore();
    await store.ensureCollection('c');
    await store.upsert('c', 'readable', { n: 1 });
    const release = holdLock(store);
    let firstDone = false;
    const first = store.bulkWrite([write('first')]).then((outcomes) => {
      firstDone = true;
      return outcomes;
    });
    await turn();
    await turn();
    // The writer thread is waiting for the lock; the main thread is not.
    const later = Array.from({ length: 10 }, (_, i) => store.bulkWrite([write(`later${i}`)]));
    for (let i = 0; i < 50; i += 1) await turn();
    expect(await store.get('c', 'readable')).toEqual({ _key: 'readable', n: 1 });
    expect(firstDone).toBe(false);
    const commits = store.groupStats.commits;
    release();
    expect(await first).toEqual([{ ok: true, written: true }]);
    expect((await Promise.all(later)).flat()).toHaveLength(10);
    expect(store.groupStats.commits - commits).toBe(2);
    expect(await store.count('c')).toBe(12);
  });

  it('holds none of the encoded writes while they wait for their commit (bulkWrite, upsert, bulkUpsert)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const store = openStore();
    await store.ensureCollection('c');
    // Every operation the store queues, held weakly: what is still reachable while its
    // commit waits on the writer thread is what every young-generation collection copies.
    const queued: WeakRef<Operation>[] = [];
    // Wrapped by hand: a vitest spy would keep every argument in its call log.
    const submit = GroupCommit.prototype.submit;
    GroupCommit.prototype.submit = function (this: GroupCommit, operation, signal) {
      queued.push(new WeakRef(operation));
      return submit.call(this, operation, signal);
    };
    let release: (() => void) | undefined = holdLock(store);
    try {
      const calls = [
        store.bulkWrite([write('a'), write('b')]),
        store.upsert('c', 'u', { n: 1 }),
        store.bulkUpsert('c', [{ key: 'x', document: { n: 1 } }]),
      ];
      await turn();
      await turn();
      // One commit took the three; it is on the writer thread, waiting for the lock.
      expect(queued).toHaveLength(3);
      gc();
      expect(queued.map((ref) => ref.deref())).toEqual([undefined, undefined, undefined]);
      release();
      release = undefined;
      await Promise.all(calls);
    } finally {
      GroupCommit.prototype.submit = submit;
      release?.();
    }
    expect(await store.count('c')).toBe(4);
  });

  it('a call aborted while it waits is dropped with a TransientError; the one committing completes', async () => {
    const store = openStore();
    await store.ensureCollection('c');
    const release = holdLock(store);
    const first = store.bulkWrite([write('committing')]);
    await turn();
    await turn();
    const controller = new AbortController();
    const queued = store.bulkWrite([write('dropped')], { signal: controller.signal });
    controller.abort();
    await expect(queued).rejects.toBeInstanceOf(TransientError);
    release();
    expect(await first).toEqual([{ ok: true, written: true }]);
    expect(await store.get('c', 'dropped')).toBeUndefined();
    expect(await store.get('c', 'committing')).toMatchObject({ _key: 'committing' });
  });

  it('a lock held past busyTimeout rejects the whole call with a TransientError', async () => {
    const store = openStore({ busyTimeout: 50 });
    await store.ensureCollection('c');
    const before = store.writeStats();
    const release = holdLock(store);
    try {
      await expect(store.bulkWrite([write('k')])).rejects.toBeInstanceOf(TransientError);
    } finally {
      release();
    }
    // The failed commit is counted, as a commit and as a failure.
    const failed = store.writeStats();
    expect(failed.commits - before.commits).toBe(1);
    expect(failed.failures - before.failures).toBe(1);
    expect(await store.bulkWrite([write('k')])).toEqual([{ ok: true, written: true }]);
    expect(store.writeStats().failures).toBe(failed.failures);
  });
});

describe('GroupCommit while a commit runs', () => {
  // A backlog keeps a commit's worth of messages in flight, each waiting for its commit.
  // What the queue holds of them meanwhile is copied by every young-generation
  // collection; it should hold nothing of the operations it handed to the committer.
  it('holds none of the operations it handed to the committer (their documents can be collected)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    let finish: (result: GroupResult) => void = () => undefined;
    // A committer that runs no longer than the test allows and keeps nothing it is given.
    const committer: Committer = {
      commit: () => {
        started();
        return new Promise((resolve) => {
          finish = resolve;
        });
      },
      close: () => Promise.resolve(undefined),
    };
    const group = new GroupCommit(committer);
    // Submitted from a function of its own, so that no variable of the test holds the writes.
    const submit = (): { handedOver: WeakRef<EncodedWrite[]>; result: Promise<unknown> } => {
      const writes: EncodedWrite[] = [
        { collection: 'c', key: 'k', doc: '{"_key":"k"}', field: null, version: 0 },
      ];
      return { handedOver: new WeakRef(writes), result: group.submit({ type: 'writes', writes }) };
    };
    const { handedOver, result } = submit();
    await running;
    await turn();
    gc();
    expect(handedOver.deref()).toBeUndefined();
    // The caller still gets its own result once the commit returns, and the queue counts it.
    finish({ ok: true, results: [{ ok: true, value: [1] }] });
    expect(await result).toEqual({ ok: true, value: [1] });
    expect(group.stats).toMatchObject({ commits: 1, operations: 1, documents: 1 });
    await group.close();
  });

  it('a committer answering without results fails its callers, and the next commit still runs', async () => {
    // A result the types rule out (a thread that answered wrongly): the cast makes one.
    let answer: GroupResult = { ok: true, results: undefined } as unknown as GroupResult;
    const committer: Committer = {
      commit: () => Promise.resolve(answer),
      close: () => Promise.resolve(undefined),
    };
    const group = new GroupCommit(committer);
    const write: EncodedWrite = {
      collection: 'c',
      key: 'k',
      doc: '{"_key":"k"}',
      field: null,
      version: 0,
    };
    await expect(group.submit({ type: 'writes', writes: [write] })).rejects.toBeInstanceOf(
      GroupFailed,
    );
    answer = { ok: true, results: [{ ok: true, value: [1] }] };
    expect(await group.submit({ type: 'writes', writes: [write] })).toEqual({
      ok: true,
      value: [1],
    });
    // The malformed commit counts as a failed one.
    expect(group.stats).toMatchObject({ commits: 2, failures: 1 });
    await group.close();
  });
});
