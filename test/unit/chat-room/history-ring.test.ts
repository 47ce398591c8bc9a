/**
 * HistoryRing (src/plugins/chat-room/engine/history-ring.ts): a room's
 * retained messages (PROTOCOL.md §3 "history", resume) as bytes in a ByteLog
 * plus typed-array columns. It must behave exactly like an array of the
 * newest `max` messages: `get(i)` rebuilds the i-th oldest as a `chat`
 * envelope — `from`, `id` (absent, not undefined, when the message had none),
 * `text` and `ts` exactly as pushed, lone surrogates included — with the
 * room and seq the caller gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChatEnvelope } from '../../../src/plugins/chat-room/engine/contract.js';
import { HistoryRing } from '../../../src/plugins/chat-room/engine/history-ring.js';
import type { ByteLog } from '../../../src/plugins/chat-room/engine/byte-log.js';

interface Msg {
  from: string;
  id: string | undefined;
  text: string;
  ts: number;
}

/** What get(i, room, seq) must return for `m`. */
function envelope(m: Msg, room: string, seq: number): ChatEnvelope {
  return m.id === undefined
    ? { type: 'chat', room, seq, from: m.from, text: m.text, ts: m.ts }
    : { type: 'chat', room, seq, id: m.id, from: m.from, text: m.text, ts: m.ts };
}

/** Checks the ring against the model: size, and every message with its exact keys. */
function check(ring: HistoryRing, model: Msg[], room = 'room'): void {
  expect(ring.size).toBe(model.length);
  for (let i = 0; i < model.length; i++) {
    const seq = 1000 + i;
    const env = ring.get(i, room, seq);
    const want = envelope(model[i]!, room, seq);
    expect(env).toEqual(want);
    expect('id' in env).toBe(model[i]!.id !== undefined);
    expect(Object.keys(env).sort()).toEqual(Object.keys(want).sort());
  }
  expect(() => ring.get(model.length, room, 0)).toThrow(RangeError);
  expect(() => ring.get(-1, room, 0)).toThrow(RangeError);
}

/** The ring's ByteLog (private), to check that bytes of dropped messages are freed. */
const bytesOf = (ring: HistoryRing): ByteLog => (ring as unknown as { bytes: ByteLog }).bytes;

// Any code point but a surrogate (fc.fullUnicodeString before fast-check 4).
const codePoint = fc.integer({ min: 0, max: 0x10ffff - 0x800 }).map((c) => String.fromCodePoint(c >= 0xd800 ? c + 0x800 : c));
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
/** Strings of every kind: ASCII, full Unicode, with lone surrogates, NUL, empty. */
const str = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 3, arbitrary: fc.string({ unit: codePoint, maxLength: 8 }) },
  { weight: 2, arbitrary: fc.string({ unit: fc.oneof(codePoint, loneSurrogate, fc.constantFrom('\0', 'a', '\ud800', '\udc00')), maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '\ud800', '\ud801', '\udfff', '😀', '\0', '\ufffd') },
);
const tsArb = fc.oneof(fc.nat({ max: 2 ** 48 }), fc.double());

type Op =
  | { k: 'push'; from: string; id: string | undefined; text: string; ts: number }
  | { k: 'long'; from: string; id: string | undefined; unit: string; ts: number }
  | { k: 'clear' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 40, arbitrary: fc.record({ k: fc.constant('push' as const), from: str, id: fc.option(str, { nil: undefined }), text: str, ts: tsArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('long' as const),
      from: str,
      id: fc.option(str, { nil: undefined }),
      unit: fc.string({ unit: fc.oneof(codePoint, loneSurrogate), minLength: 1, maxLength: 4 }),
      ts: tsArb,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ k: 'clear' as const }) },
);

/** A text over 64 KiB in every encoding: longer than a regular chunk. */
const longText = (unit: string) => unit.repeat(Math.ceil(70_000 / unit.length));

describe('HistoryRing: against an array model', () => {
  it('holds the newest max messages and rebuilds each one exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(opArb, { maxLength: 120 }), (max, ops) => {
        const ring = new HistoryRing(max);
        expect(ring.max).toBe(max);
        let model: Msg[] = [];
        check(ring, model);
        for (const op of ops) {
          if (op.k === 'clear') {
            ring.clear();
            model = [];
          } else {
            const m: Msg = { from: op.from, id: op.id, text: op.k === 'long' ? longText(op.unit) : op.text, ts: op.ts };
            ring.push(m.from, m.id, m.text, m.ts);
            model.push(m);
            if (model.length > max) model.shift();
          }
          check(ring, model);
        }
      }),
      { numRuns: 120 },
    );
  });
});

