// Side-by-side throughput of raw amqplib and @troupe/amqp on the local broker, for the
// benchmark report: publishing (raw amqplib with windowed confirms vs the transport's
// pipelined confirmed publish) and consuming (raw manual-ack consumer vs the transport's
// consumer vs a full Troupe pool, same prefetch, same decode work, same end: every
// message acked), with Node CPU per message; heap under a backlog. Latency is latency.ts.
//
//   node_modules/.bin/tsx packages/amqp/test/throughput.ts [messages=50000] [rounds=3] [--consume-only]
//
// Prints one JSON line per measurement. Not part of the test suites. `--consume-only`
// runs the consume rows alone (the bench runs them again under the app's V8 setting).
import { randomUUID } from 'node:crypto';
import { createPool, defineProcessor, startSupervisor, type ProcessorObserver } from '@troupe/core';
import { MemoryStore } from '@troupe/memory';
import { connect, type Channel } from 'amqplib';
import { pino } from 'pino';
import { AmqpTransport } from '../src/index.js';
import { body, decode, schema } from './bench-work.js';
import { brokerUrl } from './helpers.js';

const messages = Number(process.argv[2] ?? '50000');
/** Rounds of the consume rows (medians reported). */
const rounds = Number(process.argv[3] ?? '3');
const consumeOnly = process.argv.includes('--consume-only');
// Message bodies (bench-work.ts) are the same for every row; ids come from messageId.
const logger = pino({ level: 'silent' });

interface Result {
  readonly msgPerSecond: number;
  readonly cpuMicrosPerMessage: number;
}

async function measure(run: () => Promise<void>): Promise<Result> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await run();
  const elapsed = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return {
    msgPerSecond: Math.round(messages / (elapsed / 1000)),
    cpuMicrosPerMessage: Number(((used.user + used.system) / messages).toFixed(1)),
  };
}

