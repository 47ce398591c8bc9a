/**
 * What a room remembers (PROTOCOL.md §3 "Join, resume, dedup"): its seq
 * counter, epoch, retained messages and dedup window. Lives from the room's
 * first join until it has been empty for `room_idle_ms`.
 */
import { randomBytes } from 'node:crypto';
import type { ChatEnvelope } from './contract.js';
import { DedupWindow } from './dedup-window.js';
import { HistoryRing } from './history-ring.js';

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
  // Both are kept off the V8 heap (byte-log.ts says why).
  private readonly history: HistoryRing;
  private readonly dedup = new DedupWindow(DEDUP_MAX_IDS, DEDUP_TTL_MS);

  /**
   * @param room the room's name
   * @param retain messages kept for history and resume (`history_per_room`)
   */
  constructor(
    readonly room: string,
    retain: number,
  ) {
    this.history = new HistoryRing(retain);
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
    if (id !== undefined) {
      const hit = this.dedup.admit(dedupKey, id, this.seq + 1, now);
      if (hit >= 0) return { seq: this.dedup.seqAt(hit), ts: this.dedup.tsAt(hit), duplicate: true, message: null };
    }
    const seq = ++this.seq;
    this.history.push(from, id, text, now);
    const message: ChatEnvelope = id === undefined
      ? { type: 'chat', room: this.room, seq, from, text, ts: now }
      : { type: 'chat', room: this.room, seq, id, from, text, ts: now };
    return { seq, ts: now, duplicate: false, message };
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
    for (let s = first; s <= last; s++) out.push(this.history.get(s - base, this.room, s));
    return out;
  }

  /** Frees the retained messages and ids (the room is being dropped). */
  dispose(): void {
    this.history.clear();
    this.dedup.clear();
  }

  /** True when every message with afterSeq < seq <= uptoSeq is still retained. */
  covers(afterSeq: number, uptoSeq: number): boolean {
    return afterSeq >= uptoSeq || afterSeq + 1 >= this.oldestSeq;
  }
}
