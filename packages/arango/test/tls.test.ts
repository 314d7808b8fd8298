// ArangoStore over https against a REST double of ArangoDB's documented API (not a live
// ArangoDB), with a self-signed certificate made for these tests only: trusted through
// the `ca` option (an undici agent), refused without it — a PermanentError, since no
// retry can make an untrusted certificate trusted.
import { readFileSync } from 'node:fs';
import { PermanentError } from '@troupe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArangoStore } from '../src/index.js';
import { ArangoRestDouble } from './rest-double.js';

const fixture = (name: string): Buffer =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const cert = fixture('test-only-server.crt');
const double = new ArangoRestDouble({ tls: { key: fixture('test-only-server.key'), cert } });
let url = '';

beforeAll(async () => {
  url = await double.start();
});

afterAll(async () => {
  await double.stop();
  expect(double.violations).toEqual([]);
});

describe("ArangoStore over TLS, against a REST double of ArangoDB's documented API (not a live ArangoDB)", () => {
  it('trusts the server through `ca` and works', async () => {
    const store = await ArangoStore.connect({
      url,
      username: 'troupe',
      password: 'secret',
      database: 'troupe',
      ca: cert,
      collections: ['tls'],
    });
    try {
      expect(url).toMatch(/^https:/);
      await store.upsert('tls', 'k', { version: 1 }, { ifNewer: 'version' });
      expect(await store.get('tls', 'k')).toEqual({ _key: 'k', version: 1 });
    } finally {
      await store.close();
    }
  });

  it('without `ca` the self-signed certificate is refused: a PermanentError naming TLS', async () => {
    const store = new ArangoStore({
      url,
      username: 'troupe',
      password: 'secret',
      database: 'troupe',
    });
    try {
      const error: unknown = await store.count('tls').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as Error).message).toMatch(/TLS/);
    } finally {
      await store.close();
    }
  });
});
