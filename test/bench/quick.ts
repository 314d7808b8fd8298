// A quick side-by-side for profiling work on the runtime (not part of `pnpm bench`):
// alternating rounds of the plain baseline and the Troupe pool at one concurrency and
// batch size, medians of CPU µs per message and of heap allocated per message. Run
// bundled to leave tsx's `__name` wrappers out:
//
//   node --expose-gc --import tsx test/bench/quick.ts [concurrency] [messages] [rounds] [maxBatch]
//   esbuild test/bench/quick.ts --bundle --platform=node --format=esm \
//     --packages=external --outfile=/tmp/quick.mjs && node --expose-gc /tmp/quick.mjs
//
// With TROUPE_ONLY=1 only the pool runs (for --cpu-prof and --heap-prof).
import { median, plainRound, troupeRound, type Round } from './rounds.js';

const [concurrency = 4, messages = 50_000, rounds = 7, maxBatch = 1] = process.argv
  .slice(2)
  .map((arg) => Number(arg));
const troupeOnly = process.env.TROUPE_ONLY === '1';

const plain: Round[] = [];
const troupe: Round[] = [];
if (!troupeOnly) await plainRound(5000, concurrency * maxBatch);
await troupeRound(5000, concurrency, maxBatch);
for (let i = 0; i < rounds; i += 1) {
  if (!troupeOnly) plain.push(await plainRound(messages, concurrency * maxBatch));
  troupe.push(await troupeRound(messages, concurrency, maxBatch));
}
const cpu = (list: Round[]): number => median(list.map((r) => r.cpuUs / r.messages));
const rate = (list: Round[]): number => median(list.map((r) => (r.messages / r.wallMs) * 1000));
const kb = (list: Round[]): number =>
  median(list.map((r) => (r.allocatedBytes ?? Number.NaN) / r.messages / 1024));
const side = (name: string, list: Round[]): string =>
  `${name} ${cpu(list).toFixed(2)} µs/msg ${rate(list).toFixed(0)} msg/s ${kb(list).toFixed(2)} KiB/msg`;
process.stdout.write(
  `concurrency ${concurrency} maxBatch ${maxBatch}: ` +
    (troupeOnly
      ? `${side('troupe', troupe)}\n`
      : `${side('plain', plain)}; ${side('troupe', troupe)}; ` +
        `overhead ${(cpu(troupe) - cpu(plain)).toFixed(2)} µs/msg\n`),
);
