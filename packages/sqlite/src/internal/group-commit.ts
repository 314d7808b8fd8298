// Group commit: the store's writes (bulkWrite, upsert, patch, remove…) queue here, and
// everything queued while a commit runs is committed together in the next one, so many
// concurrent callers share one transaction and one fsync. Two committers: one on the
// main thread (the commit blocks the event loop while it runs) and one on a worker
// thread that owns the writing connection (the event loop never waits for the disk).
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  packWrites,
  plainError,
  type GroupResult,
  type Operation,
  type OperationResult,
  type PlainError,
  type Writer,
} from './group.js';
import type {
  FromWriterThread,
  ToWriterThread,
  WireOperation,
  WriterThreadData,
} from './writer-thread.js';

/** Runs one group; resolves with its result, never rejects. */
export interface Committer {
  commit(operations: readonly Operation[]): Promise<GroupResult>;
  /** Closes the writing connection (after the last commit). */
  close(): Promise<PlainError | undefined>;
}

/** A queued operation that did not run: aborted while queued, or the store closed. */
export class Refused extends Error {
  constructor(readonly reason: 'aborted' | 'closed') {
    super(reason);
  }
}

/** The failure of a whole group (the lock, the disk, a read-only file). */
export class GroupFailed extends Error {
  constructor(readonly failure: PlainError) {
    super(failure.message);
  }
}

interface Pending {
  readonly operation: Operation;
  readonly resolve: (result: OperationResult) => void;
  readonly reject: (reason: Refused | GroupFailed) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** Statistics of the queue, for metrics, tests and benchmarks. */
export interface GroupStats {
  /** Commits run (failed ones included; a group of health probes alone is not one). */
  commits: number;
  /** Of those, the ones that failed as a whole. */
  failures: number;
  /** Operations committed (health probes left out). */
  operations: number;
  /** Documents those operations wrote or tried to (a patch or a remove is one). */
  documents: number;
  /** The most operations one commit carried. */
  largest: number;
}

/** What a queued operation's caller waits on. */
interface Settler {
  readonly resolve: (result: OperationResult) => void;
  readonly reject: (reason: Refused | GroupFailed) => void;
}

/** What one commit carried, counted before it runs (health probes left out). */
interface Tally {
  readonly operations: number;
  readonly documents: number;
}

function tallyOf(operations: readonly Operation[]): Tally {
  let counted = 0;
  let documents = 0;
  for (const operation of operations) {
    if (operation.type === 'probe') continue;
    counted += 1;
    documents += documentsOf(operation);
  }
  return { operations: counted, documents };
}

/** The documents `operation` writes. */
function documentsOf(operation: Operation): number {
  switch (operation.type) {
    case 'writes':
    case 'bulk':
      return operation.writes.length;
    case 'patch':
    case 'remove':
      return 1;
    case 'ensure':
    case 'probe':
      return 0;
  }
}

/**
 * The queue in front of a {@link Committer}: one commit at a time; operations that
 * arrive meanwhile wait for the next, which takes them all. An operation aborted while
 * it waits is dropped; one already taken into a commit completes.
 */
export class GroupCommit {
  readonly #committer: Committer;
  #queue: Pending[] = [];
  #running = false;
  #closed = false;
  #idle: (() => void) | undefined;
  readonly stats: GroupStats = { commits: 0, failures: 0, operations: 0, documents: 0, largest: 0 };

  constructor(committer: Committer) {
    this.#committer = committer;
  }

