// A quick side-by-side for profiling work on the runtime (not part of `pnpm bench`):
// alternating rounds of the plain baseline and the Troupe pool at one concurrency,
// medians of CPU µs per message. Run bundled to leave tsx's `__name` wrappers out:
//
//   node --expose-gc --import tsx test/bench/quick.ts [concurrency] [messages] [rounds]
//   esbuild test/bench/quick.ts --bundle --platform=node --format=esm \
//     --packages=external --outfile=/tmp/quick.mjs && node --expose-gc /tmp/quick.mjs
import { median, plainRound, troupeRound, type Round } from './rounds.js';

const [concurrency = 4, messages = 50_000, rounds = 7] = process.argv
  .slice(2)
  .map((arg) => Number(arg));

const plain: Round[] = [];
const troupe: Round[] = [];
await plainRound(5000, concurrency);
await troupeRound(5000, concurrency);
for (let i = 0; i < rounds; i += 1) {
  plain.push(await plainRound(messages, concurrency));
  troupe.push(await troupeRound(messages, concurrency));
}
const cpu = (list: Round[]): number => median(list.map((r) => r.cpuUs / r.messages));
const rate = (list: Round[]): number => median(list.map((r) => (r.messages / r.wallMs) * 1000));
process.stdout.write(
  `concurrency ${concurrency}: plain ${cpu(plain).toFixed(2)} µs/msg ${rate(plain).toFixed(0)} msg/s; ` +
    `troupe ${cpu(troupe).toFixed(2)} µs/msg ${rate(troupe).toFixed(0)} msg/s; ` +
    `overhead ${(cpu(troupe) - cpu(plain)).toFixed(2)} µs/msg\n`,
);
