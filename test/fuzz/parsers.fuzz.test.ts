/**
 * Property-based fuzzing of the inbound parsers (PROTOCOL.md §1–§4):
 * FrameParser, LineSplitter, decodeEnvelope (with ShapeLimits) and detectMode
 * fed arbitrary bytes in arbitrary chunkings.
 *
 * - nothing throws (decodeEnvelope throws only ProtocolError);
 * - what is buffered between chunks stays within max_frame_bytes + 5 (frames)
 *   / max + 1 (lines), and detectMode never leaves more than MAX_DETECT_BYTES
 *   undecided;
 * - the events (frames, lines, the fatal error) are the same for any
 *   re-chunking of one byte stream, and match a plain reference model of the
 *   whole stream;
 * - valid frames and lines built from random envelopes round-trip exactly.
 *
 * ~2000 runs per property in CI; set FUZZ_RUNS for a longer run
 * (`FUZZ_RUNS=100000 npx vitest run test/fuzz/parsers.fuzz.test.ts`).
 * A failure prints fast-check's seed and path to replay it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeFrame, encodeLine, type ShapeLimits } from '../../src/core/envelope.js';
import { ProtocolError } from '../../src/core/errors.js';
import { FrameParser } from '../../src/core/frame-parser.js';
import { LineSplitter } from '../../src/core/line-splitter.js';
import { detectMode, MAX_DETECT_BYTES, type Mode } from '../../src/core/mode-detect.js';
import { NativeScanner } from '../../src/services/frame-scan/baseline.js';

const RUNS = Number(process.env.FUZZ_RUNS) > 0 ? Number(process.env.FUZZ_RUNS) : 2000;
/** Properties whose cases are large (kilobytes each) run a quarter as many times. */
const BIG_RUNS = Math.max(100, Math.floor(RUNS / 4));
const TIMEOUT = RUNS > 2000 ? 0 : 20_000;
const scanner = new NativeScanner();
const alloc = (n: number) => Buffer.alloc(n);

// ------------------------------------------------------------------ chunking

/** Cut points as raw integers; mapped into a stream's length by `chunk`. Duplicates give empty chunks. */
const cutsArb = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.nat({ max: 1 << 20 }), { maxLength: 24 }) },
  { weight: 1, arbitrary: fc.constant('bytewise' as const) },
);
type Cuts = number[] | 'bytewise';

/** Splits `buf` at `cuts` (each taken modulo length + 1), keeping every byte in order. */
function chunk(buf: Buffer, cuts: Cuts): Buffer[] {
  if (cuts === 'bytewise') return Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));
  const points = cuts.map((c) => c % (buf.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

// ------------------------------------------------------------------ envelopes

/** Random envelopes: any JSON fields (unicode strings, nesting) plus a string `type`. */
const envelopeArb = fc
  .record({
    type: fc.string({ unit: 'binary', maxLength: 20 }),
    fields: fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }), {
      maxKeys: 6,
    }),
  })
  .map(({ type, fields }) => {
    // `type` last so a random `type` field cannot shadow it.
    const env: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) if (k !== 'type') Object.defineProperty(env, k, { value: v, enumerable: true, writable: true, configurable: true });
    env.type = type;
    return env;
  });

/** What the peer sees: the envelope through JSON (`-0` → `0`, etc.). */
const viaJson = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

// ------------------------------------------------------------------ FrameParser

type FrameEvent = ['frame', number, string] | ['error', string];

function runFrames(max: number, chunks: Buffer[]): { events: FrameEvent[]; maxBuffered: number } {
  const events: FrameEvent[] = [];
  let stopped = false;
  const p = new FrameParser(max, {
    onFrame(flags, body) {
      expect(stopped, 'a frame after the fatal error').toBe(false);
      expect(body.length).toBeLessThanOrEqual(max);
      events.push(['frame', flags, body.toString('hex')]);
    },
    onFrameError(err) {
      expect(stopped, 'a second fatal error').toBe(false);
      expect(err).toBeInstanceOf(ProtocolError);
      stopped = true;
      events.push(['error', err.code]);
    },
  });
  let maxBuffered = 0;
  for (const c of chunks) {
    p.push(c);
    maxBuffered = Math.max(maxBuffered, p.buffered);
  }
  return { events, maxBuffered };
}

