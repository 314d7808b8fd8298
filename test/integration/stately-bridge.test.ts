// The bridge to Stately's inspector: with TROUPE_STATELY_INSPECT_URL set, the app sends
// XState's inspection events over a WebSocket (here to a local server standing in for
// the Stately inspector, which is what `@statelyai/inspect` talks to); without it, none.
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { startApp, type App } from '../../apps/supervisor/src/app.js';
import { loadConfig } from '../../apps/supervisor/src/config.js';
import { eventually } from '../e2e/harness.js';

const logger = pino({ level: 'silent' });
/** The example configuration: the company processors and the demo publisher. */
const exampleConfig = fileURLToPath(new URL('../../troupe.config.json', import.meta.url));

describe('bridge to the Stately inspector', () => {
  let app: App | undefined;
  let server: WebSocketServer | undefined;
  afterEach(async () => {
    await app?.stop();
    await new Promise<void>((resolve) => {
      if (server === undefined) resolve();
      else server.close(() => resolve());
    });
  });

  it('sends inspection events to the configured WebSocket inspector', async () => {
    const received: string[] = [];
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    server.on('connection', (socket) => {
      socket.on('message', (data: Buffer) => received.push(data.toString()));
    });
    await new Promise<void>((resolve) => server?.once('listening', () => resolve()));
    const { port } = server.address() as { port: number };
    const config = loadConfig(
      {
        TROUPE_CONFIG: exampleConfig,
        TROUPE_STORE: 'memory:',
        TROUPE_HTTP_PORT: '0',
        TROUPE_DEMO_INTERVAL_MS: '5',
        TROUPE_STATELY_INSPECT_URL: `ws://127.0.0.1:${port}`,
      },
      '/nonexistent',
    );
    app = await startApp(config, logger);
    await eventually(async () => Promise.resolve(received.length > 20), 20_000, 'events');
    const types = new Set(
      received.map((text) => (JSON.parse(text) as { type?: unknown }).type).map(String),
    );
    expect(types.has('@xstate.snapshot') || types.has('@xstate.event')).toBe(true);
  });

  it('is off unless configured', () => {
    const config = loadConfig({ TROUPE_STORE: 'memory:' }, '/nonexistent');
    expect(config.inspector.statelyUrl).toBeUndefined();
    expect(() => loadConfig({ TROUPE_STATELY_INSPECT_URL: 'http://x' }, '/nonexistent')).toThrow(
      expect.objectContaining({ field: 'TROUPE_STATELY_INSPECT_URL (inspector.statelyUrl)' }),
    );
  });
});
