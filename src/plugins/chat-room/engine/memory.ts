/**
 * In-memory RoomEngine: one RoomLog per room (history ring and dedup window,
 * both off the V8 heap), evicted `room_idle_ms` after its last subscriber
 * left. Synchronous throughout.
 */
import type { AppendInput, AppendResult, RangeResult, RoomEngine, RoomInfo, RoomListener } from './contract.js';
import { RoomLog } from './room-log.js';

/** Options of the in-memory engine. */
export interface MemoryEngineOptions {
  /** Messages retained per room (`history_per_room`). */
  retain: number;
  /** How long a room with no subscriber lives, ms (`room_idle_ms`). */
  idleMs: number;
}

interface Room {
  log: RoomLog;
  listeners: Set<RoomListener>;
  /** Date.now() when the last listener left, or 0 while it has listeners. */
  idleSince: number;
}

/** The in-memory engine. */
export class MemoryRoomEngine implements RoomEngine {
  private readonly rooms = new Map<string, Room>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: MemoryEngineOptions) {
    this.timer = setInterval(() => this.evict(Date.now()), Math.max(50, Math.min(options.idleMs / 2, 10_000)));
    this.timer.unref();
  }

  get size(): number {
    return this.rooms.size;
  }

  private room(name: string): Room {
    let r = this.rooms.get(name);
    if (!r) {
      r = { log: new RoomLog(name, this.options.retain), listeners: new Set(), idleSince: Date.now() };
      this.rooms.set(name, r);
    }
    return r;
  }

  append(room: string, input: AppendInput, now: number): AppendResult {
    const r = this.room(room);
    const res = r.log.append(input.from, input.dedupKey, input.text, input.id, now);
    if (res.message) for (const l of r.listeners) l(res.message, input.origin);
    return { seq: res.seq, ts: res.ts, duplicate: res.duplicate };
  }

  range(room: string, afterSeq: number, uptoSeq: number, limit: number, fromNewest = false): RangeResult {
    const { log } = this.room(room);
    const hi = Math.min(uptoSeq, log.seq);
    // The window asked for: the first / last `limit` seqs of (afterSeq, hi].
    const lo = fromNewest ? Math.max(afterSeq, hi - limit) : afterSeq;
    const top = fromNewest ? hi : Math.min(hi, afterSeq + limit);
    return { epoch: log.epoch, messages: log.range(afterSeq, hi, limit, fromNewest), recovered: log.covers(lo, top) };
  }

  info(room: string): RoomInfo {
    const { log } = this.room(room);
    return { epoch: log.epoch, lastSeq: log.seq };
  }

  lastSeq(room: string): number {
    return this.rooms.get(room)?.log.seq ?? 0;
  }

  subscribe(room: string, listener: RoomListener): void {
    const r = this.room(room);
    r.listeners.add(listener);
    r.idleSince = 0;
  }

  unsubscribe(room: string, listener: RoomListener): void {
    const r = this.rooms.get(room);
    if (!r || !r.listeners.delete(listener)) return;
    if (r.listeners.size === 0) r.idleSince = Date.now();
  }

  /** Drops rooms idle for `idleMs`; exposed for tests. */
  evict(now: number): void {
    for (const [name, r] of this.rooms) {
      if (r.listeners.size === 0 && now - r.idleSince >= this.options.idleMs) {
        this.rooms.delete(name);
        r.log.dispose();
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const r of this.rooms.values()) r.log.dispose();
    this.rooms.clear();
  }
}
