// Reads an ArangoDB store URL as operators write it in TROUPE_STORE:
// `arangodb://user:password@host1:8529,host2:8529/database?loadBalancing=round_robin`
// (`arangodbs://` for TLS). Several comma-separated coordinators, credentials that may
// hold `/`, `@` or `:` unencoded, and errors that never repeat the password.
import { ConfigurationError } from '@troupe/core';
import type { ArangoLoadBalancing, ArangoStoreOptions } from './connection.js';

const strategies: Readonly<Record<string, ArangoLoadBalancing>> = {
  round_robin: 'ROUND_ROBIN',
  one_random: 'ONE_RANDOM',
  none: 'NONE',
};

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Parses `arangodb://[user[:password]@]host[:port][,host[:port]…][/database][?loadBalancing=…]`
 * into {@link ArangoStoreOptions} (`url` as a list of `http(s)://host:port`). The
 * userinfo ends at the last `@`, so a password may hold `/`, `@` and `:` as they are;
 * percent-encoded characters are decoded. The port defaults to 8529. `loadBalancing` is
 * `round_robin` (the default with several hosts), `one_random` or `none` (the first host,
 * the next one only when it fails). Throws a ConfigurationError naming `field`, never
 * quoting the credentials.
 */
export function parseArangoStoreUrl(value: string, field = 'url'): ArangoStoreOptions {
  const scheme = /^(arangodbs?):\/\//.exec(value);
  if (scheme === null) {
    throw new ConfigurationError(field, 'must start with arangodb:// or arangodbs://');
  }
  const protocol = scheme[1] === 'arangodbs' ? 'https' : 'http';
  let rest = value.slice(scheme[0].length);
  const at = rest.lastIndexOf('@');
  let username: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    username = decode(colon < 0 ? userinfo : userinfo.slice(0, colon));
    password = colon < 0 ? undefined : decode(userinfo.slice(colon + 1));
  }
  const query = rest.indexOf('?');
  const search = new URLSearchParams(query < 0 ? '' : rest.slice(query + 1));
  if (query >= 0) rest = rest.slice(0, query);
  const slash = rest.indexOf('/');
  const hostList = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1);
  const hosts = hostList.split(',').map((host) => host.trim());
  const urls = hosts.map((host) => {
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(host)) {
      throw new ConfigurationError(
        field,
        `not a host[:port]: ${JSON.stringify(host.length > 100 ? `${host.slice(0, 100)}…` : host)}`,
      );
    }
    return `${protocol}://${/:\d+$/.test(host) ? host : `${host}:8529`}`;
  });
  const segments = path.split('/').filter((segment) => segment !== '');
  const database = segments[0] === '_db' ? segments[1] : segments[0];
  const balancing = search.get('loadBalancing');
  let loadBalancingStrategy: ArangoLoadBalancing | undefined;
  if (balancing !== null) {
    loadBalancingStrategy = strategies[balancing.toLowerCase()];
    if (loadBalancingStrategy === undefined) {
      throw new ConfigurationError(
        field,
        `loadBalancing: expected round_robin, one_random or none, got ${JSON.stringify(balancing)}`,
      );
    }
  }
  return {
    url: urls,
    ...(database === undefined ? {} : { database: decode(database) }),
    ...(username === undefined || username === '' ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(loadBalancingStrategy === undefined ? {} : { loadBalancingStrategy }),
  };
}
