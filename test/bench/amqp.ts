// The RabbitMQ part of `pnpm bench`: runs packages/amqp/test/throughput.ts (raw amqplib
// and Troupe side by side on the local broker, in one process and one run) and writes its
// figures to test/bench/reports/amqp.md.
//
//   node --import tsx test/bench/amqp.ts [--quick]
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

interface Row {
  readonly name: string;
  readonly messages: number;
  readonly prefetch?: number;
  readonly msgPerSecond: number;
  readonly cpuMicrosPerMessage: number;
}

const messages = process.argv.includes('--quick') ? 10_000 : 50_000;
const { stdout } = await run(
  join(root, 'node_modules', '.bin', 'tsx'),
  ['packages/amqp/test/throughput.ts', String(messages)],
  { cwd: root, maxBuffer: 10 * 1024 * 1024 },
);
const rows = stdout
  .split('\n')
  .filter((line) => line.startsWith('{'))
  .map((line) => JSON.parse(line) as Row);

const find = (name: string, prefetch?: number): Row | undefined =>
  rows.find((row) => row.name === name && row.prefetch === prefetch);
const pct = (part: Row | undefined, whole: Row | undefined): string =>
  part === undefined || whole === undefined
    ? '—'
    : `${Math.round((part.msgPerSecond / whole.msgPerSecond) * 100)}%`;

const lines = [
  '# RabbitMQ benchmark',
  '',
  `Generated on ${new Date().toISOString()} by \`pnpm bench\` (test/bench/amqp.ts → packages/amqp/test/throughput.ts),`,
  `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), the local RabbitMQ, ${messages.toLocaleString('en-US')} persistent 256-byte messages per row, no-op work.`,
  "Every row of one table comes from the same process and run. The broker shares the machine's",
  'two cores with Node, so absolute figures move with the load; compare within a table.',
  '',
  '| measurement | prefetch | msg/s | Node CPU µs/msg | vs raw amqplib |',
  '| --- | ---: | ---: | ---: | ---: |',
];
for (const row of rows) {
  const raw = row.name.startsWith('publish/')
    ? find('publish/raw-amqplib-windowed-confirms')
    : find('consume/raw-amqplib', row.prefetch);
  lines.push(
    `| ${row.name} | ${row.prefetch ?? '—'} | ${row.msgPerSecond.toLocaleString('en-US')} | ${row.cpuMicrosPerMessage} | ${row === raw ? '—' : pct(row, raw)} |`,
  );
}
lines.push(
  '',
  'Targets (issue 3): the Troupe pool at ≥ 95% of raw throughput at every prefetch, the publisher at ≥ 90%.',
  '`consume/troupe-transport` is the adapter alone (ack in the callback); `consume/troupe-pool` adds the',
  'supervised pool and the processor chart per message, whose CPU cost is measured in latest.md.',
  '',
);
const report = join(here, 'reports', 'amqp.md');
mkdirSync(dirname(report), { recursive: true });
writeFileSync(report, lines.join('\n'));
process.stdout.write(`${lines.join('\n')}\nbench: report written to ${report}\n`);
