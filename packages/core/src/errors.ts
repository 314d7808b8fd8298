// The error taxonomy: every failure Troupe acts on has a stable code, says whether
// retrying can help, and keeps its cause. Adapters translate driver errors into
// these at their boundary; `toTroupeError` normalises anything else that is thrown.

/** The closed set of error codes. Stable: they appear in logs, metrics and dead-letter headers. */
export const errorCodes = [
  'INVALID_MESSAGE',
  'TRANSIENT',
  'PERMANENT',
  'CONFIGURATION',
  'HANDLER_TIMEOUT',
  'CANCELLED',
] as const;

/** One of {@link errorCodes}. */
export type ErrorCode = (typeof errorCodes)[number];

interface TroupeErrorOptions {
  readonly cause?: unknown;
}

/** Base class of every error Troupe raises or classifies. */
export class TroupeError extends Error {
  override readonly name: string = 'TroupeError';
  readonly code: ErrorCode;
  /** Whether trying the same step again may succeed. */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, retryable: boolean, options?: TroupeErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = retryable;
  }
}

/** The message cannot be processed as it is (bad JSON, schema failure). Dead-lettered, never retried. */
export class InvalidMessageError extends TroupeError {
  override readonly name = 'InvalidMessageError';
  /** Validation issues, when a schema rejected the message. */
  readonly issues: readonly string[];
  constructor(message: string, options?: TroupeErrorOptions & { issues?: readonly string[] }) {
    super('INVALID_MESSAGE', message, false, options);
    this.issues = options?.issues ?? [];
  }
}

/** A failure that may pass: a timeout, a conflict, an unavailable dependency. Retried with backoff. */
export class TransientError extends TroupeError {
  override readonly name = 'TransientError';
  constructor(message: string, options?: TroupeErrorOptions) {
    super('TRANSIENT', message, true, options);
  }
}

/** A failure that will not pass by retrying ("stop, do not retry", like p-retry's AbortError). Dead-lettered. */
export class PermanentError extends TroupeError {
  override readonly name = 'PermanentError';
  constructor(message: string, options?: TroupeErrorOptions) {
    super('PERMANENT', message, false, options);
  }
}

/** A handler ran past its timeout. Its signal was aborted; the attempt counts as transient. */
export class HandlerTimeoutError extends TroupeError {
  override readonly name = 'HandlerTimeoutError';
  constructor(timeoutMs: number) {
    super('HANDLER_TIMEOUT', `handler did not finish within ${timeoutMs} ms`, true);
  }
}

/** The work was cancelled (shutdown, scale-down, operator action). The delivery is requeued. */
export class CancelledError extends TroupeError {
  override readonly name = 'CancelledError';
  constructor(message = 'cancelled') {
    super('CANCELLED', message, false);
  }
}

/** Invalid configuration, found at start-up. Names the offending field. */
export class ConfigurationError extends TroupeError {
  override readonly name = 'ConfigurationError';
  /** Dotted path of the field at fault, e.g. `processors.companyUpdated.retry.attempts`. */
  readonly field: string;
  constructor(field: string, problem: string, options?: TroupeErrorOptions) {
    super('CONFIGURATION', `${field}: ${problem}`, false, options);
    this.field = field;
  }
}

/**
 * Normalises anything thrown into a {@link TroupeError}. Unknown errors count as
 * transient: a handler that throws a plain `Error` is retried, as the loop Troupe
 * replaces did. Throw {@link PermanentError} or {@link InvalidMessageError} to stop retries.
 */
export function toTroupeError(error: unknown): TroupeError {
  // Handlers throw anything, including objects whose getters throw (hostile or broken
  // errors, revoked proxies): normalising must never throw, or the worker would crash.
  try {
    if (error instanceof TroupeError) return error;
    if (error instanceof Error) {
      const message = String(error.message);
      // Loggers read these too; an error that throws on them is not kept as the cause.
      void error.stack;
      void (error as { cause?: unknown }).cause;
      return new TransientError(message, { cause: error });
    }
    return new TransientError(typeof error === 'string' ? error : 'non-error value thrown', {
      cause: error,
    });
  } catch {
    return new TransientError('unreadable error thrown');
  }
}
