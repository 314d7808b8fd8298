// Type-aware lint for the whole workspace. Module boundaries are enforced here
// (core imports no adapter; processors import no driver), as tRPC does.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'test/bench/reports/**', 'scripts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'error',
    },
  },
  {
    files: ['packages/core/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['amqplib', 'arangojs', 'better-sqlite3', '@troupe/*', '**/apps/**'] },
      ],
    },
  },
  // Store adapters implement core's port and never import each other (nor the broker's).
  {
    files: ['packages/sqlite/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            'amqplib',
            'arangojs',
            '@troupe/amqp',
            '@troupe/arango',
            '@troupe/memory',
            '**/apps/**',
          ],
        },
      ],
    },
  },
  {
    files: ['packages/arango/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            'amqplib',
            'better-sqlite3',
            '@troupe/amqp',
            '@troupe/sqlite',
            '@troupe/memory',
            '**/apps/**',
          ],
        },
      ],
    },
  },
  // The broker adapter imports no store and no other adapter.
  {
    files: ['packages/amqp/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            'arangojs',
            'better-sqlite3',
            '@troupe/arango',
            '@troupe/sqlite',
            '@troupe/memory',
            '@troupe/inspector',
            '**/apps/**',
          ],
        },
      ],
    },
  },
  // Processors see only the ports: no driver, no adapter. They are tested on @troupe/memory.
  {
    files: ['packages/processor-*/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            'amqplib',
            'arangojs',
            'better-sqlite3',
            '@troupe/amqp',
            '@troupe/arango',
            '@troupe/sqlite',
            '@troupe/memory',
            '**/apps/**',
          ],
        },
      ],
    },
  },
  // Packages never import apps.
  {
    files: ['packages/*/src/**/*.ts'],
    ignores: [
      'packages/core/src/**',
      'packages/amqp/src/**',
      'packages/sqlite/src/**',
      'packages/arango/src/**',
      'packages/processor-*/src/**',
    ],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/apps/**', '@troupe/supervisor'] }],
    },
  },
  {
    files: ['**/test/**/*.ts', 'test/**/*.ts', 'apps/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['eslint.config.js', 'vitest.config.ts'],
    ...tseslint.configs.disableTypeChecked,
  },
);
