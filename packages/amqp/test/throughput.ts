// Side-by-side throughput of raw amqplib and @troupe/amqp on the local broker, for the
// benchmark report: publishing (raw amqplib with windowed confirms vs the transport's
// pipelined confirmed publish) and consuming (raw manual-ack consumer vs the transport's
// consumer vs a full Troupe pool, same prefetch, no-op work), with Node CPU per message.
//
//   node_modules/.bin/tsx packages/amqp/test/throughput.ts [messages=50000]
//
// Prints one JSON line per measurement. Not part of the test suites.
import { randomUUID } from 'node:crypto';
import { createPool, defineProcessor, startSupervisor } from '@troupe/core';
import { MemoryStore } from '@troupe/memory';
import { connect } from 'amqplib';
import { pino } from 'pino';
import { z } from 'zod';
import { AmqpTransport } from '../src/index.js';
import { brokerUrl } from './helpers.js';

const messages = Number(process.argv[2] ?? '50000');
const body = Buffer.from(JSON.stringify({ id: 'x', pad: 'x'.repeat(230) }));
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

async function fill(queue: string): Promise<void> {
  const model = await connect(brokerUrl);
  const confirm = await model.createConfirmChannel();
  for (let i = 0; i < messages; i += 1) {
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

async function main(): Promise<void> {
  const admin = await connect(brokerUrl);
  const channel = await admin.createChannel();
  const queue = `troupe-bench.${randomUUID().slice(0, 8)}`;
  await channel.assertQueue(queue, { durable: true });

  // Publishing.
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

  const transport = new AmqpTransport({ url: brokerUrl, logger });
  await transport.ready();
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

  // Consuming.
  for (const prefetch of [1, 10, 100]) {
    await fill(queue);
    const rawConsumer = await connect(brokerUrl);
    const rawChannel = await rawConsumer.createChannel();
    await rawChannel.prefetch(prefetch);
    report(
      'consume/raw-amqplib',
      await measure(
        () =>
          new Promise<void>((resolve) => {
            let count = 0;
            void rawChannel.consume(queue, (message) => {
              if (message === null) return;
              rawChannel.ack(message);
              count += 1;
              if (count === messages) resolve();
            });
          }),
      ),
      { prefetch },
    );
    await rawConsumer.close();

    await fill(queue);
    report(
      'consume/troupe-transport',
      await measure(async () => {
        let subscription: { cancel(): Promise<void> } | undefined;
        await new Promise<void>((resolve) => {
          let count = 0;
          void transport
            .consume(queue, { prefetch }, (delivery) => {
              delivery.ack();
              count += 1;
              if (count === messages) resolve();
            })
            .then((s) => (subscription = s));
        });
        await subscription?.cancel();
      }),
      { prefetch },
    );

    await fill(queue);
    const store = new MemoryStore();
    const definition = defineProcessor({
      name: 'bench',
      queue,
      bindings: [],
      schema: z.object({ id: z.string() }),
      handle: () => undefined,
      concurrency: prefetch,
    });
    const pool = createPool({ definition, transport, store, logger });
    let runtime: ReturnType<typeof startSupervisor> | undefined;
    report(
      'consume/troupe-pool',
      await measure(async () => {
        runtime = startSupervisor(pool.supervisorOptions(), { id: 'bench' });
        for (;;) {
          const { messageCount } = await channel.checkQueue(queue);
          if (messageCount === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }),
      { prefetch },
    );
    await runtime?.shutdown();
  }

  await channel.deleteQueue(queue);
  await transport.close();
  await admin.close();
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