/** Reference model of PROTOCOL.md §2 framing over the whole stream. */
function modelFrames(max: number, s: Buffer): FrameEvent[] {
  const out: FrameEvent[] = [];
  let pos = 0;
  while (pos + 4 <= s.length) {
    const len = s.readUInt32BE(pos);
    if (len === 0) return [...out, ['error', 'bad_frame']];
    if (len > max + 1) return [...out, ['error', 'frame_too_large']];
    if (pos + 4 + len > s.length) break;
    out.push(['frame', s[pos + 4]!, s.subarray(pos + 5, pos + 4 + len).toString('hex')]);
    pos += 4 + len;
  }
  return out;
}

/** A byte stream of mostly well-formed frames mixed with garbage and bad prefixes, for a given max. */
const frameStreamArb = (max: number) => {
  const body = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
  const segment = fc.oneof(
    {
      weight: 8,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max }), fc.integer({ min: 0, max: 255 }))
        .chain(([n, flags]) => body(n).map((b) => Buffer.concat([u32(n + 1), Buffer.from([flags]), b]))),
    },
    { weight: 1, arbitrary: body(max).map((b) => Buffer.concat([u32(max + 1), Buffer.from([0]), b])) }, // exactly at the bound
    { weight: 1, arbitrary: fc.constant(u32(max + 2)) }, // one over
    { weight: 1, arbitrary: fc.constant(u32(0)) },
    { weight: 1, arbitrary: fc.nat().map((n) => u32(n)) },
    { weight: 2, arbitrary: bytes(12) },
  );
  return fc.array(segment, { maxLength: 10 }).map((segs) => Buffer.concat(segs));
};

