#!/usr/bin/env node
// The `troupe` command line (from the repository root: `pnpm troupe <verb> …`; installed,
// the `troupe` bin of @troupe/supervisor).
//
// Exit codes: 0 success, 1 the operation failed (broker or store unreachable, not
// found), 2 usage or configuration error.
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  AmqpTransport,
  connectionMachine,
  describeConnectError,
  redactUrl,
  type ConnectFailure,
} from '@troupe/amqp';
import {
  ConfigurationError,
  redactedMessage,
  type AnyProcessorDefinition,
  type Store,
} from '@troupe/core';
import { consumerMachine, processorMachine, supervisorMachine } from '@troupe/core';
import { chartOf, toMermaid } from '@troupe/inspector';
import { topicMatches } from '@troupe/memory';
import { connect } from 'amqplib';
import { pino } from 'pino';
import type { AnyStateMachine } from 'xstate';
import { amqpUrls, loadConfig, type Config } from './config.js';
import { listDeadLetters, replayDeadLetters } from './dlq.js';
import { listRetryQueues } from './retries.js';
import { configuredProcessors, configuredTopology } from './processors.js';
import { scaffoldProcessor, workspaceRoot } from './scaffold.js';

export const cliExitCodes = { ok: 0, failed: 1, usage: 2 } as const;

class UsageError extends Error {}

