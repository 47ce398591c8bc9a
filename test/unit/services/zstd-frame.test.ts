/**
 * The zstd frame header reader / writer (src/services/compression/zstd-frame.ts,
 * RFC 8878 §3.1.1). Frames are built by hand (a header and Raw / RLE blocks,
 * with a real XXH64 content checksum when asked) and checked against
 * @mongodb-js/zstd, so the reader is tested against what a real decoder
 * accepts, not against itself.
 */
import { compress, decompress } from '@mongodb-js/zstd';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/core/errors.js';
import { readZstdFrame, withContentSize } from '../../../src/services/compression/zstd-frame.js';

// ------------------------------------------------------------------ XXH64 (for Content_Checksum)

const M64 = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n, P2 = 0xc2b2ae3d27d4eb4fn, P3 = 0x165667b19e3779f9n, P4 = 0x85ebca77c2b2ae63n, P5 = 0x27d4eb2f165667c5n;
const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M64;
const round = (acc: bigint, input: bigint) => (rotl((acc + input * P2) & M64, 31n) * P1) & M64;
const merge = (acc: bigint, val: bigint) => (((acc ^ round(0n, val)) * P1) + P4) & M64;

/** XXH64 with seed 0 (slow and simple; test data only). */
function xxh64(buf: Buffer): bigint {
  let off = 0;
  let h: bigint;
  if (buf.length >= 32) {
    let v1 = (P1 + P2) & M64, v2 = P2, v3 = 0n, v4 = (0n - P1) & M64;
    for (; off + 32 <= buf.length; off += 32) {
      v1 = round(v1, buf.readBigUInt64LE(off));
      v2 = round(v2, buf.readBigUInt64LE(off + 8));
      v3 = round(v3, buf.readBigUInt64LE(off + 16));
      v4 = round(v4, buf.readBigUInt64LE(off + 24));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M64;
    h = merge(merge(merge(merge(h, v1), v2), v3), v4);
  } else {
    h = P5;
  }
  h = (h + BigInt(buf.length)) & M64;
  for (; off + 8 <= buf.length; off += 8) {
    h ^= round(0n, buf.readBigUInt64LE(off));
    h = (rotl(h, 27n) * P1 + P4) & M64;
  }
  if (off + 4 <= buf.length) {
    h ^= (BigInt(buf.readUInt32LE(off)) * P1) & M64;
    h = (rotl(h, 23n) * P2 + P3) & M64;
    off += 4;
  }
  for (; off < buf.length; off++) {
    h ^= (BigInt(buf[off]!) * P5) & M64;
    h = (rotl(h, 11n) * P1) & M64;
  }
  h ^= h >> 33n;
  h = (h * P2) & M64;
  h ^= h >> 29n;
  h = (h * P3) & M64;
  h ^= h >> 32n;
  return h;
}

// ------------------------------------------------------------------ hand-built frames

const MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/** Window_Descriptor: exponent 11 → 2 MiB window (any block of these tests fits). */
const WINDOW_2MIB = 11 << 3;

interface FrameSpec {
  content: Buffer;
  /** Frame_Content_Size field bytes: 0 (absent), 1 (needs singleSegment), 2, 4, 8. */
  fcsBytes: 0 | 1 | 2 | 4 | 8;
  singleSegment?: boolean;
  checksum?: boolean;
  /** Raw blocks of at most this many bytes (the last may be shorter); default one block. */
  blockBytes?: number;
  /** Overrides the declared size (for mismatch tests). */
  declared?: bigint;
}

function blockHeader(last: boolean, type: number, size: number): Buffer {
  const v = (last ? 1 : 0) | (type << 1) | (size << 3);
  return Buffer.from([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff]);
}

/** A standard zstd frame made of Raw_Blocks (RFC 8878 §3.1.1.2), with the header fields asked for. */
function rawFrame(spec: FrameSpec): Buffer {
  const { content, fcsBytes } = spec;
  const single = spec.singleSegment ?? fcsBytes === 1;
  if (fcsBytes === 1 && !single) throw new Error('a 1-byte FCS needs Single_Segment');
  if (fcsBytes === 0 && single) throw new Error('Single_Segment implies an FCS field');
  const fcsFlag = { 0: 0, 1: 0, 2: 1, 4: 2, 8: 3 }[fcsBytes];
  const fhd = (fcsFlag << 6) | ((single ? 1 : 0) << 5) | ((spec.checksum ? 1 : 0) << 2);
  const parts: Buffer[] = [MAGIC, Buffer.from([fhd])];
  if (!single) parts.push(Buffer.from([WINDOW_2MIB]));
  const declared = spec.declared ?? BigInt(content.length);
  const fcs = Buffer.alloc(fcsBytes);
  if (fcsBytes === 1) fcs.writeUInt8(Number(declared));
  else if (fcsBytes === 2) fcs.writeUInt16LE(Number(declared) - 256);
  else if (fcsBytes === 4) fcs.writeUInt32LE(Number(declared));
  else if (fcsBytes === 8) fcs.writeBigUInt64LE(declared);
  parts.push(fcs);
  const step = spec.blockBytes ?? Math.max(1, content.length);
  if (content.length === 0) parts.push(blockHeader(true, 0, 0));
  for (let off = 0; off < content.length; off += step) {
    const chunk = content.subarray(off, Math.min(content.length, off + step));
    parts.push(blockHeader(off + step >= content.length, 0, chunk.length), chunk);
  }
  if (spec.checksum) {
    const c = Buffer.alloc(4);
    c.writeUInt32LE(Number(xxh64(content) & 0xffffffffn));
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** Deterministic bytes: chat-ish text, so zstd compresses it into real Compressed_Blocks. */
function text(n: number, seed = 1): Buffer {
  const words = ['hello', 'room', 'seq', 'ack', 'zstd', 'frame', 'chat', 'nick', 'the', 'a', 'fan-out', 'codec'];
  let s = seed;
  let out = '';
  while (out.length < n) {
    s = (s * 1103515245 + 12345) >>> 0;
    out += `${words[s % words.length]} `;
  }
  return Buffer.from(out.slice(0, n));
}

function randomish(n: number, seed = 7): Buffer {
  const b = Buffer.alloc(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    b[i] = s >>> 24;
  }
  return b;
}

/** readZstdFrame must throw ProtocolError bad_frame (fatal). */
function expectBad(buf: Buffer, why?: RegExp): void {
  let thrown: unknown;
  try {
    readZstdFrame(buf);
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `${buf.length} bytes: ${buf.subarray(0, 16).toString('hex')}`).toBeInstanceOf(ProtocolError);
  expect(thrown).toMatchObject({ code: 'bad_frame', fatal: true });
  if (why) expect((thrown as Error).message).toMatch(why);
}

// ------------------------------------------------------------------ tests

describe('xxh64 (test helper)', () => {
  it('matches the reference vectors', () => {
    expect(xxh64(Buffer.alloc(0))).toBe(0xef46db3751d8e999n);
    expect(xxh64(Buffer.from('a'))).toBe(0xd24ec4f1a98c6e5bn);
    expect(xxh64(Buffer.from('abc'))).toBe(0x44bc2cf5ad770999n);
  });
});

describe('readZstdFrame: Frame_Content_Size field sizes', () => {
  const cases: [string, FrameSpec, number][] = [
    ['1 byte (Single_Segment), 0 bytes of content', { content: Buffer.alloc(0), fcsBytes: 1 }, 6],
    ['1 byte (Single_Segment), 200 bytes', { content: text(200), fcsBytes: 1 }, 6],
    ['1 byte (Single_Segment), 255 bytes', { content: text(255), fcsBytes: 1 }, 6],
    ['2 bytes (value - 256), 256 bytes', { content: text(256), fcsBytes: 2 }, 8],
    ['2 bytes (value - 256), 65791 bytes, 4 blocks', { content: text(65791), fcsBytes: 2, blockBytes: 20_000 }, 8],
    ['2 bytes, Single_Segment (no Window_Descriptor), 1000 bytes', { content: text(1000), fcsBytes: 2, singleSegment: true }, 7],
    ['4 bytes, 1000 bytes', { content: text(1000), fcsBytes: 4 }, 10],
    ['4 bytes, Single_Segment, 70000 bytes in blocks of 30000', { content: randomish(70_000), fcsBytes: 4, singleSegment: true, blockBytes: 30_000 }, 9],
    ['8 bytes, 5000 bytes', { content: text(5000), fcsBytes: 8 }, 14],
    ['8 bytes, Single_Segment, 10 bytes', { content: text(10), fcsBytes: 8, singleSegment: true }, 13],
    ['1 byte + Content_Checksum', { content: text(100), fcsBytes: 1, checksum: true }, 6],
    ['4 bytes + Content_Checksum, 3 blocks', { content: text(3000), fcsBytes: 4, checksum: true, blockBytes: 1024 }, 10],
    ['8 bytes + Content_Checksum, empty', { content: Buffer.alloc(0), fcsBytes: 8, checksum: true }, 14],
  ];

  it.each(cases)('%s', async (_name, spec, headerSize) => {
    const frame = rawFrame(spec);
    expect(readZstdFrame(frame)).toEqual({ contentSize: spec.content.length, headerSize, frameSize: frame.length });
    // The hand-built frame is a real one: the reference decoder agrees.
    expect((await decompress(frame)).equals(spec.content)).toBe(true);
  });

  it('reads a declared size independently of the blocks (the size check comes before inflating)', () => {
    expect(readZstdFrame(rawFrame({ content: text(10), fcsBytes: 4, declared: 10_000_000n }))!.contentSize).toBe(10_000_000);
    expect(readZstdFrame(rawFrame({ content: text(10), fcsBytes: 8, declared: 1n << 40n }))!.contentSize).toBe(2 ** 40);
    expect(readZstdFrame(rawFrame({ content: text(10), fcsBytes: 8, declared: M64 }))!.contentSize).toBe(Number.MAX_SAFE_INTEGER);
    expect(readZstdFrame(rawFrame({ content: text(10), fcsBytes: 2, declared: 65791n }))!.contentSize).toBe(65791);
  });

  it('returns null when the header has no Frame_Content_Size', async () => {
    const content = text(500);
    const frame = rawFrame({ content, fcsBytes: 0 });
    expect(readZstdFrame(frame)).toBeNull();
    expect((await decompress(frame)).equals(content)).toBe(true);
    // What @mongodb-js/zstd's compress produces: no FCS field either.
    expect(readZstdFrame(await compress(content, 3))).toBeNull();
  });

  it('walks RLE and Compressed blocks', async () => {
    const rle = Buffer.concat([MAGIC, Buffer.from([0x20, 250]), blockHeader(false, 1, 200), Buffer.from('x'), blockHeader(true, 0, 50), Buffer.alloc(50, 'y')]);
    expect(readZstdFrame(rle)).toEqual({ contentSize: 250, headerSize: 6, frameSize: rle.length });
    expect((await decompress(rle)).toString()).toBe('x'.repeat(200) + 'y'.repeat(50));
    const real = withContentSize(await compress(text(50_000), 3), 50_000);
    expect(readZstdFrame(real)).toMatchObject({ contentSize: 50_000, frameSize: real.length });
  });
});

describe('readZstdFrame: refusals (bad_frame)', () => {
  const good = rawFrame({ content: text(300), fcsBytes: 4, checksum: true, blockBytes: 100 });

  it('wrong magic, skippable frames, too short', () => {
    expectBad(Buffer.alloc(0), /too short/);
    expectBad(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20]), /too short/);
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]), Buffer.from('skip'), good]);
    expectBad(skippable, /magic/);
    for (let m = 0; m < 16; m++) {
      const s = Buffer.from(skippable);
      s[0] = 0x50 + m; // 0x184D2A50 … 0x184D2A5F
      expectBad(s, /magic/);
    }
    const lz4Frame = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7, 0, 0, 0, 0]);
    expectBad(lz4Frame, /magic/);
  });

  it('bytes after the frame, and two concatenated frames', async () => {
    expectBad(Buffer.concat([good, Buffer.from([0])]), /after the frame/);
    expectBad(Buffer.concat([good, good]), /after the frame/);
    const lib = withContentSize(await compress(text(2000), 3), 2000);
    expectBad(Buffer.concat([lib, lib]), /after the frame/);
    expectBad(Buffer.concat([lib, Buffer.from([1, 2, 3])]), /after the frame/);
  });

  it('dictionary ids, the reserved header bit, the reserved block type', () => {
    for (const dictFlag of [1, 2, 3]) {
      const d = Buffer.from(good);
      d[4] = d[4]! | dictFlag;
      expectBad(d, /dictionar/);
    }
    const r = Buffer.from(good);
    r[4] = r[4]! | 0x08;
    expectBad(r, /reserved/);
    const bt = Buffer.concat([MAGIC, Buffer.from([0x20, 5]), blockHeader(true, 3, 5), Buffer.alloc(5)]);
    expectBad(bt, /reserved block/);
  });

  it('every truncation of every kind of frame', async () => {
    const frames = [
      good,
      rawFrame({ content: Buffer.alloc(0), fcsBytes: 1 }),
      rawFrame({ content: text(40), fcsBytes: 8, checksum: true }),
      rawFrame({ content: text(700), fcsBytes: 2, singleSegment: true, blockBytes: 64 }),
      rawFrame({ content: text(300), fcsBytes: 0, blockBytes: 128 }),
      withContentSize(await compress(text(5000), 3), 5000),
      withContentSize(await compress(randomish(3000), 3), 3000),
    ];
    let n = 0;
    for (const f of frames) {
      readZstdFrame(f); // whole: fine
      for (let len = 0; len < f.length; len++) {
        expectBad(f.subarray(0, len));
        n++;
      }
    }
    expect(n).toBe(frames.reduce((s, f) => s + f.length, 0));
  });
});

