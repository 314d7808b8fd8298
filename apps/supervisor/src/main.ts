// The composition root: configuration → logger → app → signals → exit code. The only
// module that reads process.env.
//
// Exit codes: 0 clean shutdown, 1 fatal error or the root supervisor gave up,
// 2 bad configuration (a processor module that cannot be loaded included).
import { pino, type Logger } from 'pino';
import { runUntilStopped, startApp } from './app.js';
import { loadConfig, type Config } from './config.js';
import { startTracing, type AppTracing } from './tracing.js';

export const exitCodes = { clean: 0, fatal: 1, badConfiguration: 2 } as const;

function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    base: { app: 'troupe' },
    // Credentials never reach the logs, whatever a caller passes.
    redact: ['url', 'password', '*.url', '*.password', 'headers.authorization'],
    ...(process.stdout.isTTY === true
      ? { transport: { target: 'pino-pretty', options: { colorize: true } } }
      : {}),
  });
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    process.stderr.write(`troupe: bad configuration: ${(error as Error).message}\n`);
    return exitCodes.badConfiguration;
  }
  const logger = createLogger(config);
  let tracing: AppTracing | undefined;
  let app: Awaited<ReturnType<typeof startApp>>;
  try {
    // Off unless the standard OTEL_* variables ask for export.
    tracing = startTracing(process.env, { inProcess: config.amqp.url === undefined });
    if (tracing !== undefined) logger.info({ endpoint: tracing.endpoint }, 'exporting traces');
    app = await startApp(config, logger, { tracing: tracing?.tracing });
  } catch (error) {
    await tracing?.shutdown().catch(() => undefined);
    const { code } = error as { code?: unknown };
    // A processor module that cannot be loaded is a code problem, not a config field: its
    // message names the processor, the module and the export, on one line.
    const isConfig = code === 'CONFIGURATION' || code === 'PROCESSOR_LOAD';
    const prefix =
      code === 'PROCESSOR_LOAD' ? '' : isConfig ? 'bad configuration: ' : 'cannot start: ';
    process.stderr.write(`troupe: ${prefix}${(error as Error).message}\n`);
    return isConfig ? exitCodes.badConfiguration : exitCodes.fatal;
  }

  const code = await runUntilStopped(app, logger);
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
      `troupe: fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = exitCodes.fatal;
  },
);
