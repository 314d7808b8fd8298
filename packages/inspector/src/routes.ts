// The inspector over HTTP, as a handler to call from any node:http server before its
// 404: the page, JSON endpoints, Mermaid text, a server-sent event stream, and control
// actions (refused unless enabled). A configured token is required on every request;
// without one, only requests whose Host header names loopback are answered (a page on
// another site that rebinds its DNS name to 127.0.0.1 must not read the inspector).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { scalePool, type Pool } from '@troupe/core';
import { chartSvg } from './chart-svg.js';
import type { ActorDetail, Inspector, InspectorUpdate, TreeNode } from './inspector.js';
import { inspectorPage, type InitialView } from './internal/page.js';
import { toMermaid } from './mermaid.js';

/** Options of {@link inspectorRoutes}. */
export interface InspectorRoutesOptions {
  /**
   * When set, every request needs `Authorization: Bearer <token>` or `?token=<token>`
   * (the page passes its own `?token=` on to the API and the stream). Set it whenever
   * the server listens beyond loopback.
   */
  readonly token?: string | undefined;
  /**
   * Allow control actions: cancel or restart a child, scale a pool. Otherwise they
   * answer 403. @default false
   */
  readonly controls?: boolean | undefined;
  /** The pools `POST …/scale` may scale, matched by their child id (`pool:<name>`). */
  readonly pools?: readonly Pool[] | undefined;
  /** Where the routes live. @default '/inspector' */
  readonly basePath?: string | undefined;
  /** Heartbeat comment on idle streams, in milliseconds. @default 15000 */
  readonly heartbeatMs?: number | undefined;
  /**
   * Called for each request the routes accept (token and Host checked), before it is
   * answered: an app attaches its inspector on demand here, so that a refused request
   * costs nothing.
   */
  readonly onAccepted?: ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
}

/**
 * Whether a Host header names the loopback interface: `localhost`, `127.x.x.x` or
 * `[::1]`, with or without a port.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const match = /^(\[[^\]]+\]|[^:]+)(?::\d{1,5})?$/.exec(host.trim().toLowerCase());
  const name = match?.[1];
  if (name === undefined) return false;
  if (name === 'localhost' || name === '[::1]') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** A request handler: true when it handled the request (it then answers it). */
export type InspectorRequestHandler = (
  request: IncomingMessage,
  response: ServerResponse,
) => boolean;

type ControlAction = 'cancel' | 'restart' | 'scale';
const controlActions: ReadonlySet<string> = new Set<ControlAction>(['cancel', 'restart', 'scale']);

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function bearer(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1];
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    })
    .end(`${JSON.stringify(body)}\n`);
}

function text(response: ServerResponse, status: number, body: string, type = 'text/plain'): void {
  response
    .writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' })
    .end(body);
}

function readBody(request: IncomingMessage, limit = 4096): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('body too large'));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

async function sizeOf(url: URL, request: IncomingMessage): Promise<number | undefined> {
  let raw: unknown = url.searchParams.get('size') ?? undefined;
  if (raw === undefined) {
    const body = await readBody(request);
    if (body.trim() !== '') {
      try {
        raw = (JSON.parse(body) as { size?: unknown }).size;
      } catch {
        return undefined;
      }
    }
  }
  const size = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  return typeof size === 'number' && Number.isInteger(size) && size >= 0 && size <= 1024
    ? size
    : undefined;
}

/**
 * The inspector's HTTP routes. Call the handler first in a server's request handler;
 * it returns false for paths outside `basePath`.
 *
 * - `GET /inspector`: the page (inline CSS and JS, no external assets)
 * - `GET /inspector/api/tree`: the supervision tree and the messages in flight
 * - `GET /inspector/api/actors` and `/inspector/api/actors/:id` (session id or
 *   URL-encoded path): chart JSON, state, recent events, restarts
 * - `GET /inspector/api/actors/:id/mermaid`: the chart as Mermaid text
 * - `GET /inspector/api/events?actor=&messageId=&limit=`
 * - `GET /inspector/api/stream`: server-sent events (`tree`, then `update` batches)
 * - `POST /inspector/api/actors/:id/cancel|restart|scale?size=N`: 403 unless `controls`
 *
 * @example
 * ```ts
 * const routes = inspectorRoutes(inspector, { token: process.env.TROUPE_INSPECTOR_TOKEN });
 * createServer((req, res) => {
 *   if (routes(req, res)) return;
 *   res.writeHead(404).end();
 * });
 * ```
 */
