// The supervisor app with fault hooks, for the fault-injection suite and the soak run.
// Test code, not production code: it starts the real app (`startApp` from
// apps/supervisor, the same configuration, adapters and supervision tree) and adds, from
// the environment, faults that cannot be caused from outside the process:
//
// - SIGUSR2: the store is unavailable for TROUPE_FAULT_STORE_OUTAGE_MS (default 4000):
//   every call of the SQLite store rejects with a TransientError, as a locked or
//   unreachable database would;
// - TROUPE_FAULT_STORE_FAIL_RATE=p: besides, each store call fails (transiently) with
//   probability p (seeded by TROUPE_FAULT_SEED);
// - TROUPE_FAULT_HANG_EVERY=n: every n-th call of company-updated's handler hangs until
//   its AbortSignal fires (the handler timeout, a cancel or shutdown); when the same
//   delivery is handled again, a `fault hang recovered` line gives the time it took;
// - TROUPE_FAULT_LEDGER=path: every company write the store reports as written appends
//   `<id>\t<version>` there: the effect ledger in which the audit counts duplicated
//   effects (a SIGKILL between the write and the append can only drop a line, never add
//   one, so a repeated line is a real second effect);
// - /metrics gains troupe_fault_heap_used_bytes, troupe_fault_rss_bytes,
//   troupe_fault_injected_total{fault}, troupe_fault_event_loop_delay_interval_seconds
//   (p99 and max since the previous scrape) and troupe_fault_prototype_polluted.
//
// The store is the app's own SqliteStore: `startApp` builds it, so the hooks wrap the
// class's methods (SqliteStore.prototype) before the app starts. Signals and exit codes
// are those of apps/supervisor/src/main.ts.
//
//   TROUPE_AMQP_URL=… TROUPE_STORE=sqlite:… node --import tsx test/fault/app-with-faults.ts
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { TransientError, type Store, type StoreWrite, type WriteOutcome } from '@troupe/core';
import { companyUpdated } from '@troupe/processor-company-updated';
import { SqliteStore } from '@troupe/sqlite';
import { pino } from 'pino';
import { runUntilStopped, startApp } from '../../apps/supervisor/src/app.js';
import { loadConfig, type Config } from '../../apps/supervisor/src/config.js';
import { mulberry32 } from './prng.js';

const env = process.env;
const outageMs = Number(env['TROUPE_FAULT_STORE_OUTAGE_MS'] ?? 4000);
const failRate = Number(env['TROUPE_FAULT_STORE_FAIL_RATE'] ?? 0);
const hangEvery = Number(env['TROUPE_FAULT_HANG_EVERY'] ?? 0);
const ledger = env['TROUPE_FAULT_LEDGER'];
const random = mulberry32(Number(env['TROUPE_FAULT_SEED'] ?? 1));

const injected = { storeOutage: 0, storeCallFailed: 0, handlerHang: 0 };
let outageUntil = 0;

// Every store call a processor can make: workers that take batches write through
// bulkWrite, so an outage (or the ledger) that left it out would test nothing.
type StoreMethod = 'get' | 'upsert' | 'patch' | 'remove' | 'bulkUpsert' | 'bulkWrite' | 'count';
const methods: readonly StoreMethod[] = [
  'get',
  'upsert',
  'patch',
  'remove',
  'bulkUpsert',
  'bulkWrite',
  'count',
];

/** The ledger line of each company write the store reports as written. */
function ledgerLines(method: StoreMethod, args: unknown[], result: unknown): string {
  let lines = '';
  const line = (collection: string, key: string, document: Record<string, unknown>): void => {
    if (collection === 'companies') lines += `${key}\t${String(document['version'])}\n`;
  };
  if (method === 'upsert') {
    const [collection, key, document] = args as [string, string, Record<string, unknown>];
    if ((result as { written?: boolean }).written === true) line(collection, key, document);
  } else if (method === 'bulkWrite') {
    const writes = args[0] as readonly StoreWrite[];
    const outcomes = result as readonly WriteOutcome[];
    writes.forEach((write, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok === true && outcome.written) {
        line(write.collection, write.key, write.document);
      }
    });
  }
  return lines;
}

