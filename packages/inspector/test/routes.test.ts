// The inspector's HTTP routes on a real node:http server (port 0): the token check,
// the read-only default, the JSON endpoints, Mermaid text and the event stream.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { inspectorRoutes, type InspectorRoutesOptions } from '../src/index.js';
import { flush, startInspectedPool, type InspectedPool } from './helpers.js';

let pool: InspectedPool | undefined;
let server: Server | undefined;

afterEach(async () => {
  if (server !== undefined) {
    const s = server;
    server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  await pool?.stop();
  pool = undefined;
});

async function serve(options: InspectorRoutesOptions = {}): Promise<string> {
  pool = await startInspectedPool({ concurrency: 2 });
  const routes = inspectorRoutes(pool.inspector, { ...options, pools: [pool.pool] });
  server = createServer((request, response) => {
    if (routes(request, response)) return;
    response.writeHead(404).end('not found\n');
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('the token', () => {
  it('is required on every request when configured: 401 without, 200 with header or query', async () => {
    const url = await serve({ token: 's3cret' });
    for (const path of ['/inspector', '/inspector/api/tree', '/inspector/api/stream']) {
      const response = await fetch(`${url}${path}`);
      expect(response.status, path).toBe(401);
      expect(response.headers.get('www-authenticate')).toContain('Bearer');
    }
    expect(
      (await fetch(`${url}/inspector/api/tree`, { headers: { authorization: 'Bearer nope' } }))
        .status,
    ).toBe(401);
    expect((await fetch(`${url}/inspector/api/tree?token=nope`)).status).toBe(401);
    const withHeader = await fetch(`${url}/inspector/api/tree`, {
      headers: { authorization: 'Bearer s3cret' },
    });
    expect(withHeader.status).toBe(200);
    expect((await fetch(`${url}/inspector?token=s3cret`)).status).toBe(200);
    // Paths outside the inspector are left to the server.
    expect((await fetch(`${url}/healthz`)).status).toBe(404);
  });

  it('is not asked for when none is configured', async () => {
    const url = await serve();
    expect((await fetch(`${url}/inspector/api/tree`)).status).toBe(200);
  });
});

/** A GET with a Host header of our choosing (fetch does not let one set it). */
function getWithHost(url: string, path: string, host: string | undefined): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { hostname, port, path, method: 'GET', headers: host === undefined ? {} : { host } },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    if (host === undefined) req.removeHeader('host');
    req.on('error', reject);
    req.end();
  });
}

describe('the Host header', () => {
  it('must name loopback when no token is set (DNS rebinding): 403 otherwise', async () => {
    const url = await serve();
    const { port } = new URL(url);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost']) {
      expect(await getWithHost(url, '/inspector/api/tree', host), host).toBe(200);
    }
    for (const host of [
      `attacker.example:${port}`,
      'attacker.example',
      `127.0.0.1.attacker.example:${port}`,
      `localhost.attacker.example`,
      '192.168.1.10',
    ]) {
      expect(await getWithHost(url, '/inspector/api/tree', host), host).toBe(403);
      expect(await getWithHost(url, '/inspector', host), host).toBe(403);
    }
  });

  it('may be any host once a token is required (the token is the check)', async () => {
    const url = await serve({ token: 's3cret' });
    expect(await getWithHost(url, '/inspector/api/tree?token=s3cret', 'troupe.internal:9464')).toBe(
      200,
    );
    expect(await getWithHost(url, '/inspector/api/tree', 'troupe.internal:9464')).toBe(401);
  });
});

