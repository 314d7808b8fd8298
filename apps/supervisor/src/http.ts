// The operations endpoint: /healthz (the process answers), /readyz (broker connected,
// consumers up, store reachable) and /metrics (Prometheus). Bound to loopback unless
// configured otherwise.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One readiness check: a name and whether it passes. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<boolean> | boolean;
  /** What is wrong, shown under `details` in /readyz while the check fails. */
  detail?(): unknown;
}

export interface OperationsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly checks: readonly ReadinessCheck[];
  /** The exposition text, at scrape time. */
  readonly metrics: () => string | Promise<string>;
  /** More routes (the inspector's), tried before the 404. */
  readonly routes?: ((request: IncomingMessage, response: ServerResponse) => boolean) | undefined;
}

export interface OperationsServer {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/** A check that has not answered within this time fails. */
const checkTimeoutMs = 2000;

async function readiness(checks: readonly ReadinessCheck[]): Promise<Record<string, boolean>> {
  const results: Record<string, boolean> = {};
  await Promise.all(
    checks.map(async ({ name, check }) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), checkTimeoutMs);
      });
      try {
        results[name] = await Promise.race([Promise.resolve().then(check), timeout]);
      } catch {
        results[name] = false;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return results;
}

/** Starts the operations server; resolves once it listens. */
export async function startOperationsServer(
  options: OperationsServerOptions,
): Promise<OperationsServer> {
  const server = createServer((request, response) => {
    try {
      handle(request, response);
    } catch (error) {
      // A failing route answers 500; it never takes the process down.
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(`internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  });
  function handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (options.routes?.(request, response) === true) return;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/healthz':
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz':
        void readiness(options.checks).then((results) => {
          const ready = Object.values(results).every(Boolean);
          const details = Object.fromEntries(
            options.checks
              .filter((check) => results[check.name] === false && check.detail !== undefined)
              .map((check) => [check.name, check.detail?.()]),
          );
          const body =
            Object.keys(details).length > 0
              ? { ready, checks: results, details }
              : { ready, checks: results };
          response
            .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
            .end(`${JSON.stringify(body)}\n`);
        });
        return;
      case '/metrics':
        void Promise.resolve()
          .then(options.metrics)
          .then(
            (text) =>
              response
                .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
                .end(text),
            (error: unknown) =>
              response
                .writeHead(500, { 'content-type': 'text/plain' })
                .end(`metrics failed: ${error instanceof Error ? error.message : String(error)}\n`),
          );
        return;
      default:
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
