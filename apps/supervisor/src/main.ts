// The composition root: configuration → logger → app → signals → exit code. The only
// module that reads process.env.
//
// Exit codes: 0 clean shutdown, 1 fatal error or the root supervisor gave up,
// 2 bad configuration.
import { pino, type Logger } from 'pino';
import { startApp } from './app.js';
import { loadConfig, type Config } from './config.js';

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
  let app: Awaited<ReturnType<typeof startApp>>;
  try {
    app = await startApp(config, logger);
  } catch (error) {
    const isConfig = (error as { code?: unknown }).code === 'CONFIGURATION';
    process.stderr.write(
      `troupe: ${isConfig ? 'bad configuration' : 'cannot start'}: ${(error as Error).message}\n`,
    );
    return isConfig ? exitCodes.badConfiguration : exitCodes.fatal;
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: forcing exit');
      logger.flush();
      process.exit(exitCodes.fatal);
    }
    logger.info({ signal }, 'draining');
    app.stop().catch((error: unknown) => logger.error({ err: error }, 'drain failed'));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  // The root exits on its own only when it gave up (restart intensity exceeded).
  const output = await app.runtime.exited.catch(
    () => ({ exit: 'failed', reason: 'crashed' }) as const,
  );
  await app.stop();
  if (output.exit === 'failed') {
    logger.fatal({ reason: output.reason }, 'root supervisor gave up');
    logger.flush();
    return exitCodes.fatal;
  }
  logger.info('drained; bye');
  logger.flush();
  return exitCodes.clean;
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