  /** Queues `operation` for the next commit; resolves with its result once committed. */
  submit(operation: Operation, signal?: AbortSignal): Promise<OperationResult> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Refused('closed'));
      if (signal?.aborted === true) return reject(new Refused('aborted'));
      const pending: Pending = {
        operation,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.#queue.indexOf(pending);
          if (index < 0) return;
          this.#queue.splice(index, 1);
          reject(new Refused('aborted'));
        },
      };
      signal?.addEventListener('abort', pending.onAbort, { once: true });
      this.#queue.push(pending);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#running) return;
    this.#running = true;
    // One turn of the event loop first, so that calls made in the same turn (several
    // workers settling at once) share this commit.
    setImmediate(() => this.#commitQueued());
  }

  /**
   * Takes the queue into one commit. While the commit runs, nothing here holds its
   * operations: they (and every document in them) go to the committer, and what waits
   * for the result is only the callers' settlers and the group's tally. A backlog keeps
   * a commit's worth of messages in flight; the less each holds while it waits, the less
   * every young-generation collection copies.
   */
  #commitQueued(): void {
    const group = this.#queue;
    this.#queue = [];
    const operations: Operation[] = [];
    const settlers: Settler[] = [];
    for (const pending of group) {
      pending.signal?.removeEventListener('abort', pending.onAbort);
      operations.push(pending.operation);
      settlers.push({ resolve: pending.resolve, reject: pending.reject });
    }
    if (operations.length === 0) {
      this.#done();
      return;
    }
    const tally = tallyOf(operations);
    let committing: Promise<GroupResult>;
    try {
      committing = Promise.resolve(this.#committer.commit(operations));
    } catch (error) {
      committing = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    // A committer resolves with failures rather than throwing, and with a result for
    // every operation; these are last guards, so that no caller waits forever and the
    // queue never stays stuck behind a commit that threw or answered wrongly.
    void committing
      .then(
        (result): GroupResult =>
          result.ok && !Array.isArray(result.results)
            ? {
                ok: false,
                error: { name: 'Error', message: 'malformed commit result: no results' },
              }
            : result,
        (error: unknown): GroupResult => ({
          ok: false,
          error: { name: 'Error', message: error instanceof Error ? error.message : String(error) },
        }),
      )
      .then((result) => {
        this.#count(tally, result.ok);
        for (const [i, { resolve, reject }] of settlers.entries()) {
          const own = result.ok ? result.results[i] : undefined;
          if (own !== undefined) resolve(own);
          else {
            reject(
              new GroupFailed(result.ok ? { name: 'Error', message: 'no result' } : result.error),
            );
          }
        }
        this.#done();
      });
  }

  /** The commit is over: the next one starts if anything queued meanwhile. */
  #done(): void {
    this.#running = false;
    if (this.#queue.length > 0) this.#schedule();
    else this.#idle?.();
  }

  #count({ operations, documents }: Tally, ok: boolean): void {
    if (operations === 0) return;
    const { stats } = this;
    stats.commits += 1;
    if (!ok) stats.failures += 1;
    stats.operations += operations;
    stats.documents += documents;
    stats.largest = Math.max(stats.largest, operations);
  }

  /** Refuses new operations, waits for the queued ones to commit, then closes the committer. */
  async close(): Promise<PlainError | undefined> {
    if (this.#closed) return undefined;
    this.#closed = true;
    if (this.#running || this.#queue.length > 0) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve;
      });
    }
    return this.#committer.close();
  }
}

/** Commits on the main thread, with the connection the store reads with. */
export class InlineCommitter implements Committer {
  readonly #writer: Writer;

  constructor(writer: Writer) {
    this.#writer = writer;
  }