export function inspectorRoutes(
  inspector: Inspector,
  options: InspectorRoutesOptions = {},
): InspectorRequestHandler {
  const base = (options.basePath ?? '/inspector').replace(/\/+$/, '');
  const expected =
    options.token === undefined || options.token === '' ? undefined : digest(options.token);
  const controls = options.controls === true;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  /** An actor's detail with its chart drawn (laid out once per machine, then cached). */
  const detailWithSvg = async (
    detail: ActorDetail,
  ): Promise<ActorDetail & { readonly svg?: string }> =>
    detail.chart === undefined ? detail : { ...detail, svg: await chartSvg(detail.chart) };

  /** The actor the page shows first: the one asked for, else the first worker, else the root. */
  const firstActor = (asked: string | null, tree: readonly TreeNode[]): string | undefined => {
    if (asked !== null && asked !== '') return asked;
    let first: string | undefined;
    const walk = (nodes: readonly TreeNode[]): void => {
      for (const node of nodes) {
        if (first === undefined && node.kind === 'worker' && node.sessionId !== undefined) {
          first = node.path;
        }
        walk(node.children);
      }
    };
    walk(tree);
    return first ?? tree[0]?.path;
  };

  /** What the page draws before it has asked anything: it paints at once, no placeholder. */
  const initialView = async (url: URL): Promise<InitialView> => {
    const body = treeBody();
    const selected = firstActor(url.searchParams.get('actor'), body.tree);
    const detail = selected === undefined ? undefined : inspector.actor(selected);
    return {
      ...body,
      selected: selected ?? null,
      detail: detail === undefined ? null : await detailWithSvg(detail),
      events: selected === undefined ? [] : inspector.events({ actor: selected, limit: 300 }),
    };
  };

  const authorised = (request: IncomingMessage, url: URL): boolean => {
    if (expected === undefined) return true;
    const given = bearer(request) ?? url.searchParams.get('token') ?? undefined;
    return given !== undefined && timingSafeEqual(digest(given), expected);
  };

  const treeBody = () => ({
    at: Date.now(),
    controls,
    tree: inspector.tree(),
    inFlight: inspector.inFlight(),
  });

  const stream = (request: IncomingMessage, response: ServerResponse): void => {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let blocked = false;
    response.on('drain', () => {
      blocked = false;
    });
    // A comment line after `heartbeatMs` of silence keeps proxies from closing an idle
    // stream. One timer, pushed back by every write: a busy stream carries no pings.
    const silence = setTimeout(() => {
      if (blocked) silence.refresh();
      else write(': ping\n\n');
    }, heartbeatMs).unref();
    const write = (chunk: string): void => {
      blocked = !response.write(chunk);
      silence.refresh();
    };
    const send = (event: string, data: unknown): void => {
      // A slow reader misses batches rather than making the process buffer them.
      if (blocked) return;
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    write('retry: 2000\n\n');
    send('tree', treeBody());
    const unsubscribe = inspector.subscribe((update: InspectorUpdate) =>
      send('update', { ...update, inFlight: inspector.inFlight() }),
    );
    const close = (): void => {
      unsubscribe();
      clearTimeout(silence);
    };
    request.on('close', close);
    response.on('close', close);
  };

  const control = async (
    action: ControlAction,
    key: string,
    url: URL,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> => {
    const detail = inspector.actor(key);
    if (detail === undefined) return json(response, 404, { error: 'no such actor' });
    const { actor } = detail;
    if (action === 'scale') {
      const pool = options.pools?.find((candidate) => candidate.childSpec.id === actor.id);
      const ref = inspector.ref(key);
      if (pool === undefined || ref === undefined || actor.kind !== 'supervisor') {
        return json(response, 409, { error: 'not a running pool the inspector may scale' });
      }
      const size = await sizeOf(url, request);
      if (size === undefined) {
        return json(response, 400, { error: 'size must be an integer from 0 to 1024' });
      }
      scalePool(ref as unknown as Parameters<typeof scalePool>[0], pool, size);
      return json(response, 202, { ok: true, action, actor: actor.path, size });
    }
    const parent = inspector.parentOf(key);
    const parentRef = parent === undefined ? undefined : inspector.ref(parent.sessionId);
    if (parent?.machine !== 'supervisor' || parentRef === undefined) {
      return json(response, 409, { error: 'the actor has no running supervisor' });
    }
    if (action === 'cancel') parentRef.send({ type: 'supervisor.cancel-child', id: actor.id });
    else {
      // A running child is not restarted as such (OTP answers `running`): it is
      // terminated, then restarted once stopped.
      parentRef.send({ type: 'supervisor.terminate-child', id: actor.id });
      parentRef.send({ type: 'supervisor.restart-child', id: actor.id });
    }
    return json(response, 202, { ok: true, action, actor: actor.path, supervisor: parent.path });
  };

  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://inspector.invalid');
    const { pathname } = url;
    if (pathname !== base && !pathname.startsWith(`${base}/`)) return false;
    if (expected === undefined && !isLoopbackHost(request.headers.host)) {
      json(response, 403, {
        error: 'forbidden: without a token, the inspector answers only to a loopback Host',
      });
      return true;
    }
    if (!authorised(request, url)) {
      response.setHeader('www-authenticate', 'Bearer realm="troupe-inspector"');
      json(response, 401, { error: 'unauthorized: a bearer token or ?token= is required' });
      return true;
    }
    options.onAccepted?.(request, response);
    const method = request.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    let segments: string[];
    try {
      segments = pathname
        .slice(base.length)
        .split('/')
        .filter((segment) => segment !== '')
        .map(decodeURIComponent);
    } catch {
      json(response, 400, { error: 'malformed path' });
      return true;
    }
    const [first, second, third, fourth] = segments;

    if (first === undefined) {
      if (!read) return methodNotAllowed(response, 'GET, HEAD');
      initialView(url).then(
        (initial) =>
          response
            .writeHead(200, {
              'content-type': 'text/html; charset=utf-8',
              'cache-control': 'no-store',
              'x-content-type-options': 'nosniff',
              // Everything is inline; nothing may be loaded from anywhere else.
              'content-security-policy':
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'",
            })
            .end(inspectorPage(initial)),
        (error: unknown) =>
          json(response, 500, { error: error instanceof Error ? error.message : String(error) }),
      );
      return true;
    }
    if (first !== 'api') {
      json(response, 404, { error: 'not found' });
      return true;
    }

    // POST /api/actors/:id/:action
    if (
      second === 'actors' &&
      third !== undefined &&
      fourth !== undefined &&
      controlActions.has(fourth)
    ) {
      if (method !== 'POST') return methodNotAllowed(response, 'POST');
      if (!controls) {
        json(response, 403, {
          error: 'control actions are disabled; the inspector is read-only',
        });
        return true;
      }
      control(fourth as ControlAction, third, url, request, response).catch((error: unknown) =>
        json(response, 500, { error: error instanceof Error ? error.message : String(error) }),
      );
      return true;
    }
    if (!read) return methodNotAllowed(response, 'GET, HEAD');

    switch (second) {
      case 'tree':
        if (third !== undefined) break;
        json(response, 200, treeBody());
        return true;
      case 'actors':
        if (third === undefined) {
          json(response, 200, { actors: inspector.actors() });
          return true;
        }
        if (fourth === undefined) {
          const detail = inspector.actor(third);
          if (detail === undefined) json(response, 404, { error: 'no such actor' });
          else {
            detailWithSvg(detail).then(
              (body) => json(response, 200, body),
              (error: unknown) =>
                json(response, 500, {
                  error: error instanceof Error ? error.message : String(error),
                }),
            );
          }
          return true;
        }
        if (fourth === 'mermaid' && segments.length === 4) {
          const chart = inspector.chart(third);
          if (chart === undefined) json(response, 404, { error: 'no such actor' });
          else text(response, 200, toMermaid(chart));
          return true;
        }
        break;
      case 'events': {
        if (third !== undefined) break;
        const limit = Number(url.searchParams.get('limit') ?? '200');
        json(response, 200, {
          events: inspector.events({
            actor: url.searchParams.get('actor') || undefined,
            messageId: url.searchParams.get('messageId') || undefined,
            limit: Number.isFinite(limit) ? limit : 200,
          }),
        });
        return true;
      }
      case 'restarts':
        if (third !== undefined) break;
        json(response, 200, { restarts: inspector.restarts() });
        return true;
      case 'stream':
        if (third !== undefined) break;
        if (method === 'HEAD') {
          response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' }).end();
          return true;
        }
        stream(request, response);
        return true;
      case undefined:
      default:
        break;
    }
    json(response, 404, { error: 'not found' });
    return true;
  };
}

function methodNotAllowed(response: ServerResponse, allow: string): true {
  response
    .writeHead(405, { allow, 'content-type': 'application/json; charset=utf-8' })
    .end(`${JSON.stringify({ error: 'method not allowed' })}\n`);
  return true;
}
