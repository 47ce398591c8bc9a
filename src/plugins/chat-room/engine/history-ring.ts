/**
 * A room's retained messages (PROTOCOL.md §3 "history", resume) kept off the
 * V8 heap: each message is one record of bytes in a ByteLog
 * (`from`, `id`, `text` back to back, encoded by one write) plus numbers in
 * typed-array columns. A `chat` envelope is rebuilt only when history or
 * resume reads it, which is rare next to appends: one decode of the record,
 * cut into its fields by their lengths in UTF-16 code units. See
 * byte-log.ts for why this matters to the tail latency.
 *
 * Exactness: the record is UTF-8 when the concatenation is well formed, so
 * decoding gives back the same code units and the cuts fall where the
 * fields met; otherwise UTF-16LE, which keeps any code unit (a lone
 * surrogate of one field may pair with the next field's in the
 * concatenation; the cut still splits them back).
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
const BYTES_AND_UTF16 = 2; // record bytes * 2, + 1 when the record is UTF-16LE
const FROM_UNITS = 3; // from.length (UTF-16 code units)
const ID_UNITS = 4; // id.length; -1: the message has no id
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
    const record = id === undefined ? from + text : from + id + text;
    const utf16 = !isWellFormed(record);
    const chunk = this.bytes.reserve(3 * record.length);
    const start = this.bytes.writeOffset;
    const bytes = writeString(chunk, record, start, utf16);
    this.bytes.commit(bytes);

    let slot = this.first + this.size;
    if (slot >= this.capacity) slot -= this.capacity;
    const m = slot * STRIDE;
    this.meta[m + CHUNK] = this.bytes.writeChunk;
    this.meta[m + OFFSET] = start;
    this.meta[m + BYTES_AND_UTF16] = bytes * 2 + (utf16 ? 1 : 0);
    this.meta[m + FROM_UNITS] = from.length;
    this.meta[m + ID_UNITS] = id === undefined ? -1 : id.length;
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
    const start = this.meta[m + OFFSET]!;
    const b = this.meta[m + BYTES_AND_UTF16]!;
    const record = readString(buf, start, start + (b >>> 1), (b & 1) === 1);
    const fromUnits = this.meta[m + FROM_UNITS]!;
    const idUnits = this.meta[m + ID_UNITS]!;
    const from = record.slice(0, fromUnits);
    const ts = this.ts[slot]!;
    if (idUnits < 0) return { type: 'chat', room, seq, from, text: record.slice(fromUnits), ts };
    const textStart = fromUnits + idUnits;
    return { type: 'chat', room, seq, id: record.slice(fromUnits, textStart), from, text: record.slice(textStart), ts };
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
