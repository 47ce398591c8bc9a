/**
 * One contract suite per service, run against every implementation of it
 * (STYLE.md: "One contract suite runs against every implementation of a
 * service"). An optimized implementation joins its suite by adding one line
 * to that service's `implementations` table.
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import { forEachSlice, type KeyedStoreFactory } from '../../src/services/sharded-map/index.js';
import { createMapStore } from '../../src/services/sharded-map/baseline.js';
import { ShardedMap, createShardedStore } from '../../src/services/sharded-map/sharded.js';
import type { OutboundWriter } from '../../src/services/async-io/index.js';
import { DirectWriter } from '../../src/services/async-io/baseline.js';
import { CoalescingWriter } from '../../src/services/async-io/coalescing.js';
import type { FrameScanner } from '../../src/services/frame-scan/index.js';
import { NativeScanner } from '../../src/services/frame-scan/baseline.js';
import { JsLoopScanner, SimdWasmScanner } from '../../src/services/frame-scan/simd-wasm.js';
import type { CompressionService } from '../../src/services/compression/index.js';
import { NoCompression } from '../../src/services/compression/baseline.js';
import { NativeCompression } from '../../src/services/compression/native.js';
import type { ConnectionPool, Pooled } from '../../src/services/connection-pool/index.js';
import { SimpleConnectionPool } from '../../src/services/connection-pool/baseline.js';
import { TimerWheelPool, type WheelNode } from '../../src/services/connection-pool/timer-wheel.js';
import type { GaugeSource, PerformanceMonitor } from '../../src/services/perf-monitor/index.js';
import { WindowedMonitor } from '../../src/services/perf-monitor/baseline.js';
import { BatchedMonitor } from '../../src/services/perf-monitor/batched.js';
import type { BufferPool } from '../../src/services/memory-pool/index.js';
import { UnpooledBuffers } from '../../src/services/memory-pool/baseline.js';
import { SlabBuffers } from '../../src/services/memory-pool/slab.js';
import type { Broadcaster } from '../../src/services/parallel-broadcast/index.js';
import { InlineBroadcaster } from '../../src/services/parallel-broadcast/baseline.js';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- sharded-map
const storeImpls: [string, KeyedStoreFactory][] = [
  ['createMapStore (baseline)', createMapStore],
  ['ShardedMap (64 shards)', createShardedStore],
  ['ShardedMap (1 shard)', <K, V>() => new ShardedMap<K, V>(1)],
];

describe.each(storeImpls)('KeyedStore: %s', (_name, factory) => {
  it('has Map semantics for get / set / has / delete / size', () => {
    const s = factory<string, number>();
    expect(s.size).toBe(0);
    expect(s.get('a')).toBeUndefined();
    expect(s.has('a')).toBe(false);
    expect(s.set('a', 1)).toBe(s);
    s.set('b', 2).set('c', 3);
    expect(s.size).toBe(3);
    expect(s.get('b')).toBe(2);
    s.set('b', 20);
    expect(s.size).toBe(3);
    expect(s.get('b')).toBe(20);
    expect(s.delete('b')).toBe(true);
    expect(s.delete('b')).toBe(false);
    expect(s.has('b')).toBe(false);
    expect(s.size).toBe(2);
    s.clear();
    expect(s.size).toBe(0);
    expect(s.get('a')).toBeUndefined();
  });

  it('keeps undefined-valued and numeric keys apart', () => {
    const s = factory<number | string, number | undefined>();
    s.set(1, undefined).set('1', 1);
    expect(s.has(1)).toBe(true);
    expect(s.get(1)).toBeUndefined();
    expect(s.get('1')).toBe(1);
    expect(s.size).toBe(2);
  });

  it('uses object identity for object keys', () => {
    const s = factory<object, string>();
    const k1 = {};
    const k2 = {};
    s.set(k1, 'one').set(k2, 'two');
    expect(s.get(k1)).toBe('one');
    expect(s.get({})).toBeUndefined();
  });

  it('agrees with a Map on a random sequence of operations', () => {
    const r = rng(42);
    const s = factory<number, number>();
    const m = new Map<number, number>();
    for (let i = 0; i < 20_000; i++) {
      const k = Math.floor(r() * 500);
      const op = r();
      if (op < 0.5) {
        s.set(k, i);
        m.set(k, i);
      } else if (op < 0.8) expect(s.delete(k)).toBe(m.delete(k));
      else expect(s.get(k)).toBe(m.get(k));
      if (i % 1000 === 0) expect(s.size).toBe(m.size);
    }
    expect(s.size).toBe(m.size);
    expect([...s.values()].sort((a, b) => a - b)).toEqual([...m.values()].sort((a, b) => a - b));
    expect([...s.entries()].sort((a, b) => a[0] - b[0])).toEqual([...m.entries()].sort((a, b) => a[0] - b[0]));
  });

  it('visits every value present for the whole iteration exactly once, even with changes during it', () => {
    const s = factory<number, number>();
    for (let i = 0; i < 1000; i++) s.set(i, i);
    const stable = new Set<number>();
    for (let i = 0; i < 1000; i += 2) stable.add(i); // even keys are never touched
    const seen = new Map<number, number>();
    let step = 0;
    for (const v of s.values()) {
      seen.set(v, (seen.get(v) ?? 0) + 1);
      step++;
      if (step % 10 === 0) {
        s.delete(2 * (step % 500) + 1); // odd: may or may not be visited
        s.set(1000 + step, 1000 + step); // added: may or may not be visited
      }
    }
    for (const k of stable) expect(seen.get(k), `value ${k}`).toBe(1);
    for (const [, n] of seen) expect(n).toBe(1);
  });

  it('treats 0 / -0 as one key and NaN as a key (SameValueZero)', () => {
    const s = factory<number, string>();
    s.set(0, 'zero').set(-0, 'minus zero').set(NaN, 'nan');
    expect(s.size).toBe(2);
    expect(s.get(0)).toBe('minus zero');
    expect(s.get(NaN)).toBe('nan');
    s.set(2 ** 40 + 1, 'big').set(1.5, 'half');
    expect(s.get(2 ** 40 + 1)).toBe('big');
    expect(s.get(1.5)).toBe('half');
    expect(s.delete(-0)).toBe(true);
    expect(s.has(0)).toBe(false);
  });

  it('forEachSlice visits each entry once, in slices of at most maxPerSlice, yielding to the event loop between them', async () => {
    const s = factory<string, number>();
    for (let i = 0; i < 2500; i++) s.set(`conn-${i}`, i);
    let ticks = 0;
    let stop = false;
    const tick = () => {
      ticks++;
      if (!stop) setImmediate(tick);
    };
    setImmediate(tick);
    const seen = new Map<number, number>();
    const tickAtVisit: number[] = [];
    const n = await forEachSlice(
      s,
      (v, k) => {
        expect(k).toBe(`conn-${v}`);
        seen.set(v, (seen.get(v) ?? 0) + 1);
        tickAtVisit.push(ticks);
      },
      1000,
    );
    stop = true;
    expect(n).toBe(2500);
    expect(seen.size).toBe(2500);
    for (const [, c] of seen) expect(c).toBe(1);
    const perTurn = new Map<number, number>();
    for (const t of tickAtVisit) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    expect([...perTurn.values()]).toEqual([1000, 1000, 500]); // other callbacks ran between slices
    expect(await forEachSlice(factory<string, number>(), () => expect.fail('empty store'))).toBe(0);
  });

  it('forEachSlice keeps its promise while the store changes between slices', async () => {
    const s = factory<number, number>();
    for (let i = 0; i < 5000; i++) s.set(i, i);
    const deleted = new Set<number>();
    const r = rng(11);
    let next = 5000;
    let stop = false;
    const churn = () => {
      for (let j = 0; j < 50; j++) {
        const k = 2 * Math.floor(r() * 2500) + 1; // odd keys come and go
        s.delete(k);
        deleted.add(k);
        s.set(next, next++); // new keys: may or may not be visited
      }
      if (!stop) setImmediate(churn);
    };
    setImmediate(churn);
    const seen = new Map<number, number>();
    await forEachSlice(
      s,
      (v, k) => {
        expect(v).toBe(k);
        expect(deleted.has(k), `key ${k} visited after its delete`).toBe(false);
        seen.set(k, (seen.get(k) ?? 0) + 1);
      },
      100,
    );
    stop = true;
    for (let k = 0; k < 5000; k += 2) expect(seen.get(k), `key ${k}`).toBe(1);
    for (const [, c] of seen) expect(c).toBe(1);
    expect(deleted.size).toBeGreaterThan(0);
  });

  it('forEachSlice rejects a maxPerSlice that is not an integer >= 1', async () => {
    const s = factory<number, number>();
    s.set(1, 1);
    await expect(forEachSlice(s, () => {}, 0)).rejects.toThrow(RangeError);
    await expect(forEachSlice(s, () => {}, 1.5)).rejects.toThrow(RangeError);
  });
});

// ---------------------------------------------------------------- async-io
const writerImpls: [string, () => OutboundWriter][] = [
  ['DirectWriter (baseline)', () => new DirectWriter()],
  ['CoalescingWriter', () => new CoalescingWriter()],
  ['CoalescingWriter (flushBytes 100)', () => new CoalescingWriter(100)],
  ['CoalescingWriter (every flush by writev)', () => new CoalescingWriter(64 * 1024, 0)],
  ['CoalescingWriter (copy up to 40 bytes)', () => new CoalescingWriter(64 * 1024, 40)],
];

describe.each(writerImpls)('OutboundWriter: %s', (_name, make) => {
  let server: net.Server;
  let port = 0;
  const received = new Map<number, Promise<Buffer>>();
  let nextId = 0;

  beforeAll(async () => {
    server = net.createServer((sock) => {
      const id = nextId++;
      const chunks: Buffer[] = [];
      received.set(
        id,
        new Promise((done) => {
          sock.on('data', (d) => chunks.push(d));
          sock.on('end', () => {
            done(Buffer.concat(chunks));
            sock.end();
          });
        }),
      );
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  async function connect(): Promise<{ sock: net.Socket; data: () => Promise<Buffer> }> {
    const id = nextId;
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((done) => sock.once('connect', () => done()));
    await vi.waitFor(() => expect(received.has(id)).toBe(true));
    return { sock, data: () => received.get(id)! };
  }

  it('delivers frames in call order, shared buffers unmodified', async () => {
    const w = make();
    const a = await connect();
    const b = await connect();
    const shared = Buffer.from('shared-frame|');
    const copy = Buffer.from(shared);
    const expectedA: Buffer[] = [];
    const expectedB: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const own = Buffer.from(`a${i}|`);
      w.write(a.sock, own);
      expectedA.push(own);
      w.write(a.sock, shared);
      expectedA.push(shared);
      w.write(b.sock, shared);
      expectedB.push(shared);
    }
    const big = Buffer.alloc(256 * 1024, 7);
    w.write(a.sock, big);
    expectedA.push(big);
    w.flush(a.sock);
    w.flush(b.sock);
    a.sock.end();
    b.sock.end();
    expect((await a.data()).equals(Buffer.concat(expectedA))).toBe(true);
    expect((await b.data()).equals(Buffer.concat(expectedB))).toBe(true);
    expect(shared.equals(copy)).toBe(true);
  });

  it('hands every frame to the socket without an explicit flush, by the next event-loop turn', async () => {
    const w = make();
    const a = await connect();
    const frames = Array.from({ length: 50 }, (_, i) => Buffer.from(`f${i};`));
    for (const f of frames) w.write(a.sock, f);
    await new Promise((r) => setImmediate(r));
    expect(w.pending(a.sock)).toBe(a.sock.writableLength);
    a.sock.end();
    expect((await a.data()).equals(Buffer.concat(frames))).toBe(true);
  });

  it('counts bytes not yet handed to the kernel in pending()', async () => {
    const w = make();
    const sock = net.connect(port, '127.0.0.1'); // still connecting: nothing reaches the kernel yet
    expect(w.pending(sock)).toBe(0);
    w.write(sock, Buffer.alloc(100));
    w.write(sock, Buffer.alloc(50));
    expect(w.pending(sock)).toBe(150);
    w.flush(sock);
    await new Promise<void>((done) => sock.once('connect', () => done()));
    sock.end();
    await vi.waitFor(() => expect(w.pending(sock)).toBe(0));
    sock.destroy();
  });

  it('keeps order over many turns, and keeps a frame written to the same socket while it is being flushed', async () => {
    const w = make();
    const a = await connect();
    const b = await connect();
    const expectedA: Buffer[] = [];
    const expectedB: Buffer[] = [];
    // The first write to b during each flush of a re-enters the writer (as a handler answering at once would).
    const origWrite = a.sock.write.bind(a.sock) as (chunk: Buffer) => boolean;
    let reentered = 0;
    (a.sock as { write: unknown }).write = (chunk: Buffer) => {
      if (reentered < 3 && chunk.toString().startsWith('t')) {
        reentered++;
        const again = Buffer.from(`re${reentered};`);
        w.write(a.sock, again);
        expectedA.push(again);
        const other = Buffer.from(`b-re${reentered};`);
        w.write(b.sock, other);
        expectedB.push(other);
      }
      return origWrite(chunk);
    };
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 3; i++) {
        const f = Buffer.from(`t${turn}.${i};`);
        w.write(a.sock, f);
        expectedA.push(f);
      }
      const g = Buffer.from(`b${turn};`);
      w.write(b.sock, g);
      expectedB.push(g);
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(reentered).toBe(3);
    expect(w.pending(a.sock)).toBe(a.sock.writableLength);
    a.sock.end();
    b.sock.end();
    // Order within one socket: every frame arrives; a re-entrant frame lands after the frame being written.
    const gotA = (await a.data()).toString();
    expect(gotA.split(';').filter(Boolean).sort()).toEqual(expectedA.map((f) => f.toString().slice(0, -1)).sort());
    const ts = gotA.split(';').filter((x) => x.startsWith('t'));
    expect(ts).toEqual(expectedA.map((f) => f.toString().slice(0, -1)).filter((x) => x.startsWith('t')));
    expect((await b.data()).toString().split(';').filter(Boolean).sort()).toEqual(expectedB.map((f) => f.toString().slice(0, -1)).sort());
  });

  it('reports backpressure past the high-water mark', async () => {
    const w = make();
    const sock = net.connect(port, '127.0.0.1');
    let ok = true;
    for (let i = 0; i < 64 && ok; i++) ok = w.write(sock, Buffer.alloc(64 * 1024));
    w.flush(sock);
    expect(ok).toBe(false);
    sock.destroy();
  });
});

// ---------------------------------------------------------------- frame-scan
const scannerImpls: [string, () => FrameScanner][] = [
  ['NativeScanner (baseline)', () => new NativeScanner()],
  ['SimdWasmScanner (simd: wasm)', () => new SimdWasmScanner()],
  ['JsLoopScanner (simd: fallback)', () => new JsLoopScanner()],
];

function naiveIndexOfNewline(buf: Uint8Array, from: number): number {
  for (let i = Math.max(0, from); i < buf.length; i++) if (buf[i] === 0x0a) return i;
  return -1;
}

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function naiveIsUtf8(buf: Uint8Array): boolean {
  try {
    fatalDecoder.decode(buf);
    return true;
  } catch {
    return false;
  }
}

/** Random bytes biased towards interesting ones: newlines, ASCII, UTF-8 lead and continuation bytes. */
function randomBytes(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  const pool = [0x0a, 0x0d, 0x41, 0x7b, 0x80, 0xbf, 0xc2, 0xc0, 0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xff, 0x00];
  for (let i = 0; i < n; i++) b[i] = r() < 0.5 ? pool[Math.floor(r() * pool.length)]! : Math.floor(r() * 256);
  return b;
}

