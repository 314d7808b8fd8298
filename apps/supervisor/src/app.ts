// The app without the process around it: adapters chosen from the configuration, one
// pool per configured processor (loaded by module specifier) under a rest-for-one root,
// the configured demo publisher when there is no broker, and the operations server. `main.ts` adds signals and exit codes.
import { AmqpTransport, connectionChildSpec } from '@troupe/amqp';
import {
  ConfigurationError,
  createPool,
  redactCredentials,
  redactedMessage,
  Scheduler,
  startSupervisor,
  supervisorView,
  type ActorClock,
  type Backoff,
  type ChildSpec,
  type Pool,
  type Store,
  type SupervisorOutput,
  type SupervisorRuntime,
  type Transport,
} from '@troupe/core';
import { Inspector, inspectorRoutes } from '@troupe/inspector';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as StatelyInspect from '@statelyai/inspect';
import type { Logger } from 'pino';
import { amqpUrls, demoEnabled, type Config } from './config.js';
import { demoPublisherMachine, type DemoEvent } from './demo-publisher.machine.js';
import { startOperationsServer, type OperationsServer, type ReadinessResult } from './http.js';
import { Metrics } from './metrics.js';
import {
  baseDirOf,
  configuredProcessors,
  configuredTopology,
  importConfigured,
} from './processors.js';
import type { MessageTracing } from '@troupe/otel';
import { listenForStop, type StopSignals } from './signals.js';
import { isRetryableOpenFailure, openStoreWithRetry } from './store-opener.machine.js';

export interface App {
  readonly runtime: SupervisorRuntime;
  readonly transport: Transport;
  readonly store: Store;
  readonly http: OperationsServer;
  readonly metrics: Metrics;
  readonly inspector: Inspector | undefined;
  /** Drains the supervision tree, then closes the broker, the store and the server. */
  stop(): Promise<SupervisorOutput>;
}

async function createStore(config: Config): Promise<Store> {
  if (config.store === 'memory:') return new MemoryStore();
  // Store adapters are imported when configured: a project on another store does not
  // need better-sqlite3's native module built.
  if (config.store.startsWith('sqlite:')) {
    const { SqliteStore } = await import('@troupe/sqlite');
    return new SqliteStore({ path: config.store.slice('sqlite:'.length) });
  }
  if (config.store.startsWith('arangodb')) {
    // arangodb://user:password@host1:8529,host2:8529/database → arangojs's options.
    const { ArangoStore, parseArangoStoreUrl } = await import('@troupe/arango');
    // Checks the server before anything consumes; collections are created on first write.
    return ArangoStore.connect(parseArangoStoreUrl(config.store, 'TROUPE_STORE (store)'));
  }
  throw new ConfigurationError(
    'store',
    `${config.store.split(':')[0] ?? ''}: this store is not available in this build; use sqlite:PATH or memory:`,
  );
}

/** The store's kind, as the `store` label of its metrics: `sqlite`, `arangodb` or `memory`. */
function storeKind(config: Config): string {
  if (config.store.startsWith('arangodb')) return 'arangodb';
  return config.store.split(':')[0] ?? 'unknown';
}

/** The store's URL as logs and errors show it: without its password. */
function describeStore(config: Config): string {
  return redactCredentials(config.store);
}

/**
 * Attaches `inspector` to the running tree while someone looks: each request the
 * inspector's routes accept (right token, loopback Host) attaches it (a no-op when
 * attached) and an open event stream keeps it attached; `idleMs` after the last such
 * request with no stream open, it detaches. A refused request attaches nothing.
 */
