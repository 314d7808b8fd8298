// The composition root: configuration → logger → adapters → root supervisor → signals.
// The only module that reads process.env. Until the AMQP and store adapters land, it
// runs on the in-process broker and store with a demo publisher, so that
// `npm start` shows a supervised pool at work on a fresh machine.
import {
  ConfigurationError,
  createPool,
  startSupervisor,
  type ChildSpec,
  type SupervisorOutput,
} from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { pino, type Logger } from 'pino';
import { companyUpdated } from './demo-processor.js';
import { demoPublisherMachine } from './demo-publisher.machine.js';

/** Exit codes, as documented in the README. */
export const exitCodes = { clean: 0, fatal: 1, badConfiguration: 2 } as const;

interface Config {
  readonly logLevel: string;
  readonly demoIntervalMs: number;
  readonly pretty: boolean;
}

function readConfig(env: NodeJS.ProcessEnv): Config {
  const logLevel = env.TROUPE_LOG_LEVEL ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigurationError('TROUPE_LOG_LEVEL', `unknown level ${JSON.stringify(logLevel)}`);
  }
  const interval = Number(env.TROUPE_DEMO_INTERVAL_MS ?? '500');
  if (!Number.isInteger(interval) || interval < 1) {
    throw new ConfigurationError('TROUPE_DEMO_INTERVAL_MS', 'must be an integer >= 1');
  }
  return { logLevel, demoIntervalMs: interval, pretty: process.stdout.isTTY === true };
}

function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    base: { app: 'troupe' },
    redact: ['*.password', '*.url', 'url', 'password'],
    ...(config.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = readConfig(process.env);
  } catch (error) {
    process.stderr.write(`troupe: bad configuration: ${(error as Error).message}\n`);
    return exitCodes.badConfiguration;
  }
  const logger = createLogger(config);
  const transport = new MemoryTransport();
  const store = new MemoryStore();
  await transport.declare([{ queue: companyUpdated.queue, bindings: companyUpdated.bindings }]);

  const pool = createPool({ definition: companyUpdated, transport, store, logger });
  const publisher: ChildSpec = {
    id: 'demo-publisher',
    kind: 'service',
    start: () => ({
      logic: demoPublisherMachine,
      input: {
        transport,
        intervalMs: config.demoIntervalMs,
        logger: logger.child({ actor: 'demo-publisher' }),
      },
    }),
    shutdown: 'brutal',
  };
  const runtime = startSupervisor(
    {
      strategy: 'rest-for-one',
      children: [pool.childSpec, publisher],
      logger: logger.child({ actor: 'root' }),
    },
    { id: 'root' },
  );
  logger.info(
    { processors: [companyUpdated.name], broker: 'in-process', store: 'memory' },
    'troupe started',
  );

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: forcing exit');
      logger.flush();
      process.exit(exitCodes.fatal);
    }
    logger.info({ signal }, 'draining');
    runtime.actor.send({ type: 'shutdown' });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  let output: SupervisorOutput;
  try {
    output = await runtime.exited;
  } catch {
    return exitCodes.fatal;
  }
  const stored = await store.count('companies');
  const dead = transport.peek(`${companyUpdated.queue}.dead`).length;
  await transport.close();
  await store.close();
  if (output.exit === 'failed') {
    logger.fatal({ reason: output.reason }, 'root supervisor gave up');
    return exitCodes.fatal;
  }
  logger.info({ stored, deadLettered: dead, acked: transport.acked }, 'drained; bye');
  return exitCodes.clean;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `troupe: fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = exitCodes.fatal;
  },
);
