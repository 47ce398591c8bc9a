import type { KeyedStoreFactory } from './contract.js';
import { createMapStore } from './baseline.js';

export type { KeyedStore, KeyedStoreFactory } from './contract.js';

/**
 * Picks the keyed-store implementation (config key `service_maps`).
 * @param impl `baseline` (one Map)
 */
export function createKeyedStoreFactory(impl: 'baseline'): KeyedStoreFactory {
  switch (impl) {
    case 'baseline':
      return createMapStore;
  }
}
