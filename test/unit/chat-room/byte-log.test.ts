/**
 * ByteLog (src/plugins/chat-room/engine/byte-log.ts): a room's retained
 * records as bytes in Buffer chunks, off the V8 heap. A record is written at
 * (writeChunk, writeOffset) of the chunk `reserve` returned and never spans
 * chunks; chunk sizes double from 256 B to 64 KiB; a record larger than
 * 64 KiB gets a chunk of its own; `release(id)` frees every chunk older than
 * `id` but never the newest; a freed chunk's id is gone for good (RangeError).
 * Plus the string helpers: UTF-8 for well-formed strings, UTF-16LE keeps lone
 * surrogates exact.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ByteLog,
  CHUNK_MAX_BYTES,
  CHUNK_MIN_BYTES,
  isWellFormed,
  readString,
  writeString,
} from '../../../src/plugins/chat-room/engine/byte-log.js';

/** Where a record was written. */
interface Addr {
  chunk: number;
  offset: number;
  bytes: Buffer;
}

/** Writes `bytes` as one record the way the ring and the window do. */
function put(log: ByteLog, bytes: Buffer, reserve = bytes.length): Addr {
  const chunk = log.reserve(reserve);
  const offset = log.writeOffset;
  expect(chunk.length - offset).toBeGreaterThanOrEqual(reserve);
  bytes.copy(chunk, offset);
  log.commit(bytes.length);
  return { chunk: log.writeChunk, offset, bytes };
}

function read(log: ByteLog, a: Addr): Buffer {
  return log.chunk(a.chunk).subarray(a.offset, a.offset + a.bytes.length);
}

/** Distinct content per record, so a record overwritten by another shows. */
function record(i: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let j = 0; j < len; j++) b[j] = (i * 31 + j * 7 + (i >>> 8)) & 0xff;
  return b;
}

