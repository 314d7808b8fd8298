// The app without the process around it: adapters chosen from the configuration, one
// pool per configured processor (loaded by module specifier) under a rest-for-one root,
// the configured demo publisher when there is no broker, and the operations server. `main.ts` adds signals and exit codes.
import { AmqpTransport, connectionChildSpec } from '@troupe/amqp';
import {
  ConfigurationError,
  createPool,
  Scheduler,
  startSupervisor,
  supervisorView,
  type ChildSpec,
  type Store,
  type SupervisorOutput,
  type SupervisorRuntime,
  type Transport,
} from '@troupe/core';
import { Inspector, inspectorRoutes } from '@troupe/inspector';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createWebSocketInspector } from '@statelyai/inspect';
import type { Logger } from 'pino';
import { amqpUrls, demoEnabled, type Config } from './config.js';
import { demoPublisherMachine, type DemoEvent } from './demo-publisher.machine.js';
import { startOperationsServer, type OperationsServer } from './http.js';
import { Metrics } from './metrics.js';
import {
  baseDirOf,
  configuredProcessors,
  configuredTopology,
  importConfigured,
} from './processors.js';
import type { MessageTracing } from '@troupe/otel';

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

function describeStore(config: Config): string {
  return config.store.startsWith('arangodb')
    ? config.store.replace(/\/\/[^@/]*@/, '//***@')
    : config.store;
}

/**
 * Attaches `inspector` to the running tree while someone looks: each request under
 * /inspector attaches it (a no-op when attached) and an open event stream keeps it
 * attached; `idleMs` after the last request with no stream open, it detaches.
 */
function attachOnDemand(
  inspector: Inspector,
  root: () => Parameters<Inspector['attach']>[0] | undefined,
  idleMs: number,
): {
  wrap(
    routes: (request: IncomingMessage, response: ServerResponse) => boolean,
  ): (request: IncomingMessage, response: ServerResponse) => boolean;
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
    wrap: (routes) => (request, response) => {
      if (!(request.url ?? '').startsWith('/inspector')) return false;
      touch();
      if ((request.url ?? '').includes('/api/stream')) {
        streams += 1;
        response.once('close', () => {
          streams -= 1;
          touch();
        });
      }
      return routes(request, response);
    },
    detach: () => {
      clearTimeout(idle);
      release();
    },
  };
}

/**
 * The bridge to Stately's inspector, for teams that use it: every inspection event goes
 * to the WebSocket inspector at `url`. Off unless configured; returns its teardown.
 */
