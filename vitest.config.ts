// One root config, one project per kind of suite. `integration` talks to the real
// RabbitMQ on 127.0.0.1:5672; `serial` holds suites that disturb the shared broker
// and so run alone.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
        },
      },
    ],
  },
});
