import type { KeyedStore } from '../sharded-map/contract.js';
import { AddressCounter } from './address-counter.js';
import type { ConnectionPool, Pooled } from './contract.js';

/**
 * Baseline: a keyed store by id with a size cap and a per-address count. Its
 * sweep schedule is "everything, every time": `due` yields every held
 * connection and `schedule` is a no-op, so a sweep costs O(connections).
 */
export class SimpleConnectionPool<C extends Pooled> implements ConnectionPool<C> {
  private readonly perAddress: AddressCounter;

  /**
   * @param capacity most connections (config `max_connections`)
   * @param store the keyed store to hold them (from the sharded-map service)
   * @param perAddressCapacity most connections from one address (config `max_connections_per_ip`)
   */
  constructor(
    readonly capacity: number,
    private readonly store: KeyedStore<number, C>,
    readonly perAddressCapacity: number = capacity,
  ) {
    this.perAddress = new AddressCounter(perAddressCapacity);
  }
  get size(): number {
    return this.store.size;
  }
  add(conn: C): boolean {
    if (this.store.size >= this.capacity || this.store.has(conn.id)) return false;
    if (!this.perAddress.acquire(conn.remoteAddress)) return false;
    this.store.set(conn.id, conn);
    return true;
  }
  remove(conn: C): boolean {
    if (!this.store.delete(conn.id)) return false;
    this.perAddress.release(conn.remoteAddress);
    return true;
  }
  get(id: number): C | undefined {
    return this.store.get(id);
  }
  countFor(address: string): number {
    return this.perAddress.count(address);
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
