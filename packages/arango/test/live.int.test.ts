// The store contract against a live ArangoDB. Runs when ARANGO_URL is set, e.g.
//   docker compose up -d arangodb
//   ARANGO_URL=http://root:troupe@127.0.0.1:8529/troupe_test pnpm vitest run --project integration packages/arango
// and is reported as skipped otherwise. The database in the URL is created if absent.
import { describeStoreContract } from '@troupe/store-contract';
import { Database } from 'arangojs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ArangoStore, resolveConnection } from '../src/index.js';

const url = process.env['ARANGO_URL'];

describe.skipIf(url === undefined)('ArangoDB live contract (skipped: set ARANGO_URL)', () => {
  const options = { url: url ?? '' };

  beforeAll(async () => {
    const { config, database } = resolveConnection(options);
    const system = new Database({ ...config, databaseName: '_system' });
    try {
      if (!(await system.database(database).exists())) await system.createDatabase(database);
    } finally {
      system.close();
    }
  });

  it('health() reports the server', async () => {
    const store = new ArangoStore(options);
    try {
      expect(await store.health()).toMatchObject({ healthy: true, server: 'arango' });
    } finally {
      await store.close();
    }
  });

  describeStoreContract('ArangoStore on a live ArangoDB', () => new ArangoStore(options), {
    timeout: 30_000,
  });
});