/** Random well-formed UTF-8 (every code point class, no lone surrogates). */
function randomUtf8(r: () => number, chars: number): Buffer {
  let s = '';
  for (let i = 0; i < chars; i++) {
    const c = r();
    if (c < 0.4) s += String.fromCharCode(0x20 + Math.floor(r() * 95));
    else if (c < 0.6) s += String.fromCodePoint(0x80 + Math.floor(r() * 0x780));
    else if (c < 0.8) s += String.fromCodePoint(0x800 + Math.floor(r() * (0xd800 - 0x800)));
    else if (c < 0.9) s += String.fromCodePoint(0xe000 + Math.floor(r() * 0x2000));
    else s += String.fromCodePoint(0x10000 + Math.floor(r() * 0x100000));
  }
  return Buffer.from(s, 'utf8');
}

describe.each(scannerImpls)('FrameScanner: %s', (_name, make) => {
  const sc = make();

  it('indexOfNewline agrees with a naive loop on random buffers and offsets', () => {
    const r = rng(7);
    for (let t = 0; t < 2000; t++) {
      const n = Math.floor(r() * 300);
      const buf = randomBytes(r, n);
      if (r() < 0.3) buf.fill(0x61); // no newline at all
      for (const from of [0, Math.floor(r() * (n + 1)), n, n - 1 < 0 ? 0 : n - 1]) {
        expect(sc.indexOfNewline(buf, from)).toBe(naiveIndexOfNewline(buf, from));
      }
    }
  });

  it('indexOfNewline works on views and long buffers', () => {
    const big = Buffer.alloc(1 << 20, 0x61);
    big[(1 << 20) - 1] = 0x0a;
    expect(sc.indexOfNewline(big, 0)).toBe((1 << 20) - 1);
    const view = Buffer.from('xx\nabc\ndef').subarray(3);
    expect(sc.indexOfNewline(view, 0)).toBe(3);
    expect(sc.indexOfNewline(view, 4)).toBe(-1);
    expect(sc.indexOfNewline(new Uint8Array([1, 10, 2]), 0)).toBe(1);
    expect(sc.indexOfNewline(Buffer.alloc(0), 0)).toBe(-1);
  });

  it('isUtf8 agrees with a strict decoder on random bytes', () => {
    const r = rng(11);
    for (let t = 0; t < 3000; t++) {
      const buf = randomBytes(r, Math.floor(r() * 64));
      expect(sc.isUtf8(buf), buf.toString('hex')).toBe(naiveIsUtf8(buf));
    }
  });

  it('isUtf8 accepts random well-formed UTF-8, and rejects it truncated mid-character', () => {
    const r = rng(13);
    for (let t = 0; t < 500; t++) {
      const buf = randomUtf8(r, 1 + Math.floor(r() * 200));
      expect(sc.isUtf8(buf)).toBe(true);
      const cut = Math.floor(r() * buf.length);
      expect(sc.isUtf8(buf.subarray(0, cut))).toBe(naiveIsUtf8(buf.subarray(0, cut)));
    }
  });

  it.each([
    ['empty', [], true],
    ['ASCII', [0x7b, 0x7d], true],
    ['BOM', [0xef, 0xbb, 0xbf], true],
    ['max code point', [0xf4, 0x8f, 0xbf, 0xbf], true],
    ['over max code point', [0xf4, 0x90, 0x80, 0x80], false],
    ['overlong /', [0xc0, 0xaf], false],
    ['overlong 3-byte', [0xe0, 0x80, 0xaf], false],
    ['surrogate', [0xed, 0xa0, 0x80], false],
    ['lone continuation', [0x80], false],
    ['truncated', [0xe2, 0x82], false],
    ['0xff', [0xff], false],
    ['smallest 2-byte', [0xc2, 0x80], true],
    ['overlong 2-byte C1', [0xc1, 0xbf], false],
    ['smallest 3-byte', [0xe0, 0xa0, 0x80], true],
    ['last before surrogates', [0xed, 0x9f, 0xbf], true],
    ['last surrogate', [0xed, 0xbf, 0xbf], false],
    ['first after surrogates', [0xee, 0x80, 0x80], true],
    ['smallest 4-byte', [0xf0, 0x90, 0x80, 0x80], true],
    ['overlong 4-byte', [0xf0, 0x8f, 0xbf, 0xbf], false],
    ['lead F5', [0xf5, 0x80, 0x80, 0x80], false],
    ['0xfe', [0xfe], false],
    ['missing continuation before ASCII', [0xc2, 0x41], false],
    ['bad second continuation', [0xe2, 0x82, 0x28], false],
    ['truncated 4-byte', [0xf0, 0x9f, 0x98], false],
    ['truncated 4-byte then ASCII', [0xf0, 0x9f, 0x98, 0x41], false],
    ['two continuations after 2-byte', [0xc3, 0xa9, 0xa9], false],
  ])('isUtf8: %s', (_what, bytes, ok) => {
    expect(sc.isUtf8(Buffer.from(bytes as number[]))).toBe(ok);
  });

  it('isUtf8 at every position of long ASCII runs (vector, block and 64 KiB segment edges)', () => {
    const cases: [string, number[], boolean][] = [
      ['é', [0xc3, 0xa9], true],
      ['€', [0xe2, 0x82, 0xac], true],
      ['😀', [0xf0, 0x9f, 0x98, 0x80], true],
      ['surrogate', [0xed, 0xa0, 0x80], false],
      ['overlong', [0xe0, 0x80, 0xaf], false],
      ['lone continuation', [0x80], false],
      ['truncated', [0xf0, 0x9f, 0x98], false],
    ];
    for (const size of [200, 65536 + 300]) {
      const edges = [0, 1, 14, 15, 16, 17, 31, 32, 47, 48, 63, 64, 65, 127, 128, size - 5, size - 4, size - 3, size - 2, size - 1];
      if (size > 65536) edges.push(65532, 65533, 65534, 65535, 65536, 65537);
      for (const [what, bytes, ok] of cases) {
        for (const at of edges) {
          if (at + bytes.length > size) continue;
          const buf = Buffer.alloc(size, 0x61);
          buf.set(bytes, at);
          expect(sc.isUtf8(buf), `${what} at ${at} of ${size}`).toBe(ok);
          expect(sc.isUtf8(buf.subarray(0, at + bytes.length - 1)), `${what} cut at ${at} of ${size}`).toBe(naiveIsUtf8(buf.subarray(0, at + bytes.length - 1)));
        }
      }
    }
  });

  it('isUtf8 agrees with a strict decoder on long mixed buffers', () => {
    const r = rng(17);
    for (let t = 0; t < 20; t++) {
      const buf = randomUtf8(r, 20_000 + Math.floor(r() * 20_000)); // straddles 64 KiB segments
      expect(sc.isUtf8(buf)).toBe(true);
      const at = Math.floor(r() * buf.length);
      const bad = Buffer.from(buf);
      bad[at] = [0x80, 0xc0, 0xf5, 0xff][t % 4]!;
      expect(sc.isUtf8(bad), `byte ${at}`).toBe(naiveIsUtf8(bad));
    }
  });
});

