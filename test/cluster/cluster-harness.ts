// The three-node RabbitMQ cluster of scripts/cluster.sh as a test fixture, on node names
// and ports of its own (never the default broker's 5672/25672, nor a cluster started by
// hand with the script's defaults), started once per suite and always stopped, with
// its directories removed, in afterAll — whatever the tests did.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const script = join(root, 'scripts/cluster.sh');
const server = '/usr/lib/rabbitmq/bin/rabbitmq-server';

/** Why the cluster suite cannot run here, or undefined when it can. */
export function clusterUnavailable(): string | undefined {
  if (!existsSync(server)) return `${server} is absent (RabbitMQ is not installed)`;
  if (process.getuid?.() !== 0) return 'the nodes run as the rabbitmq user: needs root';
  return undefined;
}

/** A node of the cluster: 1, 2 or 3. */
export type NodeIndex = 1 | 2 | 3;

export class Cluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'troupe-cluster-'));
  readonly prefix = 'troupe-t';
  readonly amqpBase = Number(process.env['TROUPE_CLUSTER_TEST_PORT'] ?? 5690);
  readonly env = {
    ...process.env,
    TROUPE_CLUSTER_DIR: this.dir,
    TROUPE_CLUSTER_NODE_PREFIX: this.prefix,
    TROUPE_CLUSTER_PORT: String(this.amqpBase),
    TROUPE_CLUSTER_DIST_PORT: String(this.amqpBase + 20_000),
  };

  async #script(...args: string[]): Promise<string> {
    const { stdout } = await run(script, args, { env: this.env, timeout: 300_000 });
    return stdout;
  }

  start(): Promise<string> {
    return this.#script('start');
  }

  stop(): Promise<string> {
    return this.#script('stop');
  }

  url(node: NodeIndex): string {
    return `amqp://guest:guest@127.0.0.1:${this.amqpBase + node}/`;
  }

  /** The node a URL (as the app logs it, password redacted) points at. */
  nodeOf(url: unknown): NodeIndex | undefined {
    const port = typeof url === 'string' ? Number(/:(\d+)\//.exec(url)?.[1]) : Number.NaN;
    const node = port - this.amqpBase;
    return node === 1 || node === 2 || node === 3 ? node : undefined;
  }

  name(node: NodeIndex): string {
    return `${this.prefix}${node}@localhost`;
  }

  stopApp(node: NodeIndex): Promise<string> {
    return this.#script('stop-app', String(node));
  }

  startApp(node: NodeIndex): Promise<string> {
    return this.#script('start-app', String(node));
  }

  /** SIGKILL of the node's Erlang VM. */
  kill(node: NodeIndex): Promise<string> {
    return this.#script('kill', String(node));
  }

  /** Starts a killed node again; it rejoins the cluster from its own data. */
  boot(node: NodeIndex): Promise<string> {
    return this.#script('boot', String(node));
  }

  /** The node holding the leader of a quorum queue, asked of `via`. */
  async leaderOf(queue: string, via: NodeIndex): Promise<NodeIndex | undefined> {
    const { stdout } = await run(
      'rabbitmqctl',
      ['-n', this.name(via), 'list_queues', 'name', 'leader', '--quiet', '--no-table-headers'],
      { timeout: 60_000 },
    );
    for (const line of stdout.split('\n')) {
      const [name, leader] = line.split('\t');
      if (name !== queue || leader === undefined) continue;
      for (const node of [1, 2, 3] as const) if (leader.trim() === this.name(node)) return node;
    }
    return undefined;
  }

  /** The queue's type as the cluster reports it (`quorum`, `classic`). */
  async typeOf(queue: string, via: NodeIndex): Promise<string | undefined> {
    const { stdout } = await run(
      'rabbitmqctl',
      ['-n', this.name(via), 'list_queues', 'name', 'type', '--quiet', '--no-table-headers'],
      { timeout: 60_000 },
    );
    for (const line of stdout.split('\n')) {
      const [name, type] = line.split('\t');
      if (name === queue) return type?.trim();
    }
    return undefined;
  }
}
