// The writer thread is supervised by its committer: a thread that dies (an uncaught
// error, running out of memory, terminated) fails the commit it held, and the next commit
// runs on a new thread, as a one-for-one supervisor restarts a child. Past a restart
// intensity (more losses than `maxRestarts` within `withinMs`) it stays down, and every
// commit fails with why, as the store's health does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';
import { GroupCommit, ThreadCommitter } from '../src/internal/group-commit.js';
import type { Operation } from '../src/internal/group.js';

const root = mkdtempSync(join(tmpdir(), 'troupe-sqlite-writer-lost-'));
let n = 0;
const closing: { close(): unknown }[] = [];

/** A store's file (schema created) and a group commit on a writer thread of its own. */
function openGroup(restarts?: { maxRestarts: number; withinMs: number }): {
  store: SqliteStore;
  committer: ThreadCommitter;
  group: GroupCommit;
} {
  n += 1;
  const store = new SqliteStore({ path: join(root, `db-${n}`, 'troupe.db'), writer: 'inline' });
  const committer = new ThreadCommitter(
    { path: store.path, synchronous: 'FULL', busyTimeout: 5000 },
    restarts,
  );
  const group = new GroupCommit(committer);
  closing.push(group, store);
  return { store, committer, group };
}

const ensure = (collection: string): Operation => ({ type: 'ensure', collection });

/** Kills the committer's current thread and waits for it to be gone. */
async function kill(committer: ThreadCommitter): Promise<void> {
  const thread = committer.thread;
  expect(thread).toBeDefined();
  await thread?.terminate();
}

afterEach(async () => {
  for (const open of closing.splice(0)) await open.close();
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('the SQLite writer thread, lost', () => {
  it('the next commit runs on a new thread, and what it writes is stored', async () => {
    const { store, committer, group } = openGroup();
    expect(await group.submit(ensure('before'))).toMatchObject({ ok: true });
    const first = committer.thread;
    await kill(committer);

    expect(await group.submit(ensure('after'))).toMatchObject({ ok: true });
    expect(committer.thread).toBeDefined();
    expect(committer.thread).not.toBe(first);
    expect(committer.restarts).toBe(1);
    expect(await store.hasCollection('before')).toBe(true);
    expect(await store.hasCollection('after')).toBe(true);
  });

  it('a commit the lost thread held fails, and is not reported as stored', async () => {
    const { committer } = openGroup();
    await committer.commit([ensure('warm')]);
    const thread = committer.thread;
    // The thread dies before it answers: the commit waiting on it fails, never hangs.
    const waiting = committer.commit([ensure('held')]);
    await thread?.terminate();
    const result = await waiting;
    if (result.ok) {
      // The thread answered before it was terminated: then the write is stored.
      expect(result.results).toEqual([{ ok: true, value: 0 }]);
    } else {
      expect(result.error.message).toMatch(/sqlite writer thread exited/);
    }
    expect(await committer.commit([ensure('next')])).toMatchObject({ ok: true });
  });

  it('past its restart intensity it stays down, and every commit says why', async () => {
    const { committer, group } = openGroup({ maxRestarts: 2, withinMs: 60_000 });
    for (let loss = 1; loss <= 2; loss += 1) {
      await group.submit(ensure(`c${loss}`));
      await kill(committer);
    }
    expect(await group.submit(ensure('c3'))).toMatchObject({ ok: true });
    expect(committer.restarts).toBe(2);
    await kill(committer);

    await expect(group.submit(ensure('c4'))).rejects.toThrow(
      /sqlite writer thread lost 3 times within 60000 ms; not restarted: sqlite writer thread exited \(1\)/,
    );
    expect(committer.thread).toBeUndefined();
    expect(committer.restarts).toBe(2);
  });

  it('a thread closed on purpose is not restarted', async () => {
    const { committer } = openGroup();
    await committer.commit([ensure('c')]);
    expect(await committer.close()).toBeUndefined();
    const after = await committer.commit([ensure('late')]);
    expect(after).toMatchObject({ ok: false, error: { message: 'sqlite writer thread closed' } });
    expect(committer.restarts).toBe(0);
  });
});
