// @troupe/memory: the in-process broker and store.
export { faultyStore } from './faulty-store.js';
export type { FaultyStore } from './faulty-store.js';
export { MemoryStore } from './memory-store.js';
export { deadLetterHeaders, MemoryTransport } from './memory-transport.js';
export type { QueueStats, StoredMessage } from './memory-transport.js';
export { topicMatches } from './topic.js';
export { startProcessor } from './processor-harness.js';
export type { ProcessorHarness, ProcessorHarnessOptions } from './processor-harness.js';