describe('FrameParser fuzz', () => {
  it('arbitrary bytes: no throw, bounded buffer, same events whole, chunked, and in the model', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), bytes(700), cutsArb, (max, s, cuts) => {
        const whole = runFrames(max, [s]);
        const parts = runFrames(max, chunk(s, cuts));
        expect(parts.maxBuffered).toBeLessThanOrEqual(max + 5);
        expect(parts.events).toEqual(whole.events);
        expect(whole.events).toEqual(modelFrames(max, s));
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it('frames mixed with garbage: same events under any re-chunking', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }).chain((max) => fc.tuple(fc.constant(max), frameStreamArb(max))),
        cutsArb,
        cutsArb,
        ([max, s], cutsA, cutsB) => {
          const a = runFrames(max, chunk(s, cutsA));
          const b = runFrames(max, chunk(s, cutsB));
          expect(a.maxBuffered).toBeLessThanOrEqual(max + 5);
          expect(b.maxBuffered).toBeLessThanOrEqual(max + 5);
          expect(a.events).toEqual(b.events);
          expect(a.events).toEqual(modelFrames(max, s));
        },
      ),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it('valid frames from random envelopes round-trip exactly', () => {
    fc.assert(
      fc.property(fc.array(envelopeArb, { minLength: 1, maxLength: 8 }), cutsArb, (envs, cuts) => {
        const encoded = envs.map((e) => encodeFrame(JSON.stringify(e), alloc));
        const max = Math.max(...encoded.map((f) => f.length - 5));
        const got: unknown[] = [];
        const p = new FrameParser(max, {
          onFrame(flags, body) {
            expect(flags).toBe(0);
            got.push(decodeEnvelope(body, scanner));
          },
          onFrameError(err) {
            throw err;
          },
        });
        for (const c of chunk(Buffer.concat(encoded), cuts)) p.push(c);
        expect(p.buffered).toBe(0);
        expect(p.midFrame).toBe(false);
        expect(got).toEqual(envs.map(viaJson));
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);
});

// ------------------------------------------------------------------ LineSplitter

type LineEvent = ['line', string] | ['error', string];

function runLines(max: number, chunks: Buffer[]): { events: LineEvent[]; maxBuffered: number } {
  const events: LineEvent[] = [];
  let stopped = false;
  const s = new LineSplitter(max, scanner, {
    onLine(line) {
      expect(stopped, 'a line after the fatal error').toBe(false);
      expect(line.length).toBeLessThanOrEqual(max);
      events.push(['line', line.toString('hex')]);
    },
    onLineError(err) {
      expect(stopped, 'a second fatal error').toBe(false);
      expect(err).toBeInstanceOf(ProtocolError);
      stopped = true;
      events.push(['error', err.code]);
    },
  });
  let maxBuffered = 0;
  for (const c of chunks) {
    s.push(c);
    maxBuffered = Math.max(maxBuffered, s.buffered);
  }
  return { events, maxBuffered };
}

/**
 * Reference model of PROTOCOL.md §4 over the whole stream: lines end at `\n`,
 * one `\r` before it dropped; a line over max is fatal, and so is an
 * unterminated tail that can no longer become a line within max.
 */
function modelLines(max: number, s: Buffer): LineEvent[] {
  const out: LineEvent[] = [];
  let pos = 0;
  for (;;) {
    const nl = s.indexOf(0x0a, pos);
    if (nl < 0) {
      const rest = s.length - pos;
      if (rest > max + 1 || (rest === max + 1 && s[s.length - 1] !== 0x0d)) out.push(['error', 'frame_too_large']);
      return out;
    }
    let line = s.subarray(pos, nl);
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
    if (line.length > max) return [...out, ['error', 'frame_too_large']];
    out.push(['line', line.toString('hex')]);
    pos = nl + 1;
  }
}

/** Lines of random bytes around the bound, with `\n`, `\r\n`, stray `\r` or no end. */
const lineStreamArb = (max: number) => {
  const content = fc.oneof(
    { weight: 4, arbitrary: bytes(max + 3) },
    { weight: 2, arbitrary: fc.integer({ min: Math.max(0, max - 2), max: max + 2 }).map((n) => Buffer.alloc(n, 0x61)) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  );
  const end = fc.constantFrom('\n', '\r\n', '\r', '', '\r\r\n');
  return fc
    .array(fc.tuple(content, end), { maxLength: 10 })
    .map((parts) => Buffer.concat(parts.flatMap(([c, e]) => [c, Buffer.from(e, 'latin1')])));
};

describe('LineSplitter fuzz', () => {
  it('arbitrary bytes: no throw, bounded buffer, same events whole, chunked, and in the model', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), bytes(700), cutsArb, (max, s, cuts) => {
        const whole = runLines(max, [s]);
        const parts = runLines(max, chunk(s, cuts));
        expect(parts.maxBuffered).toBeLessThanOrEqual(max + 1);
        expect(parts.events).toEqual(whole.events);
        expect(whole.events).toEqual(modelLines(max, s));
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it('lines around max_frame_bytes with \\r\\n: same events under any re-chunking', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }).chain((max) => fc.tuple(fc.constant(max), lineStreamArb(max))),
        cutsArb,
        cutsArb,
        ([max, s], cutsA, cutsB) => {
          const a = runLines(max, chunk(s, cutsA));
          const b = runLines(max, chunk(s, cutsB));
          expect(a.maxBuffered).toBeLessThanOrEqual(max + 1);
          expect(b.maxBuffered).toBeLessThanOrEqual(max + 1);
          expect(a.events).toEqual(b.events);
          expect(a.events).toEqual(modelLines(max, s));
        },
      ),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it('json-lines from random envelopes round-trip exactly (\\n or \\r\\n, blank lines between)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(envelopeArb, fc.constantFrom('\n', '\r\n'), fc.boolean()), { minLength: 1, maxLength: 8 }),
        cutsArb,
        (items, cuts) => {
          const encoded = items.flatMap(([e, end, blank]) => {
            const line = encodeLine(JSON.stringify(e), alloc);
            const body = end === '\n' ? line : Buffer.concat([line.subarray(0, -1), Buffer.from('\r\n')]);
            return blank ? [body, Buffer.from(' \t\r\n')] : [body];
          });
          const max = Math.max(...encoded.map((l) => l.length));
          const got: unknown[] = [];
          const s = new LineSplitter(max, scanner, {
            onLine(line) {
              if (line.toString('latin1').trim() !== '') got.push(decodeEnvelope(line, scanner));
            },
            onLineError(err) {
              throw err;
            },
          });
          for (const c of chunk(Buffer.concat(encoded), cuts)) s.push(c);
          expect(s.buffered).toBe(0);
          expect(got).toEqual(items.map(([e]) => viaJson(e)));
        },
      ),
      { numRuns: RUNS },
    );
  }, TIMEOUT);
});

