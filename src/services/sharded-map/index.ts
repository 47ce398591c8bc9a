import type { KeyedStore, KeyedStoreFactory } from './contract.js';
import { DEFAULT_SLICE } from './contract.js';
import { createMapStore, forEachSliceOf } from './baseline.js';
import { createShardedStore } from './sharded.js';

export type { KeyedStore, KeyedStoreFactory } from './contract.js';

/**
 * Picks the keyed-store implementation (config key `service_maps`).
 * @param impl `baseline` (one Map) or `sharded` (ShardedMap, 64 Maps by key hash)
 */
export function createKeyedStoreFactory(impl: 'baseline' | 'sharded'): KeyedStoreFactory {
  switch (impl) {
    case 'baseline':
      return createMapStore;
    case 'sharded':
      return createShardedStore;
  }
}

/**
 * Visits every entry of `store` in slices of at most `maxPerSlice`, yielding
 * to the event loop between slices: the store's own `forEachSlice` when it
 * has one, else its `entries()` sliced (a plain Map).
 * @param maxPerSlice entries per slice, an integer ≥ 1 (default 1024)
 * @returns entries visited
 * @throws RangeError (as a rejection) on a bad `maxPerSlice`
 */
export function forEachSlice<K, V>(
  store: KeyedStore<K, V>,
  fn: (value: V, key: K) => void,
  maxPerSlice: number = DEFAULT_SLICE,
): Promise<number> {
  return store.forEachSlice ? store.forEachSlice(fn, maxPerSlice) : forEachSliceOf(store.entries(), fn, maxPerSlice);
}