describe('control actions', () => {
  it('are refused (403) by default: the inspector is read-only', async () => {
    const url = await serve();
    const worker = encodeURIComponent('root/pool:orders/worker-1');
    for (const action of ['cancel', 'restart', 'scale?size=3']) {
      const response = await fetch(`${url}/inspector/api/actors/${worker}/${action}`, {
        method: 'POST',
      });
      expect(response.status, action).toBe(403);
    }
    expect((await fetch(`${url}/inspector/api/actors/${worker}/restart`)).status).toBe(405);
    expect(pool?.inspector.restarts()).toEqual([]);
  });

  it('restart a child and scale a pool when enabled', async () => {
    const url = await serve({ controls: true });
    const worker = encodeURIComponent('root/pool:orders/worker-1');
    const before = pool?.inspector.actor('root/pool:orders/worker-1')?.actor.sessionId;
    const restart = await fetch(`${url}/inspector/api/actors/${worker}/restart`, {
      method: 'POST',
    });
    expect(restart.status).toBe(202);
    await flush();
    expect(pool?.inspector.actor('root/pool:orders/worker-1')?.actor.sessionId).not.toBe(before);

    const poolId = encodeURIComponent('root/pool:orders');
    const scale = await fetch(`${url}/inspector/api/actors/${poolId}/scale`, {
      method: 'POST',
      body: JSON.stringify({ size: 3 }),
    });
    expect(scale.status).toBe(202);
    await flush();
    const tree = (await (await fetch(`${url}/inspector/api/tree`)).json()) as {
      tree: { children: { id: string; children: { id: string }[] }[] }[];
    };
    expect(tree.tree[0]?.children[0]?.children.map((child) => child.id)).toEqual([
      'worker-1',
      'worker-2',
      'consumer',
      'worker-3',
    ]);
    expect(
      (await fetch(`${url}/inspector/api/actors/${poolId}/scale?size=x`, { method: 'POST' }))
        .status,
    ).toBe(400);
    expect(
      (await fetch(`${url}/inspector/api/actors/root/restart`, { method: 'POST' })).status,
    ).toBe(409);
  });
});

describe('the endpoints', () => {
  it('serve the page, an actor with its chart, Mermaid text and filtered events', async () => {
    const url = await serve();
    const page = await fetch(`${url}/inspector`);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    // Nothing to fetch: no script, stylesheet or image from elsewhere (a `#fragment`
    // reference, as the render-blocking `<link rel=expect>` makes, is not a request).
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="(?!#)/);
    expect(html).toContain('<link rel="expect" href="#drawn" blocking="render">');

    await pool?.publish({ id: 'e-1', behaviour: 'ok' });
    const worker = encodeURIComponent('root/pool:orders/worker-1');
    const detail = (await (await fetch(`${url}/inspector/api/actors/${worker}`)).json()) as {
      actor: { kind: string };
      chart: { id: string };
      events: unknown[];
    };
    expect(detail.actor.kind).toBe('worker');
    expect(detail.chart.id).toBe('processor');
    const mermaid = await fetch(`${url}/inspector/api/actors/${worker}/mermaid`);
    expect(await mermaid.text()).toMatch(/^stateDiagram-v2\n/);
    const events = (await (await fetch(`${url}/inspector/api/events?messageId=e-1`)).json()) as {
      events: { type: string }[];
    };
    expect(events.events.map((event) => event.type)).toEqual([
      'batch.received',
      'handler.settled',
      'persist.settled',
    ]);
    expect((await fetch(`${url}/inspector/api/actors/nobody`)).status).toBe(404);
    expect((await fetch(`${url}/inspector/api/nothing`)).status).toBe(404);
  });

  it('stream the tree, then batched updates as server-sent events', async () => {
    const url = await serve();
    const controller = new AbortController();
    const response = await fetch(`${url}/inspector/api/stream`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body?.getReader();
    if (reader === undefined) throw new Error('no body');
    let text = '';
    const decoder = new TextDecoder();
    const readUntil = async (pattern: RegExp): Promise<void> => {
      while (!pattern.test(text)) {
        const { value, done } = (await reader.read()) as {
          value?: Uint8Array;
          done: boolean;
        };
        if (done) throw new Error('stream ended');
        text += decoder.decode(value);
      }
    };
    await readUntil(/event: tree\ndata: .*\n\n/);
    await pool?.publish({ id: 's-1', behaviour: 'ok' });
    await readUntil(/event: update\ndata: .*"s-1".*\n\n/);
    controller.abort();
  });

  it('keep an idle stream open with a comment line after a silence', async () => {
    const url = await serve({ heartbeatMs: 20 });
    const controller = new AbortController();
    const response = await fetch(`${url}/inspector/api/stream`, { signal: controller.signal });
    const reader = response.body?.getReader();
    if (reader === undefined) throw new Error('no body');
    let text = '';
    const decoder = new TextDecoder();
    // Waits for the events it asserts: two pings, each after the stream fell silent.
    while ((text.match(/^: ping\n\n/gm) ?? []).length < 2) {
      const { value, done } = (await reader.read()) as { value?: Uint8Array; done: boolean };
      if (done) throw new Error('stream ended');
      text += decoder.decode(value);
    }
    expect(text.indexOf('event: tree')).toBeLessThan(text.indexOf(': ping'));
    controller.abort();
  });
});
