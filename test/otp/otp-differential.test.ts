// Differential suite: every scenario runs on Erlang/OTP's own `supervisor` (when `erl`
// is installed, as it is wherever RabbitMQ comes from Debian) and on Troupe's, and the
// two traces of starts, stop requests, stops, answers and exits must be equal.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scenarios, toErlangTerms } from './scenarios.js';
import { runOnTroupe } from './troupe-side.js';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));

const erlAvailable =
  spawnSync('erl', ['-noshell', '-eval', 'halt(0).'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('erlc', ['-help'], { stdio: 'ignore' }).error === undefined;
if (!erlAvailable) {
  // Not a failure: the suite needs Erlang/OTP (`erl`, `erlc`), e.g. from RabbitMQ's packages.
  process.stderr.write('test/otp: skipped, erl/erlc not found on PATH\n');
}

describe.skipIf(!erlAvailable)(
  `Troupe's supervisor traces what OTP's does${erlAvailable ? '' : ' (skipped: erl/erlc not found on PATH)'}`,
  () => {
    const otp = new Map<string, string[]>();
    let dir = '';

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'troupe-otp-'));
      const terms = join(dir, 'scenarios.terms');
      writeFileSync(terms, toErlangTerms(scenarios));
      await run('erlc', ['-o', dir, join(here, 'troupe_otp_diff.erl')]);
      const { stdout } = await run('erl', [
        '-noshell',
        '-pa',
        dir,
        '-run',
        'troupe_otp_diff',
        'main',
        terms,
      ]);
      for (const line of stdout.split('\n')) {
        const bar = line.indexOf('|');
        if (bar < 0) continue;
        const name = line.slice(0, bar);
        otp.set(name, [...(otp.get(name) ?? []), line.slice(bar + 1)]);
      }
    }, 30_000);

    afterAll(() => {
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    for (const scenario of scenarios) {
      it(scenario.name, async () => {
        const expected = otp.get(scenario.name);
        expect(expected, 'the Erlang side ran this scenario').toBeDefined();
        expect(await runOnTroupe(scenario)).toEqual(expected);
      });
    }
  },
);
