// The composition root: configuration → logger → signals → app → exit code. The only
// module that reads process.env. Signals are listened to before the app starts, so a
// SIGTERM while the broker or the store is still out of reach ends the start cleanly.
//
// Exit codes: 0 clean shutdown (a stop while starting included), 1 fatal error or the
// root supervisor gave up, 2 bad configuration (a processor module that cannot be loaded
// included).
import { redactedMessage, redactCredentials } from '@troupe/core';
import { pino, type Logger } from 'pino';
import { runUntilStopped, StartAbortedError, startApp } from './app.js';
import { loadConfig, type Config } from './config.js';
import { listenForStop } from './signals.js';
import { startTracing, type AppTracing } from './tracing.js';
import { tuneV8 } from './v8-tuning.js';

export const exitCodes = { clean: 0, fatal: 1, badConfiguration: 2 } as const;

function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    base: { app: 'troupe' },
    // Credentials never reach the logs, whatever a caller passes: fields by name, and
    // the password of any URL anywhere in a line (messages, errors and stacks included).
    redact: ['url', 'password', '*.url', '*.password', 'headers.authorization'],
    hooks: { streamWrite: redactCredentials },
    ...(process.stdout.isTTY === true
      ? { transport: { target: 'pino-pretty', options: { colorize: true } } }
      : {}),
  });
}

async function main(): Promise<number> {
  // Before any work: the app's own V8 settings (see v8-tuning.ts), logged below.
  const v8 = tuneV8(process.execArgv, process.env.NODE_OPTIONS);
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    process.stderr.write(`troupe: bad configuration: ${redactedMessage(error)}\n`);
    return exitCodes.badConfiguration;
  }
  const logger = createLogger(config);
  logger.info({ v8 }, 'V8 settings');
  const stop = listenForStop({ logger });
  let tracing: AppTracing | undefined;
  let app: Awaited<ReturnType<typeof startApp>>;
  try {
    // Off unless the standard OTEL_* variables ask for export.
    tracing = await startTracing(process.env, { inProcess: config.amqp.url === undefined });
    if (tracing !== undefined) logger.info({ endpoint: tracing.endpoint }, 'exporting traces');
    app = await startApp(config, logger, { signal: stop.signal, tracing: tracing?.tracing });
  } catch (error) {
    await tracing?.shutdown().catch(() => undefined);
    if (error instanceof StartAbortedError) {
      logger.info('stopped while starting; bye');
      logger.flush();
      return exitCodes.clean;
    }
    const { code } = error as { code?: unknown };
    // A processor module that cannot be loaded is a code problem, not a config field: its
    // message names the processor, the module and the export, on one line.
    const isConfig = code === 'CONFIGURATION' || code === 'PROCESSOR_LOAD';
    const prefix =
      code === 'PROCESSOR_LOAD' ? '' : isConfig ? 'bad configuration: ' : 'cannot start: ';
    process.stderr.write(`troupe: ${prefix}${redactedMessage(error)}\n`);
    return isConfig ? exitCodes.badConfiguration : exitCodes.fatal;
  }

  const code = await runUntilStopped(app, logger, undefined, stop);
  await tracing?.shutdown().catch(() => undefined);
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; a handle someone forgot must not hold the exit (a
    // failed start may leave a reconnect timer behind, for one).
    setTimeout(() => process.exit(code), code === exitCodes.clean ? 2000 : 100).unref();
  },
  (error: unknown) => {
    process.stderr.write(
      `troupe: fatal: ${redactCredentials(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`,
    );
    process.exitCode = exitCodes.fatal;
  },
);
