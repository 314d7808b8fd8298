// The writer thread: owns the store's writing connection, so that a commit's fsync or a
// wait for another process's lock never blocks the main thread's event loop. It runs one
// group commit per message and answers with the group's result, as plain data.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import {
  plainError,
  unpackWrites,
  Writer,
  type GroupResult,
  type Operation,
  type OperationResult,
  type PackedWrites,
  type PlainError,
} from './group.js';

/** What the store passes to the thread. */
export interface WriterThreadData {
  readonly path: string;
  readonly synchronous: 'NORMAL' | 'FULL';
  readonly busyTimeout: number;
}

/** An operation as it crosses to the thread: writes packed (see {@link PackedWrites}). */
export type WireOperation =
  | Exclude<Operation, { readonly type: 'writes' | 'bulk' }>
  | { readonly type: 'writes'; readonly packed: PackedWrites }
  | { readonly type: 'bulk'; readonly packed: PackedWrites };

/** Messages to the thread. */
export type ToWriterThread =
  | { readonly type: 'commit'; readonly operations: readonly WireOperation[] }
  | { readonly type: 'close' };

/** Messages from the thread. */
export type FromWriterThread =
  | { readonly type: 'committed'; readonly result: GroupResult }
  | { readonly type: 'closed'; readonly error?: PlainError }
  | { readonly type: 'failed'; readonly error: PlainError };

const port = parentPort;
if (port === null) throw new Error('writer-thread runs as a worker thread');
const data = workerData as WriterThreadData;
const send = (message: FromWriterThread): void => port.postMessage(message);

// An error opening the connection is every commit's answer (the main thread opened the
// same file a moment before, so this is rare: the file removed or its mode changed).
let writer: Writer | PlainError;
try {
  const db = new Database(data.path, { timeout: data.busyTimeout });
  db.pragma(`synchronous = ${data.synchronous}`);
  writer = new Writer(db);
} catch (error) {
  writer = plainError(error);
}

function unpack(operation: WireOperation): Operation {
  if (operation.type === 'writes')
    return { type: 'writes', writes: unpackWrites(operation.packed) };
  if (operation.type === 'bulk') return { type: 'bulk', writes: unpackWrites(operation.packed) };
  return operation;
}

/** Each write's count, as an Int32Array when no write failed alone (one copy back). */
function pack(result: OperationResult): OperationResult {
  if (!result.ok || typeof result.value === 'number') return result;
  const counts = new Int32Array(result.value.length);
  for (let i = 0; i < counts.length; i += 1) {
    const own = result.value[i];
    if (typeof own !== 'number') return result;
    counts[i] = own;
  }
  return { ok: true, value: counts };
}

port.on('message', (message: ToWriterThread) => {
  if (message.type === 'commit') {
    if (!(writer instanceof Writer)) {
      send({ type: 'committed', result: { ok: false, error: writer } });
      return;
    }
    const result = writer.commit(message.operations.map(unpack));
    send({
      type: 'committed',
      result: result.ok ? { ok: true, results: result.results.map(pack) } : result,
    });
    return;
  }
  try {
    if (writer instanceof Writer && writer.db.open) {
      writer.db.pragma('wal_checkpoint(TRUNCATE)');
      writer.db.close();
    }
    send({ type: 'closed' });
  } catch (error) {
    send({ type: 'closed', error: plainError(error) });
  }
  port.close();
});
