import type { KeyedStore } from '../sharded-map/contract.js';
import type { ConnectionPool, Pooled } from './contract.js';

/** Baseline: a keyed store by id with a size cap. */
export class SimpleConnectionPool<C extends Pooled> implements ConnectionPool<C> {
  /**
   * @param capacity most connections (config `max_connections`)
   * @param store the keyed store to hold them (from the sharded-map service)
   */
  constructor(
    readonly capacity: number,
    private readonly store: KeyedStore<number, C>,
  ) {}
  get size(): number {
    return this.store.size;
  }
  add(conn: C): boolean {
    if (this.store.size >= this.capacity) return false;
    this.store.set(conn.id, conn);
    return true;
  }
  remove(conn: C): boolean {
    return this.store.delete(conn.id);
  }
  get(id: number): C | undefined {
    return this.store.get(id);
  }
  values(): IterableIterator<C> {
    return this.store.values();
  }
}
