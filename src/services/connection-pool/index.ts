import type { KeyedStore } from '../sharded-map/contract.js';
import type { ConnectionPool, Pooled } from './contract.js';
import { SimpleConnectionPool } from './baseline.js';
import { TimerWheelPool, type WheelNode } from './timer-wheel.js';

export type { ConnectionPool, Pooled } from './contract.js';

/**
 * Picks the connection pool (config key `service_pool`).
 * @param impl `baseline` (keyed store + size cap; the sweep visits every
 *   connection every time) or `wheel` (the same registry plus a hashed timing
 *   wheel: the sweep visits only connections whose check is due)
 * @param capacity most connections (config `max_connections`)
 * @param perAddress most connections from one address (config `max_connections_per_ip`)
 * @param store an empty keyed store for the pool alone (from the sharded-map service)
 */
export function createConnectionPool<C extends Pooled>(
  impl: 'baseline' | 'wheel',
  capacity: number,
  perAddress: number,
  store: KeyedStore<number, C>,
): ConnectionPool<C> {
  switch (impl) {
    case 'baseline':
      return new SimpleConnectionPool(capacity, store, perAddress);
    case 'wheel':
      // The store is fresh and the pool's alone: the wheel keeps its node (the connection and its links) as the value.
      return new TimerWheelPool<C>(capacity, store as unknown as KeyedStore<number, WheelNode<C>>, perAddress);
  }
}
