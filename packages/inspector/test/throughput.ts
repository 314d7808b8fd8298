// The inspector's cost on throughput: the same pool of no-op processors on the in-memory
// ports, without inspection, with a hub but no listener, with the inspector on the hub,
// with the inspector and a live-stream subscriber, and with the inspector attached
// without a hub (`inspector.attach`). Medians of alternating rounds, wall clock and CPU
// time per message. A report, never a timed assertion:
//
//   node --expose-gc --import tsx packages/inspector/test/throughput.ts [messages] [rounds]
import { createPool, defineProcessor, InspectionHub, startSupervisor } from '@troupe/core';
import { MemoryStore, MemoryTransport } from '@troupe/memory';
import { pino } from 'pino';
import { z } from 'zod';
import { Inspector } from '../src/index.js';

const messages = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 5);
const logger = pino({ level: 'silent' });
const gc = (globalThis as { gc?: () => void }).gc;

const noop = defineProcessor({
  name: 'noop',
  queue: 'bench.noop',
  bindings: [{ exchange: 'bench', routingKey: 'bench.noop' }],
  schema: z.object({ id: z.number() }),
  handle: () => undefined,
  concurrency: 4,
});

type Mode = 'off' | 'hub, no listener' | 'inspector' | 'inspector + stream' | 'attached, no hub';
const modes: readonly Mode[] = [
  'off',
  'hub, no listener',
  'inspector',
  'inspector + stream',
  'attached, no hub',
];

async function round(mode: Mode): Promise<{ perSecond: number; cpuUs: number }> {
  const transport = new MemoryTransport();
  const store = new MemoryStore();
  await transport.declare([{ queue: noop.queue, bindings: noop.bindings }]);
  for (let i = 0; i < messages; i += 1) {
    await transport.publish('bench', 'bench.noop', Buffer.from(`{"id":${i}}`), {
      messageId: `m${i}`,
    });
  }
  const hub = mode === 'off' || mode === 'attached, no hub' ? undefined : new InspectionHub();
  const inspector = new Inspector();
  if (mode === 'inspector' || mode === 'inspector + stream') hub?.subscribe(inspector.listener);
  let updates = 0;
  if (mode === 'inspector + stream') inspector.subscribe(() => (updates += 1));
  gc?.();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const pool = createPool({ definition: noop, transport, store, logger, concurrency: 4 });
  const runtime = startSupervisor(pool.supervisorOptions(), { inspection: hub });
  if (mode === 'attached, no hub') inspector.attach(runtime.actor);
  while (transport.acked < messages) await new Promise((resolve) => setTimeout(resolve, 2));
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await runtime.shutdown();
  await transport.close();
  return { perSecond: messages / (elapsed / 1000), cpuUs: (used.user + used.system) / messages };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const results = new Map<Mode, { perSecond: number; cpuUs: number }[]>(
  modes.map((mode) => [mode, []]),
);
for (const mode of modes) await round(mode); // warm-up
for (let r = 0; r < rounds; r += 1) {
  for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) {
    results.get(mode)?.push(await round(mode));
  }
}
const pick = (mode: Mode, key: 'perSecond' | 'cpuUs'): number =>
  median((results.get(mode) ?? []).map((result) => result[key]));
const off = pick('off', 'perSecond');
const offCpu = pick('off', 'cpuUs');
const percent = (value: number, base: number): string => {
  const change = ((value - base) / base) * 100;
  return `${change >= 0 ? '+' : ''}${change.toFixed(1)}%`;
};
const lines = [`messages per round: ${messages}, rounds: ${rounds} (medians)`];
for (const mode of modes) {
  const value = pick(mode, 'perSecond');
  const cpuUs = pick(mode, 'cpuUs');
  lines.push(
    `${mode.padEnd(20)} ${value.toFixed(0).padStart(8)} msg/s ${percent(value, off).padStart(7)}   ${cpuUs.toFixed(1).padStart(6)} µs CPU/msg ${percent(cpuUs, offCpu).padStart(7)}`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
