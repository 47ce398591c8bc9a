/**
 * DedupWindow (src/plugins/chat-room/engine/dedup-window.ts): a room's dedup
 * window (PROTOCOL.md §3 "Join, resume, dedup") kept off the V8 heap. It must
 * behave exactly like a FIFO list of the `max` newest admitted
 * (identity, id, seq, ts) entries: a key is a fresh duplicate when the newest
 * entry for exactly that (identity, id) is younger than ttlMs — then admit
 * returns its slot, whose seqAt / tsAt are the original's, and nothing
 * changes; otherwise the key is appended as a new entry (an expired entry of
 * the same key stays in the list until it is the oldest) and admit returns -1.
 * Keys are compared as exact UTF-16 code-unit strings: NUL, lone surrogates,
 * the identity/id boundary and the UTF-8 / UTF-16LE choice never make two
 * different pairs one key.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ByteLog } from '../../../src/plugins/chat-room/engine/byte-log.js';
import { DedupWindow } from '../../../src/plugins/chat-room/engine/dedup-window.js';

interface Entry {
  identity: string;
  id: string;
  seq: number;
  ts: number;
}

/** The reference: a plain array, oldest first, of the newest `max` admitted entries. */
class Model {
  entries: Entry[] = [];

  constructor(
    readonly max: number,
    readonly ttl: number,
  ) {}

  /** The fresh entry for the key, or null after remembering it as new. */
  admit(identity: string, id: string, seq: number, now: number): Entry | null {
    for (let j = this.entries.length - 1; j >= 0; j--) {
      const e = this.entries[j]!;
      if (e.identity === identity && e.id === id) {
        if (now - e.ts < this.ttl) return e;
        break; // only the newest entry of a key counts
      }
    }
    this.entries.push({ identity, id, seq, ts: now });
    if (this.entries.length > this.max) this.entries.shift();
    return null;
  }
}

/** Admits on both and checks they agree. */
function admitBoth(w: DedupWindow, m: Model, identity: string, id: string, seq: number, now: number): number {
  const slot = w.admit(identity, id, seq, now);
  const want = m.admit(identity, id, seq, now);
  const label = JSON.stringify({ identity, id, seq, now });
  if (want === null) {
    expect(slot, label).toBe(-1);
  } else {
    expect(slot, label).toBeGreaterThanOrEqual(0);
    expect(w.seqAt(slot), label).toBe(want.seq);
    expect(w.tsAt(slot), label).toBe(want.ts);
  }
  expect(w.size).toBe(m.entries.length);
  return slot;
}

/** The window's ByteLog (private), to check that bytes of forgotten keys are freed. */
const bytesOf = (w: DedupWindow): ByteLog => (w as unknown as { bytes: ByteLog }).bytes;

/** Identities that are easy to confuse with each other or with ids. */
const IDENTITIES = ['', 'a', 'b', 'ab', 'a\0b', 'a\0', '\0', '\ud800', '\ud801', '\udc00', '\ufffd', '😀', '\ud83d', 'é', 'e\u0301', '\u80c3', 'À'];
// The long ones put keys on both sides of the 64-byte line between admit's two ways of copying a key.
const IDS = ['', 'c', 'bc', 'b\0c', '\0', '\0c', '\ud800', '\ud801', '\ufffd', '😀', '\ude00', 'A\u0700A', '\udc41\u4180', 'x', 'x'.repeat(59), 'x'.repeat(60), 'é'.repeat(40), 'y'.repeat(100)];
const smallUnit = fc.constantFrom('a', 'b', '\0', '\ud800', '\ud801', '\udc00', 'é', '😀');
const identityArb = fc.oneof(fc.constantFrom(...IDENTITIES), fc.string({ unit: smallUnit, maxLength: 3 }));
const idArb = fc.oneof(fc.constantFrom(...IDS), fc.string({ unit: smallUnit, maxLength: 3 }));

type Op = { k: 'admit'; identity: string; id: string; dt: number } | { k: 'clear' };

