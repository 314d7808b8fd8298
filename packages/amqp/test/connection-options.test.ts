// Connection options: the URL becomes connect fields (heartbeat applies), TLS material
// reaches the socket options, and logs only ever see a URL without its password.
import { ConfigurationError } from '@troupe/core';
import { describe, expect, it } from 'vitest';
import { redactUrl, resolveConnection, resolveConnections } from '../src/index.js';

describe('resolveConnection', () => {
  it('turns a URL into connect fields with the heartbeat', () => {
    const resolved = resolveConnection({
      url: 'amqp://app:s%40cret@broker.local:5673/prod%2Fa',
      heartbeatSeconds: 30,
    });
    expect(resolved.connect).toEqual({
      protocol: 'amqp',
      hostname: 'broker.local',
      port: 5673,
      vhost: 'prod/a',
      heartbeat: 30,
      username: 'app',
      password: 's@cret',
    });
    expect(resolved.redactedUrl).toBe('amqp://app:***@broker.local:5673/prod%2Fa');
    expect(JSON.stringify(resolved.redactedUrl)).not.toContain('cret');
  });

  it('passes CA, client certificate and key to the TLS socket', () => {
    const resolved = resolveConnection({
      url: 'amqps://broker.local',
      tls: { ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM', servername: 'broker' },
    });
    expect(resolved.connect.port).toBe(5671);
    expect(resolved.socket).toMatchObject({
      ca: 'CA PEM',
      cert: 'CERT PEM',
      key: 'KEY PEM',
      servername: 'broker',
    });
  });

  it('rejects bad options naming the field', () => {
    expect(() => resolveConnection({ url: 'http://x' })).toThrow(ConfigurationError);
    expect(() => resolveConnection({ url: 'amqp://x', tls: {} })).toThrow(/amqp\.tls/);
    expect(() => resolveConnection({ url: 'amqp://x', heartbeatSeconds: -1 })).toThrow(
      /heartbeatSeconds/,
    );
  });

  it('redacts, and never echoes an unparsable URL', () => {
    expect(redactUrl('amqp://guest:guest@127.0.0.1:5672')).toBe('amqp://guest:***@127.0.0.1:5672');
    expect(redactUrl('not a url :pass@')).toBe('<invalid url>');
  });

  it('resolves several URLs in order, each redacted, and names the one at fault', () => {
    const resolved = resolveConnections({
      url: ['amqp://app:pw1@a:5681/v', 'amqp://app:pw2@b:5682/v'],
      urlOrder: 'random',
    });
    expect(resolved.map((entry) => entry.connect.port)).toEqual([5681, 5682]);
    expect(resolved.map((entry) => entry.redactedUrl)).toEqual([
      'amqp://app:***@a:5681/v',
      'amqp://app:***@b:5682/v',
    ]);
    expect(() => resolveConnections({ url: ['amqp://a', 'http://b'] })).toThrow(/amqp\.url\[1\]/);
    expect(() => resolveConnections({ url: [] })).toThrow(/amqp\.url/);
    expect(resolveConnection({ url: ['amqp://a:1', 'amqp://b:2'] }).connect.hostname).toBe('a');
  });
});
