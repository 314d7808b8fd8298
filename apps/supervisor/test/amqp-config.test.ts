// The `amqp` section of the app config: one URL, several (a cluster) as a list or as a
// comma-separated TROUPE_AMQP_URL, the order they are tried in, and whether a refused
// login is retried.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { amqpUrls, demoEnabled, loadConfig } from '../src/config.js';

const dirWith = (config?: unknown): string => {
  const dir = mkdtempSync(join(tmpdir(), 'troupe-amqp-config-'));
  if (config !== undefined) writeFileSync(join(dir, 'troupe.config.json'), JSON.stringify(config));
  return dir;
};

describe('amqp configuration', () => {
  it('takes a comma-separated TROUPE_AMQP_URL as the nodes of a cluster, in order', () => {
    const config = loadConfig(
      {
        TROUPE_AMQP_URL: 'amqp://u:p@a:5681/v, amqp://u:p@b:5682/v,amqp://u:p@c:5683/v',
        TROUPE_AMQP_URL_ORDER: 'random',
      },
      dirWith(),
    );
    expect(amqpUrls(config)).toEqual([
      'amqp://u:p@a:5681/v',
      'amqp://u:p@b:5682/v',
      'amqp://u:p@c:5683/v',
    ]);
    expect(config.amqp.urlOrder).toBe('random');
    expect(demoEnabled(config)).toBe(false);
  });

  it('takes amqp.urls from the file; in order and retrying a refused login by default', () => {
    const config = loadConfig({}, dirWith({ amqp: { urls: ['amqp://a', 'amqps://b'] } }));
    expect(amqpUrls(config)).toEqual(['amqp://a', 'amqps://b']);
    expect(config.amqp.urlOrder).toBe('in-order');
    expect(config.amqp.retryOnLoginRefused).toBe(true);
  });

  it('reads TROUPE_AMQP_RETRY_ON_LOGIN_REFUSED', () => {
    const config = loadConfig(
      { TROUPE_AMQP_URL: 'amqp://a', TROUPE_AMQP_RETRY_ON_LOGIN_REFUSED: 'false' },
      dirWith(),
    );
    expect(config.amqp.retryOnLoginRefused).toBe(false);
  });

  it.each([
    [{ TROUPE_AMQP_URL: 'amqp://a,http://b' }, 'TROUPE_AMQP_URL (amqp.url)'],
    [{ TROUPE_AMQP_URL_ORDER: 'sideways' }, 'TROUPE_AMQP_URL_ORDER (amqp.urlOrder)'],
  ])('names the variable at fault: %o', (env, field) => {
    expect(() => loadConfig(env, dirWith())).toThrow(
      expect.objectContaining({ code: 'CONFIGURATION', field }),
    );
  });

  it('refuses amqp.url and amqp.urls together, and a bad entry of amqp.urls', () => {
    expect(() =>
      loadConfig({ TROUPE_AMQP_URL: 'amqp://a' }, dirWith({ amqp: { urls: ['amqp://b'] } })),
    ).toThrow(expect.objectContaining({ field: 'amqp.urls (and TROUPE_AMQP_URL)' }));
    expect(() => loadConfig({}, dirWith({ amqp: { urls: ['amqp://a', 'ftp://b'] } }))).toThrow(
      expect.objectContaining({ field: 'amqp.urls.1' }),
    );
    expect(() => loadConfig({}, dirWith({ amqp: { urls: [] } }))).toThrow(
      expect.objectContaining({ field: 'amqp.urls' }),
    );
  });
});
