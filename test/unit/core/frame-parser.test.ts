/**
 * FrameParser (PROTOCOL.md §2): raw bytes, split at every boundary, fed to the
 * parser; the frames seen must not depend on how the bytes were chunked.
 */
import { describe, expect, it } from 'vitest';
import { FrameParser, FrameParserPool, type FrameSink } from '../../../src/core/frame-parser.js';
import { ProtocolError } from '../../../src/core/errors.js';

const MAX = 256;

interface Seen {
  flags: number;
  body: Buffer;
  /** The body as handed out (a view or a copy), before copying. */
  raw: Buffer;
}

/** A sink that records frames (copied, since views are only valid during the call) and errors. */
function recorder() {
  const frames: Seen[] = [];
  const errors: ProtocolError[] = [];
  const sink: FrameSink = {
    onFrame(flags, body) {
      frames.push({ flags, body: Buffer.from(body), raw: body });
    },
    onFrameError(err) {
      errors.push(err);
    },
  };
  return { frames, errors, sink };
}

/** A non-pooled buffer, so `.buffer` identity says something (Buffer.from/allocUnsafe share a slab). */
function own(bytes: Buffer | number[]): Buffer {
  const b = Buffer.alloc(bytes.length);
  b.set(bytes);
  return b;
}

function rawFrame(flags: number, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length + 1, 0);
  out[4] = flags;
  body.copy(out, 5);
  return out;
}

