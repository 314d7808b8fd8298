// Hostile AMQP messages for tests: header tables nested deeper than amqplib's recursive
// codec survives on a normal stack. amqplib's encoder recurses too, so such a message
// is encoded and published by amqplib itself in a worker thread given a large stack
// (`resourceLimits.stackSizeMb`): real frames, as any other client could send them.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);

/** A header value nested `depth` tables deep (about 7 bytes a level on the wire). */
export function nestedTable(depth: number): Record<string, unknown> {
  let table: Record<string, unknown> = { leaf: 1 };
  for (let level = 1; level < depth; level += 1) table = { n: table };
  return table;
}

/** What {@link publishNested} publishes. */
export interface NestedPublish {
  readonly url: string;
  /** '' publishes straight into the queue named by `routingKey`. */
  readonly exchange: string;
  readonly routingKey: string;
  readonly messageId: string;
  /** Nesting depth of the `deep` header. */
  readonly depth: number;
  readonly body?: string;
  /** More headers, beside `deep`. */
  readonly headers?: Record<string, unknown>;
}

const workerSource = `
const { workerData, parentPort } = require('node:worker_threads');
const amqp = require(workerData.amqplib);
let deep = { leaf: 1 };
for (let level = 1; level < workerData.depth; level += 1) deep = { n: deep };
(async () => {
  const model = await amqp.connect(workerData.url);
  try {
    const channel = await model.createConfirmChannel();
    channel.publish(workerData.exchange, workerData.routingKey, Buffer.from(workerData.body), {
      persistent: true,
      messageId: workerData.messageId,
      contentType: 'application/json',
      headers: { ...workerData.headers, deep },
    });
    await channel.waitForConfirms();
  } finally {
    await model.close();
  }
})().then(() => parentPort.postMessage({ ok: true }), (err) => parentPort.postMessage({ ok: false, error: String(err && err.stack || err) }));
`;

/** Publishes (with confirms) one message whose `deep` header is nested `depth` levels. */
export function publishNested(publish: NestedPublish): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: {
        amqplib: require.resolve('amqplib'),
        url: publish.url,
        exchange: publish.exchange,
        routingKey: publish.routingKey,
        messageId: publish.messageId,
        depth: publish.depth,
        body: publish.body ?? '{"id":"deep","name":"Deep","version":1}',
        headers: publish.headers ?? {},
      },
      resourceLimits: { stackSizeMb: 256 },
    });
    worker.once('message', (result: { ok: boolean; error?: string }) => {
      if (result.ok) resolve();
      else reject(new Error(`nested publish failed: ${result.error ?? ''}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`nested publish worker exited ${code}`));
    });
  });
}