function storeFault(method: StoreMethod): TransientError | undefined {
  if (Date.now() < outageUntil) {
    injected.storeCallFailed += 1;
    return new TransientError(`injected store outage (${method})`);
  }
  if (failRate > 0 && random() < failRate) {
    injected.storeCallFailed += 1;
    return new TransientError(`injected store failure (${method})`);
  }
  return undefined;
}

const prototype = SqliteStore.prototype as unknown as Record<
  StoreMethod,
  (this: Store, ...args: unknown[]) => Promise<unknown>
>;
for (const method of methods) {
  const original = prototype[method];
  prototype[method] = function (this: Store, ...args: unknown[]): Promise<unknown> {
    const fault = storeFault(method);
    if (fault !== undefined) return Promise.reject(fault);
    const result = original.apply(this, args);
    if ((method !== 'upsert' && method !== 'bulkWrite') || ledger === undefined) return result;
    return result.then((written: unknown) => {
      const lines = ledgerLines(method, args, written);
      if (lines !== '') appendFileSync(ledger, lines);
      return written;
    });
  };
}

// The handler hang. `configuredProcessors` imports the configured module (the same
// module instance as this import) and copies the definition when the app starts, so
// replacing `handle` on the exported definition before that is enough.
const hangs = new Map<string, number>();
let handled = 0;
const handle = companyUpdated.handle;
Object.assign(companyUpdated, {
  handle: (...args: Parameters<typeof handle>): ReturnType<typeof handle> => {
    const [, context] = args;
    const messageId = context.delivery.messageId;
    const hungAt = hangs.get(messageId);
    if (hungAt !== undefined) {
      hangs.delete(messageId);
      process.stdout.write(
        `${JSON.stringify({ msg: 'fault hang recovered', messageId, ms: Date.now() - hungAt })}\n`,
      );
    }
    handled += 1;
    if (hangEvery > 0 && handled % hangEvery === 0) {
      injected.handlerHang += 1;
      hangs.set(messageId, Date.now());
      return new Promise<never>((_resolve, reject) => {
        const abort = (): void => reject(new TransientError('hung handler aborted'));
        if (context.signal.aborted) abort();
        else context.signal.addEventListener('abort', abort, { once: true });
      });
    }
    return handle(...args);
  },
});

// Event-loop delay since the previous scrape (the app's own gauge is since start-up).
const loop = monitorEventLoopDelay({ resolution: 20 });
loop.enable();

function processLines(): string[] {
  const memory = process.memoryUsage();
  const delay = [
    '# TYPE troupe_fault_event_loop_delay_interval_seconds gauge',
    `troupe_fault_event_loop_delay_interval_seconds{quantile="0.99"} ${loop.percentile(99) / 1e9}`,
    `troupe_fault_event_loop_delay_interval_seconds{quantile="1"} ${loop.max / 1e9}`,
  ];
  loop.reset();
  return [
    ...delay,
    '# TYPE troupe_fault_heap_used_bytes gauge',
    `troupe_fault_heap_used_bytes ${memory.heapUsed}`,
    '# TYPE troupe_fault_rss_bytes gauge',
    `troupe_fault_rss_bytes ${memory.rss}`,
    // 1 when a message managed to pollute Object.prototype in this process.
    '# TYPE troupe_fault_prototype_polluted gauge',
    `troupe_fault_prototype_polluted ${'polluted' in {} ? 1 : 0}`,
    '# TYPE troupe_fault_injected_total counter',
    ...Object.entries(injected).map(
      ([fault, count]) => `troupe_fault_injected_total{fault="${fault}"} ${count}`,
    ),
  ];
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    process.stderr.write(`troupe: bad configuration: ${(error as Error).message}\n`);
    return 2;
  }
  const logger = pino({ level: config.logLevel, base: { app: 'troupe' } });
  const app = await startApp(config, logger);
  const render = app.metrics.render.bind(app.metrics);
  app.metrics.render = async () => `${await render()}${processLines().join('\n')}\n`;

  process.on('SIGUSR2', () => {
    injected.storeOutage += 1;
    outageUntil = Date.now() + outageMs;
    logger.warn({ outageMs }, 'fault: store outage');
  });
  return runUntilStopped(app, logger, () => ({ injected, pendingHangs: hangs.size }));
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `troupe: fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
