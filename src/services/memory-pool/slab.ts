/**
 * SlabBuffers: outbound frames carved out of large preallocated slabs.
 *
 * Why: `Buffer.allocUnsafe` already carves sizes under 4 KiB out of Node's
 * own 8 KiB pool, so for small frames the cost is the view object either way
 * and a slab cannot beat it. The difference is above that: every
 * `allocUnsafe` of 4 KiB or more is its own ArrayBuffer (a malloc, a backing
 * store, external-memory accounting — about 1 µs before a byte is written),
 * and a 2 KiB frame uses a fresh 8 KiB pool every fourth call. Here any
 * frame up to `cutoff` (default 8 KiB) is a view into a 64 KiB slab, so one
 * backing store serves many frames. bench/services/memory-pool.bench.ts measures both the per-call cost
 * and what it does to a running server (GC pauses, allocation rate).
 *
 * Lifetime: a view keeps its whole slab alive until every socket that holds
 * it has written it (a broadcast frame may sit in many sockets' queues, and
 * the coalescing writer holds frames until the next event-loop turn), so a
 * slab is never reused explicitly: when the current slab is full a new one
 * is started and the garbage collector reclaims the old one once nothing
 * references it — what Node does with its 8 KiB pool, at a larger size.
 *
 * Bound: slabs still referenced are counted (a FinalizationRegistry lowers
 * the count once one is collected). At `maxSlabs` live slabs — slow
 * consumers holding views pin their slabs — no new slab is started and
 * frames fall back to `Buffer.allocUnsafe` until some are collected, so the
 * memory this pool pins is at most `maxSlabs × slabBytes` (default
 * 256 × 64 KiB = 16 MiB). The price of a large slab is exactly that pinning:
 * one 100-byte frame held by a slow consumer keeps 64 KiB alive.
 *
 * `release` is a no-op: a view cannot go back into a slab that other views
 * still share, and the caller cannot know when the socket has written it.
 *
 * Measured (bench/services/memory-pool.bench.ts): not faster, so not the
 * default. Once every byte of the frame is written, alloc + fill costs the
 * same as `allocUnsafe` at 2 KiB and 5000 B and 4-10 % more at 64-512 B
 * (`subarray` builds the same view object Node's pool does, by a slower
 * path). In the 500-member fan-out the pool serves two frames per message
 * (the shared broadcast frame and the ack) against 500 socket writes, and
 * JS-heap bytes per delivery and GCs per delivery were the same to 0.2 %.
 * With 4000-byte texts in a 2-member room (every frame above 4 KiB, the case
 * a larger cutoff is for) throughput and GC pause time were the same, while
 * peak ArrayBuffer memory was 3.5x and mark-compacts 1.4x baseline's:
 * slabs stay pinned until their last frame is written and collected.
 */
import type { BufferPool } from './contract.js';

/** Options of a SlabBuffers. */
export interface SlabOptions {
  /** Bytes per slab (default 64 KiB). */
  slabBytes?: number;
  /** Largest frame, in bytes, carved from a slab; larger ones get their own allocation (default slabBytes / 8, so at most 1/8 of a slab is left unused at its end). */
  cutoff?: number;
  /** Most slabs alive at once (the current one included); past it frames come from `Buffer.allocUnsafe` (default 256). */
  maxSlabs?: number;
}

export const DEFAULT_SLAB_BYTES = 64 * 1024;
export const DEFAULT_MAX_SLABS = 256;

/** Stands for "no current slab": zero bytes left. */
const NO_SLAB = Buffer.alloc(0);

/** Slab allocator. One instance per server; not shared across threads. */
export class SlabBuffers implements BufferPool {
  readonly slabBytes: number;
  readonly cutoff: number;
  readonly maxSlabs: number;
  /** The slab being carved and its next free byte; NO_SLAB while at the bound. */
  private slab: Buffer = NO_SLAB;
  private offset = 0;
  private live = 0;
  /** Slabs started so far (for tests and the benchmark). */
  slabsCreated = 0;
  /** Frames that fell back to `Buffer.allocUnsafe` because `maxSlabs` slabs were alive. */
  overflows = 0;
  private readonly collected = new FinalizationRegistry<undefined>(() => {
    this.live--;
  });

  /** @throws RangeError when an option is not a positive integer or cutoff exceeds slabBytes */
  constructor(options: SlabOptions = {}) {
    const slabBytes = options.slabBytes ?? DEFAULT_SLAB_BYTES;
    const cutoff = options.cutoff ?? Math.floor(slabBytes / 8);
    const maxSlabs = options.maxSlabs ?? DEFAULT_MAX_SLABS;
    for (const [k, v] of [['slabBytes', slabBytes], ['cutoff', cutoff], ['maxSlabs', maxSlabs]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer, got ${v}`);
    }
    if (cutoff > slabBytes) throw new RangeError(`cutoff (${cutoff}) must not exceed slabBytes (${slabBytes})`);
    this.slabBytes = slabBytes;
    this.cutoff = cutoff;
    this.maxSlabs = maxSlabs;
  }

  /** Slabs not yet collected (the current one included). Lags the collector: finalizers run some time after a GC. */
  get liveSlabs(): number {
    return this.live;
  }

  alloc(size: number): Buffer {
    if (size > this.cutoff) return Buffer.allocUnsafeSlow(size);
    let off = this.offset;
    if (off + size > this.slab.length) {
      if (!this.startSlab()) {
        this.overflows++;
        return Buffer.allocUnsafe(size);
      }
      off = 0;
    }
    this.offset = off + size;
    return this.slab.subarray(off, off + size);
  }

  release(_buf: Buffer): void {
    // A view cannot return to a slab others still share; the collector reclaims the slab.
  }

  /** Lets the full slab go and starts a new one; false (no current slab) at `maxSlabs` live. */
  private startSlab(): boolean {
    this.slab = NO_SLAB;
    this.offset = 0;
    if (this.live >= this.maxSlabs) return false;
    const slab = Buffer.allocUnsafeSlow(this.slabBytes);
    this.live++;
    this.slabsCreated++;
    // Views share the ArrayBuffer, not the slab's Buffer object: watch the former.
    this.collected.register(slab.buffer, undefined);
    this.slab = slab;
    return true;
  }
}
