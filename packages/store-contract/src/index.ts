// @troupe/store-contract: the store port's contract suite, for every Store implementation.
export { describeStoreContract } from './store-contract.js';
export type { StoreContractOptions } from './store-contract.js';