function attachOnDemand(
  inspector: Inspector,
  root: () => Parameters<Inspector['attach']>[0] | undefined,
  idleMs: number,
): {
  accepted(request: IncomingMessage, response: ServerResponse): void;
  detach(): void;
} {
  let detach: (() => void) | undefined;
  let idle: NodeJS.Timeout | undefined;
  let streams = 0;
  const release = (): void => {
    detach?.();
    detach = undefined;
  };
  const touch = (): void => {
    const actor = root();
    if (detach === undefined && actor !== undefined) detach = inspector.attach(actor);
    clearTimeout(idle);
    idle = setTimeout(() => {
      if (streams === 0) release();
    }, idleMs);
    idle.unref();
  };
  return {
    accepted: (request, response) => {
      touch();
      if ((request.url ?? '').includes('/api/stream')) {
        streams += 1;
        response.once('close', () => {
          streams -= 1;
          touch();
        });
      }
    },
    detach: () => {
      clearTimeout(idle);
      release();
    },
  };
}

/** Stately's inspector client, loaded only when configured (about 100 ms of CPU otherwise). */
type StatelyModule = typeof StatelyInspect;

/**
 * The bridge to Stately's inspector, for teams that use it: every inspection event goes
 * to the WebSocket inspector at `url`. Off unless configured; returns its teardown.
 */
function bridgeToStately(
  url: string | undefined,
  stately: StatelyModule | undefined,
  runtime: SupervisorRuntime,
  logger: Logger,
): (() => void) | undefined {
  if (url === undefined || stately === undefined) return undefined;
  logger.warn(
    { stately: redactCredentials(url) },
    'sending every inspection event, context included, to a Stately inspector',
  );
  const inspector = stately.createWebSocketInspector({ url });
  const subscription = runtime.actor.system.inspect(inspector.inspect);
  return () => {
    subscription.unsubscribe();
    inspector.stop();
  };
}

/** The demo publisher's event function: `demo.module`'s export (`demo.export`, else `default`). */
async function loadDemoEvent(config: Config): Promise<(n: number) => DemoEvent> {
  const { module = '', export: exportName = 'default' } = config.demo;
  const exported = await importConfigured('demo', module, exportName, baseDirOf(config));
  const event = exported[exportName];
  if (typeof event !== 'function') {
    throw new ConfigurationError(
      'demo.export',
      `${module} has no function export ${exportName}; it exports ${Object.keys(exported).join(', ')}`,
    );
  }
  return event as (n: number) => DemoEvent;
}

/** How long to wait between attempts to open a store that is unreachable at start. */
const storeRetryBackoff: Backoff = {
  kind: 'exponential',
  minMs: 250,
  maxMs: 15_000,
  randomFactor: 0.2,
};

/**
 * Opens the configured store, retrying on the actor clock while it is unreachable
 * (`onProblem` hears why). A failure that retrying cannot fix is a configuration error
 * naming TROUPE_STORE, with the URL's password redacted from every message.
 */
async function openStore(
  config: Config,
  logger: Logger,
  options: {
    readonly signal?: AbortSignal | undefined;
    readonly clock?: ActorClock | undefined;
    readonly onProblem: (reason: string | undefined) => void;
  },
): Promise<Store> {
  // Only a store server can be down for a while; the embedded store failing to open is
  // its path's fault (a directory that cannot be created or written).
  const isTransient = (error: unknown): boolean =>
    config.store.startsWith('arangodb') && isRetryableOpenFailure(error);
  try {
    return await openStoreWithRetry({
      isTransient,
      logger: logger.child({ component: 'store' }),
      backoff: storeRetryBackoff,
      signal: options.signal,
      clock: options.clock,
      onProblem: options.onProblem,
      open: async (signal) => {
        const store = await createStore(config);
        if (signal.aborted) {
          await store.close().catch(() => undefined);
          throw new Error('store opening aborted');
        }
        return store;
      },
    });
  } catch (error) {
    if (options.signal?.aborted === true) throw error;
    const message = redactedMessage(error);
    throw new ConfigurationError(
      'TROUPE_STORE (store)',
      message.includes(describeStore(config)) ? message : `${describeStore(config)}: ${message}`,
      { cause: error },
    );
  }
}

/** Thrown by {@link startApp} when its signal aborted the start (a SIGTERM while connecting). */
export class StartAbortedError extends Error {
  override readonly name = 'StartAbortedError';
  constructor() {
    super('start-up aborted');
  }
}

