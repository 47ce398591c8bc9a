/**
 * A room's retained messages (PROTOCOL.md §3 "history", resume) kept off the
 * V8 heap: each message is one record of bytes in a ByteLog
 * (`from`, `id`, `text` back to back) plus numbers in typed-array columns.
 * A `chat` envelope is rebuilt only when history or resume reads it, which is
 * rare next to appends. See byte-log.ts for why this matters to the tail
 * latency.
 *
 * The ring holds at most `max` messages; its columns start small and double
 * up to `max` as the room fills, so a quiet room costs little.
 */
import { ByteLog, isWellFormed, readString, writeString } from './byte-log.js';
import type { ChatEnvelope } from './contract.js';

/** Int32 fields per message in `meta`. */
const STRIDE = 5;
const CHUNK = 0; // ByteLog chunk id
const OFFSET = 1; // first byte of the record in the chunk
const FROM_BYTES = 2;
const ID_BYTES = 3; // -1: the message has no id
const TEXT_BYTES_AND_UTF16 = 4; // text bytes * 2, + 1 when the record is UTF-16LE
const INITIAL_SLOTS = 16;

/** Ring of at most `max` messages, oldest first. */
export class HistoryRing {
  private readonly bytes = new ByteLog();
  private meta: Int32Array;
  private ts: Float64Array;
  private capacity: number;
  /** Slot of the oldest message. */
  private first = 0;
  /** Messages held, ≤ max. */
  size = 0;

  /** @param max messages kept (`history_per_room`, ≥ 1) */
  constructor(readonly max: number) {
    this.capacity = Math.min(max, INITIAL_SLOTS);
    this.meta = new Int32Array(this.capacity * STRIDE);
    this.ts = new Float64Array(this.capacity);
  }

  /**
   * Appends a message, dropping the oldest when `max` are held.
   * @param ts ms since the epoch
   */
  push(from: string, id: string | undefined, text: string, ts: number): void {
    const evict = this.size === this.max;
    if (evict) {
      this.first = this.first + 1 === this.max ? 0 : this.first + 1;
      this.size--;
    } else if (this.size === this.capacity) {
      this.grow();
    }
    const utf16 = !(isWellFormed(from) && isWellFormed(text) && (id === undefined || isWellFormed(id)));
    const idLength = id === undefined ? 0 : id.length;
    const chunk = this.bytes.reserve(3 * (from.length + idLength + text.length));
    const start = this.bytes.writeOffset;
    const fromBytes = writeString(chunk, from, start, utf16);
    const idBytes = id === undefined ? -1 : writeString(chunk, id, start + fromBytes, utf16);
    const textBytes = writeString(chunk, text, start + fromBytes + Math.max(0, idBytes), utf16);
    this.bytes.commit(fromBytes + Math.max(0, idBytes) + textBytes);

    let slot = this.first + this.size;
    if (slot >= this.capacity) slot -= this.capacity;
    const m = slot * STRIDE;
    this.meta[m + CHUNK] = this.bytes.writeChunk;
    this.meta[m + OFFSET] = start;
    this.meta[m + FROM_BYTES] = fromBytes;
    this.meta[m + ID_BYTES] = idBytes;
    this.meta[m + TEXT_BYTES_AND_UTF16] = textBytes * 2 + (utf16 ? 1 : 0);
    this.ts[slot] = ts;
    this.size++;
    // Chunks older than the oldest message's are no longer needed.
    if (evict) this.bytes.release(this.meta[this.first * STRIDE + CHUNK]!);
  }

  /**
   * The i-th oldest message as a `chat` envelope (PROTOCOL.md §3).
   * @param i 0 = oldest, < size
   * @param room the room's name, for the envelope
   * @param seq its seq, for the envelope
   * @throws RangeError when i is outside [0, size)
   */
  get(i: number, room: string, seq: number): ChatEnvelope {
    if (!(i >= 0 && i < this.size)) throw new RangeError(`HistoryRing.get(${i}): ${this.size} messages held`);
    let slot = this.first + i;
    if (slot >= this.capacity) slot -= this.capacity;
    const m = slot * STRIDE;
    const buf = this.bytes.chunk(this.meta[m + CHUNK]!);
    const a = this.meta[m + OFFSET]!;
    const b = a + this.meta[m + FROM_BYTES]!;
    const idBytes = this.meta[m + ID_BYTES]!;
    const c = b + Math.max(0, idBytes);
    const t = this.meta[m + TEXT_BYTES_AND_UTF16]!;
    const utf16 = (t & 1) === 1;
    const from = readString(buf, a, b, utf16);
    const text = readString(buf, c, c + (t >>> 1), utf16);
    const ts = this.ts[slot]!;
    return idBytes < 0
      ? { type: 'chat', room, seq, from, text, ts }
      : { type: 'chat', room, seq, id: readString(buf, b, c, utf16), from, text, ts };
  }

  /** Drops every message and frees its bytes. */
  clear(): void {
    this.bytes.clear();
    this.first = 0;
    this.size = 0;
  }

  /** Doubles the columns (up to max); only called while the ring has not wrapped (first = 0). */
  private grow(): void {
    const capacity = Math.min(this.max, this.capacity * 2);
    const meta = new Int32Array(capacity * STRIDE);
    meta.set(this.meta);
    const ts = new Float64Array(capacity);
    ts.set(this.ts);
    this.meta = meta;
    this.ts = ts;
    this.capacity = capacity;
  }
}
