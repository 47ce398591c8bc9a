/** What the pool needs to know of a connection. */
export interface Pooled {
  /** Unique per process, never reused. */
  readonly id: number;
  /** Remote IP address, for the per-address cap. */
  readonly remoteAddress: string;
}

/**
 * Registry of live connections.
 *
 * Guarantees: never holds more than `capacity` entries, nor more than
 * `perAddressCapacity` with one remote address; `add` refuses (returns false)
 * instead of exceeding either, and the core answers fatal `server_busy`
 * (PROTOCOL.md §3); iteration visits each live connection once.
 */
export interface ConnectionPool<C extends Pooled> {
  /** Most connections held at once (config `max_connections`). */
  readonly capacity: number;
  /** Most connections held at once from one remote address (config `max_connections_per_ip`). */
  readonly perAddressCapacity: number;
  /** Connections held now. */
  readonly size: number;
  /** @returns false when the pool, or the connection's address, is full (it was not added) */
  add(conn: C): boolean;
  /** @returns true when it was held */
  remove(conn: C): boolean;
  get(id: number): C | undefined;
  /** Connections held now from `address`. */
  countFor(address: string): number;
  /** Every live connection. */
  values(): IterableIterator<C>;
}
