/**
 * What the load generator measures.
 *
 * - SeqTracker: one receiver's view of one room's seq stream (pure, no I/O),
 *   counting lost, duplicated and out-of-order deliveries, resume-aware.
 * - LatencyRecorder: an HDR histogram (hdr-histogram-js) of latencies,
 *   recorded in µs, summarised in ms.
 * - Stamps: the send time carried at the start of each chat text, so a probe
 *   can compute end-to-end latency (one process: performance.now() on both
 *   ends is the same clock).
 * - MetricsCollector: the run's counters and histograms.
 * - CpuMeter: this process's CPU use, % of one core.
 */
import hdr from 'hdr-histogram-js';
import type { LatencySummary } from './types.js';

// ------------------------------------------------------------------ seq tracking

/** Counts of one SeqTracker, or of several added up. */
export interface SeqCounts {
  /** Distinct seqs received (replays of seqs already held not included). */
  received: number;
  /** Seqs never received: holes left at the end, seqs up to the room's final seq not reached, holes of a dead epoch. */
  lost: number;
  /** Seqs received again outside a requested replay. */
  duplicated: number;
  /** Seqs received after a higher seq (they are not lost). */
  outOfOrder: number;
  /** Holes filled by the replay of a resume (since_seq below the hole). */
  filled: number;
  /** Replayed seqs the receiver already had (asked for by a since_seq below them; not duplicates). */
  replayed: number;
  /** Seqs the receiver chose not to see (a join without since_seq after a drop, or since_seq past them). */
  skipped: number;
  /** Times the room's epoch changed under the receiver (its stream restarted). */
  epochChanges: number;
}

/** An empty SeqCounts. */
export function emptyCounts(): SeqCounts {
  return { received: 0, lost: 0, duplicated: 0, outOfOrder: 0, filled: 0, replayed: 0, skipped: 0, epochChanges: 0 };
}

/** Adds `b` into `a` and returns `a`. */
export function addCounts(a: SeqCounts, b: SeqCounts): SeqCounts {
  a.received += b.received;
  a.lost += b.lost;
  a.duplicated += b.duplicated;
  a.outOfOrder += b.outOfOrder;
  a.filled += b.filled;
  a.replayed += b.replayed;
  a.skipped += b.skipped;
  a.epochChanges += b.epochChanges;
  return a;
}

/** `joined` as the tracker needs it (PROTOCOL.md §3). */
export interface JoinedSeq {
  /** The room's last seq when the join took effect. */
  seq: number;
  epoch: string;
  /** Present iff the join had since_seq. */
  recovered?: boolean;
}

/**
 * One receiver's check of one room's stream (PROTOCOL.md §3: every member
 * sees a room's chats in seq order, none missed after `joined.seq`, none
 * repeated; a resume replays since_seq < seq <= joined.seq).
 *
 * Feed it `joined` (with the since_seq the join asked for, if any) and every
 * chat's seq in arrival order; call `finish` with the room's final seq.
 *
 * - A seq above the next expected one opens a hole (the seqs skipped are
 *   *missing*); a missing seq that arrives later is *out of order*; a seq at
 *   or below the highest seen that is not missing is a *duplicate*.
 * - Resume: rejoin with `since_seq = resumeFrom` (the last seq before the
 *   first hole, else the highest seen) and the same epoch. The replay
 *   (since_seq, min(highest seen, joined.seq)] re-delivers seqs: a missing
 *   one is *filled*, one already held is *replayed* — neither is a
 *   duplicate. A replay seq at or below an earlier replay seq is a duplicate.
 *   Seqs after the replay continue the live stream as usual.
 * - A different epoch is a new stream: holes of the old one are lost for
 *   good, tracking restarts at the new `joined.seq`.
 * - A join without since_seq (or with one past what was seen) skips the seqs
 *   in between by choice: they are *skipped*, not lost.
 * - `finish(finalSeq)`: holes still open are lost, and so are seqs after the
 *   highest seen up to `finalSeq`.
 */
export class SeqTracker {
  /** Next seq expected in order (highest seen + 1); -1 before the first join. */
  private next = -1;
  private epochName: string | null = null;
  private readonly missing = new Set<number>();
  /** Open replay window of a resume: seqs in (replayLast, replayEnd] are expected again once. */
  private replayLast = 0;
  private replayEnd = 0;
  private lostOld = 0;
  private lostOverflow = 0;
  private readonly c: SeqCounts = emptyCounts();

  /** @param maxMissing most holes tracked one by one; beyond it they count as lost at once (memory bound) */
  constructor(private readonly maxMissing = 1_000_000) {}

  /** Epoch of the stream being tracked (null before the first join). */
  get epoch(): string | null {
    return this.epochName;
  }

  /** Highest seq seen (or the join point before any chat); -1 before the first join. */
  get lastSeen(): number {
    return this.next < 0 ? -1 : this.next - 1;
  }

