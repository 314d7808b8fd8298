// Turns Troupe's connection options into amqplib's: each broker URL (one, or one per
// node of a cluster) into connect fields (so that the heartbeat option applies), TLS
// material into socket options, and a URL with its password replaced for logs.
import { ConfigurationError } from '@troupe/core';
import type { Options, SocketOptions } from 'amqplib';

/** TLS material for `amqps://` URLs, passed to Node's `tls.connect`. */
export interface AmqpTlsOptions {
  /** Certificate authorities to trust (PEM). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Client certificate (PEM), for brokers that authenticate clients by certificate. */
  readonly cert?: string | Buffer;
  /** Client private key (PEM). */
  readonly key?: string | Buffer;
  readonly passphrase?: string;
  /** Host name to verify the certificate against. @default the URL's host name */
  readonly servername?: string;
  /** @default true */
  readonly rejectUnauthorized?: boolean;
}

/** The connection part of {@link AmqpTransportOptions}. */
export interface AmqpConnectionOptions {
  /**
   * `amqp://user:password@host:port/vhost` or `amqps://…`; or several, one per node of a
   * cluster, tried in {@link urlOrder} on every connect and reconnect.
   */
  readonly url: string | readonly string[];
  /**
   * With several URLs: `in-order` starts with the first and moves on to the next after a
   * failed attempt or a lost connection; `random` picks one at random each time (another
   * than the one that just failed). @default 'in-order'
   */
  readonly urlOrder?: 'in-order' | 'random';
  /** Heartbeat interval in seconds; 0 disables heartbeats. @default 15 */
  readonly heartbeatSeconds?: number;
  /** TCP connect timeout in milliseconds. @default 10000 */
  readonly connectTimeoutMs?: number;
  readonly tls?: AmqpTlsOptions;
  /** Shown in the broker's connection list. @default 'troupe' */
  readonly connectionName?: string;
}

/** What `amqplib.connect` takes. */
export interface ResolvedConnection {
  readonly connect: Options.Connect;
  readonly socket: SocketOptions;
  /** The URL without its password, for logs. */
  readonly redactedUrl: string;
}

/** Replaces the password of a URL with `***` (and returns `<invalid url>` for garbage). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid url>';
  }
}

/**
 * Validates the options and builds amqplib's connect fields and socket options.
 *
 * @throws ConfigurationError naming the field at fault
 */
export function resolveConnection(
  options: AmqpConnectionOptions,
  field = 'amqp',
): ResolvedConnection {
  const url = typeof options.url === 'string' ? options.url : options.url[0];
  if (url === undefined) throw new ConfigurationError(`${field}.url`, 'needs at least one URL');
  return resolveOne(options, url, `${field}.url`, field);
}

/**
 * Validates the options and resolves every URL, in the order given.
 *
 * @throws ConfigurationError naming the field at fault (`amqp.url[1]` for the second URL)
 */
export function resolveConnections(
  options: AmqpConnectionOptions,
  field = 'amqp',
): readonly ResolvedConnection[] {
  if (typeof options.url === 'string')
    return [resolveOne(options, options.url, `${field}.url`, field)];
  if (options.url.length === 0)
    throw new ConfigurationError(`${field}.url`, 'needs at least one URL');
  const order = options.urlOrder ?? 'in-order';
  if (order !== 'in-order' && order !== 'random') {
    throw new ConfigurationError(`${field}.urlOrder`, "must be 'in-order' or 'random'");
  }
  return options.url.map((url, index) => resolveOne(options, url, `${field}.url[${index}]`, field));
}

function resolveOne(
  options: AmqpConnectionOptions,
  url: string,
  urlField: string,
  field: string,
): ResolvedConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(urlField, 'must be an amqp:// or amqps:// URL');
  }
  const protocol = parsed.protocol.slice(0, -1);
  if (protocol !== 'amqp' && protocol !== 'amqps') {
    throw new ConfigurationError(urlField, `unknown protocol ${JSON.stringify(protocol)}`);
  }
  const heartbeat = options.heartbeatSeconds ?? 15;
  if (!Number.isInteger(heartbeat) || heartbeat < 0) {
    throw new ConfigurationError(`${field}.heartbeatSeconds`, 'must be an integer >= 0');
  }
  const timeout = options.connectTimeoutMs ?? 10_000;
  if (!Number.isInteger(timeout) || timeout < 1) {
    throw new ConfigurationError(`${field}.connectTimeoutMs`, 'must be an integer >= 1');
  }
  if (options.tls !== undefined && protocol !== 'amqps') {
    throw new ConfigurationError(`${field}.tls`, 'needs an amqps:// URL');
  }
  const vhost = parsed.pathname.length > 1 ? decodeURIComponent(parsed.pathname.slice(1)) : '/';
  const hasCredentials = parsed.username !== '' || parsed.password !== '';
  const connect: Options.Connect = {
    protocol,
    hostname: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? (protocol === 'amqp' ? 5672 : 5671) : Number(parsed.port),
    vhost,
    heartbeat,
    ...(hasCredentials
      ? {
          username: decodeURIComponent(parsed.username),
          password: decodeURIComponent(parsed.password),
        }
      : {}),
  };
  const tls = options.tls;
  const socket: SocketOptions = {
    timeout,
    noDelay: true,
    clientProperties: { connection_name: options.connectionName ?? 'troupe' },
    ...(tls?.ca === undefined ? {} : { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
    ...(tls?.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls?.key === undefined ? {} : { key: tls.key }),
    ...(tls?.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
    ...(tls?.servername === undefined ? {} : { servername: tls.servername }),
    ...(tls?.rejectUnauthorized === undefined
      ? {}
      : { rejectUnauthorized: tls.rejectUnauthorized }),
  };
  return { connect, socket, redactedUrl: redactUrl(url) };
}
