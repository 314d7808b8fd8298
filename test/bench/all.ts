// `pnpm bench [--quick]`: the benchmark reports, one after the other (so that they do not
// compete for the two cores): the runtime in-process (reports/latest.md), the stores
// (reports/store.md), RabbitMQ (reports/amqp.md) and the attached inspector's cost
// (reports/inspector.md).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const forwarded = process.argv.slice(2);
const suites: readonly (readonly string[])[] = [
  ['--expose-gc', '--import', 'tsx', join(here, 'run.ts')],
  ['--import', 'tsx', join(here, 'store.ts')],
  ['--import', 'tsx', join(here, 'amqp.ts')],
  ['--expose-gc', '--import', 'tsx', join(here, 'inspector.ts')],
];
for (const args of suites) {
  const result = spawnSync(process.execPath, [...args, ...forwarded], { stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`bench: ${args[args.length - 1] ?? ''} failed\n`);
    process.exit(result.status ?? 1);
  }
}