  /** The since_seq to resume with: the last seq before the first hole, else the highest seen; -1 before the first join. */
  get resumeFrom(): number {
    if (this.missing.size === 0) return this.next < 0 ? -1 : this.next - 1;
    let low = Infinity;
    for (const s of this.missing) if (s < low) low = s;
    return low - 1;
  }

  /** Holes open now. */
  get missingNow(): number {
    return this.missing.size + this.lostOverflow;
  }

  /**
   * A `joined` for this room.
   * @param sinceSeq the since_seq the join sent (undefined: a plain join)
   */
  joined(j: JoinedSeq, sinceSeq?: number): void {
    this.replayLast = 0;
    this.replayEnd = 0;
    if (this.next < 0 || (this.epochName !== null && j.epoch !== this.epochName)) {
      if (this.next >= 0) {
        // The stream restarted: the old holes can never be filled.
        this.c.epochChanges++;
        this.lostOld += this.missing.size;
        this.missing.clear();
      }
      this.epochName = j.epoch;
      this.next = j.seq + 1;
      return;
    }
    if (sinceSeq === undefined) {
      if (j.seq + 1 > this.next) {
        this.c.skipped += j.seq + 1 - this.next;
        this.next = j.seq + 1;
      }
      return;
    }
    if (sinceSeq >= this.next) {
      // Asked to resume past what was seen: the seqs in between are skipped by choice.
      const to = Math.min(sinceSeq, j.seq);
      if (to >= this.next) {
        this.c.skipped += to + 1 - this.next;
        this.next = to + 1;
      }
      return;
    }
    if (sinceSeq < this.next - 1) {
      this.replayLast = sinceSeq;
      this.replayEnd = Math.min(this.next - 1, j.seq);
    }
  }

  /** One chat's seq, in arrival order. */
  observe(seq: number): void {
    if (seq === this.next) {
      this.next++;
      this.c.received++;
      this.replayEnd = 0;
      return;
    }
    if (seq > this.next) {
      this.c.received++;
      const holes = seq - this.next;
      if (this.missing.size + holes > this.maxMissing) this.lostOverflow += holes;
      else for (let s = this.next; s < seq; s++) this.missing.add(s);
      this.next = seq + 1;
      this.replayEnd = 0;
      return;
    }
    if (seq <= this.replayEnd && seq > this.replayLast) {
      this.replayLast = seq;
      if (this.missing.delete(seq)) {
        this.c.filled++;
        this.c.received++;
      } else this.c.replayed++;
      return;
    }
    if (this.missing.delete(seq)) {
      this.c.outOfOrder++;
      this.c.received++;
    } else this.c.duplicated++;
  }

  /**
   * The counts, with what is still missing counted as lost.
   * @param finalSeq the room's last seq at the end of the run (e.g. the highest
   *   acked seq); seqs after the highest seen up to it are lost too. Omit it for
   *   a receiver that was not connected at the end.
   */
  finish(finalSeq?: number): SeqCounts {
    const tail = finalSeq !== undefined && this.next >= 0 && finalSeq >= this.next ? finalSeq - this.next + 1 : 0;
    return { ...this.c, lost: this.missing.size + this.lostOld + this.lostOverflow + tail };
  }
}

// ------------------------------------------------------------------ stamps

/**
 * The prefix every load chat text starts with: `<sender>:<counter>:<ms>|`,
 * `ms` = performance.now() at the first send, 3 decimals. The text is padded
 * after it to the message size.
 */
export function makeStamp(sender: number, counter: number, nowMs: number): string {
  return `${sender}:${counter}:${nowMs.toFixed(3)}|`;
}

/** The send time (ms, performance.now() clock) in a stamped text; NaN when the text has no stamp. */
export function stampTime(text: string): number {
  const a = text.indexOf(':');
  if (a < 0) return NaN;
  const b = text.indexOf(':', a + 1);
  if (b < 0) return NaN;
  const e = text.indexOf('|', b + 1);
  if (e < 0) return NaN;
  return Number(text.slice(b + 1, e));
}

// ------------------------------------------------------------------ latency

