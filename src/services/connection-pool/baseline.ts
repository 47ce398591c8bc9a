import type { KeyedStore } from '../sharded-map/contract.js';
import type { ConnectionPool, Pooled } from './contract.js';

/**
 * Baseline: a keyed store by id with a size cap and a per-address count. Its
 * sweep schedule is "everything, every time": `due` yields every held
 * connection and `schedule` is a no-op, so a sweep costs O(connections).
 */
export class SimpleConnectionPool<C extends Pooled> implements ConnectionPool<C> {
  private readonly perAddress = new Map<string, number>();

  /**
   * @param capacity most connections (config `max_connections`)
   * @param store the keyed store to hold them (from the sharded-map service)
   * @param perAddressCapacity most connections from one address (config `max_connections_per_ip`)
   */
  constructor(
    readonly capacity: number,
    private readonly store: KeyedStore<number, C>,
    readonly perAddressCapacity: number = capacity,
  ) {}
  get size(): number {
    return this.store.size;
  }
  add(conn: C): boolean {
    if (this.store.size >= this.capacity || this.store.has(conn.id)) return false;
    const n = this.perAddress.get(conn.remoteAddress) ?? 0;
    if (n >= this.perAddressCapacity) return false;
    this.perAddress.set(conn.remoteAddress, n + 1);
    this.store.set(conn.id, conn);
    return true;
  }
  remove(conn: C): boolean {
    if (!this.store.delete(conn.id)) return false;
    const n = this.perAddress.get(conn.remoteAddress)! - 1;
    if (n === 0) this.perAddress.delete(conn.remoteAddress);
    else this.perAddress.set(conn.remoteAddress, n);
    return true;
  }
  get(id: number): C | undefined {
    return this.store.get(id);
  }
  countFor(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }
  values(): IterableIterator<C> {
    return this.store.values();
  }
  due(_now: number): Iterable<C> {
    return this.store.values();
  }
  schedule(_conn: C, _atMs: number): void {
    // Every connection is due on every call.
  }
}
