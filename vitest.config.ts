// One root config, one project per kind of suite:
// - `unit`: pure and in-process suites (in-memory ports, simulated clocks);
// - `integration`: suites that talk to the real RabbitMQ on 127.0.0.1:5672, each on
//   its own queues, in parallel;
// - `serial`: suites that disturb the shared broker (closing connections, stopping the
//   app, a RabbitMQ cluster of their own) and therefore run one file at a time, after the
//   others.
//
// Everything runs from the TypeScript sources, never from a build: the `@troupe/source`
// export condition points each workspace package at its `src/index.ts`, here for vitest
// and, through NODE_OPTIONS, for the processes the suites start (`node --import tsx …`).
import { defineConfig } from 'vitest/config';

const conditions = ['@troupe/source', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    env: {
      NODE_OPTIONS: [process.env.NODE_OPTIONS, '--conditions=@troupe/source']
        .filter(Boolean)
        .join(' '),
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'packages/*/test/**/*.test.ts',
            'apps/*/test/**/*.test.ts',
            'test/runtime/**/*.test.ts',
            'test/contract/**/*.test.ts',
            // Runs Erlang's supervisor beside Troupe's; skipped where erl is missing.
            'test/otp/**/*.test.ts',
          ],
          exclude: ['**/*.int.test.ts', '**/*.serial.test.ts', '**/node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: [
            'packages/*/test/**/*.int.test.ts',
            'apps/*/test/**/*.int.test.ts',
            'test/integration/**/*.test.ts',
          ],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'serial',
          include: [
            'packages/*/test/**/*.serial.test.ts',
            'test/serial/**/*.test.ts',
            'test/e2e/**/*.test.ts',
            'test/fault/**/*.test.ts',
            'test/cluster/**/*.test.ts',
          ],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