interface Verb {
  readonly usage: string;
  readonly summary: string;
  readonly options?: Record<string, { type: 'string' | 'boolean'; short?: string }>;
  run(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<void>;
}

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

function config(): Config {
  return loadConfig(process.env);
}

/** The broker URLs: --url (comma-separated for several), or the config's. */
function brokerUrls(values: Record<string, string | boolean | undefined>): string[] {
  const urls =
    typeof values.url === 'string'
      ? values.url
          .split(',')
          .map((url) => url.trim())
          .filter((url) => url !== '')
      : amqpUrls(config());
  if (urls === undefined || urls.length === 0) {
    throw new ConfigurationError(
      'TROUPE_AMQP_URL',
      'no broker configured: set TROUPE_AMQP_URL or pass --url (the in-process broker lives inside a running app)',
    );
  }
  return urls;
}

/** An error saying which broker refused and how: refused login, refused connection, unknown vhost… */
function brokerError(node: string | undefined, failure: ConnectFailure): Error {
  return new Error(`cannot connect to ${node ?? 'the broker'}: ${failure.description}`);
}

/**
 * The first broker URL that accepts a connection (tried and closed again); the last
 * refusal, described (refused login, refused connection, unknown vhost…), if none does.
 */
async function reachableUrl(values: Record<string, string | boolean | undefined>): Promise<string> {
  let last: Error | undefined;
  for (const url of brokerUrls(values)) {
    try {
      const model = await connect(url);
      await model.close().catch(() => undefined);
      return url;
    } catch (error) {
      last = brokerError(redactUrl(url), describeConnectError(error));
    }
  }
  throw last ?? new Error('no broker URL');
}

async function openStore(): Promise<Store> {
  const { store } = config();
  if (store.startsWith('sqlite:')) {
    const { SqliteStore } = await import('@troupe/sqlite');
    return new SqliteStore({ path: store.slice('sqlite:'.length) });
  }
  if (store.startsWith('arangodb')) {
    const { ArangoStore, parseArangoStoreUrl } = await import('@troupe/arango');
    return new ArangoStore(parseArangoStoreUrl(store, 'TROUPE_STORE'));
  }
  throw new ConfigurationError(
    'TROUPE_STORE',
    `the CLI reads sqlite:PATH and arangodb:// stores; ${store.split(':')[0] ?? store} is not supported here`,
  );
}

function readBody(argument: string): Buffer {
  const text = argument.startsWith('@') ? readFileSync(argument.slice(1), 'utf8') : argument;
  try {
    JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the message is not valid JSON: ${(error as Error).message}`);
  }
  return Buffer.from(text);
}

const urlOption = { url: { type: 'string' as const } };

const runtimeCharts: Record<string, AnyStateMachine> = {
  supervisor: supervisorMachine,
  consumer: consumerMachine,
  connection: connectionMachine,
};

/**
 * The processor `troupe chart` shows: only that one is loaded, so that another
 * processor's broken module does not stop it.
 */
async function chartedProcessor(name: string): Promise<AnyProcessorDefinition> {
  const configured = config();
  const entry = configured.processors[name];
  if (entry === undefined) {
    const known = Object.keys(configured.processors);
    throw new UsageError(
      `unknown chart ${JSON.stringify(name)}; processors: ${known.join(', ') || '(none configured)'}; or ${Object.keys(runtimeCharts).join(', ')}`,
    );
  }
  const [definition] = await configuredProcessors(
    { ...configured, processors: { [name]: { ...entry, enabled: true } } },
    [name],
  );
  if (definition === undefined) throw new Error(`processor ${name} did not load`);
  return definition;
}

/** What `troupe chart <processor>` prints beside the chart. */
function processorSummary(definition: AnyProcessorDefinition): Record<string, unknown> {
  return {
    processor: definition.name,
    queue: definition.queue,
    deadLetterQueue: `${definition.queue}.dead`,
    queueType: definition.queueType,
    bindings: definition.bindings.map((binding) => `${binding.exchange} ${binding.routingKey}`),
    concurrency: definition.concurrency,
    weight: definition.weight,
    timeoutMs: definition.timeoutMs,
    retry: definition.retry,
    maxBatch: definition.maxBatch,
    batchTimeoutMs: definition.batchTimeoutMs,
    persistTimeoutMs: definition.persistTimeoutMs,
  };
}

function describeBackoff(retry: AnyProcessorDefinition['retry']): string {
  const { backoff } = retry;
  const jitter =
    backoff.randomFactor === undefined || backoff.randomFactor === 0
      ? ''
      : ` ±${Math.round(backoff.randomFactor * 100)}%`;
  return backoff.kind === 'fixed'
    ? `fixed ${backoff.delayMs} ms${jitter}`
    : `exponential ${backoff.minMs}–${backoff.maxMs} ms${jitter}`;
}

/** The summary as Mermaid comment lines, so that the output stays a valid chart. */
function summaryLines(definition: AnyProcessorDefinition): string[] {
  const { retry } = definition;
  return [
    `processor   ${definition.name}`,
    `queue       ${definition.queue} (${definition.queueType}${definition.singleActiveConsumer ? ', single active consumer' : ''}); dead letters in ${definition.queue}.dead`,
    `bindings    ${definition.bindings.map((binding) => `${binding.exchange} → ${binding.routingKey}`).join(', ') || '(none)'}`,
    `retry       ${retry.attempts} attempts, ${describeBackoff(retry)}, then ${retry.onExhausted}; delays from ${retry.redeliverFromMs} ms through the broker`,
    `timeout     ${definition.timeoutMs} ms per attempt to handle, ${definition.persistTimeoutMs} ms to persist a batch`,
    `workers     ${definition.concurrency} (prefetch), weight ${definition.weight}; batches of up to ${definition.maxBatch}${definition.batchTimeoutMs === undefined ? '' : `, waiting up to ${definition.batchTimeoutMs} ms to fill`}`,
  ].map((line) => `%% ${line}`);
}

interface TreeLine {
  readonly id: string;
  readonly kind: string;
  readonly status: string;
  readonly state?: string;
  readonly restarts?: number;
  readonly messageId?: string;
  readonly attempt?: number;
  readonly lastError?: string;
  readonly children: readonly TreeLine[];
}

function renderTree(nodes: readonly TreeLine[], indent = ''): string[] {
  const lines: string[] = [];
  nodes.forEach((node, index) => {
    const last = index === nodes.length - 1;
    const details = [
      node.state ?? node.status,
      node.restarts ? `restarts=${node.restarts}` : '',
      node.messageId !== undefined && node.state !== 'idle' ? `message=${node.messageId}` : '',
      node.attempt !== undefined && node.attempt > 1 && node.state !== 'idle'
        ? `attempt=${node.attempt}`
        : '',
      node.lastError !== undefined && node.state !== 'idle'
        ? `error=${JSON.stringify(node.lastError)}`
        : '',
    ].filter((part) => part !== '');
    lines.push(`${indent}${last ? '└─' : '├─'} ${node.id} (${node.kind}) ${details.join(' ')}`);
    lines.push(...renderTree(node.children, `${indent}${last ? '   ' : '│  '}`));
  });
  return lines;
}

function inspectorBase(values: Record<string, string | boolean | undefined>): {
  url: string;
  headers: Record<string, string>;
} {
  const { http, inspector } = config();
  const host = http.host === '0.0.0.0' || http.host === '::' ? '127.0.0.1' : http.host;
  const url =
    typeof values.url === 'string' ? values.url.replace(/\/+$/, '') : `http://${host}:${http.port}`;
  const token = typeof values.token === 'string' ? values.token : inspector.token;
  return { url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } };
}

async function fetchTree(
  url: string,
  headers: Record<string, string>,
): Promise<readonly TreeLine[]> {
  const response = await fetch(`${url}/inspector/api/tree`, { headers }).catch((error: unknown) => {
    throw new Error(`cannot reach the app at ${url}: ${(error as Error).message}`);
  });
  if (response.status === 401)
    throw new Error('the inspector wants a token: --token or TROUPE_INSPECTOR_TOKEN');
  if (response.status === 404) throw new Error(`no inspector at ${url} (is TROUPE_INSPECTOR off?)`);
  if (!response.ok) throw new Error(`the inspector answered ${response.status}`);
  return ((await response.json()) as { tree: readonly TreeLine[] }).tree;
}

const verbs: Record<string, Verb> = {
  start: {
    usage: 'troupe start',
    summary:
      'Run the supervisor app (same as `npm start`); configuration from troupe.config.json and TROUPE_*',
    run: async () => {
      await import('./main.js');
    },
  },
  publish: {
    usage: 'troupe publish <routing-key> <json|@file> [--exchange E] [--force] [--url amqp://…]',
    summary: 'Publish one JSON message with publisher confirms',
    options: { exchange: { type: 'string' }, force: { type: 'boolean' }, ...urlOption },
    run: async ([routingKey, payload], values) => {
      if (routingKey === undefined || payload === undefined)
        throw new UsageError('expected <routing-key> <json|@file>');
      const body = readBody(payload);
      const transport = new AmqpTransport({
        url: brokerUrls(values),
        logger: pino({ level: 'silent' }),
        maxReconnectAttempts: 3,
        retryOnLoginRefused: false,
      });
      try {
        await transport.ready().catch(() => {
          const { node, lastFailure } = transport.status;
          throw lastFailure === undefined
            ? new Error('cannot connect to the broker')
            : brokerError(node, lastFailure);
        });
        // The same topology the app declares, so that a message published before the
        // app first ran is routed to its queue, not dropped.
        const definitions = await configuredProcessors(config());
        await transport.declare(configuredTopology(config(), definitions));
        const matching = definitions.flatMap((definition) =>
          definition.bindings.filter((binding) => topicMatches(binding.routingKey, routingKey)),
        );
        const exchanges = [...new Set(matching.map((binding) => binding.exchange))];
        const exchange =
          typeof values.exchange === 'string'
            ? values.exchange
            : exchanges.length === 1 && exchanges[0] !== undefined
              ? exchanges[0]
              : undefined;
        if (exchange === undefined) {
          throw new UsageError(
            exchanges.length === 0
              ? `no configured processor's queue is bound with ${routingKey} on any exchange; the broker would drop it (--exchange E --force to publish anyway)`
              : `queues are bound with ${routingKey} on several exchanges (${exchanges.join(', ')}): name one with --exchange`,
          );
        }
        // The broker confirms an unroutable message and drops it: refuse to publish one
        // that no configured processor's queue would receive.
        const routed = matching.some((binding) => binding.exchange === exchange);
        if (!routed && values.force !== true) {
          throw new UsageError(
            `no configured processor's queue is bound to ${exchange} with ${routingKey}; the broker would drop it (--force to publish anyway)`,
          );
        }
        await transport.publish(exchange, routingKey, body, { contentType: 'application/json' });
        out(`published to ${exchange} with routing key ${routingKey} (confirmed)`);
      } finally {
        await transport.close();
      }
    },
  },
  chart: {
    usage: 'troupe chart <processor|supervisor|consumer|connection> [--format mermaid|json]',
    summary:
      "Print an actor's state chart (Mermaid by default); for a processor, with its queue, bindings, retry policy and timeouts",
    options: { format: { type: 'string' } },
    run: async ([name], values) => {
      if (name === undefined) throw new UsageError('expected a processor name');
      const format = values.format ?? 'mermaid';
      if (format !== 'mermaid' && format !== 'json')
        throw new UsageError('--format must be mermaid or json');
      const runtime = runtimeCharts[name];
      if (runtime !== undefined) {
        const chart = chartOf(runtime);
        out(format === 'json' ? JSON.stringify(chart, null, 2) : toMermaid(chart));
        return;
      }
      const definition = await chartedProcessor(name);
      // Every processor's workers run the same chart; what differs is around it.
      const chart = chartOf(processorMachine);
      if (format === 'json') {
        out(JSON.stringify({ ...processorSummary(definition), chart }, null, 2));
      } else {
        out([...summaryLines(definition), toMermaid(chart)].join('\n'));
      }
    },
  },
  new: {
    usage: 'troupe new processor <name> [--skip-install]',
    summary:
      'Scaffold packages/processor-<name> (processor, tests, README) and register it in troupe.config.json',
    options: { 'skip-install': { type: 'boolean' } },
    run: ([kind, name], values) => {
      if (kind !== 'processor' || name === undefined) {
        throw new UsageError('expected processor <name>');
      }
      const root = workspaceRoot(process.cwd());
      if (root === undefined) {
        throw new UsageError('run it inside a pnpm workspace (no pnpm-workspace.yaml found)');
      }
      let result: ReturnType<typeof scaffoldProcessor>;
      try {
        result = scaffoldProcessor(name, root);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      for (const file of result.written) out(`created  ${file}`);
      for (const file of result.registered) out(`updated  ${file}`);
      if (values['skip-install'] !== true) {
        // Links the new package into the workspace (and its name into the lockfile).
        const { packageManager } = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as {
          packageManager?: string;
        };
        execFileSync('npx', ['--yes', packageManager ?? 'pnpm', 'install'], {
          cwd: root,
          stdio: ['ignore', 'inherit', 'inherit'],
        });
      }
      out(
        [
          '',
          `Next: edit packages/processor-${name}/src/index.ts (schema, handler), then`,
          `  npx pnpm vitest run packages/processor-${name}`,
          `  npm run troupe -- chart ${name}`,
          '  npm start   (see docs/writing-a-processor.md)',
        ].join('\n'),
      );
      return Promise.resolve();
    },
  },
  inspect: {
    usage: 'troupe inspect [--url http://127.0.0.1:9464] [--token T] [--watch]',
    summary: "Print a running app's supervision tree with each actor's state; --watch follows it",
    options: { url: { type: 'string' }, token: { type: 'string' }, watch: { type: 'boolean' } },
    run: async (_positionals, values) => {
      const { url, headers } = inspectorBase(values);
      const print = async (): Promise<void> => {
        const tree = await fetchTree(url, headers);
        out(renderTree(tree).join('\n'));
      };
      await print();
      if (values.watch !== true) return;
      // Follow the live stream; each batch of updates redraws the tree.
      const response = await fetch(`${url}/inspector/api/stream`, { headers });
      if (!response.ok || response.body === null)
        throw new Error(`the stream answered ${response.status}`);
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        if (!decoder.decode(chunk as Uint8Array, { stream: true }).includes('event: update'))
          continue;
        if (process.stdout.isTTY === true) process.stdout.write('\x1b[2J\x1b[H');
        out(`— ${new Date().toISOString()}`);
        await print();
      }
    },
  },
  store: {
    usage: 'troupe store get <collection> <key> | troupe store count <collection>',
    summary: 'Read the configured store (TROUPE_STORE)',
    run: async ([action, collection, key]) => {
      if (collection === undefined) throw new UsageError('expected a collection');
      if (action !== 'count' && action !== 'get') {
        throw new UsageError(
          `unknown store action ${JSON.stringify(action)}; expected get or count`,
        );
      }
      if (action === 'get' && key === undefined)
        throw new UsageError('expected <collection> <key>');
      const store = await openStore();
      try {
        // An empty collection and one that does not exist both hold nothing; an operator
        // who mistyped a name must be told which it is.
        if (!(await store.hasCollection(collection))) {
          process.stderr.write(
            `troupe: no collection ${JSON.stringify(collection)} in the store\n`,
          );
          process.exitCode = cliExitCodes.failed;
          return;
        }
        if (action === 'count') {
          out(String(await store.count(collection)));
          return;
        }
        const document = await store.get(collection, key ?? '');
        if (document === undefined) {
          process.stderr.write(`troupe: ${collection}/${key ?? ''} not found\n`);
          process.exitCode = cliExitCodes.failed;
          return;
        }
        out(JSON.stringify(document, null, 2));
      } finally {
        await store.close();
      }
    },
  },
  dlq: {
    usage:
      'troupe dlq list <queue> [--limit N] | troupe dlq replay <queue> [--limit N] [--url amqp://…]',
    summary: "List a queue's dead letters with their reasons, or replay them to the queue",
    options: { limit: { type: 'string' }, ...urlOption },
    run: async ([action, queue], values) => {
      if (queue === undefined || (action !== 'list' && action !== 'replay')) {
        throw new UsageError('expected list <queue> or replay <queue>');
      }
      const limit = values.limit === undefined ? Infinity : Number(values.limit);
      if (!(limit > 0)) throw new UsageError('--limit must be a positive number');
      const options = { url: await reachableUrl(values), queue, limit, out };
      if (action === 'list') await listDeadLetters(options);
      else await replayDeadLetters(options);
    },
  },
  retries: {
    usage: 'troupe retries <queue> [--url amqp://…]',
    summary: "Show a queue's messages waiting out a delayed retry, by retry queue",
    options: { ...urlOption },
    run: async ([queue], values) => {
      if (queue === undefined) throw new UsageError('expected <queue>');
      await listRetryQueues({ url: await reachableUrl(values), queue, out });
    },
  },
};

function help(): string {
  const lines = ['Usage: troupe <verb> [options]   (troupe <verb> --help for more)', ''];
  for (const [name, verb] of Object.entries(verbs))
    lines.push(`  ${name.padEnd(8)} ${verb.summary}`);
  lines.push('', 'Exit codes: 0 success, 1 operation failed, 2 usage or configuration error.');
  return lines.join('\n');
}

export async function cli(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(help());
    return name === undefined ? cliExitCodes.usage : cliExitCodes.ok;
  }
  const verb = verbs[name];
  if (verb === undefined) {
    process.stderr.write(`troupe: unknown verb ${JSON.stringify(name)}\n\n${help()}\n`);
    return cliExitCodes.usage;
  }
  try {
    const { positionals, values } = parseArgs({
      args: [...rest],
      allowPositionals: true,
      options: { help: { type: 'boolean', short: 'h' }, ...verb.options },
    });
    if (values.help === true) {
      out(`Usage: ${verb.usage}\n\n${verb.summary}`);
      return cliExitCodes.ok;
    }
    await verb.run(positionals, values);
    return typeof process.exitCode === 'number' ? process.exitCode : cliExitCodes.ok;
  } catch (error) {
    // Whatever failed, a URL's password is not printed (a broker URL from --url, say).
    const message = redactedMessage(error);
    if (
      error instanceof UsageError ||
      (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
    ) {
      process.stderr.write(`troupe ${name}: ${message}\nUsage: ${verb.usage}\n`);
      return cliExitCodes.usage;
    }
    if (error instanceof ConfigurationError) {
      process.stderr.write(`troupe ${name}: bad configuration: ${message}\n`);
      return cliExitCodes.usage;
    }
    if ((error as { code?: unknown }).code === 'PROCESSOR_LOAD') {
      process.stderr.write(`troupe ${name}: ${message}\n`);
      return cliExitCodes.usage;
    }
    process.stderr.write(`troupe ${name}: ${message}\n`);
    return cliExitCodes.failed;
  }
}

/** True when this module is the program node runs (directly or through the `troupe` bin link). */
function isMain(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const code = await cli(process.argv.slice(2));
  if (process.argv[2] !== 'start') process.exitCode = code;
}
