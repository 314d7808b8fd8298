// Configuration: an optional JSON file (`troupe.config.json`, or the path in
// TROUPE_CONFIG) overlaid with environment variables, validated once at start-up. Every
// error names the field, and the variable it came from when it came from one.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigurationError, maxBatchLimit, maxTimerDelayMs } from '@troupe/core';
import { z } from 'zod';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const backoffSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('fixed'),
    delayMs: z.int().min(0).max(maxTimerDelayMs),
    randomFactor: z.number().min(0).optional(),
  }),
  z.strictObject({
    kind: z.literal('exponential'),
    minMs: z.int().min(0).max(maxTimerDelayMs),
    maxMs: z.int().min(0).max(maxTimerDelayMs),
    randomFactor: z.number().min(0).optional(),
  }),
]);

const processorSchema = z.strictObject({
  /**
   * The processor's module: a package name (a dependency of the project holding this
   * file) or a path relative to this file.
   */
  module: z.string().min(1),
  /** The export to run. @default `default`, else the module's only processor export */
  export: z.string().min(1).optional(),
  /** The processor's own settings, validated by the schema it declares (defineProcessorFactory). */
  options: z.unknown().optional(),
  /** Run this processor. @default true */
  enabled: z.boolean().default(true),
  /** Workers, and so the prefetch. @default the processor's own */
  concurrency: z.int().min(1).max(10_000).optional(),
  /** Share of the scheduler's permits. @default the processor's own */
  weight: z.int().min(1).max(1000).optional(),
  retry: z
    .strictObject({
      attempts: z.int().min(1).optional(),
      backoff: backoffSchema.optional(),
      onExhausted: z.enum(['dead-letter', 'escalate']).optional(),
      /** Delays from this many ms go through the broker's delayed redelivery. */
      redeliverFromMs: z.int().min(0).optional(),
    })
    .optional(),
  timeoutMs: z.int().min(1).max(maxTimerDelayMs).optional(),
  /** Timeout of a batch's persist step. @default timeoutMs */
  persistTimeoutMs: z.int().min(1).max(maxTimerDelayMs).optional(),
  /** Deliveries a worker takes at once; the prefetch is concurrency × maxBatch. @default the processor's own */
  maxBatch: z.int().min(1).max(maxBatchLimit).optional(),
  /** How long a worker waits for its batch to fill. @default none: it never waits */
  batchTimeoutMs: z.int().min(1).max(maxTimerDelayMs).optional(),
  /** Larger messages are dead-lettered unparsed. @default 16 MiB */
  maxMessageBytes: z.int().min(1).optional(),
  /**
   * The queue's type on RabbitMQ: `quorum` for replicated queues whose broker counts
   * deliveries. Changing it for a queue that exists is refused, naming both. @default the processor's own
   */
  queueType: z.enum(['classic', 'quorum']).optional(),
  /**
   * Quorum queues: deliveries of a message before the broker dead-letters it
   * (`x-delivery-limit`). @default 20
   */
  deliveryLimit: z.int().min(1).max(1_000_000).optional(),
});

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  /** The processors to run, by name: each names its module and may override its settings. */
  processors: z.record(z.string(), processorSchema).default({}),
  /** RabbitMQ. Without a URL the app runs on the in-process broker. */
  amqp: z
    .strictObject({
      /** One broker URL, or several separated by commas (the nodes of a cluster). */
      url: z
        .string()
        .regex(
          /^\s*amqps?:\/\/[^,]*(,\s*amqps?:\/\/[^,]*)*$/,
          'must start with amqp:// or amqps:// (several URLs: separated by commas)',
        )
        .optional(),
      /** The nodes of a cluster, one URL each; instead of `url`. */
      urls: z
        .array(z.string().regex(/^amqps?:\/\//, 'must start with amqp:// or amqps://'))
        .min(1)
        .optional(),
      /** With several URLs: the next one after a failure (`in-order`), or any (`random`). */
      urlOrder: z.enum(['in-order', 'random']).default('in-order'),
      /** Keep retrying when the broker refuses the login (403), or stop the app. */
      retryOnLoginRefused: z.boolean().default(true),
      heartbeatSeconds: z.int().min(0).default(15),
      connectionName: z.string().default('troupe'),
    })
    .default({
      urlOrder: 'in-order',
      retryOnLoginRefused: true,
      heartbeatSeconds: 15,
      connectionName: 'troupe',
    }),
  /** `memory:`, `sqlite:PATH` or `arangodb://user:password@host:8529/database`. */
  store: z
    .string()
    .regex(
      /^(memory:|sqlite:.+|arangodbs?:\/\/.+)$/,
      'must be memory:, sqlite:PATH or arangodb://…',
    )
    .default('sqlite:./data/troupe.db'),
  http: z
    .strictObject({
      /** 0 picks a free port. */
      port: z.int().min(0).max(65_535).default(9464),
      host: z.string().min(1).default('127.0.0.1'),
    })
    .default({ port: 9464, host: '127.0.0.1' }),
  logLevel: z.enum(logLevels).default('info'),
  /** A global cap on concurrent handlers, shared by weight. Unset: no cap. */
  maxConcurrentHandlers: z.int().min(1).optional(),
  /** How long each worker may take to finish its delivery on shutdown. */
  drainMs: z.int().min(0).max(maxTimerDelayMs).default(10_000),
  /** Live state charts at /inspector (page, JSON, stream). */
  inspector: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Required when http.host is not loopback. */
      token: z.string().min(16, 'must be at least 16 characters').optional(),
      /** Allow cancelling or restarting children and scaling pools from the inspector. */
      controls: z.boolean().default(false),
      /**
       * Also send every inspection event to a Stately inspector at this WebSocket URL
       * (\`ws://…\`). Off by default: events carry actor context, so point it only at an
       * inspector you run yourself, never in production.
       */
      statelyUrl: z
        .string()
        .regex(/^wss?:\/\//, 'must start with ws:// or wss://')
        .optional(),
      /** Detached (and free) this long after the last look. */
      idleDetachMs: z.int().min(1000).max(maxTimerDelayMs).default(300_000),
    })
    .default({ enabled: true, controls: false, idleDetachMs: 300_000 }),
  /**
   * A demo publisher: every `intervalMs` it publishes the event the module's export
   * returns for the n-th tick (`(n) => ({ exchange, routingKey, body })`).
   * @default on without a broker when a module is given, off with one
   */
  demo: z
    .strictObject({
      enabled: z.boolean().optional(),
      intervalMs: z.int().min(1).max(maxTimerDelayMs).default(500),
      module: z.string().min(1).optional(),
      export: z.string().min(1).optional(),
    })
    .default({ intervalMs: 500 }),
});

