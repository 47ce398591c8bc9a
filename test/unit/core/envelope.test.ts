/**
 * Envelope decoding and field rules (PROTOCOL.md §3) and reply cutting (§2).
 */
import { describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  encodeFrame,
  encodeLine,
  fitToFrame,
  optionalInt,
  optionalString,
  roomField,
  textField,
  type Envelope,
} from '../../../src/core/envelope.js';
import { ProtocolError, type WireErrorCode } from '../../../src/core/errors.js';
import { NativeScanner } from '../../../src/services/frame-scan/baseline.js';

const scanner = new NativeScanner();
const alloc = (n: number) => Buffer.alloc(n);

function codeOf(fn: () => unknown): WireErrorCode | 'no error' {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return (err as ProtocolError).code;
  }
  return 'no error';
}

const env = (fields: Record<string, unknown>): Envelope => ({ type: 't', ...fields });

describe('decodeEnvelope', () => {
  it('decodes an object with a string type, keeping unknown fields', () => {
    expect(decodeEnvelope(Buffer.from('{"type":"ping","t":[1],"x":null}'), scanner)).toEqual({ type: 'ping', t: [1], x: null });
    expect(decodeEnvelope(Buffer.from('  {"type":"é"}  '), scanner)).toEqual({ type: 'é' });
  });

  it.each([
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x74, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
    ['a lone continuation byte', Buffer.from([0x7b, 0x7d, 0x80])],
    ['an overlong encoding', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d])],
    ['a UTF-8-encoded surrogate', Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22])],
    ['a truncated sequence', Buffer.from([0x7b, 0xe2, 0x82])],
  ])('bad_json for %s', (_name, body) => {
    expect(codeOf(() => decodeEnvelope(body, scanner))).toBe('bad_json');
  });

  it.each(['', ' ', '{', '{"type":"x",}', "{'type':'x'}", 'type=x', '{"type":"x"}{}', 'NaN'])('bad_json for non-JSON %j', (s) => {
    expect(codeOf(() => decodeEnvelope(Buffer.from(s), scanner))).toBe('bad_json');
  });

  it.each(['null', '[]', '[{"type":"x"}]', '"type"', '1', 'true'])('bad_json for non-object %s', (s) => {
    expect(codeOf(() => decodeEnvelope(Buffer.from(s), scanner))).toBe('bad_json');
  });

  it.each(['{}', '{"Type":"x"}', '{"type":1}', '{"type":null}', '{"type":["x"]}', '{"type":{}}', '{"type":true}'])(
    'bad_request for missing or non-string type: %s',
    (s) => {
      expect(codeOf(() => decodeEnvelope(Buffer.from(s), scanner))).toBe('bad_request');
    },
  );

  it('bad_json and bad_request are not fatal', () => {
    for (const s of ['[]', '{}']) {
      expect(() => decodeEnvelope(Buffer.from(s), scanner)).toThrow(expect.objectContaining({ fatal: false }));
    }
  });
});

describe('roomField', () => {
  it.each(['a', 'lobby', 'A-Z_0.9:x', 'r'.repeat(64)])('accepts %j', (room) => {
    expect(roomField(env({ room }))).toBe(room);
  });
  it.each([undefined, '', 'r'.repeat(65), 'a b', 'é', 'a/b', 'a\n', 5, null, ['a']])('rejects %j', (room) => {
    expect(codeOf(() => roomField(env({ room })))).toBe('bad_request');
  });
  it('reads another field name', () => {
    expect(roomField(env({ channel: 'c1' }), 'channel')).toBe('c1');
    expect(codeOf(() => roomField(env({ room: 'ok' }), 'channel'))).toBe('bad_request');
  });
});

describe('optionalInt', () => {
  it('is undefined when absent', () => {
    expect(optionalInt(env({}), 'limit', 1, 1000)).toBeUndefined();
  });
  it('accepts integers within [min, max], both ends included', () => {
    expect(optionalInt(env({ limit: 1 }), 'limit', 1, 1000)).toBe(1);
    expect(optionalInt(env({ limit: 1000 }), 'limit', 1, 1000)).toBe(1000);
    expect(optionalInt(env({ since_seq: 0 }), 'since_seq', 0, Number.MAX_SAFE_INTEGER)).toBe(0);
    expect(optionalInt(env({ x: 5.0 }), 'x', 0, 10)).toBe(5); // JSON 5.0 is the integer 5
  });
  it.each([['5'], [1.5], [0], [1001], [null], [true], [[5]], [{}], [NaN], [Infinity], [-1]])('rejects %j (never coerced)', (v) => {
    expect(codeOf(() => optionalInt(env({ limit: v }), 'limit', 1, 1000))).toBe('bad_request');
  });
  it('rejects a string even when it looks like a number, as decoded from the wire', () => {
    const e = decodeEnvelope(Buffer.from('{"type":"history","limit":"5"}'), scanner);
    expect(codeOf(() => optionalInt(e, 'limit', 1, 1000))).toBe('bad_request');
    const f = decodeEnvelope(Buffer.from('{"type":"history","limit":1.5}'), scanner);
    expect(codeOf(() => optionalInt(f, 'limit', 1, 1000))).toBe('bad_request');
  });
});

