/**
 * A room's dedup window (PROTOCOL.md §3 "Join, resume, dedup"): the seq and
 * ts of each of the room's `max` newest (sender, id) pairs, for `ttlMs`.
 * Newest, not most recently used: the window is a FIFO ring of slots.
 *
 * Kept off the V8 heap, because the window is most of what a busy room keeps
 * alive (10,000 ids per room at the defaults; see byte-log.ts for the effect
 * on GC and tail latency): each key's bytes are a record in a ByteLog, its
 * seq, ts and hash sit in typed-array columns, and lookup is an
 * open-addressing hash table (linear probing, backward-shift deletion) of
 * slot numbers in an Int32Array. Keys are compared byte for byte, so a hash
 * collision never makes a new message a "duplicate". The hash is seeded per
 * process, so clients cannot choose ids that collide.
 *
 * A key is the sender identity's length, the identity and the id, so no
 * (identity, id) pair can be mistaken for another even when either contains
 * NUL. Well-formed strings are stored as UTF-8, others as UTF-16LE (exact for
 * lone surrogates) with a flag that takes part in the comparison.
 */
import { randomBytes } from 'node:crypto';
import { ByteLog, isWellFormed, writeString } from './byte-log.js';

const SEED = randomBytes(4).readInt32LE(0);

/** Int32 fields per slot in `meta`. */
const STRIDE = 4;
const CHUNK = 0;
const OFFSET = 1;
const BYTES_AND_UTF16 = 2; // key bytes * 2, + 1 when UTF-16LE
const HASH = 3;
const INITIAL_SLOTS = 16;

/**
 * Keys up to this size are copied into the log by a JS loop, which beat
 * `Buffer.copy`'s native call for them (docs/performance.md, "p99 follows the
 * server's CPU").
 */
const SHORT_KEY_BYTES = 64;

/** The key being looked up, encoded once and reused by the insert. */
let scratch = Buffer.allocUnsafeSlow(1024);

/** One room's window. */
export class DedupWindow {
  private readonly bytes = new ByteLog();
  private meta: Int32Array;
  private seqs: Float64Array;
  private tss: Float64Array;
  /** Open-addressing table: slot + 1, or 0 for empty; its length is a power of two ≥ 2 × capacity. */
  private table: Int32Array;
  private capacity: number;
  /** Slots in use, ≤ max; they fill 0..used-1, then the ring reuses `next`. */
  private used = 0;
  /** Slot the next key takes once the ring is full (the oldest). */
  private next = 0;

  /**
   * @param max ids remembered (PROTOCOL.md §3: 10,000)
   * @param ttlMs how long an id is recognised, ms (PROTOCOL.md §3: 5 minutes)
   */
  constructor(
    readonly max: number,
    readonly ttlMs: number,
  ) {
    this.capacity = Math.min(max, INITIAL_SLOTS);
    this.meta = new Int32Array(this.capacity * STRIDE);
    this.seqs = new Float64Array(this.capacity);
    this.tss = new Float64Array(this.capacity);
    this.table = new Int32Array(tableSizeFor(this.capacity));
  }

  /** Ids held, fresh or expired (≤ max). */
  get size(): number {
    return this.used;
  }

  /**
   * Looks up (identity, id); when it is in the window and younger than
   * ttlMs, returns its slot (read it with seqAt / tsAt) and changes nothing.
   * Otherwise remembers it with (seq, now), replacing an expired entry of the
   * same key and, when the window is full, the oldest, and returns -1.
   * @param identity the sender's dedup identity (token subject, else nick)
   * @param seq the seq the message gets if it is new
   * @param now ms since the epoch
   */
  admit(identity: string, id: string, seq: number, now: number): number {
    const need = 4 + 3 * (identity.length + id.length);
    if (scratch.length < need) scratch = Buffer.allocUnsafeSlow(Math.max(need, scratch.length * 2));
    let len = encodeAscii(identity, id);
    let utf16 = false;
    if (len < 0) {
      utf16 = !(isWellFormed(identity) && isWellFormed(id));
      const idStart = 4 + writeString(scratch, identity, 4, utf16);
      scratch.writeInt32LE(idStart - 4, 0);
      len = idStart + writeString(scratch, id, idStart, utf16);
    }
    const code = len * 2 + (utf16 ? 1 : 0);
    const hash = hashBytes(scratch, len, utf16);

    const found = this.find(hash, code, len);
    if (found >= 0) {
      const s = this.table[found]! - 1;
      if (now - this.tss[s]! < this.ttlMs) return s;
    }

    const slot = this.take();
    // take() may have grown and rebuilt the table, or removed an entry from it: probe again.
    let i = found >= 0 ? this.find(hash, code, len) : -1;
    if (i < 0) i = this.emptyFrom(hash);
    // An expired entry of the same key is pointed at the new slot; its old slot goes stale.
    this.table[i] = slot + 1;

    const chunk = this.bytes.reserve(len);
    const offset = this.bytes.writeOffset;
    if (len <= SHORT_KEY_BYTES) for (let i = 0; i < len; i++) chunk[offset + i] = scratch[i]!;
    else scratch.copy(chunk, offset, 0, len);
    this.bytes.commit(len);
    const m = slot * STRIDE;
    this.meta[m + CHUNK] = this.bytes.writeChunk;
    this.meta[m + OFFSET] = offset;
    this.meta[m + BYTES_AND_UTF16] = code;
    this.meta[m + HASH] = hash;
    this.seqs[slot] = seq;
    this.tss[slot] = now;
    // Chunks older than the oldest slot's are no longer needed.
    if (this.used === this.max) this.bytes.release(this.meta[this.next * STRIDE + CHUNK]!);
    return -1;
  }

