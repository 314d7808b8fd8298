// @troupe/arango: the store port on ArangoDB, through arangojs.
export {
  ArangoStore,
  bulkWriteQuery,
  countQuery,
  getQuery,
  patchQuery,
  removeQuery,
  upsertIfNewerQuery,
  upsertQuery,
} from './arango-store.js';
export type { ArangoHealth } from './arango-store.js';
export { classifyArangoError, permanentErrorNums, transientErrorNums } from './classify.js';
export { resolveConnection } from './connection.js';
export type { ArangoLoadBalancing, ArangoStoreOptions, ResolvedConnection } from './connection.js';
export { parseArangoStoreUrl } from './store-url.js';
