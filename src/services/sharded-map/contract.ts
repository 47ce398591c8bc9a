/**
 * Keyed store used by the core for connections, rooms and users.
 *
 * Guarantees every implementation keeps (test/contract/sharded-map.test.ts):
 * - the usual Map semantics for get / set / delete / has / size;
 * - `values()` visits every value present for the whole iteration exactly
 *   once; values added or deleted during it may or may not be visited.
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
}

/** Builds an empty store; the registry hands one factory to the core. */
export type KeyedStoreFactory = <K, V>() => KeyedStore<K, V>;