// ------------------------------------------------------------------ decodeEnvelope

/** Nesting depth as ShapeLimits counts it: the envelope is 1; primitives add nothing. */
function depthOf(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  const kids = Array.isArray(v) ? v : Object.values(v as object);
  return 1 + kids.reduce<number>((m, k) => Math.max(m, depthOf(k)), 0);
}
/** Keys over all objects together (array indices do not count). */
function keysOf(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  if (Array.isArray(v)) return v.reduce<number>((n, k) => n + keysOf(k), 0);
  return Object.keys(v).length + Object.values(v as object).reduce<number>((n, k) => n + keysOf(k), 0);
}

/** decodeEnvelope's code for `body`, or 'ok'; fails the property on anything but a ProtocolError. */
function decodeCode(body: Buffer, limits?: ShapeLimits): string {
  try {
    const env = decodeEnvelope(body, scanner, limits);
    expect(typeof env.type).toBe('string');
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect(['bad_json', 'bad_request']).toContain((err as ProtocolError).code);
    return (err as ProtocolError).code;
  }
}

const limitsArb = fc.record({ maxDepth: fc.integer({ min: 2, max: 6 }), maxKeys: fc.integer({ min: 8, max: 30 }) });

describe('decodeEnvelope fuzz', () => {
  it('arbitrary bytes: only ProtocolError bad_json / bad_request escapes', () => {
    const jsonish = fc
      .array(fc.constantFrom('{', '}', '[', ']', '"', ':', ',', 'type', '"type"', '1', 'null', '\\', '\\u', 'é', ' ', '\n', '\ud800'), {
        maxLength: 40,
      })
      .map((a) => Buffer.from(a.join(''), 'utf8'));
    fc.assert(
      fc.property(fc.oneof(bytes(300), jsonish), fc.option(limitsArb, { nil: undefined }), (body, limits) => {
        decodeCode(body, limits);
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it('random JSON objects: accepted exactly when within ShapeLimits and `type` is a string', () => {
    const value = fc.jsonValue({ maxDepth: 6 });
    const objectArb = fc.oneof(
      fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 10 }),
      envelopeArb,
      fc.tuple(envelopeArb, value).map(([e, v]) => ({ ...e, x: v })),
    );
    fc.assert(
      fc.property(objectArb, limitsArb, (obj, limits) => {
        const parsed = viaJson(obj);
        const body = Buffer.from(JSON.stringify(obj), 'utf8');
        const within = depthOf(parsed) <= limits.maxDepth && keysOf(parsed) <= limits.maxKeys;
        const typed = typeof (parsed as { type?: unknown }).type === 'string';
        expect(decodeCode(body, limits)).toBe(within && typed ? 'ok' : 'bad_request');
        if (within && typed) expect(decodeEnvelope(body, scanner, limits)).toEqual(parsed);
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it('very deep or very wide bodies: bad_request past the bound, never a stack overflow', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":'), fc.integer({ min: 0, max: 5000 }), (depth, open, width) => {
        const close = open === '[' ? ']' : '}';
        const deep = Buffer.from(`{"type":"x","d":${open.repeat(depth)}1${close.repeat(depth)}}`);
        const wide = Buffer.from(`{"type":"x",${Array.from({ length: width }, (_, i) => `"k${i}":0`).join(',')}${width ? ',' : ''}"z":0}`);
        const limits = { maxDepth: 16, maxKeys: 1000 };
        expect(decodeCode(deep, limits)).toBe(depth + 1 <= 16 ? 'ok' : 'bad_request');
        expect(decodeCode(wide, limits)).toBe(width + 2 <= 1000 ? 'ok' : 'bad_request');
        decodeCode(deep);
      }),
      { numRuns: Math.max(50, Math.floor(RUNS / 20)) },
    );
  }, TIMEOUT);
});

// ------------------------------------------------------------------ detectMode

/** The server's use of detectMode: accumulate chunks until a mode is decided. */
function detectChunked(chunks: Buffer[]): { mode: Mode | null; undecidedMax: number } {
  let acc = Buffer.alloc(0);
  let undecidedMax = 0;
  for (const c of chunks) {
    acc = Buffer.concat([acc, c]);
    const mode = detectMode(acc);
    if (mode !== null) return { mode, undecidedMax };
    undecidedMax = Math.max(undecidedMax, acc.length);
  }
  return { mode: null, undecidedMax };
}

/** First bytes biased towards every row of PROTOCOL.md §1's table and its edges. */
const firstBytesArb = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(
        '',
        '\x00',
        '{',
        ' {',
        '\t \t{',
        'GET /stats HTTP/1.1\r\n',
        'HEAD /health HTTP/1.0\n',
        'POST /x HTTP/1.1\r\n',
        'GET /x HTTP/2\n',
        'GET ',
        'GETX ',
        'PATC',
        'OPTIONS * HTTP/1.1\r\n',
        '\ufeff{',
        '\xff\xfd\x03',
        '\r\n',
        '/join lobby\n',
      ),
      fc.string({ maxLength: 6 }),
    ),
    fc.integer({ min: 0, max: 12_000 }),
    fc.constantFrom(' ', '\t', 'a', '/'),
    fc.constantFrom('', '{', '\n', ' HTTP/1.1\r\n', 'x'),
    bytes(40),
    fc.boolean(),
  )
  .map(([head, n, fill, tail, rest, fillFirst]) => {
    // Long runs of blanks or of a request target probe the MAX_DETECT_BYTES bound.
    const run = fill.repeat(fillFirst ? n : Math.min(n, 40));
    const text = fillFirst ? run + head + tail : head + run + tail;
    return Buffer.concat([Buffer.from(text, 'latin1'), rest]);
  });

describe('detectMode fuzz', () => {
  it('arbitrary first bytes: no throw; never more than MAX_DETECT_BYTES undecided; a decision never changes', () => {
    fc.assert(
      fc.property(bytes(64), fc.integer({ min: 0, max: 64 }), (s, k) => {
        const short = s.subarray(0, Math.min(k, s.length));
        const a = detectMode(short);
        const b = detectMode(s);
        if (a !== null) expect(b).toBe(a);
        if (b === null) expect(s.length).toBeLessThanOrEqual(MAX_DETECT_BYTES);
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it('the mode does not depend on how the first bytes are chunked', () => {
    fc.assert(
      fc.property(firstBytesArb, cutsArb, (s, cuts) => {
        const whole = detectChunked([s]);
        const parts = detectChunked(cuts === 'bytewise' && s.length > 200 ? chunk(s, [100, 8190, 8193, 8200]) : chunk(s, cuts));
        expect(parts.undecidedMax).toBeLessThanOrEqual(MAX_DETECT_BYTES);
        expect(parts.mode).toBe(whole.mode);
        if (whole.mode === null) expect(s.length).toBeLessThanOrEqual(MAX_DETECT_BYTES);
      }),
      { numRuns: BIG_RUNS },
    );
  }, TIMEOUT);
});