  /** Seq of the message in `slot` (from admit). */
  seqAt(slot: number): number {
    return this.seqs[slot]!;
  }

  /** Ts of the message in `slot` (from admit), ms since the epoch. */
  tsAt(slot: number): number {
    return this.tss[slot]!;
  }

  /** Forgets every id and frees its bytes. */
  clear(): void {
    this.bytes.clear();
    this.table.fill(0);
    this.used = 0;
    this.next = 0;
  }

  /** A free slot for a new key: the next unused one, or the oldest, removed from the table. */
  private take(): number {
    if (this.used < this.max) {
      if (this.used === this.capacity) this.grow();
      return this.used++;
    }
    const slot = this.next;
    this.next = slot + 1 === this.max ? 0 : slot + 1;
    this.remove(slot);
    return slot;
  }

  /** Removes the table's entry for `slot`, if it has one (a stale slot has none). */
  private remove(slot: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let i = this.meta[slot * STRIDE + HASH]! & mask;
    for (let e = table[i]!; e !== 0; e = table[i]!) {
      if (e === slot + 1) {
        this.deleteAt(i);
        return;
      }
      i = (i + 1) & mask;
    }
  }

  /** Backward-shift deletion: later entries of the probe run move up, so no tombstones. */
  private deleteAt(hole: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const e = table[j]!;
      if (e === 0) break;
      const home = this.meta[(e - 1) * STRIDE + HASH]! & mask;
      // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (!stays) {
        table[hole] = e;
        hole = j;
      }
    }
    table[hole] = 0;
  }

  /** Table index of the entry whose key equals scratch[0, len), or -1. */
  private find(hash: number, code: number, len: number): number {
    const table = this.table;
    const mask = table.length - 1;
    let i = hash & mask;
    for (let e = table[i]!; e !== 0; e = table[i]!) {
      const s = e - 1;
      if (this.meta[s * STRIDE + HASH] === hash && this.meta[s * STRIDE + BYTES_AND_UTF16] === code && this.keyEquals(s, len)) return i;
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** First empty table index on `hash`'s probe run. */
  private emptyFrom(hash: number): number {
    const table = this.table;
    const mask = table.length - 1;
    let i = hash & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    return i;
  }

  private keyEquals(slot: number, len: number): boolean {
    const m = slot * STRIDE;
    const chunk = this.bytes.chunk(this.meta[m + CHUNK]!);
    const offset = this.meta[m + OFFSET]!;
    return chunk.compare(scratch, 0, len, offset, offset + len) === 0;
  }

  /** Doubles the columns (up to max) and rebuilds the table; only while the ring has not wrapped. */
  private grow(): void {
    const capacity = Math.min(this.max, this.capacity * 2);
    const meta = new Int32Array(capacity * STRIDE);
    meta.set(this.meta);
    const seqs = new Float64Array(capacity);
    seqs.set(this.seqs);
    const tss = new Float64Array(capacity);
    tss.set(this.tss);
    const old = this.table;
    this.meta = meta;
    this.seqs = seqs;
    this.tss = tss;
    this.capacity = capacity;
    this.table = new Int32Array(tableSizeFor(capacity));
    for (let i = 0; i < old.length; i++) {
      const e = old[i]!;
      if (e !== 0) this.table[this.emptyFrom(this.meta[(e - 1) * STRIDE + HASH]!)] = e;
    }
  }
}

/**
 * The common case of admit's key encoding, in one pass without native calls:
 * when identity and id are ASCII, writes the key into scratch exactly as the
 * UTF-8 path would (ASCII is its own UTF-8) and returns its length in bytes;
 * otherwise returns -1 and scratch holds garbage. scratch must have room for
 * 4 + identity.length + id.length bytes.
 */
function encodeAscii(identity: string, id: string): number {
  const buf = scratch;
  let o = 4;
  for (let i = 0; i < identity.length; i++) {
    const c = identity.charCodeAt(i);
    if (c > 0x7f) return -1;
    buf[o++] = c;
  }
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c > 0x7f) return -1;
    buf[o++] = c;
  }
  const n = identity.length;
  buf[0] = n & 0xff;
  buf[1] = (n >>> 8) & 0xff;
  buf[2] = (n >>> 16) & 0xff;
  buf[3] = n >>> 24;
  return o;
}

/** Smallest power of two ≥ 2 × slots, so the table stays at most half full. */
function tableSizeFor(slots: number): number {
  let n = 16;
  while (n < slots * 2) n *= 2;
  return n;
}

/** FNV-1a over the key's bytes from a per-process seed, then murmur3's finaliser. */
function hashBytes(buf: Buffer, len: number, utf16: boolean): number {
  let h = SEED ^ (utf16 ? 0x5bd1e995 : 0);
  for (let i = 0; i < len; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}
