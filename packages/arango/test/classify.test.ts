// ArangoDB's and the network's errors, classified case by case, from inputs shaped as
// arangojs 10 raises them (ArangoError with errorNum and code, HttpError, NetworkError
// subclasses, fetch's TypeError with a system error as its cause).
import { ConfigurationError, PermanentError, TransientError } from '@troupe/core';
import { ArangoError, FetchFailedError, HttpError, ResponseTimeoutError } from 'arangojs/errors';
import { describe, expect, it } from 'vitest';
import { classifyArangoError } from '../src/index.js';

const arangoError = (errorNum: number, code: number, errorMessage = `error ${errorNum}`): Error =>
  new ArangoError({ errorNum, code, errorMessage });

const systemError = (code: string): Error =>
  Object.assign(new Error(`connect ${code} 127.0.0.1:8529`), {
    code,
    syscall: 'connect',
    errno: -1,
  });

const request = new Request('http://127.0.0.1:8529/_api/version');

describe('classifyArangoError: ArangoDB error numbers', () => {
  it.each([
    [1200, 409, 'write-write conflict'],
    [1004, 403, 'read only'],
    [503, 503, 'service unavailable'],
    [18, 500, 'lock timeout'],
    [28, 500, 'locked'],
    [29, 500, 'deadlock'],
    [30, 503, 'shutting down'],
    [32, 500, 'resource limit'],
    [38, 503, 'starting up'],
    [408, 408, 'request timeout'],
    [504, 504, 'gateway timeout'],
    [1104, 500, 'filesystem full'],
    [1457, 500, 'cluster timeout'],
    [1465, 500, 'cluster connection lost'],
    [1478, 503, 'cluster backend unavailable'],
    [1491, 503, 'shard leader resigned'],
    [1495, 503, 'leadership challenge ongoing'],
    [1496, 503, 'not a leader'],
    [1500, 410, 'query killed'],
    [1521, 500, 'collection lock failed'],
  ])('%i (%s) is transient', (errorNum, code) => {
    const error = classifyArangoError(arangoError(errorNum, code));
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toContain(String(errorNum));
  });

  it.each([
    [1210, 409, 'unique constraint violated'],
    [1221, 400, 'illegal document key'],
    [1203, 404, 'collection or view not found'],
    [1202, 404, 'document not found'],
    [1207, 409, 'duplicate name'],
    [1208, 400, 'illegal name'],
    [1216, 413, 'document too large'],
    [1222, 400, 'unexpected document key'],
    [1226, 400, 'missing document key'],
    [1227, 400, 'invalid document type'],
    [1228, 404, 'database not found'],
    [11, 401, 'not authorized'],
    [11, 403, 'forbidden'],
  ])('%i (%s) is permanent', (errorNum, code) => {
    const error = classifyArangoError(arangoError(errorNum, code));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.retryable).toBe(false);
  });

  it('an error number in neither list goes by HTTP status: 5xx transient, 4xx permanent', () => {
    expect(classifyArangoError(arangoError(1501, 400, 'AQL syntax error'))).toBeInstanceOf(
      PermanentError,
    );
    expect(classifyArangoError(arangoError(4, 500, 'internal error'))).toBeInstanceOf(
      TransientError,
    );
    expect(classifyArangoError(arangoError(9999, 429, 'too many requests'))).toBeInstanceOf(
      TransientError,
    );
  });

  it('keeps the driver error as the cause', () => {
    const cause = arangoError(1200, 409);
    expect(classifyArangoError(cause).cause).toBe(cause);
  });
});

describe('classifyArangoError: the network', () => {
  it.each([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'EAI_AGAIN',
    'UND_ERR_SOCKET',
    'UND_ERR_CONNECT_TIMEOUT',
  ])('%s, as the cause of a failed fetch, is transient', (code) => {
    const fetchFailed = new TypeError('fetch failed', { cause: systemError(code) });
    expect(classifyArangoError(fetchFailed)).toBeInstanceOf(TransientError);
    const wrapped = new FetchFailedError(undefined, request, { cause: fetchFailed });
    const error = classifyArangoError(wrapped);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toContain(code);
  });

  it.each([
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'CERT_HAS_EXPIRED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
  ])('%s (TLS verification) is permanent: the configuration must change', (code) => {
    const fetchFailed = new TypeError('fetch failed', { cause: systemError(code) });
    const error = classifyArangoError(
      new FetchFailedError(undefined, request, { cause: fetchFailed }),
    );
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toContain(code);
  });

  it("arangojs's response timeout is transient", () => {
    expect(classifyArangoError(new ResponseTimeoutError(undefined, request))).toBeInstanceOf(
      TransientError,
    );
  });

  it("arangojs's FetchFailedError without a known cause is transient", () => {
    expect(classifyArangoError(new FetchFailedError(undefined, request))).toBeInstanceOf(
      TransientError,
    );
  });

  it('an HTTP error without an ArangoDB body (a proxy) goes by status', () => {
    const response = (status: number) =>
      Object.assign(new Response(null, { status }), {
        request,
        arangojsHostUrl: 'http://127.0.0.1:8529',
        parsedBody: undefined,
      });
    expect(classifyArangoError(new HttpError(response(502)))).toBeInstanceOf(TransientError);
    expect(classifyArangoError(new HttpError(response(503)))).toBeInstanceOf(TransientError);
    expect(classifyArangoError(new HttpError(response(404)))).toBeInstanceOf(PermanentError);
  });
});

describe('classifyArangoError: everything else', () => {
  it('returns Troupe errors unchanged', () => {
    const error = new ConfigurationError('url', 'missing');
    expect(classifyArangoError(error)).toBe(error);
  });

  it('a TypeError or RangeError raised before any request is permanent', () => {
    expect(
      classifyArangoError(new TypeError('Do not know how to serialize a BigInt')),
    ).toBeInstanceOf(PermanentError);
    expect(classifyArangoError(new RangeError('Invalid string length'))).toBeInstanceOf(
      PermanentError,
    );
  });

  it('an unknown error is transient', () => {
    expect(classifyArangoError(new Error('??'))).toBeInstanceOf(TransientError);
    expect(classifyArangoError('a string')).toBeInstanceOf(TransientError);
  });
});
