// The store contract against the in-memory store.
import { MemoryStore } from '@troupe/memory';
import { describeStoreContract } from '@troupe/store-contract';

describeStoreContract('MemoryStore', () => new MemoryStore());
