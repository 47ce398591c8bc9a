import { describe, expect, it } from 'vitest';
import { LatencyRecorder, makeStamp, MetricsCollector, SeqTracker, stampTime } from '../../../src/loadgen/metrics.js';

/** Feeds a seq stream to a fresh tracker joined at `joinedSeq`. */
function track(seqs: number[], joinedSeq = 0, epoch = 'e1'): SeqTracker {
  const t = new SeqTracker();
  t.joined({ seq: joinedSeq, epoch });
  for (const s of seqs) t.observe(s);
  return t;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('LatencyRecorder (hdr-histogram-js)', () => {
  it('gives percentiles of a uniform 1..1000 ms spread within 0.1 %', () => {
    const r = new LatencyRecorder();
    for (let ms = 1; ms <= 1000; ms++) r.record(ms);
    const s = r.summary();
    expect(s.count).toBe(1000);
    expect(s.p50).toBeCloseTo(500, -0.3);
    expect(Math.abs(s.p50 - 500) / 500).toBeLessThan(0.001);
    expect(Math.abs(s.p95 - 950) / 950).toBeLessThan(0.001);
    expect(Math.abs(s.p99 - 990) / 990).toBeLessThan(0.001);
    expect(Math.abs(s.max - 1000) / 1000).toBeLessThan(0.001);
    expect(Math.abs(s.mean - 500.5) / 500.5).toBeLessThan(0.001);
  });

  it('keeps sub-millisecond resolution (recorded in µs)', () => {
    const r = new LatencyRecorder();
    for (let i = 0; i < 99; i++) r.record(0.25);
    r.record(7.5);
    expect(r.percentile(50)).toBeCloseTo(0.25, 3);
    expect(r.summary().max).toBeCloseTo(7.5, 2);
  });

  it('is all zeros when empty, and after reset', () => {
    const r = new LatencyRecorder();
    expect(r.summary()).toEqual({ count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
    r.record(3);
    r.reset();
    expect(r.count).toBe(0);
    expect(r.percentile(99)).toBe(0);
  });

  it('counts a negative latency as 0', () => {
    const r = new LatencyRecorder();
    r.record(-5);
    expect(r.summary().max).toBe(0);
  });
});

describe('stamps', () => {
  it('round-trips the send time through the text prefix', () => {
    const text = `${makeStamp(12, 345, 1234.5678)}xxxxxxxx`;
    expect(text.startsWith('12:345:1234.568|')).toBe(true);
    expect(stampTime(text)).toBeCloseTo(1234.568, 3);
  });

  it('is NaN for a text without a stamp', () => {
    expect(stampTime('hello')).toBeNaN();
    expect(stampTime('a:b')).toBeNaN();
    expect(stampTime('a:b:c')).toBeNaN();
  });
});

describe('MetricsCollector', () => {
  it('keeps latency samples of messages sent in the measured window only', () => {
    const m = new MetricsCollector();
    m.measureFrom = 100;
    m.measureTo = 200;
    m.recordE2e(50, 60); // before
    m.recordE2e(150, 155); // in
    m.recordE2e(250, 251); // after
    expect(m.e2e.count).toBe(1);
    expect(m.recent.count).toBe(3);
    m.recordAck(120, 130, 'r', 7, false);
    m.recordAck(90, 130, 'r', 5, true);
    expect(m.ack.count).toBe(1);
    expect(m.acked).toBe(2);
    expect(m.ackDuplicates).toBe(1);
    expect(m.finalSeq('r')).toBe(7);
    expect(m.finalSeq('other')).toBe(0);
  });

  it('counts failures for error_rate', () => {
    const m = new MetricsCollector();
    m.recordError('rate_limited');
    m.recordError('rate_limited');
    m.connectFailures = 1;
    m.recordDisconnect('fatal slow_consumer: …');
    m.unacked = 3;
    expect(m.failures).toBe(2 + 1 + 1 + 3);
    expect(m.errorCodes.get('rate_limited')).toBe(2);
  });
});

describe('SeqTracker', () => {
  it('accepts an in-order stream after the join point', () => {
    const c = track(range(11, 20), 10).finish(20);
    expect(c).toMatchObject({ received: 10, lost: 0, duplicated: 0, outOfOrder: 0 });
  });

  it('counts a gap as lost', () => {
    const c = track([1, 2, 4, 5, 8]).finish(8);
    expect(c).toMatchObject({ received: 5, lost: 3, duplicated: 0, outOfOrder: 0 });
  });

  it('counts seqs after the last one seen, up to the final seq, as lost', () => {
    expect(track([1, 2, 3]).finish(5).lost).toBe(2);
    // Without a final seq (receiver not connected at the end) the tail is not judged.
    expect(track([1, 2, 3]).finish().lost).toBe(0);
    // A final seq below what was seen (chats from outside the run) is no loss.
    expect(track([1, 2, 3]).finish(2).lost).toBe(0);
  });

  it('counts repeats as duplicates', () => {
    const c = track([1, 2, 2, 3, 1, 3]).finish(3);
    expect(c).toMatchObject({ received: 3, lost: 0, duplicated: 3, outOfOrder: 0 });
  });

  it('counts a late seq as out of order, not lost', () => {
    const c = track([1, 3, 2, 4, 7, 5, 6]).finish(7);
    expect(c).toMatchObject({ received: 7, lost: 0, duplicated: 0, outOfOrder: 3 });
  });

  it('counts a seq at or before the join point as a duplicate (join is a clean cut)', () => {
    const c = track([10, 11, 12], 10).finish(12);
    expect(c).toMatchObject({ received: 2, duplicated: 1 });
  });

  it('a late seq that arrives twice is out of order once, then a duplicate', () => {
    const c = track([1, 3, 2, 2]).finish(3);
    expect(c).toMatchObject({ outOfOrder: 1, duplicated: 1, lost: 0 });
  });

  it('resumes with since_seq: the replay continues the stream, no duplicates, no loss', () => {
    const t = new SeqTracker();
    t.joined({ seq: 0, epoch: 'e1' });
    for (const s of range(1, 5)) t.observe(s);
    expect(t.resumeFrom).toBe(5);
    // Dropped; the room moved on to 9. Rejoin with since_seq 5 and the epoch.
    t.joined({ seq: 9, epoch: 'e1', recovered: true }, 5);
    for (const s of range(6, 12)) t.observe(s); // replay 6..9, then live 10..12
    expect(t.finish(12)).toMatchObject({ received: 12, lost: 0, duplicated: 0, outOfOrder: 0, replayed: 0, filled: 0 });
  });

  it('resumes from before a hole: the replay fills it, seqs already held are not duplicates', () => {
    const t = new SeqTracker();
    t.joined({ seq: 0, epoch: 'e1' });
    for (const s of [1, 2, 4, 5]) t.observe(s);
    expect(t.resumeFrom).toBe(2);
    t.joined({ seq: 6, epoch: 'e1', recovered: true }, t.resumeFrom);
    for (const s of [3, 4, 5, 6, 7]) t.observe(s); // replay 3..6, live 7
    expect(t.finish(7)).toMatchObject({ received: 7, lost: 0, duplicated: 0, outOfOrder: 0, filled: 1, replayed: 2 });
  });

  it('still sees a duplicate inside a replay', () => {
    const t = track([1, 2, 4]);
    t.joined({ seq: 4, epoch: 'e1', recovered: true }, 2);
    for (const s of [3, 3, 4, 5]) t.observe(s);
    expect(t.finish(5)).toMatchObject({ filled: 1, replayed: 1, duplicated: 1, lost: 0 });
  });

  it('a resume that could not recover (retention) leaves the missing seqs lost', () => {
    const t = track(range(1, 5));
    // Only 11..20 are still retained: recovered false, the replay starts at 11.
    t.joined({ seq: 20, epoch: 'e1', recovered: false }, 5);
    for (const s of range(11, 21)) t.observe(s);
    expect(t.finish(21)).toMatchObject({ lost: 5, duplicated: 0, outOfOrder: 0 });
  });

  it('a new epoch restarts tracking; holes of the old stream are lost', () => {
    const t = track([1, 2, 4]);
    t.joined({ seq: 0, epoch: 'e2', recovered: false }, 4);
    expect(t.epoch).toBe('e2');
    for (const s of [1, 2, 3]) t.observe(s);
    expect(t.finish(3)).toMatchObject({ lost: 1, duplicated: 0, outOfOrder: 0, epochChanges: 1, received: 6 });
  });

  it('a plain rejoin skips what happened meanwhile (skipped, not lost)', () => {
    const t = track([1, 2, 3]);
    t.joined({ seq: 8, epoch: 'e1' });
    for (const s of [9, 10]) t.observe(s);
    expect(t.finish(10)).toMatchObject({ lost: 0, skipped: 5, duplicated: 0 });
  });

  it('bounds the holes it tracks one by one', () => {
    const t = new SeqTracker(10);
    t.joined({ seq: 0, epoch: 'e' });
    t.observe(1);
    t.observe(1000);
    expect(t.missingNow).toBe(998);
    t.observe(500); // not tracked any more: counted as a duplicate rather than remembered
    expect(t.finish(1000).lost).toBe(998);
  });

  it('lastSeen is the highest seq seen, or the join point', () => {
    const t = new SeqTracker();
    expect(t.lastSeen).toBe(-1);
    t.joined({ seq: 41, epoch: 'e' });
    expect(t.lastSeen).toBe(41);
    t.observe(42);
    t.observe(45);
    expect(t.lastSeen).toBe(45);
    expect(t.resumeFrom).toBe(42);
  });
});