describe('HistoryRing: rules', () => {
  it('keeps the newest max messages across column growth and many wrap-arounds', () => {
    const ring = new HistoryRing(40); // columns grow 16 → 32 → 40, then the ring wraps
    const model: Msg[] = [];
    for (let n = 0; n < 1000; n++) {
      const m: Msg = { from: `u${n % 7}`, id: n % 3 === 0 ? undefined : `id-${n}`, text: `message ${n} ${'é'.repeat(n % 5)}`, ts: 1_700_000_000_000 + n };
      ring.push(m.from, m.id, m.text, m.ts);
      model.push(m);
      if (model.length > 40) model.shift();
      if (n < 60 || n % 97 === 0) check(ring, model);
    }
    check(ring, model);
    expect(ring.get(0, 'r', 1).text).toBe('message 960 ');
    expect(ring.get(39, 'r', 1).text).toBe('message 999 éééé');
  });

  it('echoes the room and seq it is given, not anything stored', () => {
    const ring = new HistoryRing(3);
    ring.push('alice', 'x', 'hi', 5);
    expect(ring.get(0, 'lobby', 42)).toEqual({ type: 'chat', room: 'lobby', seq: 42, id: 'x', from: 'alice', text: 'hi', ts: 5 });
    expect(ring.get(0, 'other', 7)).toEqual({ type: 'chat', room: 'other', seq: 7, id: 'x', from: 'alice', text: 'hi', ts: 5 });
  });

  it('tells an empty id from no id', () => {
    const ring = new HistoryRing(4);
    ring.push('a', '', 't', 1);
    ring.push('a', undefined, 't', 2);
    ring.push('', '', '', 3);
    ring.push('', undefined, '', 4);
    const envs = [0, 1, 2, 3].map((i) => ring.get(i, 'r', i));
    expect(envs.map((e) => 'id' in e)).toEqual([true, false, true, false]);
    expect(envs[0]!.id).toBe('');
    expect(envs[2]).toEqual({ type: 'chat', room: 'r', seq: 2, id: '', from: '', text: '', ts: 3 });
    expect(envs[3]).toEqual({ type: 'chat', room: 'r', seq: 3, from: '', text: '', ts: 4 });
  });

  it('keeps lone surrogates exact, in any field, next to UTF-8 records at odd offsets', () => {
    const ring = new HistoryRing(10);
    const msgs: Msg[] = [
      { from: 'a', id: 'b', text: 'c', ts: 1 }, // 3 UTF-8 bytes: the next record starts at an odd offset
      { from: '\ud800', id: undefined, text: 'z', ts: 2 },
      { from: 'x', id: '\udfff', text: 'y', ts: 3 },
      { from: 'x', id: 'y', text: 'lone \ud83d at the end\ud801', ts: 4 },
      { from: '😀', id: '\ud83d\ude00', text: '\ufffd', ts: 5 }, // well formed: UTF-8
      { from: 'é', id: 'é', text: 'é', ts: 6 },
    ];
    for (const m of msgs) ring.push(m.from, m.id, m.text, m.ts);
    check(ring, msgs);
    expect(ring.get(1, 'r', 0).from).not.toBe('\ud801');
    expect(ring.get(3, 'r', 0).text).not.toBe('lone \ufffd at the end\ufffd');
  });

  it('stores texts over 64 KiB, with and without lone surrogates, and frees their chunks when dropped', () => {
    const ring = new HistoryRing(3);
    const model: Msg[] = [];
    for (let n = 0; n < 12; n++) {
      const text = n % 2 === 0 ? `${n}:` + 'abcdé'.repeat(20_000) : `${n}:` + 'a\ud800'.repeat(40_000);
      const m: Msg = { from: `u${n}`, id: n % 3 === 0 ? undefined : `${n}`, text, ts: n };
      ring.push(m.from, m.id, m.text, m.ts);
      model.push(m);
      if (model.length > 3) model.shift();
      check(ring, model);
      expect(bytesOf(ring).chunkCount).toBeLessThanOrEqual(4);
    }
  });

  it('frees the bytes of dropped messages: a long-running ring holds at most two 64-KiB chunks', () => {
    const ring = new HistoryRing(50);
    for (let n = 0; n < 20_000; n++) ring.push('user', `id-${n}`, `message number ${n} with some padding text`, n);
    expect(bytesOf(ring).chunkCount).toBeLessThanOrEqual(2);
    expect(ring.get(0, 'r', 0).id).toBe('id-19950');
    expect(ring.get(49, 'r', 0).id).toBe('id-19999');
  });

  it('throws RangeError for an index outside [0, size)', () => {
    const ring = new HistoryRing(5);
    expect(() => ring.get(0, 'r', 1)).toThrow(RangeError);
    ring.push('a', undefined, 'b', 1);
    ring.push('a', undefined, 'c', 2);
    expect(ring.get(1, 'r', 1).text).toBe('c');
    for (const i of [-1, 2, 5, 100, Number.NaN, Infinity, -Infinity]) expect(() => ring.get(i, 'r', 1)).toThrow(RangeError);
  });

  it('with max = 1, keeps only the newest message', () => {
    const ring = new HistoryRing(1);
    expect(ring.size).toBe(0);
    for (let n = 0; n < 300; n++) {
      const id = n % 2 === 0 ? `${n}` : undefined;
      const text = n % 50 === 0 ? 'L'.repeat(70_000) + n : `t${n}\ud800`;
      ring.push(`f${n}`, id, text, n);
      expect(ring.size).toBe(1);
      check(ring, [{ from: `f${n}`, id, text, ts: n }]);
    }
    expect(bytesOf(ring).chunkCount).toBeLessThanOrEqual(2);
  });

  it('clear() drops every message and frees its bytes; the ring is usable afterwards', () => {
    const ring = new HistoryRing(20);
    for (let n = 0; n < 45; n++) ring.push('a', `${n}`, `text ${n}`, n);
    expect(ring.size).toBe(20);
    ring.clear();
    expect(ring.size).toBe(0);
    expect(bytesOf(ring).chunkCount).toBe(0);
    expect(() => ring.get(0, 'r', 1)).toThrow(RangeError);
    const model: Msg[] = [];
    for (let n = 0; n < 30; n++) {
      const m: Msg = { from: 'b', id: undefined, text: `again ${n}`, ts: n };
      ring.push(m.from, m.id, m.text, m.ts);
      model.push(m);
      if (model.length > 20) model.shift();
    }
    check(ring, model);
  });
});
