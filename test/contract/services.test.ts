/**
 * One contract suite per service, run against every implementation of it
 * (STYLE.md: "One contract suite runs against every implementation of a
 * service"). An optimized implementation joins its suite by adding one line
 * to that service's `implementations` table.
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import type { KeyedStoreFactory } from '../../src/services/sharded-map/index.js';
import { createMapStore } from '../../src/services/sharded-map/baseline.js';
import type { OutboundWriter } from '../../src/services/async-io/index.js';
import { DirectWriter } from '../../src/services/async-io/baseline.js';
import { CoalescingWriter } from '../../src/services/async-io/coalescing.js';
import type { FrameScanner } from '../../src/services/frame-scan/index.js';
import { NativeScanner } from '../../src/services/frame-scan/baseline.js';
import type { CompressionService } from '../../src/services/compression/index.js';
import { NoCompression } from '../../src/services/compression/baseline.js';
import type { ConnectionPool, Pooled } from '../../src/services/connection-pool/index.js';
import { SimpleConnectionPool } from '../../src/services/connection-pool/baseline.js';
import type { GaugeSource, PerformanceMonitor } from '../../src/services/perf-monitor/index.js';
import { WindowedMonitor } from '../../src/services/perf-monitor/baseline.js';
import type { BufferPool } from '../../src/services/memory-pool/index.js';
import { UnpooledBuffers } from '../../src/services/memory-pool/baseline.js';
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
});

// ---------------------------------------------------------------- async-io
const writerImpls: [string, () => OutboundWriter][] = [
  ['DirectWriter (baseline)', () => new DirectWriter()],
  ['CoalescingWriter', () => new CoalescingWriter()],
  ['CoalescingWriter (flushBytes 100)', () => new CoalescingWriter(100)],
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
  ])('isUtf8: %s', (_what, bytes, ok) => {
    expect(sc.isUtf8(Buffer.from(bytes as number[]))).toBe(ok);
  });
});

// ---------------------------------------------------------------- compression
const compressionImpls: [string, () => CompressionService][] = [
  ['NoCompression (baseline)', () => new NoCompression()],
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
const poolImpls: [string, (capacity: number, perAddress?: number) => ConnectionPool<Conn>][] = [
  ['SimpleConnectionPool (baseline) over createMapStore', (cap, per) => new SimpleConnectionPool<Conn>(cap, createMapStore<number, Conn>(), per)],
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
});

// ---------------------------------------------------------------- perf-monitor
const monitorImpls: [string, (g: GaugeSource) => PerformanceMonitor][] = [
  ['WindowedMonitor (baseline)', (g) => new WindowedMonitor(g)],
];

describe.each(monitorImpls)('PerformanceMonitor: %s', (_name, make) => {
  const T0 = 1_700_000_000_000; // a whole second
  const gauges: GaugeSource = { connections: () => 12, rooms: () => 3 };

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
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
    vi.setSystemTime(T0 + 60_000); // past the first window: rates divide by 10 s
    for (let sec = 0; sec < 10; sec++) {
      vi.setSystemTime(T0 + 60_000 + sec * 1000 + 500);
      for (let i = 0; i < 20; i++) m.recordMessage();
      m.recordDeliveries(100);
      m.recordDeliveries(0);
    }
    let s = m.snapshot();
    expect(s.msg_per_sec).toBeCloseTo(20, 5);
    expect(s.deliveries_per_sec).toBeCloseTo(100, 5);
    expect(s.messages_total).toBe(200);
    expect(s.uptime_s).toBe(69);
    vi.setSystemTime(T0 + 60_000 + 14_500); // the first 5 seconds fall out
    s = m.snapshot();
    expect(s.msg_per_sec).toBeCloseTo(10, 5);
    vi.setSystemTime(T0 + 120_000);
    s = m.snapshot();
    expect(s.msg_per_sec).toBe(0);
    expect(s.deliveries_per_sec).toBe(0);
    expect(s.messages_total).toBe(200); // totals are not windowed
  });

  it('divides by the uptime while it is shorter than the window', () => {
    const m = make(gauges);
    vi.setSystemTime(T0 + 4000);
    for (let i = 0; i < 40; i++) m.recordMessage();
    expect(m.snapshot().msg_per_sec).toBeCloseTo(10, 5);
  });

  it('p99 latency from recorded latencies, in the window', () => {
    const m = make(gauges);
    vi.setSystemTime(T0 + 30_000);
    for (let i = 1; i <= 1000; i++) m.recordLatency(i / 10); // 0.1 .. 100 ms
    let s = m.snapshot();
    expect(s.latency_p99_ms).toBeGreaterThanOrEqual(98.9);
    expect(s.latency_p99_ms).toBeLessThanOrEqual(99.2);
    expect(s.latency_p50_ms).toBeGreaterThanOrEqual(49.9);
    expect(s.latency_p50_ms).toBeLessThanOrEqual(50.2);
    vi.setSystemTime(T0 + 45_000);
    m.recordLatency(2);
    s = m.snapshot();
    expect(s.latency_p99_ms).toBeCloseTo(2, 2);
  });

  it('p99 of sub-millisecond latencies', () => {
    const m = make(gauges);
    vi.setSystemTime(T0 + 30_000);
    for (let i = 0; i < 990; i++) m.recordLatency(0.05);
    for (let i = 0; i < 10; i++) m.recordLatency(0.8);
    expect(m.snapshot().latency_p99_ms).toBeLessThanOrEqual(0.06);
    m.recordLatency(0.8);
    expect(m.snapshot().latency_p99_ms).toBeCloseTo(0.8, 2);
  });

  it('error_rate = errors / inbound envelopes in the window', () => {
    const m = make(gauges);
    vi.setSystemTime(T0 + 30_000);
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
});

// ---------------------------------------------------------------- memory-pool
const bufferPoolImpls: [string, () => BufferPool][] = [
  ['UnpooledBuffers (baseline)', () => new UnpooledBuffers()],
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
