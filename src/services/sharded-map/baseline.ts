import type { KeyedStoreFactory } from './contract.js';

/** Baseline: one plain `Map` (a Map already satisfies KeyedStore). */
export const createMapStore: KeyedStoreFactory = <K, V>() => new Map<K, V>();