function prefix(length: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(length, 0);
  return p;
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

// Sizes: empty body (length 1), a 1-byte body, small, a body of exactly max_frame_bytes.
const BODIES: { flags: number; body: Buffer }[] = [
  { flags: 0, body: Buffer.alloc(0) },
  { flags: 1, body: Buffer.from([0x7b]) },
  { flags: 0, body: Buffer.from('{"type":"ping"}') },
  { flags: 2, body: pattern(100, 1) },
  { flags: 0, body: pattern(MAX, 2) },
  { flags: 3, body: Buffer.from([0x00]) },
];
const STREAM = own(Buffer.concat(BODIES.map((f) => rawFrame(f.flags, f.body))));

function expectAllFrames(frames: Seen[]): void {
  expect(frames.map((f) => f.flags)).toEqual(BODIES.map((f) => f.flags));
  for (let i = 0; i < BODIES.length; i++) expect(frames[i]!.body.equals(BODIES[i]!.body)).toBe(true);
}

describe('FrameParser', () => {
  it('parses a buffer of several frames given in one chunk, each body a view of the chunk', () => {
    const r = recorder();
    const p = new FrameParser(MAX, r.sink);
    p.push(STREAM);
    expectAllFrames(r.frames);
    expect(r.errors).toEqual([]);
    for (const f of r.frames) expect(f.raw.buffer).toBe(STREAM.buffer);
    expect(p.buffered).toBe(0);
    expect(p.midFrame).toBe(false);
  });

  it('reset(sink) forgets a partial frame and a stop, and sends later frames to the new sink only', () => {
    const first = recorder();
    const p = new FrameParser(MAX, first.sink);
    p.push(own(STREAM.subarray(0, 7))); // mid-frame
    expect(p.midFrame).toBe(true);
    const second = recorder();
    expect(p.reset(second.sink)).toBe(p);
    expect([p.midFrame, p.buffered, p.stopped]).toEqual([false, 0, false]);
    p.push(STREAM);
    expectAllFrames(second.frames);
    p.stop();
    expect(p.stopped).toBe(true);
    p.push(STREAM);
    expect(second.frames).toHaveLength(BODIES.length);
    const third = recorder();
    p.reset(third.sink).push(STREAM);
    expectAllFrames(third.frames);
    expect(first.errors).toEqual([]); // nothing after the reset reached the first sink
    expect(first.frames).toHaveLength(1); // only the whole frame in its 7 bytes
  });

  it('yields exactly the same frames when split in two at every split point', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const r = recorder();
      const p = new FrameParser(MAX, r.sink);
      const a = own(STREAM.subarray(0, cut));
      const b = own(STREAM.subarray(cut));
      p.push(a);
      expect(p.buffered).toBeLessThanOrEqual(MAX + 5);
      p.push(b);
      expect(r.errors, `cut ${cut}`).toEqual([]);
      expectAllFrames(r.frames);
      expect(p.buffered).toBe(0);
      expect(p.midFrame).toBe(false);
    }
  });

  it('yields exactly the same frames when fed one byte at a time', () => {
    const r = recorder();
    const p = new FrameParser(MAX, r.sink);
    let maxBuffered = 0;
    for (let i = 0; i < STREAM.length; i++) {
      p.push(STREAM.subarray(i, i + 1));
      maxBuffered = Math.max(maxBuffered, p.buffered);
    }
    expect(r.errors).toEqual([]);
    expectAllFrames(r.frames);
    expect(maxBuffered).toBeLessThanOrEqual(MAX + 5);
    expect(maxBuffered).toBeGreaterThanOrEqual(MAX); // the max-size frame was held
  });

  it('hands a frame within one chunk out as a view and a spanning frame as a copy', () => {
    const one = rawFrame(0, Buffer.from('{"type":"a"}'));
    const two = rawFrame(0, Buffer.from('{"type":"b"}'));
    const chunk1 = own(Buffer.concat([one, two.subarray(0, 8)]));
    const chunk2 = own(two.subarray(8));
    const r = recorder();
    const p = new FrameParser(MAX, r.sink);
    p.push(chunk1);
    expect(r.frames).toHaveLength(1);
    expect(r.frames[0]!.raw.buffer).toBe(chunk1.buffer);
    expect(p.midFrame).toBe(true);
    expect(p.buffered).toBe(8);
    p.push(chunk2);
    expect(r.frames).toHaveLength(2);
    expect(r.frames[1]!.raw.buffer).not.toBe(chunk1.buffer);
    expect(r.frames[1]!.raw.buffer).not.toBe(chunk2.buffer);
    expect(r.frames[1]!.body.toString()).toBe('{"type":"b"}');
  });

  it('rejects a zero length as fatal bad_frame', () => {
    const r = recorder();
    const p = new FrameParser(MAX, r.sink);
    p.push(own([0, 0, 0, 0, 0, 1, 2]));
    expect(r.frames).toEqual([]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toBeInstanceOf(ProtocolError);
    expect(r.errors[0]!.code).toBe('bad_frame');
    expect(r.errors[0]!.fatal).toBe(true);
  });

  it('accepts length max_frame_bytes + 1 (a max-size body)', () => {
    const r = recorder();
    const p = new FrameParser(MAX, r.sink);
    const f = own(rawFrame(0, pattern(MAX, 9)));
    expect(f.readUInt32BE(0)).toBe(MAX + 1);
    p.push(f);
    expect(r.errors).toEqual([]);
    expect(r.frames).toHaveLength(1);
    expect(r.frames[0]!.body.length).toBe(MAX);
  });

  it('rejects length max_frame_bytes + 2 as frame_too_large from the 4-byte prefix alone', () => {
    const r = recorder();
    const p = new FrameParser(MAX, r.sink);
    p.push(own(prefix(MAX + 2)));
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.code).toBe('frame_too_large');
    expect(r.errors[0]!.fatal).toBe(true);
    expect(p.buffered).toBe(0);
  });

  it('detects an oversized prefix arriving one byte at a time, at its fourth byte', () => {
    const r = recorder();
    const p = new FrameParser(MAX, r.sink);
    const pre = prefix(0xffffff);
    for (let i = 0; i < 3; i++) {
      p.push(own([pre[i]!]));
      expect(r.errors).toEqual([]);
    }
    p.push(own([pre[3]!]));
    expect(r.errors.map((e) => e.code)).toEqual(['frame_too_large']);
  });

  it('emits the frames before an error and nothing after it', () => {
    const good = rawFrame(0, Buffer.from('{"type":"x"}'));
    const r = recorder();
    const p = new FrameParser(MAX, r.sink);
    p.push(own(Buffer.concat([good, prefix(0), good])));
    expect(r.frames).toHaveLength(1);
    expect(r.errors.map((e) => e.code)).toEqual(['bad_frame']);
    p.push(own(good));
    p.push(own(Buffer.concat([good, good])));
    expect(r.frames).toHaveLength(1);
    expect(r.errors).toHaveLength(1);
  });

  it('emits nothing after a frame_too_large, even when the rest is valid frames', () => {
    const good = rawFrame(0, Buffer.from('{"type":"x"}'));
    const r = recorder();
    const p = new FrameParser(MAX, r.sink);
    p.push(own(Buffer.concat([prefix(MAX + 2), good])));
    p.push(own(good));
    expect(r.frames).toEqual([]);
    expect(r.errors.map((e) => e.code)).toEqual(['frame_too_large']);
  });

  it('ignores chunks after stop()', () => {
    const r = recorder();
    const p = new FrameParser(MAX, r.sink);
    const f = own(rawFrame(0, Buffer.from('{}')));
    p.push(f.subarray(0, 3));
    p.stop();
    p.push(f.subarray(3));
    p.push(f);
    expect(r.frames).toEqual([]);
    expect(r.errors).toEqual([]);
  });

  it('keeps buffered ≤ max_frame_bytes + 5 at every split of a max-size frame', () => {
    const f = own(rawFrame(0, pattern(MAX, 3)));
    for (let cut = 0; cut < f.length; cut++) {
      const r = recorder();
      const p = new FrameParser(MAX, r.sink);
      p.push(f.subarray(0, cut));
      expect(p.buffered).toBe(cut);
      expect(p.buffered).toBeLessThanOrEqual(MAX + 5);
      p.push(f.subarray(cut));
      expect(r.frames).toHaveLength(1);
      expect(p.buffered).toBe(0);
    }
  });
});

describe('FrameParserPool', () => {
  it('hands out parsers in their initial state for the new sink, reusing given-back ones up to its bound', () => {
    const pool = new FrameParserPool(MAX, 1);
    const a = recorder();
    const p = pool.take(a.sink);
    p.push(own(STREAM.subarray(0, 7))); // leaves a partial frame behind
    pool.give(p);
    const b = recorder();
    const q = pool.take(b.sink);
    expect(q).toBe(p); // reused
    expect([q.midFrame, q.stopped]).toEqual([false, false]);
    q.push(STREAM);
    expectAllFrames(b.frames);
    expect(a.frames).toHaveLength(1); // only the whole frame of its 7 bytes reached the first sink
    const extra = pool.take(recorder().sink);
    expect(extra).not.toBe(q);
    pool.give(q);
    pool.give(extra); // past the bound of 1: dropped
    expect(pool.take(recorder().sink)).toBe(q);
    expect(pool.take(recorder().sink)).not.toBe(extra);
  });
});
