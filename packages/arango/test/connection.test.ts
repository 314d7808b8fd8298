// ArangoStore's options resolved into arangojs's configuration.
import { ConfigurationError } from '@troupe/core';
import { describe, expect, it } from 'vitest';
import { resolveConnection } from '../src/index.js';

describe('resolveConnection', () => {
  it('defaults: root with an empty password on _system, pool of 8, 30 s timeout, 3 conflict retries', () => {
    const { config, database, urls } = resolveConnection({ url: 'http://127.0.0.1:8529' });
    expect(database).toBe('_system');
    expect(urls).toEqual(['http://127.0.0.1:8529']);
    expect(config).toEqual({
      url: ['http://127.0.0.1:8529'],
      databaseName: '_system',
      auth: { username: 'root', password: '' },
      poolSize: 8,
      timeout: 30_000,
      retryOnConflict: 3,
    });
  });

  it('takes credentials and the database out of the URL (/name or /_db/name, percent-decoded)', () => {
    const a = resolveConnection({ url: 'https://troupe:p%40ss@db.example:8529/orders' });
    expect(a.config.url).toEqual(['https://db.example:8529']);
    expect(a.config.auth).toEqual({ username: 'troupe', password: 'p@ss' });
    expect(a.database).toBe('orders');
    expect(resolveConnection({ url: 'http://h:8529/_db/sales' }).database).toBe('sales');
  });

  it('explicit options win over the URL', () => {
    const { config, database } = resolveConnection({
      url: 'http://u:p@h:8529/fromurl',
      database: 'explicit',
      username: 'admin',
      password: 'pw',
    });
    expect(database).toBe('explicit');
    expect(config.auth).toEqual({ username: 'admin', password: 'pw' });
  });

  it('a token means bearer authentication', () => {
    expect(resolveConnection({ url: 'http://h:8529', token: 'jwt' }).config.auth).toEqual({
      token: 'jwt',
    });
  });

  it('several coordinators are balanced round-robin', () => {
    const { config } = resolveConnection({ url: ['http://a:8529', 'http://b:8529'] });
    expect(config.url).toEqual(['http://a:8529', 'http://b:8529']);
    expect(config.loadBalancingStrategy).toBe('ROUND_ROBIN');
  });

  it('a CA (TLS) goes to the undici agent, with a connection pool of poolSize', () => {
    const { config } = resolveConnection({
      url: 'https://h:8529',
      ca: '-----BEGIN CERTIFICATE-----',
      poolSize: 4,
      agentOptions: { keepAliveTimeout: 10_000 },
    });
    expect(config.agentOptions).toEqual({
      connections: 4,
      keepAliveTimeout: 10_000,
      connect: { ca: '-----BEGIN CERTIFICATE-----' },
    });
    expect(config.poolSize).toBe(4);
  });

  it('rejects a bad URL, a bad protocol and a bad pool size, naming the option', () => {
    expect(() => resolveConnection({ url: 'not a url' })).toThrow(ConfigurationError);
    expect(() => resolveConnection({ url: 'ftp://h' })).toThrow(/url: unsupported protocol/);
    expect(() => resolveConnection({ url: [] })).toThrow(/url/);
    expect(() => resolveConnection({ url: 'http://h', poolSize: 0 })).toThrow(/poolSize/);
  });
});
