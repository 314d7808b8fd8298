// The app's inspector is attached on demand (it costs CPU on every transition while
// attached): only a request the inspector's routes accept may attach it. A request
// refused for want of a token, or for a foreign Host header, leaves it off.
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';

const logger = pino({ level: 'silent' });
/** The repository's root, whose troupe.config.json names the example processors. */
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

function get(url: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET', headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('attaching the inspector on demand', () => {
  let app: App | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  const start = async (env: Record<string, string>): Promise<string> => {
    const config = loadConfig(
      { TROUPE_STORE: 'memory:', TROUPE_HTTP_PORT: '0', TROUPE_DEMO: 'off', ...env },
      repoRoot,
    );
    app = await startApp(config, logger);
    return `http://127.0.0.1:${app.http.port}`;
  };

  it('a request refused with 401 does not attach it', async () => {
    const url = await start({ TROUPE_INSPECTOR_TOKEN: 't0ken-for-the-test-suite' });
    expect(await get(url, '/inspector/api/tree')).toBe(401);
    expect(await get(url, '/inspector/api/stream?token=wrong')).toBe(401);
    expect(app?.inspector?.size().live).toBe(0);
    // The same request with the token does attach it.
    expect(
      await get(url, '/inspector/api/tree', { authorization: 'Bearer t0ken-for-the-test-suite' }),
    ).toBe(200);
    expect(app?.inspector?.size().live).toBeGreaterThan(0);
  });

  it('a foreign Host header without a token is refused and does not attach it', async () => {
    const url = await start({});
    expect(await get(url, '/inspector/api/tree', { host: 'attacker.example' })).toBe(403);
    expect(app?.inspector?.size().live).toBe(0);
    expect(await get(url, '/inspector/api/tree')).toBe(200);
    expect(app?.inspector?.size().live).toBeGreaterThan(0);
  });
});
