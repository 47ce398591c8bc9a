/**
 * ShardedMap: N plain Maps (N a power of two) chosen by a hash of the key.
 *
 * Why: a V8 Map grows by rehashing every entry into a table twice the size,
 * on the insert that crosses the load limit, so with 1M entries one insert
 * in a million stalls for the copy of the whole table. With N shards each
 * rehash moves about 1/N of the entries, so the worst insert stall shrinks
 * by about N (bench/services/sharded-map.bench.ts measures it). The price is
 * a hash computed in JavaScript on every operation (V8 caches a string's own
 * hash in the string, but does not expose it) and one more indirection.
 *
 * Hash: numbers by an integer mix (connection ids are sequential integers),
 * strings by FNV-1a over at most 32 UTF-16 units (all of a key up to 32,
 * else the first 16, the last 16 and the length; room names are ≤ 64 chars,
 * PROTOCOL.md), bigints by their low 32 bits. Other keys (objects, symbols,
 * booleans, null, undefined) all go to shard 0: JavaScript has no identity
 * hash, so they keep Map semantics but are not spread. Keys equal under
 * SameValueZero hash alike (`0`/`-0`; `NaN`), as Map needs.
 */
import { DEFAULT_SLICE, type KeyedStore } from './contract.js';
import { checkSlice, runSlice, yieldToLoop } from './baseline.js';

/** Shards when the caller does not say. */
export const DEFAULT_SHARDS = 64;
/** Most shards accepted (each is a Map, ~100 bytes empty). */
export const MAX_SHARDS = 1 << 16;

/** Integer mix (low bits depend on every input bit, since the caller masks low bits). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  return h ^ (h >>> 16);
}

/** FNV-1a 32 over `s[from, to)`, continuing from `h`. */
function fnv1a(s: string, from: number, to: number, h: number): number {
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

const FNV_OFFSET = 0x811c9dc5;
/** Strings longer than this are hashed by their ends and length. */
const HASHED_UNITS = 32;

/**
 * 32-bit hash of a key; equal keys (SameValueZero) give equal hashes.
 * Exported for tests and the benchmark.
 */
export function hashKey(key: unknown): number {
  if (typeof key === 'number') {
    let h = key | 0;
    // Non-int32 numbers: fold the high part in; NaN, ±Infinity, ±0 all give 0.
    if (h !== key) h ^= (key / 4294967296) | 0;
    return mix32(h);
  }
  if (typeof key === 'string') {
    const n = key.length;
    let h: number;
    if (n <= HASHED_UNITS) h = fnv1a(key, 0, n, FNV_OFFSET);
    else h = fnv1a(key, n - HASHED_UNITS / 2, n, fnv1a(key, 0, HASHED_UNITS / 2, Math.imul(FNV_OFFSET ^ n, 0x01000193)));
    // FNV's low bits depend only on the inputs' low bits; fold the high half down.
    return h ^ (h >>> 16);
  }
  if (typeof key === 'bigint') return mix32(Number(BigInt.asIntN(32, key)));
  return 0;
}

/** Values of every shard in turn (one hidden class; no generator frame). */
class ValuesIterator<K, V> implements IterableIterator<V> {
  private i = 0;
  private cur: Iterator<V>;
  constructor(private readonly shards: readonly Map<K, V>[]) {
    this.cur = shards[0]!.values();
  }
  next(): IteratorResult<V> {
    for (;;) {
      const r = this.cur.next();
      if (r.done !== true || ++this.i >= this.shards.length) return r;
      this.cur = this.shards[this.i]!.values();
    }
  }
  [Symbol.iterator](): this {
    return this;
  }
}

/** [key, value] of every shard in turn. */
class EntriesIterator<K, V> implements IterableIterator<[K, V]> {
  private i = 0;
  private cur: Iterator<[K, V]>;
  constructor(private readonly shards: readonly Map<K, V>[]) {
    this.cur = shards[0]!.entries();
  }
  next(): IteratorResult<[K, V]> {
    for (;;) {
      const r = this.cur.next();
      if (r.done !== true || ++this.i >= this.shards.length) return r;
      this.cur = this.shards[this.i]!.entries();
    }
  }
  [Symbol.iterator](): this {
    return this;
  }
}

/**
 * A KeyedStore of `shardCount` Maps. Iteration goes shard by shard, each
 * with the Map's own live iterator, so the contract's promise (every entry
 * present throughout is visited exactly once) holds per shard and hence
 * overall; `clear()` empties the shards in place so live iterators end.
 */
export class ShardedMap<K, V> implements KeyedStore<K, V> {
  private readonly shards: Map<K, V>[];
  private readonly mask: number;
  private count = 0;

  /**
   * @param shardCount number of shards, a power of two from 1 to MAX_SHARDS (default 64)
   * @throws RangeError on any other shard count
   */
  constructor(shardCount: number = DEFAULT_SHARDS) {
    if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > MAX_SHARDS || (shardCount & (shardCount - 1)) !== 0) {
      throw new RangeError(`shardCount must be a power of two from 1 to ${MAX_SHARDS}, got ${shardCount}`);
    }
    this.shards = Array.from({ length: shardCount }, () => new Map<K, V>());
    this.mask = shardCount - 1;
  }

  /** Number of shards. */
  get shardCount(): number {
    return this.shards.length;
  }

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    return this.shards[hashKey(key) & this.mask]!.get(key);
  }

  has(key: K): boolean {
    return this.shards[hashKey(key) & this.mask]!.has(key);
  }

  set(key: K, value: V): this {
    const shard = this.shards[hashKey(key) & this.mask]!;
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  delete(key: K): boolean {
    if (!this.shards[hashKey(key) & this.mask]!.delete(key)) return false;
    this.count--;
    return true;
  }

  clear(): void {
    for (const shard of this.shards) shard.clear();
    this.count = 0;
  }

  values(): IterableIterator<V> {
    return new ValuesIterator(this.shards);
  }

  entries(): IterableIterator<[K, V]> {
    return new EntriesIterator(this.shards);
  }

  /** Entries per shard, for tests and the benchmark (spread of the hash). */
  shardSizes(): number[] {
    return this.shards.map((s) => s.size);
  }

  /**
   * Visits every entry in slices of at most `maxPerSlice`, one
   * `setImmediate` between slices (see KeyedStore.forEachSlice). Walks the
   * shards' own iterators, advancing only after a yield, so an entry deleted
   * in between is not handed to `fn`.
   */
  async forEachSlice(fn: (value: V, key: K) => void, maxPerSlice: number = DEFAULT_SLICE): Promise<number> {
    checkSlice(maxPerSlice);
    let visited = 0;
    let budget = maxPerSlice; // entries left in this slice; a slice may span shards
    for (const shard of this.shards) {
      const it = shard.entries();
      for (;;) {
        const n = runSlice(it, fn, budget);
        visited += n;
        if (n < budget) {
          budget -= n; // this shard is done
          break;
        }
        await yieldToLoop();
        budget = maxPerSlice;
      }
    }
    return visited;
  }
}

/** Factory for the registry: a ShardedMap of DEFAULT_SHARDS shards. */
export const createShardedStore = <K, V>(): KeyedStore<K, V> => new ShardedMap<K, V>();