describe('optionalString', () => {
  it('is undefined when absent', () => {
    expect(optionalString(env({}), 'id', 64)).toBeUndefined();
  });
  it('accepts 1..max characters', () => {
    expect(optionalString(env({ id: 'x' }), 'id', 64)).toBe('x');
    expect(optionalString(env({ id: 'i'.repeat(64) }), 'id', 64)).toBe('i'.repeat(64));
  });
  it.each(['', 'i'.repeat(65), 5, null, ['x'], {}])('rejects %j', (v) => {
    expect(codeOf(() => optionalString(env({ id: v }), 'id', 64))).toBe('bad_request');
  });
});

describe('textField', () => {
  it('accepts 1..max UTF-8 bytes', () => {
    expect(textField(env({ text: 'a' }), 10)).toBe('a');
    expect(textField(env({ text: 'a'.repeat(10) }), 10)).toBe('a'.repeat(10));
  });
  it.each([undefined, '', 5, null, ['a']])('rejects %j', (text) => {
    expect(codeOf(() => textField(env({ text }), 10))).toBe('bad_request');
  });
  it('rejects max+1 ASCII bytes', () => {
    expect(codeOf(() => textField(env({ text: 'a'.repeat(11) }), 10))).toBe('bad_request');
  });
  it('counts bytes, not characters, with multi-byte UTF-8 at the boundary', () => {
    // 'é' is 2 bytes, '€' 3, '😀' 4 (2 UTF-16 units).
    for (const [ch, bytes] of [['é', 2], ['€', 3], ['😀', 4]] as const) {
      for (let max = 4; max <= 12; max++) {
        const fits = 'a'.repeat(max - bytes) + ch; // exactly max bytes, the multi-byte char last
        expect(Buffer.byteLength(fits)).toBe(max);
        expect(textField(env({ text: fits }), max)).toBe(fits);
        const over = 'a'.repeat(max - bytes + 1) + ch; // max + 1 bytes
        expect(codeOf(() => textField(env({ text: over }), max)), `${ch} max ${max}`).toBe('bad_request');
      }
    }
  });
  it('counts the 4096-byte default with multi-byte characters', () => {
    expect(textField(env({ text: '€'.repeat(1365) + 'a' }), 4096)).toHaveLength(1366); // 4096 bytes
    expect(codeOf(() => textField(env({ text: '€'.repeat(1365) + 'ab' }), 4096))).toBe('bad_request');
    expect(codeOf(() => textField(env({ text: '😀'.repeat(1025) }), 4096))).toBe('bad_request');
  });
});

describe('encodeFrame / encodeLine', () => {
  it('writes length (flags + body), flags, then the UTF-8 body', () => {
    const json = '{"type":"chat","text":"é"}';
    const f = encodeFrame(json, alloc, 0);
    const n = Buffer.byteLength(json);
    expect(f.length).toBe(5 + n);
    expect(f.readUInt32BE(0)).toBe(n + 1);
    expect(f[4]).toBe(0);
    expect(f.subarray(5).toString()).toBe(json);
    expect(encodeFrame('{}', alloc, 2)[4]).toBe(2);
  });
  it('writes one line ending in \\n', () => {
    const l = encodeLine('{"a":"€"}', alloc);
    expect(l.toString()).toBe('{"a":"€"}\n');
  });
});

describe('fitToFrame', () => {
  const items = Array.from({ length: 50 }, (_, i) => ({ type: 'chat', room: 'r', seq: i + 1, text: 'é'.repeat(i % 7), from: 'n' }));
  const base = { type: 'history', room: 'r', epoch: 'e1', recovered: true };
  const bytes = (e: unknown) => Buffer.byteLength(JSON.stringify(e), 'utf8');

  it('returns everything, without more, when it fits', () => {
    const whole = fitToFrame(base, 'messages', items, 1 << 20);
    expect(whole.messages).toEqual(items);
    expect(whole.more).toBeUndefined();
  });

  it('fits exactly at the whole size', () => {
    const size = bytes({ ...base, messages: items });
    expect(fitToFrame(base, 'messages', items, size).more).toBeUndefined();
    expect(fitToFrame(base, 'messages', items, size - 1).more).toBe(true);
  });

  it('cuts to the longest prefix that fits, with more: true, at every size', () => {
    const whole = bytes({ ...base, messages: items });
    const min = bytes({ ...base, messages: [], more: true });
    for (let max = min; max < whole; max += 7) {
      const out = fitToFrame(base, 'messages', items, max);
      const got = out.messages as typeof items;
      expect(out.more).toBe(true);
      expect(out.type).toBe('history');
      expect(out.epoch).toBe('e1');
      expect(bytes(out)).toBeLessThanOrEqual(max);
      expect(got).toEqual(items.slice(0, got.length));
      // one more item would not fit
      if (got.length < items.length) {
        expect(bytes({ ...base, messages: items.slice(0, got.length + 1), more: true })).toBeGreaterThan(max);
      }
    }
  });

  it('works for members and room_list shapes', () => {
    const nicks = Array.from({ length: 100 }, (_, i) => `nick${i}`);
    const out = fitToFrame({ type: 'members', room: 'r' }, 'nicks', nicks, 200);
    expect(out.more).toBe(true);
    expect(bytes(out)).toBeLessThanOrEqual(200);
    expect((out.nicks as string[]).length).toBeGreaterThan(0);
    const rooms = nicks.map((room, i) => ({ room, members: i }));
    const rl = fitToFrame({ type: 'room_list' }, 'rooms', rooms, 300);
    expect(bytes(rl)).toBeLessThanOrEqual(300);
    expect(rl.rooms).toEqual(rooms.slice(0, (rl.rooms as unknown[]).length));
  });
});
