// @troupe/sqlite: the embedded default store, on SQLite through better-sqlite3.
export { classifySqliteError } from './classify.js';
export { SqliteStore } from './sqlite-store.js';
export type {
  SqliteHealth,
  SqliteStoreOptions,
  SqliteSynchronous,
  SqliteWriterMode,
} from './sqlite-store.js';