  commit(operations: readonly Operation[]): Promise<GroupResult> {
    return Promise.resolve(this.#writer.commit(operations));
  }

  close(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}

/** How the writer thread is started: from TypeScript sources (tests, tsx) or compiled JS. */
function startWriterThread(data: WriterThreadData): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`./writer-thread.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  if (!fromSource) return new Worker(entry, { workerData: data });
  // Running from the TypeScript sources: a worker thread does not inherit the main
  // thread's loader, so it registers tsx itself before importing the entry.
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const tsx = new URL('dist/esm/api/index.mjs', pathToFileURL(manifest)).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}

/** How often a lost writer thread is replaced: at most `maxRestarts` within `withinMs`. */
export interface WriterRestarts {
  readonly maxRestarts: number;
  readonly withinMs: number;
}

/** The default restart intensity of the writer thread: 3 restarts within 60 s. */
export const defaultWriterRestarts: WriterRestarts = { maxRestarts: 3, withinMs: 60_000 };

/**
 * Commits on a worker thread that owns its own connection to the file. The thread starts
 * with the first commit, so a store only read from (the CLI) never starts one.
 *
 * The committer supervises its thread, one for one: a thread that dies (an uncaught
 * error, out of memory, terminated) fails the commit it held, whose outcome is unknown
 * (the callers retry it, as after any failed commit), and the next commit starts a new
 * thread on the same file; SQLite's journal makes the lost transaction all or nothing.
 * More losses than `maxRestarts` within `withinMs` and it stays down: every commit then
 * fails with the reason, and so does the store's health (readiness).
 */
export class ThreadCommitter implements Committer {
  readonly #data: WriterThreadData;
  readonly #intensity: WriterRestarts;
  #worker: Worker | undefined;
  #waiting: ((message: FromWriterThread) => void) | undefined;
  /** When each thread was lost (performance.now()), the oldest first. */
  #losses: number[] = [];
  #restarts = 0;
  /** Set once the committer gives up: past its restart intensity, or closed. */
  #down: PlainError | undefined;
  #closing = false;

  constructor(data: WriterThreadData, restarts: WriterRestarts = defaultWriterRestarts) {
    this.#data = data;
    this.#intensity = restarts;
  }

  /** The thread commits run on now, if one runs (for tests). */
  get thread(): Worker | undefined {
    return this.#worker;
  }

  /** Threads started to replace a lost one. */
  get restarts(): number {
    return this.#restarts;
  }

  #start(): Worker {
    const worker = startWriterThread(this.#data);
    worker.unref();
    worker.on('message', (message: FromWriterThread) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.(message);
    });
    // 'error' is followed by 'exit': the first of the two is the reason.
    let lostReason: PlainError | undefined;
    worker.on('error', (error) => {
      lostReason ??= { name: error.name, message: `sqlite writer thread: ${error.message}` };
    });
    worker.on('exit', (code) => {
      this.#lost(
        worker,
        lostReason ?? { name: 'Error', message: `sqlite writer thread exited (${code})` },
      );
    });
    return worker;
  }

  /** Starts the thread commits run on: the first, or one that replaces a lost one. */
  #spawn(): Worker {
    const worker = this.#start();
    if (this.#losses.length > 0) this.#restarts += 1;
    this.#worker = worker;
    return worker;
  }

  /** `worker` is gone: the commit it held fails; the next commit starts a new one, or not. */
  #lost(worker: Worker, reason: PlainError): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (this.#closing) {
      this.#down ??= { name: 'Error', message: 'sqlite writer thread closed' };
      waiting?.({ type: 'closed' });
      return;
    }
    const now = performance.now();
    const { maxRestarts, withinMs } = this.#intensity;
    this.#losses = this.#losses.filter((at) => now - at < withinMs);
    this.#losses.push(now);
    if (this.#losses.length > maxRestarts) {
      this.#down = {
        name: 'Error',
        message: `sqlite writer thread lost ${this.#losses.length} times within ${withinMs} ms; not restarted: ${reason.message}`,
      };
    }
    waiting?.({ type: 'failed', error: reason });
  }

  #request(message: ToWriterThread): Promise<FromWriterThread> {
    if (this.#down !== undefined) return Promise.resolve({ type: 'failed', error: this.#down });
    const worker = this.#worker ?? this.#spawn();
    // Posted outside the promise's executor: a closure made there would share a scope
    // with `message`, and the one waiting for the reply would keep it alive meanwhile.
    let settle: (reply: FromWriterThread) => void = () => undefined;
    const replied = new Promise<FromWriterThread>((resolve) => {
      settle = resolve;
    });
    this.#waiting = (reply) => {
      worker.unref();
      settle(reply);
    };
    // A commit in flight keeps the process alive until it is durable.
    worker.ref();
    try {
      worker.postMessage(message);
    } catch (error) {
      // Not sent (it could not be cloned): nothing waits on the thread for it.
      this.#waiting = undefined;
      worker.unref();
      return Promise.resolve({ type: 'failed', error: plainError(error) });
    }
    return replied;
  }

  /**
   * Packs the operations and posts them; not async, so that nothing of them stays
   * reachable from here while the thread commits.
   */
  commit(operations: readonly Operation[]): Promise<GroupResult> {
    return this.#request({
      type: 'commit',
      operations: operations.map((operation): WireOperation => {
        if (operation.type === 'writes' || operation.type === 'bulk') {
          return { type: operation.type, packed: packWrites(operation.writes) };
        }
        return operation;
      }),
    }).then((reply) =>
      reply.type === 'committed'
        ? reply.result
        : {
            ok: false,
            error: reply.error ?? { name: 'Error', message: 'sqlite writer thread closed' },
          },
    );
  }

  async close(): Promise<PlainError | undefined> {
    if (this.#closing) return undefined;
    this.#closing = true;
    if (this.#worker === undefined) {
      this.#down ??= { name: 'Error', message: 'sqlite writer thread closed' };
      return undefined;
    }
    const reply = await this.#request({ type: 'close' });
    this.#down ??= { name: 'Error', message: 'sqlite writer thread closed' };
    return reply.type === 'closed' ? reply.error : undefined;
  }
}
