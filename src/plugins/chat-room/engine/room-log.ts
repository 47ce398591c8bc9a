/**
 * What a room remembers (PROTOCOL.md §3 "Join, resume, dedup"): its seq
 * counter, epoch, retained messages and dedup window. Lives from the room's
 * first join until it has been empty for `room_idle_ms`.
 */
import { randomBytes } from 'node:crypto';
import { CircularBuffer, Queue } from 'mnemonist';
import type { ChatEnvelope } from './contract.js';

/** A repeated id is recognised for this long, ms (PROTOCOL.md §3). */
export const DEDUP_TTL_MS = 5 * 60_000;
/** ...and among the room's this many newest ids (PROTOCOL.md §3). */
export const DEDUP_MAX_IDS = 10_000;

/** The `ack` a sender got, kept to answer a duplicate with the original. */
interface DedupEntry {
  seq: number;
  ts: number;
}

/** Result of RoomLog.append. */
export interface LogAppendResult {
  seq: number;
  ts: number;
  /** True when (sender, id) was seen within the window: nothing was appended. */
  duplicate: boolean;
  /** The appended chat; null for a duplicate. */
  message: ChatEnvelope | null;
}

/** One room's log. */
export class RoomLog {
  /** Names this seq stream; a new RoomLog for the same room has a new epoch. */
  readonly epoch = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  /** Last assigned seq; 0 before the first message. */
  seq = 0;
  private readonly history: CircularBuffer<ChatEnvelope>;
  // The window is the room's DEDUP_MAX_IDS newest ids (PROTOCOL.md §3: newest,
  // not most recently used, so an LRU is the wrong shape): a Map for lookup
  // and a mnemonist Queue of (key, entry) in insertion order for trimming.
  // Trimming by `map.keys().next()` instead walks V8's deleted-entry holes
  // (bench/micro/room-engine.bench.ts measured 7 µs per append). Both grow
  // with use; fixed-capacity structures would preallocate 10,000 slots per room.
  private readonly dedup = new Map<string, DedupEntry>();
  private readonly dedupOrder = new Queue<[string, DedupEntry]>();

  /**
   * @param room the room's name
   * @param retain messages kept for history and resume (`history_per_room`)
   */
  constructor(
    readonly room: string,
    retain: number,
  ) {
    this.history = new CircularBuffer<ChatEnvelope>(Array, retain);
  }

  /** Seq of the oldest retained message; seq + 1 when none is retained. */
  get oldestSeq(): number {
    return this.seq - this.history.size + 1;
  }

  /**
   * Appends a chat, unless (dedupKey, id) repeats within the window.
   * @param dedupKey the sender's identity (token subject, else nick at send time)
   * @param now ms since the epoch
   */
  append(from: string, dedupKey: string, text: string, id: string | undefined, now: number): LogAppendResult {
    const key = id === undefined ? null : `${dedupKey}\u0000${id}`;
    if (key !== null) {
      const hit = this.dedup.get(key);
      if (hit && now - hit.ts < DEDUP_TTL_MS) return { seq: hit.seq, ts: hit.ts, duplicate: true, message: null };
    }
    const seq = ++this.seq;
    const msg: ChatEnvelope = id === undefined
      ? { type: 'chat', room: this.room, seq, from, text, ts: now }
      : { type: 'chat', room: this.room, seq, id, from, text, ts: now };
    this.history.push(msg);
    if (key !== null) {
      const entry: DedupEntry = { seq, ts: now };
      this.dedup.set(key, entry); // an expired entry is replaced; its old queue slot goes stale
      this.dedupOrder.enqueue([key, entry]);
      while (this.dedup.size > DEDUP_MAX_IDS) {
        const [oldKey, oldEntry] = this.dedupOrder.dequeue()!;
        if (this.dedup.get(oldKey) === oldEntry) this.dedup.delete(oldKey);
      }
    }
    return { seq, ts: now, duplicate: false, message: msg };
  }

  /**
   * Retained messages with afterSeq < seq <= uptoSeq, ascending, at most `limit`.
   * @param fromNewest take the newest `limit` of the range instead of the oldest
   */
  range(afterSeq: number, uptoSeq: number, limit: number, fromNewest = false): ChatEnvelope[] {
    const lo = Math.max(afterSeq + 1, this.oldestSeq);
    const hi = Math.min(uptoSeq, this.seq);
    if (hi < lo) return [];
    const first = fromNewest ? Math.max(lo, hi - limit + 1) : lo;
    const last = fromNewest ? hi : Math.min(hi, lo + limit - 1);
    const out: ChatEnvelope[] = [];
    const base = this.oldestSeq;
    for (let s = first; s <= last; s++) out.push(this.history.get(s - base)!);
    return out;
  }

  /** True when every message with afterSeq < seq <= uptoSeq is still retained. */
  covers(afterSeq: number, uptoSeq: number): boolean {
    return afterSeq >= uptoSeq || afterSeq + 1 >= this.oldestSeq;
  }
}