/** Latencies in an HDR histogram: recorded in µs (1 µs … 1 h, 3 significant digits), summarised in ms. */
export class LatencyRecorder {
  private readonly h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });

  /** Records one latency in ms (negative values count as 0). */
  record(ms: number): void {
    this.h.recordValue(ms > 0 ? Math.round(ms * 1000) : 0);
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** The value at percentile `p` (0..100), ms; 0 when empty. */
  percentile(p: number): number {
    return this.h.totalCount === 0 ? 0 : this.h.getValueAtPercentile(p) / 1000;
  }

  /** p50 / p95 / p99 / max / mean in ms; all 0 when empty. */
  summary(): LatencySummary {
    const h = this.h;
    if (h.totalCount === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
    return {
      count: h.totalCount,
      p50: h.getValueAtPercentile(50) / 1000,
      p95: h.getValueAtPercentile(95) / 1000,
      p99: h.getValueAtPercentile(99) / 1000,
      max: h.maxValue / 1000,
      mean: h.mean / 1000,
    };
  }

  reset(): void {
    this.h.reset();
  }
}

// ------------------------------------------------------------------ the collector

/** Per-room delivery check after a run. */
export interface RoomReport {
  room: string;
  /** Members the load generator kept in it, and how many of them were probes. */
  clients: number;
  probes: number;
  /** Highest seq acked to a sender in this room (the room's final seq as far as the run knows). */
  final_seq: number;
  /** Probes' seq checks, added up. */
  seq: SeqCounts;
  /** Counting clients whose chat count did not reach final_seq, and those that counted past it. */
  counters_short: number;
  counters_over: number;
  /** Counting clients that could not be checked (not connected at the end, or a resume that was not recovered). */
  counters_unchecked: number;
}

/**
 * The run's counters and histograms. Send and ack counts are per message id
 * (a resend after a reconnect is not a second message). Latency samples are
 * kept for messages whose first send falls in the measured window
 * (`measureFrom`..`measureTo`, performance.now() ms); the `recent`
 * histogram takes every sample and is reset once a second for progress.
 */
export class MetricsCollector {
  /** Distinct messages handed to the server. */
  sent = 0;
  /** Distinct messages acknowledged. */
  acked = 0;
  /** Acks with `duplicate: true` (a resend the server had already accepted). */
  ackDuplicates = 0;
  /** Messages the server refused with an error naming their id (e.g. rate_limited). */
  refused = 0;
  /** Messages still unacknowledged when the drain ended. */
  unacked = 0;
  /** `error` envelopes received, by code. */
  readonly errorCodes = new Map<string, number>();
  errorEnvelopes = 0;
  /** Connect (TCP + welcome) or join attempts that failed. */
  connectFailures = 0;
  /** Connections closed by the server or the network (not by the load generator). */
  disconnects = 0;
  /** Successful resumes after a drop (planned or not). */
  reconnects = 0;
  /** Resumes answered `recovered: false`. */
  unrecovered = 0;
  /** `gap` envelopes received (slow-consumer policy drop). */
  gaps = 0;
  /** Why connections closed unexpectedly, by reason (first few kinds). */
  readonly disconnectReasons = new Map<string, number>();
  readonly e2e = new LatencyRecorder();
  readonly ack = new LatencyRecorder();
  readonly recent = new LatencyRecorder();
  measureFrom = Infinity;
  measureTo = Infinity;
  private readonly maxAcked = new Map<string, number>();

  /** A probe received a chat sent at `sentAt` (ms) at `now`. */
  recordE2e(sentAt: number, now: number): void {
    const ms = now - sentAt;
    this.recent.record(ms);
    if (sentAt >= this.measureFrom && sentAt <= this.measureTo) this.e2e.record(ms);
  }

  /** An ack for a message first sent at `sentAt`. */
  recordAck(sentAt: number, now: number, room: string, seq: number, duplicate: boolean): void {
    this.acked++;
    if (duplicate) this.ackDuplicates++;
    if (sentAt >= this.measureFrom && sentAt <= this.measureTo) this.ack.record(now - sentAt);
    if (seq > (this.maxAcked.get(room) ?? 0)) this.maxAcked.set(room, seq);
  }

  /** An error envelope. */
  recordError(code: string): void {
    this.errorEnvelopes++;
    this.errorCodes.set(code, (this.errorCodes.get(code) ?? 0) + 1);
  }

  /** An unexpected close. */
  recordDisconnect(reason: string): void {
    this.disconnects++;
    const key = reason.length > 80 ? `${reason.slice(0, 80)}…` : reason;
    if (this.disconnectReasons.size < 20 || this.disconnectReasons.has(key)) {
      this.disconnectReasons.set(key, (this.disconnectReasons.get(key) ?? 0) + 1);
    }
  }

  /** Highest acked seq of `room` (0 when none). */
  finalSeq(room: string): number {
    return this.maxAcked.get(room) ?? 0;
  }

  /**
   * Failures for `error_rate`: error envelopes, connect failures, unexpected
   * disconnects and messages never acknowledged (refused ones are already
   * error envelopes).
   */
  get failures(): number {
    return this.errorEnvelopes + this.connectFailures + this.disconnects + this.unacked;
  }
}

// ------------------------------------------------------------------ CPU

/** This process's CPU use (user + system) as % of one core between readings. */
export class CpuMeter {
  private last = process.cpuUsage();
  private lastAt = performance.now();

  /** % of one core since the previous call (or construction). */
  sample(): number {
    const now = performance.now();
    const d = process.cpuUsage(this.last);
    this.last = process.cpuUsage();
    const wall = now - this.lastAt;
    this.lastAt = now;
    return wall > 0 ? ((d.user + d.system) / 1000 / wall) * 100 : 0;
  }
}

/** Loadgen CPU above this share of one core counts as saturated (the rates may measure the generator). */
export const SATURATION_PCT = 85;