function report(name: string, result: Result, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ name, messages, ...extra, ...result })}\n`);
}

const gc = (globalThis as { gc?: () => void }).gc;

function fill(queue: string): Promise<void> {
  return fillN(queue, messages);
}

async function fillN(queue: string, count: number): Promise<void> {
  const model = await connect(brokerUrl);
  const confirm = await model.createConfirmChannel();
  for (let i = 0; i < count; i += 1) {
    const ok = confirm.sendToQueue(queue, body, {
      persistent: true,
      messageId: String(i),
      contentType: 'application/json',
    });
    if (!ok) await new Promise((resolve) => confirm.once('drain', resolve));
  }
  await confirm.waitForConfirms();
  await model.close();
}

/** The publish rows: raw amqplib with windowed confirms, the transport pipelined. */
async function publishRows(
  channel: Channel,
  queue: string,
  transport: AmqpTransport,
): Promise<void> {
  const raw = await connect(brokerUrl);
  const rawConfirm = await raw.createConfirmChannel();
  report(
    'publish/raw-amqplib-windowed-confirms',
    await measure(async () => {
      const window = 1000;
      for (let i = 0; i < messages; i += window) {
        for (let j = i; j < Math.min(messages, i + window); j += 1) {
          const ok = rawConfirm.publish('', queue, body, {
            persistent: true,
            messageId: String(j),
          });
          if (!ok) await new Promise((resolve) => rawConfirm.once('drain', resolve));
        }
        await rawConfirm.waitForConfirms();
      }
    }),
  );
  await raw.close();
  await channel.purgeQueue(queue);

  report(
    'publish/troupe-pipelined',
    await measure(async () => {
      const window = 5000;
      for (let i = 0; i < messages; i += window) {
        const batch: Promise<void>[] = [];
        for (let j = i; j < Math.min(messages, i + window); j += 1) {
          batch.push(transport.publish('', queue, body, { messageId: String(j) }));
        }
        await Promise.all(batch);
      }
    }),
  );
  await channel.purgeQueue(queue);
}

async function main(): Promise<void> {
  const admin = await connect(brokerUrl);
  const channel = await admin.createChannel();
  const queue = `troupe-bench.${randomUUID().slice(0, 8)}`;
  await channel.assertQueue(queue, { durable: true });

  const transport = new AmqpTransport({ url: brokerUrl, logger });
  await transport.ready();
  if (!consumeOnly) await publishRows(channel, queue, transport);

  // Consuming: every row starts when the consumer is asked for, ends when every message
  // is acked, and decodes and validates each body against the same schema.
  const counting = (total: number, done: () => void): ProcessorObserver => {
    let count = 0;
    return {
      settled: () => {
        count += 1;
        if (count === total) done();
      },
      step: () => undefined,
      retrying: () => undefined,
    };
  };
  // The rows of one prefetch run in rounds, their order alternating (the machine is
  // shared: a slow moment then hits every row alike); medians are reported.
  interface Row {
    readonly name: string;
    readonly extra: Record<string, unknown>;
    readonly run: () => Promise<Result>;
  }
  const median = (values: readonly number[]): number =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  for (const prefetch of [10, 100, 1000]) {
    const rows: Row[] = [];
    rows.push({
      name: 'consume/raw-amqplib',
      extra: { prefetch },
      run: async () => {
        await fill(queue);
        // The connection is open before the clock starts, as the transport's is for the
        // Troupe rows; the channel, its prefetch and the consumer are opened on the clock,
        // as the transport and the pool open theirs.
        const rawConsumer = await connect(brokerUrl);
        const result = await measure(async () => {
          const rawChannel = await rawConsumer.createChannel();
          await rawChannel.prefetch(prefetch);
          await new Promise<void>((resolve) => {
            let count = 0;
            void rawChannel.consume(queue, (message) => {
              if (message === null) return;
              decode(message.content);
              rawChannel.ack(message);
              count += 1;
              if (count === messages) resolve();
            });
          });
        });
        await rawConsumer.close();
        return result;
      },
    });
    rows.push({
      name: 'consume/troupe-transport',
      extra: { prefetch },
      run: async () => {
        await fill(queue);
        return measure(async () => {
          let subscription: { cancel(): Promise<void> } | undefined;
          await new Promise<void>((resolve) => {
            let count = 0;
            void transport
              .consume(queue, { prefetch }, (delivery) => {
                decode(delivery.body);
                delivery.ack();
                count += 1;
                if (count === messages) resolve();
              })
              .then((s) => (subscription = s));
          });
          await subscription?.cancel();
        });
      },
    });

    // The pool batched, prefetch = workers × maxBatch: the default 4 workers where the
    // prefetch splits into four whole batches (100 → 4 × 25, 1,000 → 4 × 250), else the
    // most workers up to 4 that do (10 → 2 × 5); at prefetch 10 also one worker taking
    // the whole prefetch (1 × 10). Then one delivery per worker (as many workers as the
    // prefetch, the model before batches), where that is sane.
    const workers = [4, 3, 2, 1].find((count) => prefetch % count === 0) ?? 1;
    const shapes: [string, number, number][] = [
      ['consume/troupe-pool-batched', workers, prefetch / workers],
      ...(workers > 1 && prefetch < 100
        ? [['consume/troupe-pool-batched', 1, prefetch] as [string, number, number]]
        : []),
      ...(prefetch <= 100
        ? [['consume/troupe-pool-per-message', prefetch, 1] as [string, number, number]]
        : []),
    ];
    for (const [name, concurrency, maxBatch] of shapes) {
      rows.push({
        name,
        extra: { prefetch, concurrency, maxBatch },
        run: async () => {
          await fill(queue);
          const definition = defineProcessor({
            name: 'bench',
            queue,
            bindings: [],
            schema,
            handle: () => undefined,
            concurrency,
            maxBatch,
          });
          let runtime: ReturnType<typeof startSupervisor> | undefined;
          const result = await measure(
            () =>
              new Promise<void>((resolve) => {
                const pool = createPool({
                  definition,
                  transport,
                  store: new MemoryStore(),
                  logger,
                  observer: counting(messages, resolve),
                });
                runtime = startSupervisor(pool.supervisorOptions(), { id: 'bench' });
              }),
          );
          await runtime?.shutdown();
          return result;
        },
      });
    }
    const results = rows.map((): Result[] => []);
    for (let round = 0; round < rounds; round += 1) {
      const order = rows.map((_, index) => index);
      for (const index of round % 2 === 0 ? order : order.reverse()) {
        const row = rows[index];
        if (row !== undefined) results[index]?.push(await row.run());
      }
    }
    // Each round's row against the raw row of the same round, which ran next to it: the
    // broker's share of the cores drifts over a run, and a round's pair shares its moment.
    const rawRounds = results[0] ?? [];
    rows.forEach((row, index) => {
      const each = results[index] ?? [];
      const rates = each.map((result) => result.msgPerSecond);
      const paired = each.map((result, round) => {
        const rawRound = rawRounds[round];
        return rawRound === undefined ? NaN : result.msgPerSecond / rawRound.msgPerSecond;
      });
      report(
        row.name,
        {
          msgPerSecond: median(rates),
          cpuMicrosPerMessage: median(each.map((result) => result.cpuMicrosPerMessage)),
        },
        {
          ...row.extra,
          rounds,
          msgPerSecondMin: Math.min(...rates),
          msgPerSecondMax: Math.max(...rates),
          ...(index === 0
            ? {}
            : {
                vsRawPaired: Number(median(paired).toFixed(3)),
                vsRawPairedMin: Number(Math.min(...paired).toFixed(3)),
                vsRawPairedMax: Number(Math.max(...paired).toFixed(3)),
              }),
        },
      );
    });
  }

  // Heap under a backlog: bounded by the prefetch, not by the backlog.
  if (!consumeOnly) {
    const backlog = messages <= 10_000 ? 20_000 : 100_000;
    await fillN(queue, backlog);
    const heap = (): number => {
      gc?.();
      gc?.();
      return process.memoryUsage().heapUsed;
    };
    const before = heap();
    const definition = defineProcessor({
      name: 'backlog',
      queue,
      bindings: [],
      schema,
      // Never finishes: every worker holds its batch, the rest waits in the broker.
      handle: (_message, { signal }) =>
        new Promise<undefined>((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
        }),
      concurrency: 4,
      maxBatch: 32,
      timeoutMs: 600_000,
    });
    const pool = createPool({
      definition,
      transport,
      store: new MemoryStore(),
      logger,
      drainMs: 1,
    });
    const runtime = startSupervisor(pool.supervisorOptions(), { id: 'backlog' });
    for (let i = 0; i < 200; i += 1) {
      const { messageCount } = await channel.checkQueue(queue);
      if (messageCount <= backlog - 128) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const during = heap();
    process.stdout.write(
      `${JSON.stringify({ name: 'heap/troupe-pool-under-backlog', messages: backlog, prefetch: 128, concurrency: 4, maxBatch: 32, heapMb: Number(((during - before) / 2 ** 20).toFixed(2)), gc: gc !== undefined })}\n`,
    );
    await runtime.shutdown();
    await channel.purgeQueue(queue);
  }

  await channel.deleteQueue(queue);
  await transport.close();
  await admin.close();
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
