/**
 * Chunked first-in-first-out byte storage for a room's retained records
 * (history messages, dedup ids) outside the V8 heap.
 *
 * Why: a busy room keeps thousands of records alive for minutes. As JS
 * strings and objects they are promoted to the old generation, and every
 * major GC marks them; on the one core the server is pinned to, that marking
 * showed up as 50–150 ms event-loop stalls and doubled the multi-room p99
 * (docs/performance.md, "Room log off the heap"). Here a record is bytes in a
 * Buffer chunk: a chunk is one small JS object, its bytes are never scanned.
 *
 * Records are written into the newest chunk and never span chunks; a record
 * is addressed by (chunk id, byte offset). Records are dropped oldest first,
 * so a chunk is freed as a whole once its newest record is no longer needed
 * (`release`). Chunk sizes double from CHUNK_MIN_BYTES to CHUNK_MAX_BYTES,
 * so a room with one message holds 256 bytes, a busy one a few 64-KiB chunks;
 * a record larger than CHUNK_MAX_BYTES gets a chunk of its own size. Freed
 * full-size chunks go to a bounded process-wide spare list, so a room in
 * steady state allocates nothing.
 */

/** Smallest chunk, bytes. */
export const CHUNK_MIN_BYTES = 256;
/** Largest regular chunk, bytes; larger records get a chunk of their own. */
export const CHUNK_MAX_BYTES = 64 * 1024;
/** Freed CHUNK_MAX_BYTES chunks kept for reuse, process-wide (at most 16 MiB). */
const SPARE_MAX = 256;
const spare: Buffer[] = [];

/** One room's FIFO of byte records. Not thread-safe; synchronous throughout. */
export class ByteLog {
  /** Live chunks, oldest first; chunks[0] has id `base`. */
  private chunks: Buffer[] = [];
  private base = 0;
  /** Bytes written in the newest chunk. */
  private used = 0;
  /** Size of the next chunk made, bytes. */
  private nextSize = CHUNK_MIN_BYTES;

  /** Chunks alive (for tests and memory accounting). */
  get chunkCount(): number {
    return this.chunks.length;
  }

  /**
   * Makes room for up to `maxBytes` in the newest chunk, starting a new chunk
   * when it has less free. Write the record at `writeOffset` of the returned
   * chunk, then call `commit` with the bytes written.
   * @param maxBytes upper bound of the record's size, bytes (≥ 0)
   */
  reserve(maxBytes: number): Buffer {
    const n = this.chunks.length;
    if (n > 0) {
      const last = this.chunks[n - 1]!;
      if (last.length - this.used >= maxBytes) return last;
    }
    let chunk: Buffer;
    if (maxBytes > CHUNK_MAX_BYTES) {
      chunk = Buffer.allocUnsafeSlow(maxBytes);
    } else {
      const size = Math.max(this.nextSize, maxBytes);
      this.nextSize = Math.min(CHUNK_MAX_BYTES, this.nextSize * 2);
      chunk = size === CHUNK_MAX_BYTES && spare.length > 0 ? spare.pop()! : Buffer.allocUnsafeSlow(size);
    }
    this.chunks.push(chunk);
    this.used = 0;
    return chunk;
  }

  /** Id of the chunk `reserve` returned last; the record's address with `writeOffset`. */
  get writeChunk(): number {
    return this.base + this.chunks.length - 1;
  }

  /** Where the next record starts in the newest chunk, bytes. */
  get writeOffset(): number {
    return this.used;
  }

  /**
   * Ends the record being written.
   * @param bytes its size, at most the `maxBytes` reserved
   */
  commit(bytes: number): void {
    this.used += bytes;
  }

  /**
   * The chunk with this id.
   * @throws RangeError when the chunk was released or never made
   */
  chunk(id: number): Buffer {
    const c = this.chunks[id - this.base];
    if (c === undefined) throw new RangeError(`ByteLog: chunk ${id} is not live (live ${this.base}..${this.writeChunk})`);
    return c;
  }

  /**
   * Frees every chunk older than `id`: call it with the chunk of the oldest
   * record still needed. The newest chunk is never freed here.
   */
  release(id: number): void {
    const k = Math.min(id - this.base, this.chunks.length - 1);
    if (k <= 0) return;
    for (let i = 0; i < k; i++) recycle(this.chunks[i]!);
    this.chunks.splice(0, k);
    this.base += k;
  }

  /** Frees every chunk; the log is empty and usable afterwards. */
  clear(): void {
    for (const c of this.chunks) recycle(c);
    this.base += this.chunks.length;
    this.chunks = [];
    this.used = 0;
    this.nextSize = CHUNK_MIN_BYTES;
  }
}

function recycle(c: Buffer): void {
  if (c.length === CHUNK_MAX_BYTES && spare.length < SPARE_MAX) spare.push(c);
}

/**
 * Writes `s` at `offset` of `buf`: UTF-8 when `utf16` is false, else UTF-16LE
 * (which keeps lone surrogates exact, where UTF-8 would turn them into
 * U+FFFD). Needs `3 * s.length` bytes free for UTF-8, `2 * s.length` for
 * UTF-16LE.
 * @returns bytes written
 */
export function writeString(buf: Buffer, s: string, offset: number, utf16: boolean): number {
  return s.length === 0 ? 0 : buf.write(s, offset, utf16 ? 'utf16le' : 'utf8');
}

/**
 * True when `s` has no lone surrogate, so UTF-8 keeps it exactly
 * (`String.prototype.isWellFormed`, ES2024, native in Node ≥ 20; typed here
 * because the project compiles against the ES2022 library).
 */
export function isWellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

/** Reads what writeString wrote: bytes [start, end) of `buf`. */
export function readString(buf: Buffer, start: number, end: number, utf16: boolean): string {
  return start === end ? '' : buf.toString(utf16 ? 'utf16le' : 'utf8', start, end);
}