/** Options of {@link startApp}. */
export interface StartAppOptions {
  /**
   * Aborts a start that has not completed (the broker or the store not reachable yet):
   * what was opened is closed and `startApp` rejects with {@link StartAbortedError}.
   */
  readonly signal?: AbortSignal | undefined;
  /** The clock of the start-up retries (a `SimulatedClock` in tests). */
  readonly actorClock?: ActorClock | undefined;
  /** Traces every message (see `tracing.ts`); absent, nothing is wrapped or traced. */
  readonly tracing?: MessageTracing | undefined;
}

/** The options of {@link startApp} (the name the tracing code uses). */
export type StartOptions = StartAppOptions;

/** Settles with `promise`, or rejects with {@link StartAbortedError} once `signal` aborts. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new StartAbortedError());
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * Starts the app. The operations server comes first and answers from that moment
 * (`/healthz` 200, `/readyz` 503 with the reason while the broker or the store is not
 * reachable); then the store opens (retried while unreachable) and the topology is
 * declared (the connection retries on its own), then the supervision tree starts. If a
 * step fails, or `options.signal` aborts, whatever was already opened is closed before
 * the error is thrown, so a failed start never leaves consumers running.
 */
export async function startApp(
  config: Config,
  logger: Logger,
  options: StartAppOptions = {},
): Promise<App> {
  const { signal } = options;
  const aborted = (): boolean => signal?.aborted === true;
  const definitions = await configuredProcessors(config);
  if (definitions.length === 0) {
    throw new ConfigurationError(
      'processors',
      'no processor to run: name at least one (module and, optionally, export) in troupe.config.json',
    );
  }
  const demoEvent = demoEnabled(config) ? await loadDemoEvent(config) : undefined;
  if (aborted()) throw new StartAbortedError();
  const urls = amqpUrls(config);
  const amqp =
    urls === undefined
      ? undefined
      : new AmqpTransport({
          url: urls,
          urlOrder: config.amqp.urlOrder,
          retryOnLoginRefused: config.amqp.retryOnLoginRefused,
          heartbeatSeconds: config.amqp.heartbeatSeconds,
          connectionName: config.amqp.connectionName,
          logger,
          ...(options.actorClock === undefined ? {} : { actorClock: options.actorClock }),
        });
  const transport: Transport & { readonly state?: string } = amqp ?? new MemoryTransport();
  const brokerConnected = (): boolean =>
    transport.state === undefined || transport.state.startsWith('connected');
  let store: Store | undefined;
  let storeProblem: string | undefined = 'opening';
  let runtime: SupervisorRuntime | undefined;
  const metrics = new Metrics({
    root: () => runtime?.actor,
    brokerConnected,
    brokerNode: () => amqp?.status.node,
    storeWrites: { kind: storeKind(config), stats: () => store?.writeStats?.() },
  });
  let http: OperationsServer | undefined;
  let detachInspector: (() => void) | undefined;
  /** The inspector's routes, once the tree they show exists. */
  let inspectorHandler:
    ((request: IncomingMessage, response: ServerResponse) => boolean) | undefined;
  let opening: Promise<Store> | undefined;
  // Ends the start-up retries: on the caller's abort, and when the start fails.
  const giveUp = new AbortController();
  const onAbort = (): void => giveUp.abort(new StartAbortedError());
  signal?.addEventListener('abort', onAbort, { once: true });
  const release = async (): Promise<void> => {
    signal?.removeEventListener('abort', onAbort);
    detachInspector?.();
    await transport.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await http?.close().catch(() => undefined);
    metrics.close();
  };

  const brokerReadiness = (): ReadinessResult => {
    if (brokerConnected()) return { ok: true };
    const lastFailure = amqp?.status.lastFailure;
    return {
      ok: false,
      reason: redactCredentials(
        `${transport.state ?? 'unknown'}${lastFailure === undefined ? '' : `: ${lastFailure.description}`}`,
      ),
    };
  };
  /** Which node the connection is on (or tried last), and why it failed, for /readyz. */
  const brokerDetail = (): unknown => {
    if (amqp === undefined) return undefined;
    const { state, node, lastFailure } = amqp.status;
    return {
      state,
      node,
      ...(lastFailure === undefined
        ? {}
        : { failure: lastFailure.kind, reason: lastFailure.description }),
    };
  };
  const storeReadiness = async (): Promise<ReadinessResult> => {
    if (store === undefined) return { ok: false, reason: storeProblem ?? 'opening' };
    try {
      const health = await store.health?.();
      if (health !== undefined && !health.healthy) {
        return { ok: false, reason: redactCredentials(health.reason) };
      }
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: redactedMessage(error) };
    }
  };
  const consumersReadiness = (): ReadinessResult => {
    if (runtime === undefined) return { ok: false, reason: 'starting' };
    const value = runtime.actor.getSnapshot().value;
    return value === 'running'
      ? { ok: true }
      : { ok: false, reason: `root supervisor ${String(value)}` };
  };

  try {
    http = await startOperationsServer({
      host: config.http.host,
      port: config.http.port,
      routes: (request, response) => {
        if (inspectorHandler !== undefined) return inspectorHandler(request, response);
        if (!config.inspector.enabled || !(request.url ?? '').startsWith('/inspector')) {
          return false;
        }
        response
          .writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' })
          .end('starting\n');
        return true;
      },
      metrics: () => metrics.render(),
      checks: [
        { name: 'broker', check: brokerReadiness, detail: brokerDetail },
        { name: 'consumers', check: consumersReadiness },
        {
          // The broker still has the declared exchanges, queues and bindings (checked on
          // the actor clock; what is missing is declared again, and named here if it can't be).
          name: 'topology',
          check: () => amqp?.topologyHealth.ok ?? true,
          detail: () => {
            const health = amqp?.topologyHealth;
            return health === undefined
              ? undefined
              : { missing: health.missing, conflicts: health.conflicts };
          },
        },
        { name: 'store', check: storeReadiness },
      ],
    });
    logger.info({ http: `http://${config.http.host}:${http.port}` }, 'operations server listening');

    // The store and the broker come up side by side; either may take a while.
    opening = openStore(config, logger, {
      signal: giveUp.signal,
      clock: options.actorClock,
      onProblem: (reason) => {
        storeProblem = reason;
      },
    });
    const declared = transport.declare(configuredTopology(config, definitions));
    // Whichever fails first fails the start.
    [store] = await unlessAborted(Promise.all([opening, declared]), signal);
    signal?.removeEventListener('abort', onAbort);
    const openStoreNow = store;

    const scheduler =
      config.maxConcurrentHandlers === undefined
        ? undefined
        : new Scheduler({ capacity: config.maxConcurrentHandlers });
    // Traced only when tracing is on: otherwise the pools get the transport untouched.
    const { tracing } = options;
    const traced = tracing === undefined ? transport : tracing.transport(transport);
    const pools: Pool[] = definitions.map((definition) =>
      createPool({
        definition: tracing === undefined ? definition : tracing.processor(definition),
        transport: traced,
        store: openStoreNow,
        logger,
        scheduler,
        drainMs: config.drainMs,
        observer: metrics.observer(definition.name),
      }),
    );
    // The broker connection first (rest-for-one): the pools start once it is connected,
    // and if it gives up reconnecting, everything after it restarts with a fresh one.
    const children: ChildSpec[] = [
      ...(amqp === undefined ? [] : [connectionChildSpec(amqp)]),
      ...pools.map((pool) => pool.childSpec),
    ];
    if (demoEvent !== undefined) {
      children.push({
        id: 'demo-publisher',
        kind: 'service',
        shutdown: 'brutal',
        start: () => ({
          logic: demoPublisherMachine,
          input: {
            transport: traced,
            event: demoEvent,
            intervalMs: config.demo.intervalMs,
            logger: logger.child({ actor: 'demo-publisher' }),
          },
        }),
      });
    }
    // The inspector costs XState's inspection events on every transition while it is
    // attached (about a quarter more CPU per message), so it is attached on demand: on the
    // first request to /inspector that its routes accept, and detached once no one has
    // looked for a while.
    const inspector = config.inspector.enabled ? new Inspector() : undefined;
    if (inspector !== undefined) {
      const onDemand = attachOnDemand(
        inspector,
        () => runtime?.actor,
        config.inspector.idleDetachMs,
      );
      detachInspector = () => onDemand.detach();
      inspectorHandler = inspectorRoutes(inspector, {
        token: config.inspector.token,
        controls: config.inspector.controls,
        pools,
        onAccepted: onDemand.accepted,
      });
    }
    // Loaded before the supervisor starts, so that the bridge attaches right after it.
    const statelyModule =
      config.inspector.statelyUrl === undefined ? undefined : await import('@statelyai/inspect');
    runtime = startSupervisor(
      { strategy: 'rest-for-one', children, logger: logger.child({ actor: 'root' }) },
      { id: 'root' },
    );
    const stately = bridgeToStately(config.inspector.statelyUrl, statelyModule, runtime, logger);
    const detachLocal = detachInspector;
    detachInspector = () => {
      detachLocal?.();
      stately?.();
    };
    logger.info(
      {
        processors: definitions.map((definition) => definition.name),
        broker: config.amqp.url === undefined ? 'in-process' : 'amqp',
        store: describeStore(config),
        http: `http://${config.http.host}:${http.port}`,
        demo: demoEnabled(config),
        inspector:
          inspector === undefined ? 'off' : `http://${config.http.host}:${http.port}/inspector`,
        tracing: tracing !== undefined,
      },
      'troupe started',
    );
    const started = { runtime, http, inspector, store: openStoreNow };
    let stopping: Promise<SupervisorOutput> | undefined;
    return {
      ...started,
      transport,
      metrics,
      stop: () => {
        stopping ??= (async () => {
          // Every pool stops consuming first, so that none takes new work while another
          // drains; then the tree stops in reverse start order (each pool's workers drain
          // side by side within drainMs), the broker connection last.
          const { children } = supervisorView(started.runtime.actor.getSnapshot());
          for (const child of children) {
            if (child.id.startsWith('pool:')) {
              child.ref?.send({ type: 'supervisor.cancel-child', id: 'consumer' });
            }
          }
          const output = await started.runtime
            .shutdown()
            .catch((error: unknown): SupervisorOutput => ({
              exit: 'failed',
              reason: error instanceof Error ? error.message : String(error),
            }));
          await release();
          return output;
        })();
        return stopping;
      },
    };
  } catch (error) {
    giveUp.abort(error);
    await runtime?.shutdown().catch(() => undefined);
    // A store that opened while the broker failed the start is closed too.
    if (store === undefined) {
      void opening?.then((late) => late.close()).catch(() => undefined);
    }
    await release();
    throw aborted() ? new StartAbortedError() : error;
  }
}

/**
 * Runs a started app until it ends: the stop request (SIGTERM or SIGINT, listened to
 * since before the start when `stop` is given) drains it, and the root giving up ends
 * it. Resolves with the exit code (0 drained, 1 the root gave up); `farewell` adds
 * fields to the last log line.
 */
export async function runUntilStopped(
  app: App,
  logger: Logger,
  farewell: () => Record<string, unknown> = () => ({}),
  stop: StopSignals = listenForStop({ logger }),
): Promise<0 | 1> {
  const drain = (): void => {
    app.stop().catch((error: unknown) => logger.error({ err: error }, 'drain failed'));
  };
  if (stop.signal.aborted) drain();
  else stop.signal.addEventListener('abort', drain, { once: true });

  // The root exits on its own only when it gave up (restart intensity exceeded).
  const output = await app.runtime.exited.catch(
    () => ({ exit: 'failed', reason: 'crashed' }) as const,
  );
  await app.stop();
  if (output.exit === 'failed') {
    logger.fatal({ reason: output.reason }, 'root supervisor gave up');
    logger.flush();
    return 1;
  }
  logger.info(farewell(), 'drained; bye');
  logger.flush();
  return 0;
}
