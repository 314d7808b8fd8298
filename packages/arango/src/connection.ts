// Turns ArangoStore's options (a URL that may carry the credentials and the database,
// TLS trust, pool sizes) into arangojs's configuration.
import type { ConfigOptions } from 'arangojs/configuration';
import type { EnsureIndexOptions } from 'arangojs/indexes';
import { ConfigurationError } from '@troupe/core';

/** How requests spread over several coordinators (arangojs's `loadBalancingStrategy`). */
export type ArangoLoadBalancing = 'ROUND_ROBIN' | 'ONE_RANDOM' | 'NONE';

/** Options of {@link ArangoStore}. */
export interface ArangoStoreOptions {
  /**
   * The server, or the coordinators of a cluster. The URL may carry the credentials and
   * the database: `https://troupe:secret@db.example:8529/troupe` (or `…/_db/troupe`).
   * @example 'http://127.0.0.1:8529'
   */
  readonly url: string | readonly string[];
  /**
   * With several URLs: `'ROUND_ROBIN'` sends each request to the next coordinator,
   * `'ONE_RANDOM'` sticks to one picked at random, `'NONE'` to the first. With every
   * strategy, a request that could not reach its coordinator (refused, reset before it
   * was sent) is tried on the next one, up to once per other coordinator.
   * @default 'ROUND_ROBIN' with several URLs
   */
  readonly loadBalancingStrategy?: ArangoLoadBalancing;
  /**
   * The database. Overrides one in the URL.
   * @default the URL's path, else '_system'
   */
  readonly database?: string;
  /**
   * Basic-auth user. Overrides one in the URL.
   * @default the URL's, else 'root'
   */
  readonly username?: string;
  /**
   * Basic-auth password. Overrides one in the URL.
   * @default the URL's, else ''
   */
  readonly password?: string;
  /** A JWT for bearer authentication, instead of a username and password. */
  readonly token?: string;
  /**
   * Certificate authorities (PEM) to trust for `https` URLs, e.g. a private CA. Uses an
   * undici agent (see `agentOptions`).
   */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /**
   * Reject a server certificate that the trusted authorities did not sign. Only for
   * development: never turn it off in production.
   * @default true
   */
  readonly rejectUnauthorized?: boolean;
  /**
   * At most this many requests in flight at once (arangojs queues the others).
   * @default 8
   */
  readonly poolSize?: number;
  /**
   * Options of the undici `Agent` that carries the requests (`connections`,
   * `keepAliveTimeout`, `connect: { ca, … }`…). Merged with `ca` and `rejectUnauthorized`.
   */
  readonly agentOptions?: Readonly<Record<string, unknown>>;
  /**
   * Milliseconds before a request is abandoned (then a {@link TransientError}).
   * @default 30000
   */
  readonly timeout?: number;
  /**
   * How many times arangojs retries a request that hit a write-write conflict (1200)
   * before the store reports it as a {@link TransientError}. Safe: every write is keyed
   * and version-guarded.
   * @default 3
   */
  readonly retryOnConflict?: number;
  /**
   * At most this many coalesced bulkWrite requests in flight. Calls that arrive while
   * they are all busy wait, and go out together in the next request.
   * @default 2
   */
  readonly maxWriteRequests?: number;
  /** Collections created by {@link ArangoStore.connect} when absent. */
  readonly collections?: readonly string[];
  /**
   * Indexes ensured by {@link ArangoStore.connect}, by collection (created when absent,
   * left as they are when an identical one exists), for queries through the escape hatch.
   * @example { companies: [{ type: 'persistent', fields: ['country', 'name'] }] }
   */
  readonly indexes?: Readonly<Record<string, readonly EnsureIndexOptions[]>>;
}

/** What the URL says, and what arangojs needs. */
export interface ResolvedConnection {
  readonly config: ConfigOptions;
  readonly database: string;
  readonly urls: readonly string[];
}

function parse(url: string, field: string): URL {
  try {
    return new URL(url);
  } catch (error) {
    throw new ConfigurationError(field, `not a URL: ${JSON.stringify(url)}`, { cause: error });
  }
}

/** The database named by a URL's path: `/name` or `/_db/name`. */
function databaseOf(url: URL): string | undefined {
  const segments = url.pathname.split('/').filter((segment) => segment !== '');
  const name = segments[0] === '_db' ? segments[1] : segments[0];
  return name === undefined ? undefined : decodeURIComponent(name);
}

/**
 * Resolves {@link ArangoStoreOptions} into an arangojs configuration. Credentials and the
 * database are taken out of the URL (arangojs expects bare server URLs).
 */
export function resolveConnection(options: ArangoStoreOptions): ResolvedConnection {
  const given = typeof options.url === 'string' ? [options.url] : [...options.url];
  if (given.length === 0) throw new ConfigurationError('url', 'at least one URL is required');
  const parsed = given.map((url, i) => parse(url, given.length === 1 ? 'url' : `url[${i}]`));
  const first = parsed[0] as URL;
  for (const [i, url] of parsed.entries()) {
    if (!['http:', 'https:', 'tcp:', 'ssl:', 'tls:'].includes(url.protocol)) {
      throw new ConfigurationError(
        given.length === 1 ? 'url' : `url[${i}]`,
        `unsupported protocol ${url.protocol}`,
      );
    }
  }
  const database = options.database ?? databaseOf(first) ?? '_system';
  const username =
    options.username ?? (first.username === '' ? 'root' : decodeURIComponent(first.username));
  const password = options.password ?? decodeURIComponent(first.password);
  const urls = parsed.map((url) => `${url.protocol}//${url.host}`);
  const poolSize = options.poolSize ?? 8;
  const maxWriteRequests = options.maxWriteRequests ?? 2;
  if (!Number.isInteger(maxWriteRequests) || maxWriteRequests < 1) {
    throw new ConfigurationError('maxWriteRequests', 'must be a positive integer');
  }
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new ConfigurationError('poolSize', 'must be a positive integer');
  }

  const connect: Record<string, unknown> = {
    ...(typeof options.agentOptions?.['connect'] === 'object'
      ? (options.agentOptions['connect'] as Record<string, unknown>)
      : {}),
  };
  if (options.ca !== undefined) connect['ca'] = options.ca;
  if (options.rejectUnauthorized !== undefined) {
    connect['rejectUnauthorized'] = options.rejectUnauthorized;
  }
  const agentOptions =
    options.agentOptions !== undefined || Object.keys(connect).length > 0
      ? { connections: poolSize, ...options.agentOptions, connect }
      : undefined;

  const config: ConfigOptions = {
    url: urls,
    databaseName: database,
    auth: options.token === undefined ? { username, password } : { token: options.token },
    poolSize,
    timeout: options.timeout ?? 30_000,
    retryOnConflict: options.retryOnConflict ?? 3,
    ...(urls.length > 1
      ? { loadBalancingStrategy: options.loadBalancingStrategy ?? ('ROUND_ROBIN' as const) }
      : {}),
    ...(agentOptions === undefined ? {} : { agentOptions }),
  };
  return { config, database, urls };
}
