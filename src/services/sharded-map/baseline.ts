import { DEFAULT_SLICE, type KeyedStoreFactory } from './contract.js';

/** Baseline: one plain `Map` (a Map already satisfies KeyedStore). */
export const createMapStore: KeyedStoreFactory = <K, V>() => new Map<K, V>();

/** One turn of the event loop: I/O callbacks and timers run before it resolves. */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** @throws RangeError when `maxPerSlice` is not an integer ≥ 1 */
export function checkSlice(maxPerSlice: number): void {
  if (!Number.isInteger(maxPerSlice) || maxPerSlice < 1) {
    throw new RangeError(`maxPerSlice must be an integer >= 1, got ${maxPerSlice}`);
  }
}

/**
 * Calls `fn` for up to `max` entries of `it`, synchronously. Kept apart from
 * the async loop so the JIT sees a plain loop (no await inside): the
 * iterator results and [key, value] pairs then need not be allocated, and a
 * sweep of 1M entries does not feed the young generation 2M objects.
 * @returns entries visited; fewer than `max` means `it` is done
 */
export function runSlice<K, V>(it: Iterator<[K, V]>, fn: (value: V, key: K) => void, max: number): number {
  let n = 0;
  while (n < max) {
    const r = it.next();
    if (r.done === true) break;
    fn(r.value[1], r.value[0]);
    n++;
  }
  return n;
}

/**
 * Slices any live iterator of entries (a Map's, or a KeyedStore's
 * `entries()`): `fn` for up to `maxPerSlice` entries, then one
 * `setImmediate`, then on. The iterator is only advanced after the yield, so
 * an entry deleted while the loop ran other code is not handed to `fn`
 * (Map iterators survive deletes, inserts and rehashes in between).
 * @param maxPerSlice entries per slice, an integer ≥ 1
 * @returns entries visited
 * @throws RangeError (as a rejection) on a bad `maxPerSlice`
 */
export async function forEachSliceOf<K, V>(
  entries: Iterator<[K, V]>,
  fn: (value: V, key: K) => void,
  maxPerSlice: number = DEFAULT_SLICE,
): Promise<number> {
  checkSlice(maxPerSlice);
  let visited = 0;
  for (;;) {
    const n = runSlice(entries, fn, maxPerSlice);
    visited += n;
    if (n < maxPerSlice) return visited;
    await yieldToLoop();
  }
}
