/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The inspector page in headless Chromium (Debian's package, driven by playwright-core;
// no browser is ever downloaded): a supervisor with a pool on the in-memory ports, the
// inspector attached and served by a node:http server on port 0. The page shows the
// pool and its workers; a published message lights the worker's `handling` state and
// marks the transition that led there; releasing it lights `idle` again. A screenshot
// is kept in test/artifacts/inspector.png. A worker that fails shows its restart.
// The worker's chart (laid out by elkjs on the server) is drawn at the first paint, and
// its geometry as the browser drew it is checked: no text overlaps another or a state it
// does not belong to, compound states contain their children, edges go around states;
// test/artifacts/worker-chart.png keeps the picture.
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectorRoutes } from '../src/index.js';
import { inspectorPage } from '../src/internal/page.js';
import {
  edgeHome,
  geometryProblems,
  type EdgeRoute,
  type StateRect,
  type TextRect,
} from './geometry.js';
import { startInspectedPool, type InspectedPool } from './helpers.js';

const executablePath = '/usr/bin/chromium';
const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

describe.skipIf(!existsSync(executablePath))(
  'inspector in headless Chromium (skipped: no /usr/bin/chromium)',
  () => {
    let h: InspectedPool;
    let server: Server;
    let browser: Browser;
    let page: Page;
    let url: string;
    const pageErrors: string[] = [];

    beforeAll(async () => {
      h = await startInspectedPool({ concurrency: 2 });
      const routes = inspectorRoutes(h.inspector, { token: 't0ken' });
      server = createServer((request, response) => {
        if (routes(request, response)) return;
        response.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      browser = await chromium.launch({
        executablePath,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-dev-shm-usage',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      page.on('pageerror', (error) => pageErrors.push(error.message));
      // Offline: any request that does not go to the inspector's server fails the test.
      await page.route('**/*', async (route) => {
        if (route.request().url().startsWith(url)) await route.continue();
        else {
          pageErrors.push(`external request: ${route.request().url()}`);
          await route.abort();
        }
      });
    });

    afterAll(async () => {
      await browser?.close();
      server?.closeAllConnections();
      await new Promise<void>((resolve) =>
        server === undefined ? resolve() : server.close(() => resolve()),
      );
      await h?.stop();
    });

    it('shows the supervision tree with the pool, its workers and its consumer', async () => {
      await page.goto(`${url}/inspector?token=t0ken`);
      await page.waitForSelector('.conn.live');
      const pool = page.locator('.node[data-path="root/pool:orders"]');
      await expect.poll(() => pool.getAttribute('data-state')).toBe('running');
      for (const worker of ['worker-1', 'worker-2']) {
        const node = page.locator(`.node[data-path="root/pool:orders/${worker}"]`);
        expect(await node.getAttribute('data-kind')).toBe('worker');
        expect(await node.getAttribute('data-state')).toBe('idle');
      }
      expect(
        await page
          .locator('.node[data-path="root/pool:orders/consumer"]')
          .getAttribute('data-kind'),
      ).toBe('consumer');
      // Read-only by default: no control buttons.
      expect(await page.locator('#controls button').count()).toBe(0);
      // The first worker is selected: its chart is drawn with `idle` lit.
      await page.waitForSelector('#chart .state.active[data-state-path="idle"]');
      expect(await page.locator('#arrows path[data-edge]').count()).toBeGreaterThan(5);
    });

    it('lights the state a published message moves a worker to, then idle again', async () => {
      await page.locator('.node[data-path="root/pool:orders/worker-1"]').click();
      await page.waitForSelector('#chart .state.active[data-state-path="idle"]');
      await h.publish({ id: 'browser-1', behaviour: 'hold' });

      // Whichever worker took it, the tree shows it handling the message.
      const busy = page.locator('.node[data-kind="worker"][data-state="consuming.handling"]');
      await busy.first().waitFor();
      const path = await busy.first().getAttribute('data-path');
      expect(path).toMatch(/^root\/pool:orders\/worker-\d$/);
      await busy.first().click();
      await page.waitForSelector('#chart .state.active[data-state-path="consuming.handling"]');
      await page.waitForSelector('#chart .state.active[data-state-path="consuming"]');
      expect(await page.locator('#chart .state.active[data-state-path="idle"]').count()).toBe(0);
      // The last transition is marked: idle → consuming.handling on batch.received.
      await page.waitForSelector('#arrows path.last[data-edge="idle->consuming.handling"]');
      expect(await page.locator('#last-transition').textContent()).toContain('batch.received');
      expect(await page.locator('[data-fact="message"]').textContent()).toBe('browser-1');
      await page.locator('#log-body tr', { hasText: 'browser-1' }).first().waitFor();
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'inspector.png'), fullPage: true });

      h.release('browser-1');
      await page.waitForSelector('#chart .state.active[data-state-path="idle"]');
      await page.waitForSelector('#arrows path.last[data-edge="persisting->idle"]');
      expect(await h.store.count('orders')).toBe(1);
      expect(pageErrors).toEqual([]);
    });

    it('filters the event log by message id', async () => {
      await h.publish({ id: 'browser-2', behaviour: 'ok' });
      await page.locator('#f-clear').click();
      await page.locator('#f-msg').fill('browser-1');
      await page.locator('#f-msg').dispatchEvent('change');
      await expect
        .poll(async () => (await page.locator('#log-body tr').allTextContents()).length)
        .toBe(3);
      const rows = await page.locator('#log-body tr').allTextContents();
      expect(rows.every((row) => row.includes('browser-1'))).toBe(true);
    });

    it('shows a worker restart in the tree and in the pool restart counts', async () => {
      await h.publish({ id: 'browser-crash', behaviour: 'crash' });
      const restarted = page.locator('.node[data-kind="worker"] .chip.rs');
      await restarted.first().waitFor();
      expect(await restarted.first().textContent()).toContain('1');
      await page.locator('.node[data-path="root/pool:orders"]').click();
      await page.waitForSelector('#chart .state.active[data-state-path="running"]');
      await expect
        .poll(async () => (await page.locator('[data-restarts]').allTextContents()).sort())
        .toEqual(['0', '0', '1']);
      await expect.poll(() => h.store.count('orders')).toBe(3);
      expect(pageErrors).toEqual([]);
    });

    it('draws the tree and the worker chart at the first paint, with no request beyond the page', async () => {
      const fresh = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const requests: string[] = [];
      fresh.on('request', (request) => requests.push(request.url()));
      try {
        await fresh.goto(`${url}/inspector?token=t0ken`, { waitUntil: 'load' });
        const timing = await fresh.evaluate(() => ({
          drawn: performance.getEntriesByName('troupe.drawn')[0]?.startTime,
          firstPaint: performance.getEntriesByName('first-paint')[0]?.startTime,
          firstContentfulPaint:
            performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
          states: document.querySelectorAll('#chart [data-state-path]').length,
          workers: document.querySelectorAll('.node[data-kind="worker"]').length,
          title: document.getElementById('actor-title')?.textContent,
          conn: document.getElementById('conn')?.textContent,
        }));
        expect(timing.states).toBeGreaterThan(5);
        expect(timing.workers).toBe(2);
        expect(timing.title).toMatch(/^root\/pool:orders\/worker-\d$/);
        expect(timing.drawn).toBeTypeOf('number');
        // Drawn by the inline script while the page was parsed: before anything was painted.
        if (timing.firstPaint !== undefined)
          expect(timing.drawn).toBeLessThanOrEqual(timing.firstPaint);
        if (timing.firstContentfulPaint !== undefined) {
          expect(timing.drawn).toBeLessThanOrEqual(timing.firstContentfulPaint);
        }
        expect(timing.conn).not.toContain('connecting');
        // It did not have to ask for the tree or the chart to draw them.
        expect(requests[0]).toBe(`${url}/inspector?token=t0ken`);
        expect(requests.some((request) => request.includes('/api/tree'))).toBe(false);
      } finally {
        await fresh.close();
      }
    });

    it('holds the first paint until its script has drawn, however long the page takes to parse', async () => {
      // A busy browser, or a page with a long event log embedded, parses the page in more
      // than one slice and may paint between them: the header and an empty chart, before
      // the script that draws them ran. Here the page is made slow to parse on purpose.
      const events = Array.from({ length: 50_000 }, (_, i) => ({
        at: i,
        actor: `root/pool:orders/worker-${i % 2}`,
        type: 'batch.received',
        messageIds: [`m-${i}`],
        state: 'idle',
      }));
      const html = inspectorPage({
        at: 0,
        controls: false,
        tree: [],
        inFlight: [],
        selected: null,
        detail: null,
        events,
      });
      const slow = createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
      });
      await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
      const fresh = await browser.newPage();
      try {
        await fresh.goto(`http://127.0.0.1:${(slow.address() as AddressInfo).port}/`);
        await fresh.waitForFunction(
          () =>
            performance.getEntriesByName('troupe.drawn').length > 0 &&
            performance.getEntriesByName('first-paint').length > 0,
        );
        const timing = await fresh.evaluate(() => ({
          drawn: performance.getEntriesByName('troupe.drawn')[0]?.startTime ?? NaN,
          firstPaint: performance.getEntriesByName('first-paint')[0]?.startTime ?? NaN,
        }));
        expect(timing.drawn).toBeLessThanOrEqual(timing.firstPaint);
      } finally {
        await fresh.close();
        slow.closeAllConnections();
        await new Promise<void>((resolve) => slow.close(() => resolve()));
      }
    });

    it('lays the worker chart out so that nothing overlaps (checked on what Chromium drew)', async () => {
      await page.goto(
        `${url}/inspector?token=t0ken&actor=${encodeURIComponent('root/pool:orders/worker-1')}`,
      );
      await page.waitForSelector('#chart-svg[data-machine="processor"]');
      const drawn = await page.evaluate(() => {
        const rect = (element: Element) => {
          const r = element.getBoundingClientRect();
          return { x: r.x, y: r.y, width: r.width, height: r.height };
        };
        const svg = document.getElementById('chart-svg') as unknown as SVGSVGElement;
        const matrix = svg.getScreenCTM();
        const states = [...document.querySelectorAll('#chart [data-state-path]')].map((group) => ({
          path: group.getAttribute('data-state-path') ?? '',
          ...rect(group.querySelector('rect.box') as Element),
        }));
        const texts = [
          ...[...document.querySelectorAll('#chart [data-state-path] text')].map((text) => ({
            name: text.textContent ?? '',
            home: text.parentElement?.getAttribute('data-state-path') ?? '',
            ...rect(text),
          })),
          ...[...document.querySelectorAll('#labels [data-edge-label]')].flatMap((group) => {
            const key = group.getAttribute('data-edge-label') ?? '';
            const box = rect(group.querySelector('rect') as Element);
            const lines = [...group.querySelectorAll('text')].map(rect);
            return [{ name: `label ${key}`, key, ...box, lines }];
          }),
        ];
        const edges = [...document.querySelectorAll('#arrows path[data-edge]')].map((path) => {
          const key = path.getAttribute('data-edge') ?? '';
          const points = (path.getAttribute('d') ?? '')
            .split(/[ML]/)
            .filter((part) => part.trim() !== '')
            .map((part) => {
              const [x = 0, y = 0] = part.trim().split(',').map(Number);
              const point = new DOMPoint(x, y).matrixTransform(matrix ?? undefined);
              return { x: point.x, y: point.y };
            });
          return { key, points };
        });
        return { states, texts, edges };
      });
      const states: StateRect[] = drawn.states;
      const texts: TextRect[] = drawn.texts.map((text) => {
        if (!('key' in text)) return text;
        const [source = '', target = ''] = text.key.split('->');
        return { ...text, home: edgeHome(source, target) };
      });
      const edges: EdgeRoute[] = drawn.edges.map((edge) => {
        const [source = '', target = ''] = edge.key.split('->');
        return { ...edge, source, target };
      });
      // Each label's lines lie within its backing box (the box is what the layout placed).
      for (const text of drawn.texts) {
        if (!('lines' in text)) continue;
        for (const line of text.lines) {
          expect(line.x).toBeGreaterThanOrEqual(text.x - 0.5);
          expect(line.x + line.width).toBeLessThanOrEqual(text.x + text.width + 0.5);
        }
      }
      expect(states.map((state) => state.path)).toEqual(
        expect.arrayContaining([
          '',
          'idle',
          'consuming',
          'consuming.handling',
          'persisting',
          'retrying',
          'failed',
        ]),
      );
      expect(edges.length).toBeGreaterThan(5);
      expect(geometryProblems(states, texts, edges)).toEqual([]);
      mkdirSync(artifacts, { recursive: true });
      await page.locator('#chart-svg').screenshot({ path: join(artifacts, 'worker-chart.png') });
      expect(pageErrors).toEqual([]);
    });
  },
);
