// ArangoStore's options resolved into arangojs's configuration.
import { ConfigurationError } from '@troupe/core';
import { describe, expect, it } from 'vitest';
import { parseArangoStoreUrl, resolveConnection } from '../src/index.js';

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

describe('parseArangoStoreUrl (TROUPE_STORE)', () => {
  it('one host: credentials, database, port 8529 by default; arangodbs means https', () => {
    expect(parseArangoStoreUrl('arangodb://troupe:secret@db.internal/orders')).toEqual({
      url: ['http://db.internal:8529'],
      username: 'troupe',
      password: 'secret',
      database: 'orders',
    });
    expect(parseArangoStoreUrl('arangodbs://h:9000/_db/sales').url).toEqual(['https://h:9000']);
  });

  it('several comma-separated coordinators, each with its port, and a load-balancing strategy', () => {
    const options = parseArangoStoreUrl(
      'arangodb://u:p@c1:8529,c2:8530,10.0.0.3/troupe?loadBalancing=one_random',
    );
    expect(options.url).toEqual(['http://c1:8529', 'http://c2:8530', 'http://10.0.0.3:8529']);
    expect(options.loadBalancingStrategy).toBe('ONE_RANDOM');
    expect(resolveConnection(options).config).toMatchObject({
      url: ['http://c1:8529', 'http://c2:8530', 'http://10.0.0.3:8529'],
      loadBalancingStrategy: 'ONE_RANDOM',
      databaseName: 'troupe',
    });
    expect(resolveConnection(parseArangoStoreUrl('arangodb://a,b/x')).config).toMatchObject({
      loadBalancingStrategy: 'ROUND_ROBIN',
    });
  });

  it('a password holding /, @ and : as they are, or percent-encoded', () => {
    expect(parseArangoStoreUrl('arangodb://root:Sec/ret@Arango:2@h1,h2/db')).toMatchObject({
      url: ['http://h1:8529', 'http://h2:8529'],
      username: 'root',
      password: 'Sec/ret@Arango:2',
      database: 'db',
    });
    expect(parseArangoStoreUrl('arangodb://root:p%40ss%2Fw@h/db').password).toBe('p@ss/w');
  });

  it('errors name the field and never quote the password', () => {
    const attempts = [
      'http://root:Sec/retArango2@h/db',
      'arangodb://root:Sec/retArango2@h:port/db',
      'arangodb://root:Sec/retArango2@h/db?loadBalancing=fastest',
    ];
    for (const attempt of attempts) {
      const error: unknown = (() => {
        try {
          parseArangoStoreUrl(attempt, 'TROUPE_STORE');
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/TROUPE_STORE/);
      expect((error as Error).message).not.toMatch(/Sec|retArango2/);
    }
  });
});