describe('ByteLog: records', () => {
  it('reads back every record exactly, across many chunks of growing size', () => {
    const log = new ByteLog();
    const addrs: Addr[] = [];
    for (let i = 0; i < 3000; i++) addrs.push(put(log, record(i, (i * 37) % 301)));
    const ids = new Set(addrs.map((a) => a.chunk));
    expect(ids.size).toBeGreaterThan(10);
    expect(log.chunkCount).toBe(ids.size);
    for (const a of addrs) expect(read(log, a).equals(a.bytes)).toBe(true);
  });

  it('never lets a record span chunks, and packs records back to back inside one', () => {
    const log = new ByteLog();
    let prev: Addr | undefined;
    for (let i = 0; i < 500; i++) {
      const a = put(log, record(i, 1 + (i % 97)));
      expect(a.offset + a.bytes.length).toBeLessThanOrEqual(log.chunk(a.chunk).length);
      if (prev !== undefined && prev.chunk === a.chunk) expect(a.offset).toBe(prev.offset + prev.bytes.length);
      if (prev !== undefined && prev.chunk !== a.chunk) {
        expect(a.chunk).toBe(prev.chunk + 1);
        expect(a.offset).toBe(0);
      }
      prev = a;
    }
  });

  it('uses the reserved upper bound to pick the chunk, and only the committed bytes as used', () => {
    const log = new ByteLog();
    const c = log.reserve(200);
    expect(c.length).toBe(CHUNK_MIN_BYTES);
    log.commit(10); // reserved 200, wrote 10
    expect(log.writeOffset).toBe(10);
    // 246 bytes are still free in the first chunk
    expect(log.reserve(246)).toBe(c);
    expect(log.writeChunk).toBe(0);
    log.commit(246);
    expect(log.reserve(0)).toBe(c); // a zero-byte record fits a full chunk
    const d = log.reserve(1);
    expect(d).not.toBe(c);
    expect(log.writeChunk).toBe(1);
    expect(log.writeOffset).toBe(0);
  });

  it('matches a model over random record sizes, releases and clears', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            { weight: 20, arbitrary: fc.record({ k: fc.constant('put' as const), len: fc.nat(3000), slack: fc.nat(500) }) },
            { weight: 1, arbitrary: fc.record({ k: fc.constant('big' as const), len: fc.integer({ min: CHUNK_MAX_BYTES + 1, max: CHUNK_MAX_BYTES + 5000 }) }) },
            { weight: 4, arbitrary: fc.record({ k: fc.constant('drop' as const), n: fc.nat(40) }) },
            { weight: 1, arbitrary: fc.constant({ k: 'clear' as const }) },
          ),
          { maxLength: 150 },
        ),
        (ops) => {
          const log = new ByteLog();
          let live: Addr[] = []; // records still needed, oldest first
          let n = 0;
          let highest = -1;
          let low: number | undefined; // oldest chunk id not yet released
          for (const op of ops) {
            if (op.k === 'put' || op.k === 'big') {
              const len = op.len;
              const a = put(log, record(n++, len), op.k === 'put' ? len + op.slack : len);
              expect(a.chunk).toBeGreaterThanOrEqual(highest);
              highest = a.chunk;
              low ??= a.chunk;
              live.push(a);
            } else if (op.k === 'drop') {
              live = live.slice(op.n);
              // With nothing left, release everything but the newest chunk.
              const id = live.length > 0 ? live[0]!.chunk : log.writeChunk + 1;
              log.release(id);
              if (low !== undefined) low = Math.max(low, Math.min(id, log.writeChunk));
            } else {
              log.clear();
              live = [];
              low = undefined;
              expect(log.chunkCount).toBe(0);
            }
            for (const a of live) expect(read(log, a).equals(a.bytes)).toBe(true);
            // Exactly the chunks from the oldest not released to the newest are alive.
            expect(log.chunkCount).toBe(low === undefined ? 0 : log.writeChunk - low + 1);
            if (low !== undefined) expect(() => log.chunk(low! - 1)).toThrow(RangeError);
            if (live.length > 0) expect(live[0]!.chunk).toBeGreaterThanOrEqual(low!);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('ByteLog: chunk sizes', () => {
  it('doubles chunk sizes from 256 B up to 64 KiB, then stays at 64 KiB', () => {
    const log = new ByteLog();
    const sizes: number[] = [];
    for (let i = 0; i < 2000 && sizes.length < 11; i++) {
      const before = log.chunkCount;
      const c = log.reserve(100);
      if (log.chunkCount !== before) sizes.push(c.length);
      log.commit(100);
    }
    expect(sizes).toEqual([256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 65536, 65536]);
    expect(CHUNK_MIN_BYTES).toBe(256);
    expect(CHUNK_MAX_BYTES).toBe(65536);
  });

  it('makes a chunk at least as large as the record when the next size is smaller', () => {
    const log = new ByteLog();
    expect(log.reserve(1000).length).toBe(1000); // next size was 256
    log.commit(1000);
    expect(log.reserve(10).length).toBe(512); // the doubling goes on from 256
    log.commit(10);
    expect(log.reserve(CHUNK_MAX_BYTES).length).toBe(CHUNK_MAX_BYTES);
  });

  it('gives a record larger than 64 KiB a chunk of its own size, without disturbing the doubling', () => {
    const log = new ByteLog();
    const small = put(log, record(1, 100));
    const bigBytes = record(2, CHUNK_MAX_BYTES + 12345);
    const big = put(log, bigBytes);
    expect(big.chunk).toBe(small.chunk + 1);
    expect(big.offset).toBe(0);
    expect(log.chunk(big.chunk).length).toBe(CHUNK_MAX_BYTES + 12345);
    expect(read(log, big).equals(bigBytes)).toBe(true);
    // The big chunk is full; the next regular chunk is the second in the doubling sequence.
    const after = put(log, record(3, 100));
    expect(after.chunk).toBe(big.chunk + 1);
    expect(log.chunk(after.chunk).length).toBe(512);
    expect(read(log, small).equals(record(1, 100))).toBe(true);
    expect(read(log, big).equals(bigBytes)).toBe(true);
    expect(read(log, after).equals(record(3, 100))).toBe(true);
  });

  it('writes records after a large one into the rest of its chunk when the reservation was not all used', () => {
    const log = new ByteLog();
    const c = log.reserve(3 * 30_000); // a 30,000-char string reserved at 3 bytes per unit
    expect(c.length).toBe(90_000);
    const a = put(log, record(5, 30_000), 90_000);
    const b = put(log, record(6, 100));
    expect(b.chunk).toBe(a.chunk);
    expect(b.offset).toBe(30_000);
    expect(read(log, a).equals(record(5, 30_000))).toBe(true);
    expect(read(log, b).equals(record(6, 100))).toBe(true);
  });
});

describe('ByteLog: release', () => {
  /** A log with `n` chunks, one record at the start of each. */
  function withChunks(n: number): { log: ByteLog; addrs: Addr[] } {
    const log = new ByteLog();
    const addrs: Addr[] = [];
    for (let i = 0; log.chunkCount < n || addrs.length === 0; i++) {
      const before = log.chunkCount;
      const c = log.reserve(200);
      const a: Addr = { chunk: log.writeChunk, offset: log.writeOffset, bytes: record(i, 200) };
      a.bytes.copy(c, a.offset);
      log.commit(200);
      if (log.chunkCount !== before) addrs.push(a);
      if (log.chunkCount === n && addrs.length === n) break;
    }
    return { log, addrs };
  }

  it('frees every chunk older than the given id and keeps the rest readable', () => {
    const { log, addrs } = withChunks(8);
    expect(log.chunkCount).toBe(8);
    log.release(addrs[3]!.chunk);
    expect(log.chunkCount).toBe(5);
    for (let i = 0; i < 3; i++) expect(() => log.chunk(addrs[i]!.chunk)).toThrow(RangeError);
    for (let i = 3; i < 8; i++) expect(read(log, addrs[i]!).equals(addrs[i]!.bytes)).toBe(true);
  });

  it('ignores a release of an already freed or the oldest id', () => {
    const { log, addrs } = withChunks(6);
    log.release(addrs[2]!.chunk);
    expect(log.chunkCount).toBe(4);
    log.release(addrs[1]!.chunk);
    log.release(addrs[2]!.chunk);
    log.release(-5);
    expect(log.chunkCount).toBe(4);
    for (let i = 2; i < 6; i++) expect(read(log, addrs[i]!).equals(addrs[i]!.bytes)).toBe(true);
  });

  it('never frees the newest chunk, even when asked for an id past it', () => {
    const { log, addrs } = withChunks(5);
    const newest = addrs[4]!;
    log.release(newest.chunk + 100);
    expect(log.chunkCount).toBe(1);
    expect(read(log, newest).equals(newest.bytes)).toBe(true);
    expect(log.writeChunk).toBe(newest.chunk);
    // Writing goes on in the newest chunk, then in new ones with increasing ids.
    const a = put(log, record(99, 10));
    expect(a.chunk).toBe(newest.chunk);
    expect(a.offset).toBe(200);
    log.release(newest.chunk + 1);
    expect(log.chunkCount).toBe(1);
  });

  it('throws RangeError for a released id and for an id never made', () => {
    const { log, addrs } = withChunks(4);
    log.release(addrs[2]!.chunk);
    expect(() => log.chunk(addrs[0]!.chunk)).toThrow(RangeError);
    expect(() => log.chunk(addrs[1]!.chunk)).toThrow(RangeError);
    expect(() => log.chunk(log.writeChunk + 1)).toThrow(RangeError);
    expect(() => log.chunk(-1)).toThrow(RangeError);
    expect(() => new ByteLog().chunk(0)).toThrow(RangeError);
    expect(log.chunk(addrs[2]!.chunk)).toBeInstanceOf(Buffer);
  });

  it('is a no-op on an empty log', () => {
    const log = new ByteLog();
    log.release(0);
    log.release(10);
    expect(log.chunkCount).toBe(0);
    const a = put(log, record(0, 5));
    expect(a.chunk).toBe(0);
    expect(read(log, a).equals(record(0, 5))).toBe(true);
  });

  it('hands a freed 64-KiB chunk to the next log that needs one, without corrupting live records', () => {
    // Fill log A past 64-KiB chunks, then free them.
    const a = new ByteLog();
    const aAddrs: Addr[] = [];
    while (a.chunkCount < 12) aAddrs.push(put(a, record(aAddrs.length, 1000)));
    const freed = a.chunk(aAddrs.at(-1)!.chunk - 1);
    expect(freed.length).toBe(CHUNK_MAX_BYTES);
    a.release(aAddrs.at(-1)!.chunk);
    expect(a.chunkCount).toBe(1);
    // Log B grows to its first 64-KiB chunk: it gets a spare, i.e. one of A's freed chunks.
    const b = new ByteLog();
    const bAddrs: Addr[] = [];
    let bigChunk: Buffer | undefined;
    while (bigChunk === undefined) {
      const r = put(b, record(10_000 + bAddrs.length, 1000));
      bAddrs.push(r);
      if (b.chunk(r.chunk).length === CHUNK_MAX_BYTES) bigChunk = b.chunk(r.chunk);
    }
    expect(bigChunk).toBe(freed);
    // A's live record and all of B's are intact.
    expect(read(a, aAddrs.at(-1)!).equals(aAddrs.at(-1)!.bytes)).toBe(true);
    for (const r of bAddrs) expect(read(b, r).equals(r.bytes)).toBe(true);
  });
});

describe('ByteLog: clear', () => {
  it('frees every chunk, keeps ids increasing, and starts the doubling again at 256 B', () => {
    const log = new ByteLog();
    const addrs: Addr[] = [];
    for (let i = 0; i < 400; i++) addrs.push(put(log, record(i, 150)));
    const lastBefore = log.writeChunk;
    expect(log.chunkCount).toBeGreaterThan(5);
    log.clear();
    expect(log.chunkCount).toBe(0);
    expect(log.writeOffset).toBe(0);
    for (const a of addrs) expect(() => log.chunk(a.chunk)).toThrow(RangeError);
    const a = put(log, record(7, 150));
    expect(a.chunk).toBeGreaterThan(lastBefore);
    expect(a.offset).toBe(0);
    expect(log.chunk(a.chunk).length).toBe(CHUNK_MIN_BYTES);
    expect(log.chunkCount).toBe(1);
    expect(read(log, a).equals(record(7, 150))).toBe(true);
    log.clear();
    log.clear();
    expect(log.chunkCount).toBe(0);
  });
});

describe('ByteLog: strings', () => {
  const samples = ['', 'a', 'héllo', '日本語', '😀 smile', '\0nul\0', '\ufffd', 'x'.repeat(1000)];
  const lone = ['\ud800', '\udfff', 'a\ud800b', '\udc00\ud800', '😀\ud83d', '\ud83d', '\ude00x'];

  it('round-trips well-formed strings as UTF-8 and any string as UTF-16LE', () => {
    const buf = Buffer.alloc(8000);
    for (const s of samples) {
      const n = writeString(buf, s, 3, false);
      expect(n).toBe(Buffer.byteLength(s, 'utf8'));
      expect(readString(buf, 3, 3 + n, false)).toBe(s);
    }
    for (const s of [...samples, ...lone]) {
      const n = writeString(buf, s, 5, true); // odd offsets work too
      expect(n).toBe(2 * s.length);
      expect(readString(buf, 5, 5 + n, true)).toBe(s);
    }
  });

  it('writes nothing for the empty string and reads an empty range as the empty string', () => {
    const buf = Buffer.alloc(0);
    expect(writeString(buf, '', 0, false)).toBe(0);
    expect(writeString(buf, '', 0, true)).toBe(0);
    expect(readString(buf, 0, 0, false)).toBe('');
    expect(readString(Buffer.from('abc'), 2, 2, true)).toBe('');
  });

  it('says a string is well formed exactly when it has no lone surrogate', () => {
    for (const s of samples) expect(isWellFormed(s)).toBe(true);
    for (const s of lone) expect(isWellFormed(s)).toBe(false);
    // UTF-8 would not keep a lone surrogate: that is why the flag exists.
    expect(Buffer.from('\ud800', 'utf8').toString('utf8')).not.toBe('\ud800');
  });

  it('round-trips arbitrary code units within the documented bound', () => {
    // Any code point but a surrogate (what fc.fullUnicodeString gave before fast-check 4;
    // built by hand because `fc.string({ unit: 'binary' })` can cost a second to warm up).
    const codePoint = fc.integer({ min: 0, max: 0x10ffff - 0x800 }).map((c) => String.fromCodePoint(c >= 0xd800 ? c + 0x800 : c));
    const unit = fc.oneof(
      fc.string({ unit: codePoint, maxLength: 20 }),
      fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
      fc.constantFrom('\0', 'é', '😀'),
    );
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 8 }).map((a) => a.join('')), fc.nat(7), (s, offset) => {
        const utf16 = !isWellFormed(s);
        const buf = Buffer.alloc(offset + 3 * s.length);
        const n = writeString(buf, s, offset, utf16);
        expect(n).toBeLessThanOrEqual(3 * s.length);
        expect(readString(buf, offset, offset + n, utf16)).toBe(s);
      }),
      { numRuns: 300 },
    );
  });
});
