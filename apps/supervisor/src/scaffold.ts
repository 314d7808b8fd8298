// `troupe new processor <name>`: a workspace package for a new processor, ready to test,
// and its entry in the example configuration. What it writes passes lint, typecheck
// and the tests as it is; the team then edits the schema and the handler.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** What {@link scaffoldProcessor} wrote and changed. */
export interface ScaffoldResult {
  readonly directory: string;
  readonly packageName: string;
  readonly written: readonly string[];
  readonly registered: readonly string[];
}

/** The workspace root above `from`: the nearest directory with a pnpm-workspace.yaml. */
export function workspaceRoot(from: string): string | undefined {
  for (let directory = from; ; directory = dirname(directory)) {
    if (existsSync(join(directory, 'pnpm-workspace.yaml'))) return directory;
    if (dirname(directory) === directory) return undefined;
  }
}

const camel = (name: string): string =>
  name.replace(/-([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());

/** JSON as the workspace's formatter writes it (arrays of strings on one line, but in package.json). */
function json(value: unknown, collapseArrays = true): string {
  const text = JSON.stringify(value, null, 2);
  const collapsed = collapseArrays
    ? text.replace(/\[\n\s+((?:"[^"\n]*",?\n\s*)+)\]/g, (_match, body: string) => {
        const items = body.split(/,?\n\s*/).filter((item) => item !== '');
        return `[${items.join(', ')}]`;
      })
    : text;
  return `${collapsed}\n`;
}

function files(name: string, packageName: string): Record<string, string> {
  const exportName = camel(name);
  const routingKey = name.replace(/-/g, '.');
  return {
    'package.json': json(
      {
        name: packageName,
        version: '0.1.0',
        private: true,
        description: `Processor ${name}: ${routingKey} messages stored in the ${name} collection`,
        type: 'module',
        sideEffects: false,
        engines: { node: '>=20.19' },
        exports: {
          '.': {
            '@troupe/source': './src/index.ts',
            types: './dist/index.d.ts',
            default: './dist/index.js',
          },
        },
        files: ['dist', 'src', '!dist/*.tsbuildinfo'],
        scripts: { build: 'tsc -b tsconfig.build.json' },
        dependencies: { '@troupe/core': 'workspace:*', zod: 'catalog:' },
        devDependencies: {
          '@troupe/memory': 'workspace:*',
          pino: 'catalog:',
          xstate: 'catalog:',
        },
      },
      false,
    ),
    'tsconfig.json': json({
      extends: '../../tsconfig.base.json',
      compilerOptions: { outDir: 'node_modules/.tsc', rootDir: '.' },
      include: ['src', 'test'],
      references: [{ path: '../core' }, { path: '../memory' }],
    }),
    'tsconfig.build.json': json({
      extends: '../../tsconfig.base.json',
      compilerOptions: {
        rootDir: 'src',
        outDir: 'dist',
        emitDeclarationOnly: false,
        sourceMap: true,
        customConditions: [],
        // Inside dist: removing dist makes the next build emit everything again.
        tsBuildInfoFile: 'dist/tsconfig.build.tsbuildinfo',
      },
      include: ['src'],
      references: [{ path: '../core/tsconfig.build.json' }],
    }),
    'src/index.ts': `// ${name}: \`${routingKey}\` messages on the \`events\` exchange, stored by id in the
// \`${name}\` collection (a newer version replaces an older one).
import { defineProcessor } from '@troupe/core';
import { z } from 'zod';

/** The message: edit it to yours; the handler is typed from it. */
export const messageSchema = z.object({
  id: z.string().min(1),
  version: z.number().int().nonnegative(),
});

export const ${exportName} = defineProcessor({
  name: '${name}',
  queue: '${name}',
  bindings: [{ exchange: 'events', routingKey: '${routingKey}' }],
  schema: messageSchema,
  // Returns the write to make; throw to fail (plain errors are retried).
  handle: (message) => ({
    collection: '${name}',
    key: message.id,
    document: message,
    ifNewer: 'version',
  }),
  retry: { attempts: 3, backoff: { kind: 'fixed', delayMs: 1000 } },
});
`,
    [`test/${name}.test.ts`]: `import { faultyStore, MemoryStore, startProcessor } from '@troupe/memory';
import { pino } from 'pino';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { ${exportName} } from '../src/index.js';

const logger = pino({ level: 'silent' });

describe('${name}', () => {
  it('stores a message by id', async () => {
    const app = await startProcessor(${exportName}, { logger });
    await app.publish({ id: 'a', version: 1 });
    await app.settled();
    expect(await app.store.get('${name}', 'a')).toEqual({ _key: 'a', id: 'a', version: 1 });
    await app.stop();
  });

  it('dead-letters an invalid message with the reason', async () => {
    const app = await startProcessor(${exportName}, { logger });
    await app.publish({ id: 'a' }, { messageId: 'no-version' });
    await app.settled();
    const [dead] = app.deadLetters();
    expect(dead?.messageId).toBe('no-version');
    expect(dead?.headers['x-troupe-reason']).toMatch(/^INVALID_MESSAGE: /);
    await app.stop();
  });

  it('retries a failed write on the simulated clock', async () => {
    const store = faultyStore(new MemoryStore());
    store.failNext(1);
    const clock = new SimulatedClock();
    const app = await startProcessor(${exportName}, { logger, store, actorClock: clock });
    await app.publish({ id: 'a', version: 1 });
    await app.settled();
    expect(clock.now()).toBe(1000);
    expect(await store.get('${name}', 'a')).toMatchObject({ version: 1 });
    expect(app.deadLetters()).toHaveLength(0);
    await app.stop();
  });
});
`,
    'README.md': `# ${packageName}

Processor \`${name}\`: consumes the queue \`${name}\`, bound to the \`events\` exchange with
the routing key \`${routingKey}\`. Each message \`{ id, version }\` is stored by \`id\` in the
\`${name}\` collection; an older or equal version changes nothing. Invalid messages are
dead-lettered to \`${name}.dead\`; a failed write is retried 3 times, 1 s apart.

It runs in the app through its entry in \`troupe.config.json\`:

\`\`\`json
"${name}": { "module": "${packageName}" }
\`\`\`

\`\`\`sh
npx pnpm vitest run packages/processor-${name}   # its tests, on the in-memory broker and store
npm run troupe -- chart ${name}                 # its queue, bindings, retry policy and chart
\`\`\`
`,
  };
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function addReference(path: string, reference: string): boolean {
  if (!existsSync(path)) return false;
  const config = readJson(path);
  const references = (config.references ?? []) as { path: string }[];
  if (references.some((entry) => entry.path === reference)) return false;
  config.references = [...references, { path: reference }];
  writeFileSync(path, json(config));
  return true;
}

/**
 * Writes `packages/processor-<name>` under `root` and registers it: in troupe.config.json
 * (the example configuration), as a dependency of the root package (so that the
 * configuration's module specifier resolves) and in the root TypeScript builds.
 *
 * @throws Error when the name is not kebab-case or the package exists
 */
export function scaffoldProcessor(name: string, root: string): ScaffoldResult {
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name)) {
    throw new Error(`processor names are kebab-case (letters, digits, "-"): got ${name}`);
  }
  const directory = join(root, 'packages', `processor-${name}`);
  if (existsSync(directory)) throw new Error(`${relative(root, directory)} exists already`);
  const packageName = `@troupe/processor-${name}`;
  const written: string[] = [];
  for (const [path, text] of Object.entries(files(name, packageName))) {
    const target = join(directory, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, text);
    written.push(relative(root, target));
  }
  const registered: string[] = [];
  const configPath = join(root, 'troupe.config.json');
  const config = existsSync(configPath) ? readJson(configPath) : {};
  const processors = (config.processors ?? {}) as Record<string, unknown>;
  if (!(name in processors)) {
    config.processors = { ...processors, [name]: { module: packageName } };
    writeFileSync(configPath, json(config));
    registered.push('troupe.config.json');
  }
  const manifestPath = join(root, 'package.json');
  const manifest = readJson(manifestPath);
  const dependencies = (manifest.dependencies ?? {}) as Record<string, string>;
  if (dependencies[packageName] === undefined) {
    manifest.dependencies = Object.fromEntries(
      Object.entries({ ...dependencies, [packageName]: 'workspace:*' }).sort(([a], [b]) =>
        a.localeCompare(b),
      ),
    );
    writeFileSync(manifestPath, json(manifest, false));
    registered.push('package.json');
  }
  const packagePath = `packages/processor-${name}`;
  if (addReference(join(root, 'tsconfig.json'), packagePath)) registered.push('tsconfig.json');
  if (addReference(join(root, 'tsconfig.build.json'), `${packagePath}/tsconfig.build.json`)) {
    registered.push('tsconfig.build.json');
  }
  return { directory, packageName, written, registered };
}
