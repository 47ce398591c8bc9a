/**
 * What a room remembers (PROTOCOL.md §3 "Join, resume, dedup"): its seq
 * counter, epoch, retained messages and dedup window. Lives from the room's
 * first join until it has been empty for `room_idle_ms`.
 */
import { randomBytes } from 'node:crypto';
import { CircularBuffer } from 'mnemonist';
import type { ChatEnvelope } from './contract.js';

/** A repeated id is recognised for this long, ms (PROTOCOL.md §3). */
export const DEDUP_TTL_MS = 5 * 60_000;
/** ...and among the room's this many newest ids (PROTOCOL.md §3). */
export const DEDUP_MAX_IDS = 10_000;


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
  // not most recently used, so an LRU is the wrong shape): a ring of slots in
  // three plain arrays (key, seq, ts: small integers and unboxed doubles, no
  // object per id) that grow with use up to DEDUP_MAX_IDS, and a Map from
  // key to slot for lookup. A slot is reused once the ring is full; its old
  // key leaves the Map unless the key has moved to a newer slot since (an id
  // sent again after its entry expired). Few objects per id matters: the
  // window is most of what a busy room keeps alive, and the garbage
  // collector's marking time grows with the live object count.
  private readonly dedup = new Map<string, number>();
  private readonly dedupKeys: string[] = [];
  private readonly dedupSeqs: number[] = [];
  private readonly dedupTs: number[] = [];
  /** Slot the next id takes once the ring is full. */
  private dedupNext = 0;

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
      if (hit !== undefined && now - this.dedupTs[hit]! < DEDUP_TTL_MS) {
        return { seq: this.dedupSeqs[hit]!, ts: this.dedupTs[hit]!, duplicate: true, message: null };
      }
    }
    const seq = ++this.seq;
    const msg: ChatEnvelope = id === undefined
      ? { type: 'chat', room: this.room, seq, from, text, ts: now }
      : { type: 'chat', room: this.room, seq, id, from, text, ts: now };
    this.history.push(msg);
    if (key !== null) this.remember(key, seq, now);
    return { seq, ts: now, duplicate: false, message: msg };
  }

  /** Puts (key → seq, ts) in the dedup window, in the oldest slot once the ring is full. */
  private remember(key: string, seq: number, now: number): void {
    let slot: number;
    if (this.dedupKeys.length < DEDUP_MAX_IDS) {
      slot = this.dedupKeys.length;
      this.dedupKeys.push(key);
      this.dedupSeqs.push(seq);
      this.dedupTs.push(now);
    } else {
      slot = this.dedupNext;
      this.dedupNext = slot + 1 === DEDUP_MAX_IDS ? 0 : slot + 1;
      const old = this.dedupKeys[slot]!;
      if (this.dedup.get(old) === slot) this.dedup.delete(old);
      this.dedupKeys[slot] = key;
      this.dedupSeqs[slot] = seq;
      this.dedupTs[slot] = now;
    }
    this.dedup.set(key, slot); // an expired entry of the same key is replaced; its old slot goes stale
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
