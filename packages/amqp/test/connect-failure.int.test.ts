// Connection failures at start, on the real broker: a refused login, an unknown vhost
// and a refused connection are each classified as such in the transport's status and
// logged as such (a refused login at error level), never as "connection lost" for a
// connection the transport never had; with two URLs, the second is used when the first
// refuses, and the status names it.
import { connect } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { describeConnectError, type AmqpTransport } from '../src/index.js';
import { brokerUrl, captureLogger, createTransport, uniqueName, whenState } from './helpers.js';

const refusedUrl = 'amqp://guest:guest@127.0.0.1:1';
let transport: AmqpTransport | undefined;

afterEach(async () => {
  await transport?.close();
  transport = undefined;
});

/** A transport on `url` and the first failed attempt's status and logs. */
async function firstFailure(url: string) {
  const { logger, logs } = captureLogger();
  transport = createTransport({ url, logger, reconnectBackoff: { kind: 'fixed', delayMs: 50 } });
  const current = transport;
  await whenState(current, () => current.status.lastFailure !== undefined);
  return { status: current.status, logs };
}

describe('connection failures at start', () => {
  it('a wrong password: login-refused, logged at error level, never "connection lost"', async () => {
    const { status, logs } = await firstFailure('amqp://guest:not-the-password@127.0.0.1:5672');
    expect(status.lastFailure?.kind).toBe('login-refused');
    expect(status.lastFailure?.description).toMatch(/refused the login \(403 ACCESS_REFUSED\)/);
    expect(status.connected).toBe(false);
    expect(status.generation).toBe(0);
    expect(status.node).toBe('amqp://guest:***@127.0.0.1:5672');
    const refused = logs.find((log) => log.msg.startsWith('amqp login refused'));
    expect(refused?.level).toBe(50);
    expect(logs.map((log) => log.msg)).not.toContain('amqp connection lost; reconnecting');
    expect(JSON.stringify(logs)).not.toContain('not-the-password');
  });

  it('an unknown vhost: vhost-refused', async () => {
    const { status } = await firstFailure(`${brokerUrl}/${uniqueName('no-such-vhost')}`);
    expect(status.lastFailure?.kind).toBe('vhost-refused');
  });

  it('nothing listening: connection-refused, logged as a failed connect', async () => {
    const { status, logs } = await firstFailure(refusedUrl);
    expect(status.lastFailure?.kind).toBe('connection-refused');
    expect(logs.map((log) => log.msg)).toContain('amqp connect failed; retrying');
    expect(logs.map((log) => log.msg)).not.toContain('amqp connection lost; reconnecting');
  });

  it('gives up at once on a refused login when retryOnLoginRefused is false', async () => {
    const { logger, logs } = captureLogger();
    transport = createTransport({
      url: 'amqp://guest:not-the-password@127.0.0.1:5672',
      logger,
      retryOnLoginRefused: false,
    });
    await expect(transport.ready()).rejects.toThrow(/failed/);
    expect(transport.status.state).toBe('failed');
    expect(transport.status.lastFailure?.kind).toBe('login-refused');
    expect(logs.find((log) => log.msg.includes('not retrying'))?.level).toBe(50);
  });

  it('with two URLs, connects to the second when the first refuses, and names it', async () => {
    transport = createTransport({ url: [refusedUrl, brokerUrl] });
    await transport.ready();
    expect(transport.status).toMatchObject({
      connected: true,
      node: 'amqp://guest:***@127.0.0.1:5672',
      nodes: ['amqp://guest:***@127.0.0.1:1', 'amqp://guest:***@127.0.0.1:5672'],
      generation: 1,
      lastFailure: undefined,
    });
  });
});

describe('describeConnectError on amqplib errors', () => {
  const attempt = async (url: string): Promise<unknown> => {
    try {
      const model = await connect(url);
      await model.close();
      return undefined;
    } catch (error) {
      return error;
    }
  };

  it('names each failure the CLI reports', async () => {
    expect(describeConnectError(await attempt('amqp://guest:bad@127.0.0.1:5672')).kind).toBe(
      'login-refused',
    );
    expect(describeConnectError(await attempt(`${brokerUrl}/${uniqueName('nope')}`)).kind).toBe(
      'vhost-refused',
    );
    expect(describeConnectError(await attempt(refusedUrl)).kind).toBe('connection-refused');
    expect(describeConnectError(new Error('x'))).toMatchObject({ kind: 'other', message: 'x' });
  });

  it('redacts credentials inside an error message', () => {
    const failure = describeConnectError(new Error('cannot reach amqp://app:s3cr%2Ft@host:5672/'));
    expect(failure.message).toBe('cannot reach amqp://***@host:5672/');
    expect(failure.description).not.toContain('s3cr');
  });
});