function bridgeToStately(
  url: string | undefined,
  runtime: SupervisorRuntime,
  logger: Logger,
): (() => void) | undefined {
  if (url === undefined) return undefined;
  logger.warn(
    { stately: url.replace(/\/\/[^@/]*@/, '//***@') },
    'sending every inspection event, context included, to a Stately inspector',
  );
  const stately = createWebSocketInspector({ url });
  const subscription = runtime.actor.system.inspect(stately.inspect);
  return () => {
    subscription.unsubscribe();
    stately.stop();
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

/** Sanitises a store's start-up error: the URL's password never reaches a message. */
async function openStore(config: Config): Promise<Store> {
  try {
    return await createStore(config);
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).replaceAll(
      config.store.replace(/^arangodbs?:/, ''),
      describeStore(config).replace(/^arangodbs?:/, ''),
    );
    if (
      (error as { code?: unknown }).code === 'CONFIGURATION' ||
      config.store.startsWith('arangodb')
    ) {
      throw new ConfigurationError(
        'TROUPE_STORE (store)',
        `${describeStore(config)}: ${message.replaceAll(/\/\/[^@/\s]*@/g, '//***@')}`,
      );
    }
    throw error;
  }
}

/**
 * Starts the app: the operations server first, then the supervision tree. If any step
 * fails, whatever was already opened is closed again before the error is thrown, so a
 * failed start never leaves consumers running.
 */
/** What the composition root adds to the configuration. */
export interface StartOptions {
  /** Traces every message (see `tracing.ts`); absent, nothing is wrapped or traced. */
  readonly tracing?: MessageTracing | undefined;
}

export async function startApp(
  config: Config,
  logger: Logger,
  options: StartOptions = {},
): Promise<App> {
  const definitions = await configuredProcessors(config);
  if (definitions.length === 0) {
    throw new ConfigurationError(
      'processors',
      'no processor to run: name at least one (module and, optionally, export) in troupe.config.json',
    );
  }
  const demoEvent = demoEnabled(config) ? await loadDemoEvent(config) : undefined;
  const store = await openStore(config);
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
        });
  const transport: Transport & { readonly state?: string } = amqp ?? new MemoryTransport();
  const brokerConnected = (): boolean =>
    transport.state === undefined || transport.state.startsWith('connected');
  let runtime: SupervisorRuntime | undefined;
  const metrics = new Metrics({
    root: () => runtime?.actor,
    brokerConnected,
    brokerNode: () => amqp?.status.node,
  });
  let http: OperationsServer | undefined;
  let detachInspector: (() => void) | undefined;
  const release = async (): Promise<void> => {
    detachInspector?.();
    await transport.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    await http?.close().catch(() => undefined);
    metrics.close();
  };
  try {
    await transport.declare(configuredTopology(config, definitions));
    const brokerConnected = (): boolean =>
      transport.state === undefined || transport.state.startsWith('connected');
    const scheduler =
      config.maxConcurrentHandlers === undefined
        ? undefined
        : new Scheduler({ capacity: config.maxConcurrentHandlers });
    // Traced only when tracing is on: otherwise the pools get the transport untouched.
    const { tracing } = options;
    const traced = tracing === undefined ? transport : tracing.transport(transport);
    const pools = definitions.map((definition) =>
      createPool({
        definition: tracing === undefined ? definition : tracing.processor(definition),
        transport: traced,
        store,
        logger,
        scheduler,
        drainMs: config.drainMs,
        observer:
          tracing === undefined
            ? metrics.observer(definition.name)
            : tracing.observer(definition.name, metrics.observer(definition.name)),
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
    // first request to /inspector, and detached once no one has looked for a while.
    const inspector = config.inspector.enabled ? new Inspector() : undefined;
    const onDemand =
      inspector === undefined
        ? undefined
        : attachOnDemand(inspector, () => runtime?.actor, config.inspector.idleDetachMs);
    detachInspector = () => onDemand?.detach();
    http = await startOperationsServer({
      host: config.http.host,
      port: config.http.port,
      routes:
        inspector === undefined || onDemand === undefined
          ? undefined
          : onDemand.wrap(
              inspectorRoutes(inspector, {
                token: config.inspector.token,
                controls: config.inspector.controls,
                pools,
              }),
            ),
      metrics: () => metrics.render(),
      checks: [
        {
          name: 'broker',
          check: brokerConnected,
          detail: () => {
            if (amqp === undefined) return undefined;
            const { state, node, lastFailure } = amqp.status;
            return {
              state,
              node,
              ...(lastFailure === undefined
                ? {}
                : { failure: lastFailure.kind, reason: lastFailure.description }),
            };
          },
        },
        { name: 'consumers', check: () => runtime?.actor.getSnapshot().value === 'running' },
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
        {
          name: 'store',
          check: async () => {
            await store.count('troupe');
            return true;
          },
        },
      ],
    });
    runtime = startSupervisor(
      { strategy: 'rest-for-one', children, logger: logger.child({ actor: 'root' }) },
      { id: 'root' },
    );
    const stately = bridgeToStately(config.inspector.statelyUrl, runtime, logger);
    const detachLocal = detachInspector;
    detachInspector = () => {
      detachLocal?.();
      stately?.();
    };
    logger.info(
      {
        processors: definitions.map((definition) => definition.name),
        broker: amqp === undefined ? 'in-process' : amqp.status.nodes,
        store: describeStore(config),
        http: `http://${config.http.host}:${http.port}`,
        demo: demoEnabled(config),
        inspector:
          inspector === undefined ? 'off' : `http://${config.http.host}:${http.port}/inspector`,
        tracing: tracing !== undefined,
      },
      'troupe started',
    );
    const started = { runtime, http, inspector };
    let stopping: Promise<SupervisorOutput> | undefined;
    return {
      ...started,
      transport,
      store,
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
    await runtime?.shutdown().catch(() => undefined);
    await release();
    throw error;
  }
}

/**
 * Runs a started app until it ends: SIGTERM and SIGINT drain it (a second signal forces
 * the exit), and the root giving up ends it. Resolves with the exit code (0 drained,
 * 1 the root gave up); `farewell` adds fields to the last log line.
 */
export async function runUntilStopped(
  app: App,
  logger: Logger,
  farewell: () => Record<string, unknown> = () => ({}),
): Promise<0 | 1> {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: forcing exit');
      logger.flush();
      process.exit(1);
    }
    logger.info({ signal }, 'draining');
    app.stop().catch((error: unknown) => logger.error({ err: error }, 'drain failed'));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

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
