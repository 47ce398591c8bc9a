/** What the pool needs to know of a connection. */
export interface Pooled {
  /** Unique per process, never reused. */
  readonly id: number;
}

/**
 * Registry of live connections.
 *
 * Guarantees: never holds more than `capacity` entries; `add` refuses (returns
 * false) instead of exceeding it, and the core answers fatal `server_busy`
 * (PROTOCOL.md §3); iteration visits each live connection once.
 */
export interface ConnectionPool<C extends Pooled> {
  /** Most connections held at once (config `max_connections`). */
  readonly capacity: number;
  /** Connections held now. */
  readonly size: number;
  /** @returns false when the pool is full (the connection was not added) */
  add(conn: C): boolean;
  /** @returns true when it was held */
  remove(conn: C): boolean;
  get(id: number): C | undefined;
  /** Every live connection. */
  values(): IterableIterator<C>;
}