/** The validated configuration, and the directory its module specifiers are resolved from. */
export type Config = z.infer<typeof configSchema> & {
  /** The configuration file's directory (the working directory without a file). */
  readonly baseDir?: string;
};

/** One entry of `processors`. */
export type ProcessorEntry = Config['processors'][string];

/** Environment variables and the config field each one sets. */
export const environmentVariables = {
  TROUPE_AMQP_URL: ['amqp', 'url'],
  TROUPE_AMQP_URL_ORDER: ['amqp', 'urlOrder'],
  TROUPE_AMQP_RETRY_ON_LOGIN_REFUSED: ['amqp', 'retryOnLoginRefused'],
  TROUPE_STORE: ['store'],
  TROUPE_HTTP_PORT: ['http', 'port'],
  TROUPE_HTTP_HOST: ['http', 'host'],
  TROUPE_LOG_LEVEL: ['logLevel'],
  TROUPE_MAX_CONCURRENT_HANDLERS: ['maxConcurrentHandlers'],
  TROUPE_DRAIN_MS: ['drainMs'],
  TROUPE_DEMO: ['demo', 'enabled'],
  TROUPE_INSPECTOR: ['inspector', 'enabled'],
  TROUPE_INSPECTOR_TOKEN: ['inspector', 'token'],
  TROUPE_INSPECTOR_CONTROLS: ['inspector', 'controls'],
  TROUPE_STATELY_INSPECT_URL: ['inspector', 'statelyUrl'],
  TROUPE_DEMO_INTERVAL_MS: ['demo', 'intervalMs'],
} as const satisfies Record<string, readonly string[]>;

