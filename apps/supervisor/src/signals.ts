// SIGTERM and SIGINT as one stop request. Listened to from the first moment of the
// process (a signal before the listener exists kills Node outright, with no drain),
// so a stop can come while the app is still starting. A second signal forces the exit;
// the same signal again within a moment is the same request arriving twice (Ctrl-C
// reaches both `npm start` and the app, and npm forwards it once more).
import type { Logger } from 'pino';

/** A stop request from the operating system. */
export interface StopSignals {
  /** Aborted at the first SIGTERM or SIGINT; its reason is the signal's name. */
  readonly signal: AbortSignal;
  /** Stops listening. */
  dispose(): void;
}

/** Options of {@link listenForStop}. */
export interface StopSignalsOptions {
  readonly logger: Logger;
  /** What a second, distinct signal does. @default exits the process with code 1 */
  readonly force?: () => void;
  /** A repeat of the first signal within this many milliseconds is ignored. @default 500 */
  readonly repeatWindowMs?: number;
  readonly now?: () => number;
}

/** Listens for SIGTERM and SIGINT; see {@link StopSignals}. */
export function listenForStop(options: StopSignalsOptions): StopSignals {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const repeatWindowMs = options.repeatWindowMs ?? 500;
  const controller = new AbortController();
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const force =
    options.force ??
    ((): void => {
      logger.flush();
      process.exit(1);
    });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (first === undefined) {
      first = { signal, at: now() };
      logger.info({ signal }, 'draining');
      controller.abort(signal);
      return;
    }
    if (signal === first.signal && now() - first.at < repeatWindowMs) {
      logger.debug({ signal }, 'same signal again at once: one stop request');
      return;
    }
    logger.warn({ signal }, 'second signal: forcing exit');
    force();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}