// ---------------------------------------------------------------- compression
const compressionImpls: [string, () => CompressionService][] = [
  ['NoCompression (baseline)', () => new NoCompression()],
  ['NativeCompression (lz4, zstd)', () => new NativeCompression()],
  ['NativeCompression (lz4 only)', () => new NativeCompression(['lz4'])],
  ['NativeCompression (zstd only)', () => new NativeCompression(['zstd'])],
];

describe.each(compressionImpls)('CompressionService: %s', (_name, make) => {
  const svc = make();

  it('names only known codecs, without repeats', () => {
    for (const c of svc.codecs) expect(['lz4', 'zstd']).toContain(c);
    expect(new Set(svc.codecs).size).toBe(svc.codecs.length);
  });

  it('round-trips bodies with every enabled codec', async () => {
    const bodies = [Buffer.from('{"type":"chat","text":"hi"}'), Buffer.alloc(10_000, 'abc'), randomBytes(rng(3), 5000)];
    for (const codec of svc.codecs) {
      for (const body of bodies) {
        const packed = await svc.compress(codec, body);
        expect((await svc.decompress(codec, packed, 65536)).equals(body)).toBe(true);
      }
    }
  });

  it('refuses a declared size over maxBytes with frame_too_large, before inflating', async () => {
    for (const codec of svc.codecs) {
      const packed = await svc.compress(codec, Buffer.alloc(100_000));
      await expect(Promise.resolve().then(() => svc.decompress(codec, packed, 65536))).rejects.toMatchObject({ code: 'frame_too_large' });
    }
  });

  it('refuses garbage with bad_frame', async () => {
    for (const codec of svc.codecs) {
      await expect(Promise.resolve().then(() => svc.decompress(codec, Buffer.from([1, 2, 3]), 65536))).rejects.toMatchObject({ code: 'bad_frame' });
    }
  });

  it('throws bad_frame for a codec it does not enable', async () => {
    for (const codec of (['lz4', 'zstd'] as const).filter((c) => !svc.codecs.includes(c))) {
      const call = () => Promise.resolve().then(() => svc.decompress(codec, Buffer.from([0]), 65536));
      await expect(call()).rejects.toBeInstanceOf(ProtocolError);
      await expect(call()).rejects.toMatchObject({ code: 'bad_frame', fatal: true });
    }
  });
});

