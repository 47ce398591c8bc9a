/** What the pool needs to know of a connection. */
export interface Pooled {
  /** Unique per process, never reused. */
  readonly id: number;
  /** Remote IP address, for the per-address cap. */
  readonly remoteAddress: string;
}

/**
 * Registry of live connections, and the schedule of the core's one periodic
 * sweep over them (heartbeats, idle limits, deadlines): one timer structure
 * for all connections, not a timer per socket.
 *
 * Guarantees: never holds more than `capacity` entries, nor more than
 * `perAddressCapacity` with one remote address; `add` refuses (returns false)
 * instead of exceeding either, and the core answers fatal `server_busy`
 * (PROTOCOL.md §3); iteration visits each live connection once.
 *
 * Sweep schedule: `due(now)` never yields a connection later than asked,
 * but may yield one earlier, so the caller checks each yielded connection
 * against its real deadlines and schedules it again for the earliest. That
 * keeps the schedule lazy: most inbound bytes move a connection's deadlines
 * later, and it need not be rescheduled until it comes up; an event that
 * brings a deadline forward schedules it then (a schedule only moves sooner).
 */
export interface ConnectionPool<C extends Pooled> {
  /** Most connections held at once (config `max_connections`). */
  readonly capacity: number;
  /** Most connections held at once from one remote address (config `max_connections_per_ip`). */
  readonly perAddressCapacity: number;
  /** Connections held now. */
  readonly size: number;
  /**
   * A connection added is due at once: the next `due` call yields it.
   * @returns false when the pool, or the connection's address, is full (it was not added)
   */
  add(conn: C): boolean;
  /** Drops the connection and its schedule. @returns true when it was held */
  remove(conn: C): boolean;
  get(id: number): C | undefined;
  /** Connections held now from `address`. */
  countFor(address: string): number;
  /** Every live connection (fan-out, shutdown). */
  values(): IterableIterator<C>;
  /**
   * The connections the sweep must look at now.
   *
   * Yields, each at most once per call, every held connection that was
   * scheduled for a time ≤ `now` (ms, the clock of `schedule`), or added and
   * not yet yielded. It may also yield connections that are not due yet (the
   * baseline yields every held connection on every call; the timer wheel
   * yields a whole slot). Yielding a connection consumes its schedule: to be
   * yielded again it must be scheduled again — a connection the caller does
   * not schedule (one that is closing) may never be yielded again.
   * `schedule` and `remove` may be called while the result is iterated; they
   * never make a connection come up twice in one call (one not reached yet
   * may still come up in this call, or, asked for later, in a later one).
   * Iterate the result once, before the next call; connections that a caller
   * stopping early did not reach come up on the next call.
   * @param now current time, ms (Date.now()); may go backwards (clock steps) without losing a connection
   */
  due(now: number): Iterable<C>;
  /**
   * Asks that `conn` be yielded no later than by the first `due(now)` with
   * `now ≥ atMs` (a time in the past: the next call). A sooner request
   * stands: a schedule only moves earlier, until `due` yields the connection
   * and so consumes it. No effect when `conn` is not held.
   * @param atMs when, ms (the clock of `due`)
   */
  schedule(conn: C, atMs: number): void;
}
