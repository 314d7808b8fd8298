// The operations endpoint: /healthz (the process answers), /readyz (broker connected,
// consumers up, store reachable, and why not when not) and /metrics (Prometheus). Bound
// to loopback unless configured otherwise. It listens before anything else starts, so
// that a start that cannot complete still says why.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { redactedMessage } from '@troupe/core';

/** What a readiness check found: whether it passes and, when not, why. */
export interface ReadinessResult {
  readonly ok: boolean;
  /** Why it does not pass (no credentials: it is served to anyone who can connect). */
  readonly reason?: string;
}

/** One readiness check: a name and whether it passes (with a reason when it does not). */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<boolean | ReadinessResult> | boolean | ReadinessResult;
  /** What is wrong, shown under `details` in /readyz while the check fails. */
  detail?(): unknown;
}

/** The body of /readyz. */
export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Record<string, boolean>;
  /** For each failing check that said why, why (absent when none did). */
  readonly reasons?: Record<string, string>;
  /** For each failing check with a `detail`, what it says (absent when none). */
  readonly details?: Record<string, unknown>;
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

async function readiness(checks: readonly ReadinessCheck[]): Promise<ReadinessReport> {
  const results: Record<string, boolean> = {};
  const reasons: Record<string, string> = {};
  await Promise.all(
    checks.map(async ({ name, check }) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<ReadinessResult>((resolve) => {
        timer = setTimeout(
          () => resolve({ ok: false, reason: `no answer within ${checkTimeoutMs} ms` }),
          checkTimeoutMs,
        );
      });
      let result: ReadinessResult;
      try {
        const answer = await Promise.race([Promise.resolve().then(check), timeout]);
        result = typeof answer === 'boolean' ? { ok: answer } : answer;
      } catch (error) {
        result = { ok: false, reason: redactedMessage(error) };
      } finally {
        clearTimeout(timer);
      }
      results[name] = result.ok;
      if (!result.ok && result.reason !== undefined) reasons[name] = result.reason;
    }),
  );
  const details = Object.fromEntries(
    checks
      .filter((check) => results[check.name] === false && check.detail !== undefined)
      .map((check) => [check.name, check.detail?.()]),
  );
  const ready = Object.values(results).every(Boolean);
  return {
    ready,
    checks: results,
    ...(Object.keys(reasons).length > 0 ? { reasons } : {}),
    ...(Object.keys(details).length > 0 ? { details } : {}),
  };
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
      response.end(`internal error: ${redactedMessage(error)}\n`);
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
        void readiness(options.checks).then((report) => {
          response
            .writeHead(report.ready ? 200 : 503, { 'content-type': 'application/json' })
            .end(`${JSON.stringify(report)}\n`);
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
                .end(`metrics failed: ${redactedMessage(error)}\n`),
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
