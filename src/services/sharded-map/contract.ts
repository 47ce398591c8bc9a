/**
 * Keyed store used by the core for connections, rooms and users.
 *
 * Guarantees every implementation keeps (test/contract/services.test.ts):
 * - the usual Map semantics for get / set / delete / has / size
 *   (SameValueZero keys: `0` and `-0` are one key, `NaN` is a key, objects by
 *   identity);
 * - `values()` and `entries()` visit every entry present for the whole
 *   iteration exactly once; entries added or deleted during it may or may not
 *   be visited;
 * - `forEachSlice`, when present, keeps the same promise across its slices,
 *   even though other code runs (and may change the store) between them.
 */
export interface KeyedStore<K, V> {
  /** Number of entries. */
  readonly size: number;
  get(key: K): V | undefined;
  has(key: K): boolean;
  /** Inserts or replaces; returns the store for chaining. */
  set(key: K, value: V): this;
  /** @returns true when an entry was removed */
  delete(key: K): boolean;
  /** Every value, in no promised order. */
  values(): IterableIterator<V>;
  /** Every [key, value] pair, in no promised order. */
  entries(): IterableIterator<[K, V]>;
  clear(): void;
  /**
   * Visits every entry in slices of at most `maxPerSlice`, yielding to the
   * event loop (one `setImmediate`) between slices, so a sweep or a fan-out
   * over 100k entries does not hold the loop for its whole length.
   * Optional: callers go through `forEachSlice(store, …)` (index.ts), which
   * slices `entries()` for a store without it (a plain Map).
   * @param fn called once per entry; must not throw (a throw rejects the promise and ends the sweep)
   * @param maxPerSlice entries per slice, an integer ≥ 1 (default 1024)
   * @returns entries visited
   * @throws RangeError (as a rejection) when `maxPerSlice` is not an integer ≥ 1
   */
  forEachSlice?(fn: (value: V, key: K) => void, maxPerSlice?: number): Promise<number>;
}

/** Builds an empty store; the registry hands one factory to the core. */
export type KeyedStoreFactory = <K, V>() => KeyedStore<K, V>;

/** Entries per slice when the caller does not say. */
export const DEFAULT_SLICE = 1024;