// ---------------------------------------------------------------- connection-pool
interface Conn extends Pooled {
  readonly id: number;
  readonly name: string;
}
/** Clock of the sweep-schedule tests (any ms value; the wheel is told it at construction). */
const POOL_T0 = 1_700_000_000_000;
const poolImpls: [string, (capacity: number, perAddress?: number, startMs?: number) => ConnectionPool<Conn>][] = [
  ['SimpleConnectionPool (baseline) over createMapStore', (cap, per) => new SimpleConnectionPool<Conn>(cap, createMapStore<number, Conn>(), per)],
  ['TimerWheelPool (250 ms x 1024) over createMapStore', (cap, per, t0 = Date.now()) => new TimerWheelPool<Conn>(cap, createMapStore<number, WheelNode<Conn>>(), per, 250, 1024, t0)],
  ['TimerWheelPool (100 ms x 64: 6.4 s span) over ShardedMap', (cap, per, t0 = Date.now()) => new TimerWheelPool<Conn>(cap, createShardedStore<number, WheelNode<Conn>>(), per, 100, 64, t0)],
];

describe.each(poolImpls)('ConnectionPool: %s', (_name, make) => {
  const conn = (id: number, remoteAddress = '127.0.0.1'): Conn => ({ id, name: `c${id}`, remoteAddress });

  it('caps connections per remote address and frees the slot on remove', () => {
    const p = make(10, 2);
    expect(p.add(conn(1, '10.0.0.1'))).toBe(true);
    expect(p.add(conn(2, '10.0.0.1'))).toBe(true);
    expect(p.add(conn(3, '10.0.0.1'))).toBe(false);
    expect(p.add(conn(4, '10.0.0.2'))).toBe(true);
    expect(p.countFor('10.0.0.1')).toBe(2);
    expect(p.remove(conn(1, '10.0.0.1'))).toBe(true);
    expect(p.countFor('10.0.0.1')).toBe(1);
    expect(p.add(conn(3, '10.0.0.1'))).toBe(true);
    expect(p.size).toBe(3);
  });

  it('refuses past capacity and never holds more', () => {
    const p = make(3);
    expect(p.capacity).toBe(3);
    expect(p.add(conn(1))).toBe(true);
    expect(p.add(conn(2))).toBe(true);
    expect(p.add(conn(3))).toBe(true);
    expect(p.add(conn(4))).toBe(false);
    expect(p.size).toBe(3);
    expect(p.get(4)).toBeUndefined();
    expect(p.remove(conn(2))).toBe(true);
    expect(p.add(conn(4))).toBe(true);
    expect(p.size).toBe(3);
    expect(p.add(conn(5))).toBe(false);
  });

  it('gets, removes and iterates each live connection once', () => {
    const p = make(100);
    const all = Array.from({ length: 50 }, (_, i) => conn(i + 1));
    for (const c of all) expect(p.add(c)).toBe(true);
    expect(p.get(7)).toBe(all[6]);
    expect(p.remove(all[6]!)).toBe(true);
    expect(p.remove(all[6]!)).toBe(false);
    expect(p.get(7)).toBeUndefined();
    const ids = [...p.values()].map((c) => c.id).sort((a, b) => a - b);
    expect(ids).toEqual(all.filter((c) => c.id !== 7).map((c) => c.id));
    expect(p.size).toBe(49);
  });

  it('holds capacity under churn', () => {
    const p = make(10);
    const r = rng(5);
    const live = new Set<number>();
    for (let i = 1; i <= 5000; i++) {
      if (r() < 0.6) {
        const added = p.add(conn(i));
        expect(added).toBe(live.size < 10);
        if (added) live.add(i);
      } else if (live.size > 0) {
        const id = [...live][Math.floor(r() * live.size)]!;
        expect(p.remove(conn(id))).toBe(true);
        live.delete(id);
      }
      expect(p.size).toBe(live.size);
      expect(p.size).toBeLessThanOrEqual(10);
    }
  });

  it('capacity 1', () => {
    const p = make(1);
    expect(p.add(conn(1))).toBe(true);
    expect(p.add(conn(2))).toBe(false);
  });

  // Sweep schedule: due() may yield early, never late.
  const ids = (it: Iterable<Conn>) => [...it].map((c) => c.id).sort((a, b) => a - b);

  it('due: a connection added is due on the next call; a refused or removed one never', () => {
    const p = make(2, 2, POOL_T0);
    const [a, b, c] = [conn(1), conn(2), conn(3)];
    p.add(a);
    p.add(b);
    expect(p.add(c)).toBe(false);
    expect(ids(p.due(POOL_T0))).toEqual([1, 2]);
    p.remove(a);
    p.schedule(b, POOL_T0 + 1000);
    expect(ids(p.due(POOL_T0 + 1000))).toEqual([2]);
    p.schedule(a, POOL_T0); // not held: no effect
    p.schedule(c, POOL_T0);
    p.schedule(b, POOL_T0 + 1000);
    expect(ids(p.due(POOL_T0 + 5000))).toEqual([2]);
  });

  it('due: schedule and remove while iterating never yield a connection twice, nor a removed one', () => {
    const p = make(1000, 1000, POOL_T0);
    const all = Array.from({ length: 200 }, (_, i) => conn(i + 1));
    for (const c of all) p.add(c);
    const seen = new Set<number>();
    const removed = new Set<number>();
    /** Rescheduled before this call reached them: they may come up now or on the next call. */
    const moved = new Set<number>();
    let i = 0;
    for (const c of p.due(POOL_T0)) {
      expect(seen.has(c.id), `twice: ${c.id}`).toBe(false);
      expect(removed.has(c.id), `removed: ${c.id}`).toBe(false);
      seen.add(c.id);
      p.schedule(c, POOL_T0); // again on the next call
      // Reschedule one that may still be ahead in this iteration, and remove another.
      const other = all[(i * 7 + 3) % all.length]!;
      if (!seen.has(other.id) && !removed.has(other.id)) {
        p.schedule(other, POOL_T0 - 5);
        moved.add(other.id);
      }
      const gone = all[(i * 13 + 11) % all.length]!;
      if (!seen.has(gone.id) && !removed.has(gone.id) && i % 3 === 0) {
        p.remove(gone);
        removed.add(gone.id);
      }
      i++;
    }
    for (const c of all) expect(seen.has(c.id) || removed.has(c.id) || moved.has(c.id), `missed: ${c.id}`).toBe(true);
    // Everyone still held was scheduled for now (or earlier): all due on the next call, once each.
    expect(ids(p.due(POOL_T0 + 1))).toEqual(all.filter((c) => !removed.has(c.id)).map((c) => c.id));
  });

  it('due: never later than scheduled, over random schedules, removals and clock steps (model check)', () => {
    const r = rng(11);
    const p = make(10_000, 10_000, POOL_T0);
    /** Held connections → their requested time (null: unscheduled, as a closing one). */
    const model = new Map<number, { c: Conn; at: number | null }>();
    let nextId = 1;
    let now = POOL_T0;
    /** Due but not reached by a call the caller stopped early: the next call must yield them. */
    const owed = new Set<number>();
    for (let round = 0; round < 400; round++) {
      // Add a few (due at once), remove a few.
      for (let k = Math.floor(r() * 4); k > 0; k--) {
        const c = conn(nextId++, `10.0.${nextId % 7}.1`);
        expect(p.add(c)).toBe(true);
        model.set(c.id, { c, at: now });
      }
      if (model.size > 0 && r() < 0.3) {
        const id = [...model.keys()][Math.floor(r() * model.size)]!;
        p.remove(model.get(id)!.c);
        model.delete(id);
      }
      // An event brings some deadlines forward (or schedules an unscheduled one): the sooner request stands.
      for (let k = model.size > 0 && r() < 0.5 ? 3 : 0; k > 0; k--) {
        const m = model.get([...model.keys()][Math.floor(r() * model.size)]!)!;
        const t = now + Math.floor(r() * 30_000) - 1000;
        p.schedule(m.c, t);
        m.at = m.at === null ? t : Math.min(m.at, t);
      }
      // Time moves on by 0..3 s; now and then it steps back (NTP) or jumps far ahead.
      const roll = r();
      now += roll < 0.02 ? -3_600_000 : roll < 0.04 ? 600_000 : Math.floor(r() * 3000);
      const got = new Set<number>();
      // Now and then the caller stops early: what it did not reach comes up on the next call.
      const stopAfter = r() < 0.1 ? Math.floor(r() * 5) : Infinity;
      for (const c of p.due(now)) {
        expect(got.has(c.id), `yielded twice: ${c.id}`).toBe(false);
        got.add(c.id);
        const m = model.get(c.id);
        expect(m, `yielded a connection not held: ${c.id}`).toBeDefined();
        // The core's lazy re-check: not due yet → ask again for the same time; due → a new time, or none.
        if (m!.at !== null && m!.at > now) p.schedule(c, m!.at);
        else {
          const x = r();
          m!.at = x < 0.1 ? null : x < 0.2 ? now - Math.floor(r() * 1000) : now + Math.floor(r() * (x < 0.9 ? 20_000 : 10_000_000));
          if (m!.at !== null) p.schedule(c, m!.at);
        }
        if (got.size >= stopAfter) break;
      }
      for (const [id, m] of model) {
        if (m.at !== null && m.at <= now && !got.has(id) && !owed.has(id) && stopAfter === Infinity) {
          expect.fail(`connection ${id} scheduled at ${m.at - POOL_T0} not yielded at ${now - POOL_T0}`);
        }
      }
      for (const id of owed) if (model.has(id)) expect(got.has(id) || stopAfter !== Infinity, `owed ${id}`).toBe(true);
      owed.clear();
      if (stopAfter !== Infinity) for (const [id, m] of model) if (m.at !== null && m.at <= now && !got.has(id)) owed.add(id);
      expect(p.size).toBe(model.size);
    }
  });
});