const numeric = new Set([
  'TROUPE_HTTP_PORT',
  'TROUPE_MAX_CONCURRENT_HANDLERS',
  'TROUPE_DRAIN_MS',
  'TROUPE_DEMO_INTERVAL_MS',
]);
const booleanVariables = new Set([
  'TROUPE_DEMO',
  'TROUPE_INSPECTOR',
  'TROUPE_INSPECTOR_CONTROLS',
  'TROUPE_AMQP_RETRY_ON_LOGIN_REFUSED',
]);

function fromEnvironment(name: string, value: string): unknown {
  if (numeric.has(name)) return value.trim() === '' ? Number.NaN : Number(value);
  if (booleanVariables.has(name)) {
    if (['1', 'true', 'on', 'yes'].includes(value)) return true;
    if (['0', 'false', 'off', 'no'].includes(value)) return false;
    return value;
  }
  return value;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

/**
 * The configuration file's path, when there is one: TROUPE_CONFIG, else the nearest
 * `troupe.config.json` in the working directory or above it.
 */
export function configPath(env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (env.TROUPE_CONFIG !== undefined) return resolve(cwd, env.TROUPE_CONFIG);
  for (let directory = resolve(cwd); ; directory = dirname(directory)) {
    const candidate = join(directory, 'troupe.config.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(directory) === directory) return undefined;
  }
}

/**
 * Reads and validates the configuration.
 *
 * @throws ConfigurationError naming the field (and its environment variable)
 */
export function loadConfig(env: NodeJS.ProcessEnv, cwd = process.cwd()): Config {
  const path = configPath(env, cwd);
  let raw: Record<string, unknown> = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigurationError('TROUPE_CONFIG', `cannot read ${path}`, { cause: error });
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error('the file must hold a JSON object');
      }
      raw = parsed as Record<string, unknown>;
    } catch (error) {
      throw new ConfigurationError(path, `not valid JSON: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  const sources = new Map<string, string>();
  for (const [name, field] of Object.entries(environmentVariables)) {
    const value = env[name];
    if (value === undefined) continue;
    setPath(raw, field, fromEnvironment(name, value));
    sources.set(field.join('.'), name);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.map(String).join('.') ?? '';
    const variable = sources.get(field);
    const name = variable === undefined ? field || '(root)' : `${variable} (${field})`;
    throw new ConfigurationError(name, issue?.message ?? 'invalid');
  }
  const config: Config = { ...result.data, baseDir: path === undefined ? cwd : dirname(path) };
  if (config.amqp.url !== undefined && config.amqp.urls !== undefined) {
    const variable = sources.get('amqp.url');
    throw new ConfigurationError(
      variable === undefined ? 'amqp.urls' : `amqp.urls (and ${variable})`,
      'set amqp.url or amqp.urls, not both',
    );
  }
  const { inspector, http } = config;
  if (inspector.enabled && inspector.controls && inspector.token === undefined) {
    // Without a token any web page in a local browser could post control actions.
    throw new ConfigurationError(
      'TROUPE_INSPECTOR_TOKEN (inspector.token)',
      'required when inspector controls are enabled',
    );
  }
  if (config.demo.enabled === true && config.demo.module === undefined) {
    throw new ConfigurationError(
      sources.has('demo.enabled') ? 'TROUPE_DEMO (demo.module)' : 'demo.module',
      'required when the demo publisher is enabled: the module whose export makes the events',
    );
  }
  if (inspector.enabled && inspector.token === undefined && !isLoopback(http.host)) {
    const variable = sources.get('http.host');
    throw new ConfigurationError(
      'TROUPE_INSPECTOR_TOKEN (inspector.token)',
      `required when the HTTP server listens beyond loopback (http.host ${variable === undefined ? '' : `from ${variable} `}is ${http.host}); or set TROUPE_INSPECTOR=off`,
    );
  }
  return config;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The broker URLs (`amqp.urls`, or `amqp.url` split at commas); undefined without a broker. */
export function amqpUrls(config: Config): string[] | undefined {
  const urls =
    config.amqp.urls ??
    config.amqp.url
      ?.split(',')
      .map((url) => url.trim())
      .filter((url) => url !== '');
  return urls === undefined || urls.length === 0 ? undefined : urls;
}

/** The demo publisher runs when asked to, or by default when there is no broker; it needs a module. */
export function demoEnabled(config: Config): boolean {
  return (
    config.demo.module !== undefined && (config.demo.enabled ?? amqpUrls(config) === undefined)
  );
}
