import type { KeyedStore } from '../sharded-map/contract.js';
import type { ConnectionPool, Pooled } from './contract.js';
import { SimpleConnectionPool } from './baseline.js';

export type { ConnectionPool, Pooled } from './contract.js';

/**
 * Picks the connection pool (config key `service_pool`).
 * @param impl `baseline` (keyed store + size cap)
 * @param capacity most connections (config `max_connections`)
 * @param perAddress most connections from one address (config `max_connections_per_ip`)
 */
export function createConnectionPool<C extends Pooled>(
  impl: 'baseline',
  capacity: number,
  perAddress: number,
  store: KeyedStore<number, C>,
): ConnectionPool<C> {
  switch (impl) {
    case 'baseline':
      return new SimpleConnectionPool(capacity, store, perAddress);
  }
}