describe('TimerWheelPool specifics', () => {
  const conn = (id: number): Conn => ({ id, name: `c${id}`, remoteAddress: '127.0.0.1' });
  const wheel = (slotMs = 100, slots = 64) => new TimerWheelPool<Conn>(100_000, createMapStore<number, WheelNode<Conn>>(), 100_000, slotMs, slots, POOL_T0);
  const ids = (it: Iterable<Conn>) => [...it].map((c) => c.id).sort((a, b) => a - b);

  it('yields only what is due, give or take the current slot', () => {
    const p = wheel(100);
    const [a, b, c] = [conn(1), conn(2), conn(3)];
    for (const x of [a, b, c]) p.add(x);
    expect(ids(p.due(POOL_T0))).toEqual([1, 2, 3]);
    p.schedule(a, POOL_T0 + 1000);
    p.schedule(b, POOL_T0 + 3050);
    // c left unscheduled: never yielded again.
    expect(ids(p.due(POOL_T0 + 500))).toEqual([]);
    expect(ids(p.due(POOL_T0 + 999))).toEqual([]);
    expect(ids(p.due(POOL_T0 + 1000))).toEqual([1]);
    expect(ids(p.due(POOL_T0 + 2999))).toEqual([]);
    // Same slot as 3050: yielded early, once per call, until asked again for a later slot.
    expect(ids(p.due(POOL_T0 + 3000))).toEqual([2]);
    p.schedule(b, POOL_T0 + 3050);
    expect(ids(p.due(POOL_T0 + 3020))).toEqual([2]);
    p.schedule(b, POOL_T0 + 3050);
    expect(ids(p.due(POOL_T0 + 3050))).toEqual([2]);
    expect(ids(p.due(POOL_T0 + 60_000))).toEqual([]);
    expect(p.scheduled).toBe(0);
  });

  it('a sweep over idle connections yields none of them', () => {
    const p = wheel(250, 1024);
    const all = Array.from({ length: 10_000 }, (_, i) => conn(i + 1));
    for (const c of all) p.add(c);
    expect([...p.due(POOL_T0)].length).toBe(10_000);
    all.forEach((c, i) => p.schedule(c, POOL_T0 + 30_000 + (i % 1000) * 10));
    let yielded = 0;
    for (let t = POOL_T0 + 1000; t < POOL_T0 + 29_750; t += 1000) yielded += [...p.due(t)].length;
    expect(yielded).toBe(0);
    expect([...p.due(POOL_T0 + 30_000)].length).toBe(250); // the slot [30 000, 30 250): 25 offsets x 10 connections
  });

  it('a time past the span comes up at its end, early', () => {
    const p = wheel(100, 64); // 6.4 s
    const a = conn(1);
    p.add(a);
    [...p.due(POOL_T0)];
    p.schedule(a, POOL_T0 + 3_600_000);
    expect(ids(p.due(POOL_T0 + 6_200))).toEqual([]);
    expect(ids(p.due(POOL_T0 + 6_400))).toEqual([1]);
  });

  it('an iteration stopped half-way: the rest come up on the next call; a request for one of them does not hold it back', () => {
    const p = wheel(100, 64);
    const all = Array.from({ length: 10 }, (_, i) => conn(i + 1));
    for (const c of all) p.add(c);
    const first: number[] = [];
    for (const c of p.due(POOL_T0)) {
      first.push(c.id);
      p.schedule(c, POOL_T0 + 5_000);
      if (first.length === 3) break;
    }
    const rest: number[] = [];
    for (const c of p.due(POOL_T0 + 50)) {
      if (rest.length === 0) {
        // One not reached yet, asked for later: it still comes up now (early is allowed, never late).
        const ahead = all.find((x) => !first.includes(x.id) && x.id !== c.id)!;
        p.schedule(ahead, POOL_T0 + 3_000);
      }
      rest.push(c.id);
    }
    expect([...first, ...rest].sort((a, b) => a - b)).toEqual(all.map((c) => c.id));
    expect(ids(p.due(POOL_T0 + 4_999))).toEqual([]);
    expect(ids(p.due(POOL_T0 + 5_000))).toEqual(first.sort((a, b) => a - b));
  });

  it('schedule only moves sooner until the connection is yielded', () => {
    const p = wheel(100, 1024);
    const [a, b] = [conn(1), conn(2)];
    p.add(a);
    p.add(b);
    [...p.due(POOL_T0)];
    p.schedule(a, POOL_T0 + 5_000);
    p.schedule(a, POOL_T0 + 1_000); // sooner: moves
    p.schedule(b, POOL_T0 + 1_000);
    p.schedule(b, POOL_T0 + 5_000); // later: the sooner one stands
    expect(ids(p.due(POOL_T0 + 999))).toEqual([]);
    expect(ids(p.due(POOL_T0 + 1_000))).toEqual([1, 2]);
    p.schedule(a, POOL_T0 + 5_000); // consumed: a fresh request
    expect(ids(p.due(POOL_T0 + 4_999))).toEqual([]);
    expect(ids(p.due(POOL_T0 + 5_000))).toEqual([1]);
  });

  it('a removed connection leaves the wheel', () => {
    const p = wheel();
    const all = Array.from({ length: 50 }, (_, i) => conn(i + 1));
    for (const c of all) p.add(c);
    for (const c of all) p.schedule(c, POOL_T0 + 1000);
    expect(p.scheduled).toBe(50);
    for (const c of all.slice(0, 20)) p.remove(c);
    expect(p.scheduled).toBe(30);
    expect(ids(p.due(POOL_T0 + 1000))).toEqual(all.slice(20).map((c) => c.id));
  });

  it('a clock step backwards re-checks every connection once', () => {
    const p = wheel(100, 64);
    const [a, b] = [conn(1), conn(2)];
    p.add(a);
    p.add(b);
    [...p.due(POOL_T0)];
    p.schedule(a, POOL_T0 + 5000);
    p.schedule(b, POOL_T0 + 500);
    const back = POOL_T0 - 3_600_000;
    expect(ids(p.due(back))).toEqual([1, 2]);
    p.schedule(a, back + 1000);
    expect(ids(p.due(back + 900))).toEqual([]);
    expect(ids(p.due(back + 1000))).toEqual([1]);
  });

  it('refuses a bad geometry', () => {
    const store = createMapStore<number, WheelNode<Conn>>();
    expect(() => new TimerWheelPool<Conn>(10, store, 10, 0)).toThrow(RangeError);
    expect(() => new TimerWheelPool<Conn>(10, store, 10, 1.5)).toThrow(RangeError);
    expect(() => new TimerWheelPool<Conn>(10, store, 10, 100, 100)).toThrow(RangeError);
    expect(() => new TimerWheelPool<Conn>(10, store, 10, 100, 1)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------- perf-monitor
const monitorImpls: [string, (g: GaugeSource) => PerformanceMonitor][] = [
  ['WindowedMonitor (baseline)', (g) => new WindowedMonitor(g)],
  ['BatchedMonitor', (g) => new BatchedMonitor(g)],
];

/**
 * Fake clock of the perf-monitor cases: Date and timers, so a monitor that
 * rotates its buckets on a 1-s timer (BatchedMonitor) sees time pass as in a
 * real process. `advanceTo` lets time pass up to `ms`, firing the timers due
 * on the way; `vi.setSystemTime` alone moves Date without firing any (a
 * suspended process, or a tick that has not run yet).
 */
const MONITOR_FAKES = { toFake: ['Date', 'setTimeout', 'clearTimeout'] } as const;
function advanceTo(ms: number): void {
  const d = ms - Date.now();
  if (d < 0) throw new Error(`advanceTo(${ms}) is ${-d} ms in the past`);
  vi.advanceTimersByTime(d);
}

describe.each(monitorImpls)('PerformanceMonitor: %s', (_name, make) => {
  const T0 = 1_700_000_000_000; // a whole second
  const gauges: GaugeSource = { connections: () => 12, rooms: () => 3 };

  beforeEach(() => {
    vi.useFakeTimers({ toFake: [...MONITOR_FAKES.toFake] });
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports the contract fields, zeros when idle', () => {
    const m = make(gauges);
    const s = m.snapshot();
    for (const k of ['msg_per_sec', 'deliveries_per_sec', 'latency_p99_ms', 'memory_mb', 'connections', 'error_rate', 'uptime_s', 'rooms', 'messages_total']) {
      expect(typeof (s as unknown as Record<string, unknown>)[k], k).toBe('number');
    }
    expect(s).toMatchObject({ msg_per_sec: 0, deliveries_per_sec: 0, latency_p99_ms: 0, error_rate: 0, connections: 12, rooms: 3, messages_total: 0, uptime_s: 0 });
    expect(s.memory_mb).toBeGreaterThan(0);
  });

  it('gives rates over the last 10 s, and forgets older counts', () => {
    const m = make(gauges);
    advanceTo(T0 + 60_000); // past the first window: rates divide by 10 s
    for (let sec = 0; sec < 10; sec++) {
      advanceTo(T0 + 60_000 + sec * 1000 + 500);
      for (let i = 0; i < 20; i++) m.recordMessage();
      m.recordDeliveries(100);
      m.recordDeliveries(0);
    }
    let s = m.snapshot();
    expect(s.msg_per_sec).toBeCloseTo(20, 5);
    expect(s.deliveries_per_sec).toBeCloseTo(100, 5);
    expect(s.messages_total).toBe(200);
    expect(s.uptime_s).toBe(69);
    advanceTo(T0 + 60_000 + 14_500); // the first 5 seconds fall out
    s = m.snapshot();
    expect(s.msg_per_sec).toBeCloseTo(10, 5);
    advanceTo(T0 + 120_000);
    s = m.snapshot();
    expect(s.msg_per_sec).toBe(0);
    expect(s.deliveries_per_sec).toBe(0);
    expect(s.messages_total).toBe(200); // totals are not windowed
  });

  it('divides by the uptime while it is shorter than the window', () => {
    const m = make(gauges);
    advanceTo(T0 + 4000);
    for (let i = 0; i < 40; i++) m.recordMessage();
    expect(m.snapshot().msg_per_sec).toBeCloseTo(10, 5);
  });

  it('p99 latency from recorded latencies, in the window', () => {
    const m = make(gauges);
    advanceTo(T0 + 30_000);
    for (let i = 1; i <= 1000; i++) m.recordLatency(i / 10); // 0.1 .. 100 ms
    let s = m.snapshot();
    expect(s.latency_p99_ms).toBeGreaterThanOrEqual(98.9);
    expect(s.latency_p99_ms).toBeLessThanOrEqual(99.2);
    expect(s.latency_p50_ms).toBeGreaterThanOrEqual(49.9);
    expect(s.latency_p50_ms).toBeLessThanOrEqual(50.2);
    advanceTo(T0 + 45_000);
    m.recordLatency(2);
    s = m.snapshot();
    expect(s.latency_p99_ms).toBeCloseTo(2, 2);
  });

  it('p99 of sub-millisecond latencies', () => {
    const m = make(gauges);
    advanceTo(T0 + 30_000);
    for (let i = 0; i < 990; i++) m.recordLatency(0.05);
    for (let i = 0; i < 10; i++) m.recordLatency(0.8);
    expect(m.snapshot().latency_p99_ms).toBeLessThanOrEqual(0.06);
    m.recordLatency(0.8);
    expect(m.snapshot().latency_p99_ms).toBeCloseTo(0.8, 2);
  });

  it('error_rate = errors / inbound envelopes in the window', () => {
    const m = make(gauges);
    advanceTo(T0 + 30_000);
    for (let i = 0; i < 200; i++) m.recordInbound();
    for (let i = 0; i < 10; i++) m.recordError('bad_request');
    expect(m.snapshot().error_rate).toBeCloseTo(0.05, 4);
    expect(m.snapshot().errors_total).toBe(10);
  });

  it('never throws from record* and counts plugin errors', () => {
    const m = make(gauges);
    expect(() => {
      m.recordLatency(0);
      m.recordLatency(-5);
      m.recordLatency(10 * 3600_000);
      m.recordDeliveries(-1);
      m.recordError('whatever');
      m.recordPluginError('p');
    }).not.toThrow();
    expect(m.snapshot().plugin_errors_total).toBe(1);
  });

  it('serves a Prometheus exposition', async () => {
    const m = make(gauges);
    m.recordMessage();
    const text = await m.metrics();
    expect(m.metricsContentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toMatch(/^tcpserver_messages_total 1$/m);
    expect(text).toMatch(/^tcpserver_connections 12$/m);
  });

  it('counts each record in the second it was made, to the millisecond', () => {
    vi.setSystemTime(T0 + 437); // created mid-second: its tick must still fall on whole seconds
    const m = make(gauges);
    const base = T0 + 20_000; // uptime past the window: rates divide by 10 s
    for (let k = 0; k < 10; k++) {
      advanceTo(base + k * 1000); // first ms of second k
      for (let i = 0; i <= k; i++) m.recordMessage();
      advanceTo(base + k * 1000 + 999); // last ms of second k
      m.recordMessage();
    }
    // Second k holds k + 2 messages: 65 in all.
    expect(m.snapshot().msg_per_sec).toBeCloseTo(6.5, 5);
    advanceTo(base + 10_000); // second 0 (2 messages) falls out
    expect(m.snapshot().msg_per_sec).toBeCloseTo(6.3, 5);
    advanceTo(base + 10_999);
    expect(m.snapshot().msg_per_sec).toBeCloseTo(6.3, 5);
    advanceTo(base + 11_000); // second 1 (3 messages) falls out
    expect(m.snapshot().msg_per_sec).toBeCloseTo(6.0, 5);
    advanceTo(base + 18_000); // only second 9 (11 messages) left
    expect(m.snapshot().msg_per_sec).toBeCloseTo(1.1, 5);
    advanceTo(base + 19_000);
    expect(m.snapshot().msg_per_sec).toBe(0);
    expect(m.snapshot().messages_total).toBe(65);
  });

  it('is right after more than 10 s without records, even when no timer ran meanwhile', () => {
    const m = make(gauges);
    advanceTo(T0 + 20_000);
    for (let i = 0; i < 100; i++) m.recordInbound();
    for (let i = 0; i < 50; i++) m.recordMessage();
    for (let i = 0; i < 5; i++) m.recordError('bad_request');
    m.recordLatency(3);
    expect(m.snapshot()).toMatchObject({ msg_per_sec: 5, inbound_per_sec: 10, error_rate: 0.05 });
    expect(m.snapshot().latency_p99_ms).toBeCloseTo(3, 2);
    // Date moves on, no timer fires (a suspended process; a tick not run yet).
    vi.setSystemTime(T0 + 30_000);
    expect(m.snapshot()).toMatchObject({ msg_per_sec: 0, inbound_per_sec: 0, error_rate: 0, latency_p99_ms: 0, latency_p50_ms: 0, messages_total: 50, errors_total: 5, uptime_s: 30 });
    // Records after the snapshot land in the new second.
    for (let i = 0; i < 30; i++) m.recordMessage();
    m.recordLatency(0.5);
    expect(m.snapshot()).toMatchObject({ msg_per_sec: 3, messages_total: 80 });
    expect(m.snapshot().latency_p99_ms).toBeCloseTo(0.5, 2);
    vi.setSystemTime(T0 + 55_000);
    expect(m.snapshot()).toMatchObject({ msg_per_sec: 0, latency_p99_ms: 0, messages_total: 80 });
  });

  it('keeps the /metrics counters cumulative over repeated scrapes', async () => {
    const m = make(gauges);
    const values = async () => new Map([...(await m.metrics()).matchAll(/^(tcpserver_(?:messages|errors|plugin_errors|dropped_frames|slow_consumer_disconnects|inbound_envelopes|deliveries)_total(?:\{[^}]*\})?) (\S+)$/gm)].map((x) => [x[1]!, Number(x[2])]));
    for (let i = 0; i < 3; i++) m.recordMessage();
    m.recordError('bad_request');
    m.recordError('bad_request');
    m.recordError('not_in_room');
    let v = await values();
    expect(v.get('tcpserver_messages_total')).toBe(3);
    expect(v.get('tcpserver_errors_total{code="bad_request"}')).toBe(2);
    expect(v.get('tcpserver_errors_total{code="not_in_room"}')).toBe(1);
    expect(v.get('tcpserver_dropped_frames_total')).toBe(0);
    advanceTo(T0 + 2500);
    m.recordMessage();
    m.recordError('bad_request');
    m.recordError('rate_limited');
    m.recordPluginError('chat-room');
    m.recordDropped(7);
    m.recordSlowConsumer();
    m.recordInbound();
    m.recordDeliveries(9);
    v = await values();
    expect(v.get('tcpserver_messages_total')).toBe(4);
    expect(v.get('tcpserver_errors_total{code="bad_request"}')).toBe(3);
    expect(v.get('tcpserver_errors_total{code="not_in_room"}')).toBe(1);
    expect(v.get('tcpserver_errors_total{code="rate_limited"}')).toBe(1);
    expect(v.get('tcpserver_plugin_errors_total{plugin="chat-room"}')).toBe(1);
    expect(v.get('tcpserver_dropped_frames_total')).toBe(7);
    expect(v.get('tcpserver_slow_consumer_disconnects_total')).toBe(1);
    expect(v.get('tcpserver_inbound_envelopes_total')).toBe(1);
    expect(v.get('tcpserver_deliveries_total')).toBe(9);
    expect(await values()).toEqual(v); // a scrape with nothing new changes nothing
  });
});

/** Our series of a /metrics text: `name{labels}` → value; default process / nodejs metrics left out (they move by themselves). */
function ourSeries(text: string): Map<string, number> {
  const ours = /^tcpserver_(?:messages_total|deliveries_total|inbound_envelopes_total|errors_total|plugin_errors_total|dropped_frames_total|slow_consumer_disconnects_total|handle_latency_seconds_(?:bucket|sum|count)|connections|rooms)(?:\{|\s)/;
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!ours.test(line)) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}
/** `# HELP` and `# TYPE` lines of every metric, default ones included. */
const metaLines = (text: string) => text.split('\n').filter((l) => l.startsWith('# '));

describe('PerformanceMonitor: BatchedMonitor against the baseline (oracle)', () => {
  const T0 = 1_700_000_000_000;
  const gauges: GaugeSource = { connections: () => 7, rooms: () => 2 };
  beforeEach(() => {
    vi.useFakeTimers({ toFake: [...MONITOR_FAKES.toFake] });
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** One random record call on both monitors. */
  function randomRecord(r: () => number, ms: PerformanceMonitor[]): void {
    const x = r();
    const codes = ['bad_request', 'not_in_room', 'rate_limited', 'bad_json'];
    for (const m of ms) {
      if (x < 0.25) m.recordInbound();
      else if (x < 0.45) m.recordMessage();
      else if (x < 0.6) m.recordDeliveries(10);
      else if (x < 0.85) m.recordLatency(LAT[Math.floor(x * 1000) % LAT.length]!);
      else if (x < 0.93) m.recordError(codes[Math.floor(x * 997) % codes.length]!);
      else if (x < 0.95) m.recordPluginError(x < 0.94 ? 'chat-room' : 'voice');
      else if (x < 0.97) m.recordDropped(3);
      else if (x < 0.98) m.recordSlowConsumer();
      else m.recordDeliveries(0);
    }
  }
  /** Latencies, ms: every Prometheus bucket, the overflow above 1 s, 0 and a negative one. */
  const LAT = [0.013, 0.05, 0.1, 0.1001, 0.2, 0.25, 0.3, 0.5, 0.77, 1, 1.9, 2.047, 2.048, 2.049, 2.5, 4, 5, 8, 10, 30, 50, 200, 250, 700, 1000, 1500, 0, -0.2, 0.0371, 0.333, 0.001, 1_800_000];

  it('gives the same /stats figures for the same records over 40 s', () => {
    const r = rng(42);
    let t = T0 + 611; // created mid-second
    vi.setSystemTime(t);
    const a = new WindowedMonitor(gauges);
    const b = new BatchedMonitor(gauges);
    for (let step = 0; step < 400; step++) {
      t += Math.floor(r() * 200); // 0–199 ms between bursts: several bursts per second, seconds skipped now and then below
      if (step % 97 === 96) t += 11_000; // a gap longer than the window
      advanceTo(t);
      const burst = Math.floor(r() * 20);
      for (let i = 0; i < burst; i++) randomRecord(r, [a, b]);
      if (step % 7 === 0) {
        const { memory_mb: _ma, ...sa } = a.snapshot();
        const { memory_mb: _mb, ...sb } = b.snapshot();
        expect(sb, `step ${step}`).toEqual(sa);
      }
    }
  });

  it('gives the same /metrics series, help, types and buckets for the same records', async () => {
    const r = rng(7);
    const a = new WindowedMonitor(gauges);
    const b = new BatchedMonitor(gauges);
    for (let scrape = 0; scrape < 3; scrape++) {
      for (let i = 0; i < 2000; i++) randomRecord(r, [a, b]);
      advanceTo(Date.now() + 700);
      const [ta, tb] = await Promise.all([a.metrics(), b.metrics()]);
      expect(metaLines(tb)).toEqual(metaLines(ta));
      const sa = ourSeries(ta), sb = ourSeries(tb);
      expect(sa.get('tcpserver_handle_latency_seconds_bucket{le="0.00025"}')).toBeGreaterThan(0);
      expect(sa.get('tcpserver_handle_latency_seconds_bucket{le="+Inf"}')).toBeGreaterThan(sa.get('tcpserver_handle_latency_seconds_bucket{le="1"}')!);
      expect([...sb.keys()]).toEqual([...sa.keys()]); // same series in the same order
      expect(Object.fromEntries(sb)).toEqual(Object.fromEntries(sa));
    }
    expect(b.metricsContentType).toBe(a.metricsContentType);
  });

  it('gives the baseline HDR histogram p50 / p99, to the µs, from 1 µs to 1 h', () => {
    const r = rng(99);
    // Spreads: log-uniform over the whole range, a tight cluster, bucket edges (2047–2049 µs, powers of two), sub-µs values.
    const spreads: (() => number)[] = [
      () => 0.001 * 3_600_000_000 ** r(),
      () => 0.08 + r() * 0.01,
      () => [2.047, 2.048, 2.049, 4.095, 4.096, 1.024, 65.536, 0.0004][Math.floor(r() * 8)]!,
      () => (r() < 0.98 ? 0.02 + r() * 0.2 : 200 + r() * 3_000_000),
    ];
    for (const [k, spread] of spreads.entries()) {
      for (const n of [1, 7, 100, 5000]) {
        const a = new WindowedMonitor(gauges);
        const b = new BatchedMonitor(gauges);
        for (let i = 0; i < n; i++) {
          const ms = spread();
          a.recordLatency(ms);
          b.recordLatency(ms);
        }
        const sa = a.snapshot(), sb = b.snapshot();
        expect([sb.latency_p50_ms, sb.latency_p99_ms], `spread ${k}, ${n} values`).toEqual([sa.latency_p50_ms, sa.latency_p99_ms]);
      }
    }
  });

  it('ignores non-finite latencies and non-positive counts instead of throwing', async () => {
    const b = new BatchedMonitor(gauges);
    expect(() => {
      b.recordLatency(Number.NaN);
      b.recordLatency(Infinity);
      b.recordDeliveries(Number.NaN);
      b.recordDropped(-3);
      b.recordDropped(0);
    }).not.toThrow();
    const s = ourSeries(await b.metrics());
    expect(s.get('tcpserver_handle_latency_seconds_count')).toBe(0);
    expect(s.get('tcpserver_dropped_frames_total')).toBe(0);
    expect(b.snapshot()).toMatchObject({ deliveries_total: 0, dropped_total: 0, latency_p99_ms: 0 });
  });

  it('arms its 1-s tick unref()ed, so a monitor never keeps the process alive', () => {
    vi.useRealTimers();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    try {
      new BatchedMonitor(gauges);
      const armed = spy.mock.results.map((x) => x.value as NodeJS.Timeout);
      expect(armed.length).toBe(1);
      expect(armed[0]!.hasRef()).toBe(false);
      expect(spy.mock.calls[0]![1]).toBeGreaterThanOrEqual(1);
      expect(spy.mock.calls[0]![1]).toBeLessThanOrEqual(1000);
    } finally {
      spy.mockRestore();
    }
  });
});

// ---------------------------------------------------------------- memory-pool
const bufferPoolImpls: [string, () => BufferPool][] = [
  ['UnpooledBuffers (baseline)', () => new UnpooledBuffers()],
  ['SlabBuffers', () => new SlabBuffers()],
  ['SlabBuffers (1 KiB slabs, at most 2)', () => new SlabBuffers({ slabBytes: 1024, maxSlabs: 2 })],
];

describe.each(bufferPoolImpls)('BufferPool: %s', (_name, make) => {
  it('allocates exactly the requested size', () => {
    const p = make();
    for (const n of [0, 1, 5, 63, 64, 65, 4095, 4096, 8192, 65541, 1 << 20]) expect(p.alloc(n).length).toBe(n);
  });

  it('hands out buffers that do not overlap while held, released ones reusable', () => {
    const p = make();
    const held = Array.from({ length: 100 }, (_, i) => {
      const b = p.alloc(37 + (i % 5) * 100);
      b.fill(i);
      return b;
    });
    held.forEach((b, i) => expect(b.every((x) => x === i)).toBe(true));
    for (const b of held) p.release(b);
    for (let i = 0; i < 100; i++) expect(p.alloc(100).length).toBe(100);
  });
});

describe('SlabBuffers specifics', () => {
  /** [start, end) of a view within its ArrayBuffer. */
  const span = (b: Buffer) => [b.byteOffset, b.byteOffset + b.length] as const;

  it('gives exact sizes across slab ends, and views of one slab never overlap', () => {
    const r = rng(7);
    const p = new SlabBuffers({ slabBytes: 4096, cutoff: 512 });
    const held: Buffer[] = [];
    for (let i = 0; i < 5000; i++) {
      const n = Math.floor(r() * 600); // some above the cutoff
      const b = p.alloc(n);
      expect(b.length).toBe(n);
      b.fill(i & 0xff);
      held.push(b);
    }
    held.forEach((b, i) => expect(b.every((x) => x === (i & 0xff)), `buffer ${i}`).toBe(true));
    const bySlab = new Map<ArrayBufferLike, (readonly [number, number])[]>();
    for (const b of held) if (b.length > 0) (bySlab.get(b.buffer) ?? bySlab.set(b.buffer, []).get(b.buffer)!).push(span(b));
    for (const spans of bySlab.values()) {
      spans.sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    }
  });

  it('carves frames up to the cutoff from one slab, larger ones get their own allocation', () => {
    const p = new SlabBuffers({ slabBytes: 64 * 1024, cutoff: 8192 });
    const a = p.alloc(100), b = p.alloc(8192), c = p.alloc(8193);
    expect(a.buffer).toBe(b.buffer);
    expect(a.buffer.byteLength).toBe(64 * 1024);
    expect(span(b)[0]).toBe(span(a)[1]);
    expect(c.buffer).not.toBe(a.buffer);
    expect(c.byteOffset).toBe(0);
    expect(c.buffer.byteLength).toBe(8193);
    expect(p.slabsCreated).toBe(1);
  });

  it('starts a new slab when the current one is full and leaves the old one to its views', () => {
    const p = new SlabBuffers({ slabBytes: 1000, cutoff: 400 });
    const a = p.alloc(400), b = p.alloc(400), c = p.alloc(400);
    expect(a.buffer).toBe(b.buffer);
    expect(c.buffer).not.toBe(a.buffer);
    expect(c.byteOffset).toBe(0);
    expect(p.slabsCreated).toBe(2);
  });

  it('never has more than maxSlabs alive: past the bound, frames fall back to Buffer.allocUnsafe', () => {
    const p = new SlabBuffers({ slabBytes: 1024, cutoff: 256, maxSlabs: 3 });
    const held: Buffer[] = [];
    for (let i = 0; i < 200; i++) held.push(p.alloc(200).fill(i));
    expect(p.slabsCreated).toBe(3);
    expect(p.liveSlabs).toBeLessThanOrEqual(3);
    expect(p.overflows).toBeGreaterThan(0);
    expect(new Set(held.map((b) => b.buffer)).size).toBeGreaterThan(3);
    held.forEach((b, i) => expect(b.every((x) => x === (i & 0xff))).toBe(true));
  });

  it('starts slabs again once the collector has reclaimed unreferenced ones', async () => {
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const p = new SlabBuffers({ slabBytes: 1024, cutoff: 256, maxSlabs: 2 });
    for (let i = 0; i < 20; i++) p.alloc(200); // nothing held
    expect(p.overflows).toBeGreaterThan(0);
    for (let i = 0; i < 50 && p.liveSlabs > 0; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(p.liveSlabs).toBe(0);
    const before = p.slabsCreated;
    p.alloc(200);
    expect(p.slabsCreated).toBe(before + 1);
    expect(p.liveSlabs).toBe(1);
  });

  it('rejects bad options', () => {
    expect(() => new SlabBuffers({ slabBytes: 0 })).toThrow(RangeError);
    expect(() => new SlabBuffers({ slabBytes: 1024, cutoff: 2048 })).toThrow(/cutoff/);
    expect(() => new SlabBuffers({ maxSlabs: 1.5 })).toThrow(/maxSlabs/);
  });
});

// ---------------------------------------------------------------- parallel-broadcast
const broadcasterImpls: [string, () => Broadcaster][] = [
  ['InlineBroadcaster (baseline)', () => new InlineBroadcaster()],
];

describe.each(broadcasterImpls)('Broadcaster: %s', (_name, make) => {
  let b: Broadcaster;
  beforeEach(() => {
    b = make();
  });
  afterEach(() => b.close());

  it('delivers once per recipient except `except`, in order, counting written deliveries', () => {
    const members = Array.from({ length: 100 }, (_, i) => ({ id: i }));
    const calls: number[] = [];
    const n = b.fanOut(members, members[10]!, (m) => {
      calls.push(m.id);
      return m.id % 3 !== 0; // some writes fail
    });
    expect(calls).toEqual(members.filter((m) => m.id !== 10).map((m) => m.id));
    expect(n).toBe(calls.filter((id) => id % 3 !== 0).length);
  });

  it('calls deliver on the calling thread, before fanOut returns', () => {
    let inside = false;
    const calls: boolean[] = [];
    inside = true;
    b.fanOut(new Set([1, 2, 3]), null, () => {
      calls.push(inside);
      return true;
    });
    inside = false;
    expect(calls).toEqual([true, true, true]);
  });

  it('handles null except, an except not in the set, and no recipients', () => {
    expect(b.fanOut(new Set(['a', 'b']), null, () => true)).toBe(2);
    expect(b.fanOut(new Set(['a', 'b']), 'zzz', () => true)).toBe(2);
    expect(b.fanOut([], null, () => true)).toBe(0);
    expect(b.fanOut(new Set(['a']), 'a', () => true)).toBe(0);
  });

  it('keeps per-recipient order across fanOut calls', () => {
    const log = new Map<number, number[]>();
    const members = [1, 2, 3, 4];
    for (let msg = 0; msg < 50; msg++) {
      b.fanOut(members, msg % 4 === 0 ? 2 : null, (m) => {
        (log.get(m) ?? log.set(m, []).get(m)!).push(msg);
        return true;
      });
    }
    for (const [, msgs] of log) expect(msgs).toEqual([...msgs].sort((x, y) => x - y));
    expect(log.get(1)).toHaveLength(50);
    expect(log.get(2)).toHaveLength(50 - 13);
  });

  it('closes cleanly, twice', async () => {
    await expect(b.close()).resolves.toBeUndefined();
  });
});