describe('DedupWindow: against a FIFO list model', () => {
  it('agrees on every admit, seqAt, tsAt and size, with small windows, repeats and expiry', () => {
    const scenario = fc.record({
      max: fc.integer({ min: 1, max: 40 }),
      ttl: fc.integer({ min: 1, max: 30 }),
      ops: fc.array(
        fc.oneof(
          { weight: 60, arbitrary: fc.record({ k: fc.constant('admit' as const), identity: identityArb, id: idArb, dt: fc.oneof(fc.constant(0), fc.nat(3), fc.nat(40)) }) },
          { weight: 1, arbitrary: fc.constant({ k: 'clear' as const }) },
        ),
        { maxLength: 300 },
      ),
    });
    fc.assert(
      fc.property(scenario, ({ max, ttl, ops }) => {
        const w = new DedupWindow(max, ttl);
        let m = new Model(max, ttl);
        let now = 1_700_000_000_000;
        let seq = 0;
        for (const op of ops) {
          if (op.k === 'clear') {
            w.clear();
            m = new Model(max, ttl);
            expect(w.size).toBe(0);
            continue;
          }
          now += op.dt;
          admitBoth(w, m, op.identity, op.id, ++seq, now);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('agrees through table growth, many evictions and backward shifts, with larger windows', () => {
    const scenario = fc.record({
      max: fc.integer({ min: 17, max: 600 }),
      ttl: fc.integer({ min: 50, max: 5000 }),
      spread: fc.integer({ min: 1, max: 4 }),
      ops: fc.array(fc.record({ user: fc.nat(5), n: fc.nat(2000), dt: fc.nat(10) }), { minLength: 200, maxLength: 2500 }),
    });
    fc.assert(
      fc.property(scenario, ({ max, ttl, spread, ops }) => {
        const w = new DedupWindow(max, ttl);
        const m = new Model(max, ttl);
        let now = 0;
        let seq = 0;
        for (const op of ops) {
          now += op.dt;
          // Ids from a pool about `spread` times the window, so keys both repeat and fall out.
          admitBoth(w, m, `u${op.user}`, `${op.n % (max * spread)}`, ++seq, now);
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('DedupWindow: rules', () => {
  it('recognises a repeat within ttl and returns the original seq and ts, changing nothing', () => {
    const w = new DedupWindow(10, 1000);
    expect(w.admit('alice', 'm1', 1, 5000)).toBe(-1);
    expect(w.admit('alice', 'm2', 2, 5001)).toBe(-1);
    const hit = w.admit('alice', 'm1', 3, 5500);
    expect(hit).toBeGreaterThanOrEqual(0);
    expect(w.seqAt(hit)).toBe(1);
    expect(w.tsAt(hit)).toBe(5000);
    expect(w.size).toBe(2);
    const again = w.admit('alice', 'm1', 4, 5999);
    expect(again).toBe(hit);
    expect(w.seqAt(again)).toBe(1);
    expect(w.tsAt(again)).toBe(5000);
    const m2 = w.admit('alice', 'm2', 5, 5999);
    expect(w.seqAt(m2)).toBe(2);
    expect(w.tsAt(m2)).toBe(5001);
    expect(w.size).toBe(2);
  });

  it('forgets a key exactly ttlMs after it was admitted, not after its last repeat', () => {
    const w = new DedupWindow(10, 100);
    expect(w.admit('u', 'k', 1, 0)).toBe(-1);
    expect(w.admit('u', 'k', 2, 60)).toBeGreaterThanOrEqual(0); // a hit does not refresh
    expect(w.admit('u', 'k', 3, 99)).toBeGreaterThanOrEqual(0);
    expect(w.admit('u', 'k', 4, 100)).toBe(-1); // 100 - 0 is not < 100: expired, admitted anew
    expect(w.size).toBe(2); // the expired entry still takes its place in the window
    const hit = w.admit('u', 'k', 5, 150);
    expect(w.seqAt(hit)).toBe(4);
    expect(w.tsAt(hit)).toBe(100);
  });

  it('is a FIFO of the newest max keys, not least recently used', () => {
    const w = new DedupWindow(2, 1e9);
    w.admit('u', 'A', 1, 0);
    w.admit('u', 'B', 2, 0);
    expect(w.admit('u', 'A', 3, 1)).toBeGreaterThanOrEqual(0); // a repeat does not make A newer
    expect(w.admit('u', 'C', 4, 2)).toBe(-1); // evicts A, the oldest
    expect(w.size).toBe(2);
    expect(w.seqAt(w.admit('u', 'B', 5, 3))).toBe(2);
    expect(w.seqAt(w.admit('u', 'C', 6, 3))).toBe(4);
    expect(w.admit('u', 'A', 7, 3)).toBe(-1); // forgotten; now evicts B
    expect(w.admit('u', 'B', 8, 3)).toBe(-1);
  });

  it('keeps an expired entry in its place until it is the oldest, and the newer entry after that', () => {
    const w = new DedupWindow(3, 10);
    w.admit('u', 'A', 1, 0);
    expect(w.admit('u', 'A', 2, 10)).toBe(-1); // expired: a second A entry
    w.admit('u', 'B', 3, 11); // window: A(1) A(2) B
    w.admit('u', 'C', 4, 12); // evicts A(1): A(2) B C
    expect(w.size).toBe(3);
    expect(w.seqAt(w.admit('u', 'A', 5, 13))).toBe(2);
    w.admit('u', 'D', 6, 14); // evicts A(2): B C D
    expect(w.seqAt(w.admit('u', 'B', 7, 15))).toBe(3);
    expect(w.admit('u', 'A', 8, 15)).toBe(-1);
  });

  it('never confuses pairs that naive concatenation would join into the same string', () => {
    const w = new DedupWindow(100, 1e9);
    const pairs: [string, string][] = [
      ['a\0b', 'c'],
      ['a', 'b\0c'],
      ['a\0', 'b\0c'],
      ['a\0b\0', 'c'],
      ['ab', 'c'],
      ['a', 'bc'],
      ['', 'abc'],
      ['abc', ''],
      ['', ''],
      ['\0', ''],
      ['', '\0'],
      ['\u0003', 'abc'], // the identity's length prefix is 3 for 'abc'
    ];
    pairs.forEach(([identity, id], i) => expect(w.admit(identity, id, i + 1, 0), JSON.stringify([identity, id])).toBe(-1));
    pairs.forEach(([identity, id], i) => expect(w.seqAt(w.admit(identity, id, 999, 1))).toBe(i + 1));
    expect(w.size).toBe(pairs.length);
  });

  it('tells lone surrogates apart from each other, from U+FFFD and from proper pairs', () => {
    const w = new DedupWindow(100, 1e9);
    const keys: [string, string][] = [
      ['\ud800', 'x'],
      ['\ud801', 'x'],
      ['\ufffd', 'x'],
      ['x', '\ud800'],
      ['x', '\ud801'],
      ['x', '\udc00'],
      ['x', '\ufffd'],
      ['\ud83d', '\ude00'],
      ['\ud83d\ude00', ''],
      ['', '\ud83d\ude00'],
      ['😀', 'x'],
      ['\ud83d', 'x'],
      ['\ude00\ud83d', 'x'],
      ['x', '\ud800\ud800'],
      ['x', '\ufffd\ufffd'],
    ];
    keys.forEach(([identity, id], i) => expect(w.admit(identity, id, i + 1, 0), JSON.stringify([identity, id])).toBe(-1));
    keys.forEach(([identity, id], i) => expect(w.seqAt(w.admit(identity, id, 999, 1))).toBe(i + 1));
  });

  it('keeps a UTF-16LE key apart from a UTF-8 key with the same bytes', () => {
    // ('\u80c3', '\udc41\u4180') as UTF-16LE and ('À', 'A\u0700A') as UTF-8 are both
    // 02 00 00 00 c3 80 41 dc 80 41.
    expect(Buffer.from('\u80c3', 'utf16le').equals(Buffer.from('À', 'utf8'))).toBe(true);
    expect(Buffer.from('\udc41\u4180', 'utf16le').equals(Buffer.from('A\u0700A', 'utf8'))).toBe(true);
    const w = new DedupWindow(10, 1e9);
    expect(w.admit('\u80c3', '\udc41\u4180', 1, 0)).toBe(-1);
    expect(w.admit('À', 'A\u0700A', 2, 0)).toBe(-1);
    expect(w.seqAt(w.admit('\u80c3', '\udc41\u4180', 3, 0))).toBe(1);
    expect(w.seqAt(w.admit('À', 'A\u0700A', 3, 0))).toBe(2);
  });

  it('recognises keys longer than 64 KiB and tells apart ones differing in their last unit', () => {
    const w = new DedupWindow(4, 1e9);
    const big = 'x'.repeat(70_000);
    expect(w.admit(big, big, 1, 0)).toBe(-1);
    expect(w.admit(big, big + 'y', 2, 0)).toBe(-1);
    expect(w.admit(big + '\ud800', big, 3, 0)).toBe(-1);
    expect(w.admit(big + '\ud801', big, 4, 0)).toBe(-1);
    expect(w.seqAt(w.admit(big, big, 9, 0))).toBe(1);
    expect(w.seqAt(w.admit(big, big + 'y', 9, 0))).toBe(2);
    expect(w.seqAt(w.admit(big + '\ud800', big, 9, 0))).toBe(3);
    expect(w.seqAt(w.admit(big + '\ud801', big, 9, 0))).toBe(4);
    for (let i = 0; i < 20; i++) w.admit('small', `${i}`, 10 + i, 0);
    expect(w.admit(big, big, 99, 0)).toBe(-1); // forgotten...
    expect(bytesOf(w).chunkCount).toBeLessThanOrEqual(3); // ...and its bytes freed
  });

  it('grows its table through many doublings: of 25,000 keys the newest 10,000 are recognised, the rest forgotten', () => {
    const w = new DedupWindow(10_000, 5 * 60_000);
    const t0 = 1_700_000_000_000;
    const key = (i: number): [string, string] => [`user-${i % 13}`, `msg-${i}`];
    for (let i = 0; i < 25_000; i++) {
      const slot = w.admit(...key(i), i + 1, t0 + (i >> 4));
      if (slot !== -1) expect.fail(`new key ${i} taken for a duplicate of seq ${w.seqAt(slot)}`);
    }
    expect(w.size).toBe(10_000);
    for (let i = 15_000; i < 25_000; i++) {
      const slot = w.admit(...key(i), -1, t0 + 2000);
      if (slot < 0 || w.seqAt(slot) !== i + 1 || w.tsAt(slot) !== t0 + (i >> 4)) {
        expect.fail(`key ${i}: slot ${slot}, seq ${slot >= 0 ? w.seqAt(slot) : '-'}`);
      }
    }
    expect(w.size).toBe(10_000);
    // Checking in ascending order: each re-admit evicts a key ≥ 15,000, never one checked later.
    for (const i of [0, 1, 777, 5000, 9999, 10_000, 14_998, 14_999]) expect(w.admit(...key(i), 0, t0 + 2000)).toBe(-1);
    expect(w.size).toBe(10_000);
    // About 10,000 keys of ~15 bytes: a few chunks, not the 25,000 keys' worth.
    expect(bytesOf(w).chunkCount).toBeLessThanOrEqual(5);
  });

  it('with max = 1, remembers only the newest key', () => {
    const w = new DedupWindow(1, 1e9);
    expect(w.admit('u', 'a', 1, 0)).toBe(-1);
    expect(w.seqAt(w.admit('u', 'a', 2, 0))).toBe(1);
    expect(w.admit('u', 'b', 3, 0)).toBe(-1);
    expect(w.admit('u', 'a', 4, 0)).toBe(-1);
    expect(w.admit('u', 'b', 5, 0)).toBe(-1);
    expect(w.seqAt(w.admit('u', 'b', 6, 0))).toBe(5);
    expect(w.size).toBe(1);
    for (let i = 0; i < 2000; i++) w.admit('u', `${i}`, i, 0);
    expect(bytesOf(w).chunkCount).toBe(1);
  });

  it('clear() forgets every key and frees its bytes; the window is usable afterwards', () => {
    const w = new DedupWindow(50, 1e9);
    for (let i = 0; i < 80; i++) w.admit('u', `${i}`, i, 0);
    w.clear();
    expect(w.size).toBe(0);
    expect(bytesOf(w).chunkCount).toBe(0);
    for (let i = 0; i < 80; i++) expect(w.admit('u', `${i}`, 100 + i, 1)).toBe(-1);
    expect(w.size).toBe(50);
    expect(w.seqAt(w.admit('u', '79', 0, 2))).toBe(179);
    expect(w.admit('u', '29', 0, 2)).toBe(-1);
  });

  it('keeps windows independent of each other (they share one encoding buffer)', () => {
    const a = new DedupWindow(5, 1e9);
    const b = new DedupWindow(5, 1e9);
    const ma = new Model(5, 1e9);
    const mb = new Model(5, 1e9);
    for (let i = 0; i < 200; i++) {
      const id = `${(i * 7) % 9}`;
      if (i % 3 === 0) admitBoth(b, mb, 'u', id, i, i);
      else admitBoth(a, ma, 'u', id + (i % 2 === 0 ? '\ud800' : ''), i, i);
    }
  });
});