describe('withContentSize', () => {
  it('adds a 4-byte Frame_Content_Size to library frames; the reference decoder still decodes them', async () => {
    for (const [i, body] of [Buffer.from('x'), text(100), text(511), text(512), text(4096), text(65_536), randomish(10_000), randomish(200_000), text(1 << 20)].entries()) {
      const plain = await compress(body, 3);
      expect(readZstdFrame(plain), `case ${i}`).toBeNull();
      const sized = withContentSize(plain, body.length);
      expect(sized.length).toBe(plain.length + 4);
      expect(readZstdFrame(sized)).toEqual({ contentSize: body.length, headerSize: 10, frameSize: sized.length });
      expect((await decompress(sized)).equals(body), `case ${i}`).toBe(true);
    }
  });

  it('returns frames that already carry the field unchanged (the empty body: Single_Segment)', async () => {
    const empty = await compress(Buffer.alloc(0), 3);
    expect(readZstdFrame(empty)).toMatchObject({ contentSize: 0 });
    expect(withContentSize(empty, 0)).toBe(empty);
    const sized = rawFrame({ content: text(300), fcsBytes: 2 });
    expect(withContentSize(sized, 300)).toBe(sized);
  });

  it('a wrong size makes the frame undecodable, not silently wrong', async () => {
    const body = text(3000);
    const lie = withContentSize(await compress(body, 3), 2999);
    expect(readZstdFrame(lie)!.contentSize).toBe(2999);
    await expect(decompress(lie)).rejects.toThrow();
  });
});
