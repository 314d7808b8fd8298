// Translates arangojs's errors into core's taxonomy at the adapter boundary: ArangoDB's
// error numbers first, then the HTTP status, then network failures (a refused or reset
// connection, a timeout), walking the `cause` chain that fetch wraps them in.
import { PermanentError, TransientError, TroupeError } from '@troupe/core';

/**
 * ArangoDB error numbers that may pass on retry. From ArangoDB's documented error codes:
 * out of memory (3), lock timeout (18), request cancelled (21), locked (28), deadlock (29),
 * shutting down (30), resource limit (32), starting up (38), request timeout (408),
 * service unavailable (503), gateway timeout (504), read-only (1004, e.g. a follower),
 * filesystem full (1104), write-write conflict (1200), cluster hiccups (1446 not a
 * follower, 1457 cluster timeout, 1465 connection lost, 1474 AQL communication, 1478
 * backend unavailable, 1491 leader resigned, 1492 agency communication, 1495 leadership
 * challenge, 1496 not a leader), query killed (1500), collection lock failed (1521).
 */
export const transientErrorNums: ReadonlySet<number> = new Set([
  3, 18, 21, 28, 29, 30, 32, 38, 408, 503, 504, 1004, 1104, 1200, 1446, 1457, 1465, 1474, 1478,
  1491, 1492, 1495, 1496, 1500, 1521,
]);

/**
 * ArangoDB error numbers that will not pass: forbidden (11), unauthorized (401), document
 * not found (1202), collection not found (1203), bad document handle (1205), duplicate name
 * (1207), illegal name (1208), unique constraint violated (1210), document too large (1216),
 * illegal key (1221), unexpected key (1222), missing key (1226), invalid document type
 * (1227), database not found (1228), invalid database name (1229), query errors (15xx
 * other than those above). Any number in neither set is classified by its HTTP status.
 */
export const permanentErrorNums: ReadonlySet<number> = new Set([
  11, 401, 403, 1202, 1203, 1205, 1207, 1208, 1210, 1216, 1221, 1222, 1226, 1227, 1228, 1229,
]);

/** Node and undici error codes of a connection that failed or dropped: worth a retry. */
const transientNetworkCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * TLS verification failures: the server's certificate is not trusted (a missing `ca`),
 * expired or for another host. Retrying cannot help: the configuration must change.
 */
const permanentTlsCodes: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Error names arangojs gives failures of the request itself (no answer from the server). */
const transientNetworkNames: ReadonlySet<string> = new Set([
  'ResponseTimeoutError',
  'RequestAbortedError',
  'FetchFailedError',
  'PropagationTimeoutError',
]);

const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;

/** The error and its causes, outermost first (bounded, in case of a cycle). */
function causeChain(error: unknown): Record<string, unknown>[] {
  const chain: Record<string, unknown>[] = [];
  let current = record(error);
  while (current !== undefined && chain.length < 8 && !chain.includes(current)) {
    chain.push(current);
    current = record(current['cause']);
  }
  return chain;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function fromStatus(status: number, message: string, error: unknown): TroupeError {
  return status >= 500 || status === 408 || status === 429
    ? new TransientError(message, { cause: error })
    : new PermanentError(message, { cause: error });
}

/**
 * Classifies anything arangojs (or the store's own validation) throws:
 * - a {@link TroupeError} is returned as it is;
 * - an `ArangoError` by its `errorNum` ({@link transientErrorNums}, {@link permanentErrorNums}),
 *   else by its HTTP status (5xx, 408 and 429 transient, other 4xx permanent);
 * - an `HttpError` (an answer without an ArangoDB error body, e.g. from a proxy) by status;
 * - a certificate that TLS could not verify (`DEPTH_ZERO_SELF_SIGNED_CERT`,
 *   `CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`…) anywhere in the `cause` chain as
 *   permanent: the configuration (`ca`) must change;
 * - a timeout, an aborted or failed fetch, and a refused, reset or unreachable connection
 *   anywhere in the `cause` chain (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `UND_ERR_*`…)
 *   as transient;
 * - a `TypeError` or `RangeError` thrown before any request (a value JSON cannot encode) as
 *   permanent; anything else as transient.
 */
export function classifyArangoError(error: unknown): TroupeError {
  if (error instanceof TroupeError) return error;
  const message = describe(error);
  const chain = causeChain(error);
  const outer = chain[0];
  if (outer !== undefined && typeof outer['errorNum'] === 'number') {
    const errorNum = outer['errorNum'];
    const text = `arangodb: ${errorNum}: ${message}`;
    if (transientErrorNums.has(errorNum)) return new TransientError(text, { cause: error });
    if (permanentErrorNums.has(errorNum)) return new PermanentError(text, { cause: error });
    const status = outer['code'];
    return typeof status === 'number'
      ? fromStatus(status, text, error)
      : new TransientError(text, { cause: error });
  }
  for (const link of chain) {
    const code = link['code'];
    if (typeof code === 'string' && permanentTlsCodes.has(code)) {
      return new PermanentError(`arangodb: TLS: ${code}: ${message}`, { cause: error });
    }
    if (typeof code === 'string' && transientNetworkCodes.has(code)) {
      return new TransientError(`arangodb: ${code}: ${message}`, { cause: error });
    }
  }
  if (outer !== undefined && outer['name'] === 'HttpError' && typeof outer['code'] === 'number') {
    return fromStatus(outer['code'], `arangodb: HTTP ${outer['code']}: ${message}`, error);
  }
  if (outer !== undefined && transientNetworkNames.has(String(outer['name']))) {
    return new TransientError(`arangodb: ${message}`, { cause: error });
  }
  if ((error instanceof TypeError || error instanceof RangeError) && chain.length === 1) {
    // fetch reports a network failure as `TypeError: fetch failed` with the reason as
    // its cause (handled above); one without a cause is a value we could not send.
    return new PermanentError(`arangodb: ${message}`, { cause: error });
  }
  return new TransientError(`arangodb: ${message}`, { cause: error });
}
