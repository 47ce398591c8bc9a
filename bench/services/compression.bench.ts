/**
 * Benchmark of the compression service `native` (src/services/compression/
 * native.ts: lz4-napi block format, @mongodb-js/zstd level 3 with
 * Frame_Content_Size spliced in; PROTOCOL.md §2), in three parts:
 *
 * (a) codec: compression ratio and MB/s per codec, compress and decompress
 *     (decompress = the server's inbound path, size checks included), on
 *     generated chat envelopes (`chat` JSON: nicks, sentences from a word
 *     list, ids, seqs, timestamps) in body-size classes from 64 B to 4 KiB.
 *     MB/s counts uncompressed bytes (1 MB = 10^6 bytes). zstd runs on the
 *     libuv thread pool: `sequential` awaits each body (one in flight, what
 *     one broadcast costs in latency), `concurrent` has the whole corpus in
 *     flight (throughput with UV_THREADPOOL_SIZE threads).
 * (b) fan-out encode: the cost of encoding one `chat` broadcast for 500
 *     recipients, in this process: `once per codec` is what the server does
 *     (ChatServer.broadcast: serialise once, compress once per codec, share
 *     the frame), `per recipient` is what a naive server would do (compress
 *     for each member; the envelope is still serialised once), `no
 *     compression` is one shared plain frame (and, for scale, a plain frame
 *     copied per member). µs per broadcast; the members all use the codec
 *     named, or a third each (mixed).
 * (c) end-to-end: the real server as a child process (pinned to core 0,
 *     bench/macro/server-process.ts) with service_compression=native and
 *     service_io=coalescing (by default); 500 binary members that negotiate
 *     lz4, zstd, none, or a third each (one run per choice), and one sender
 *     that keeps 32 `send_chat`s of 1 KiB chat text in flight for the window.
 *     Members count frames and wire bytes by walking length prefixes (no
 *     decoding); one member per group decodes everything and checks seq
 *     order and text. Reported: deliveries/s, wire bytes per delivery per
 *     group (u32 length + flags + body), share of compressed frames, server
 *     CPU, ack round trip p50/p99, integrity after drain.
 *
 * Run (after `npm run build`):
 *   node dist/bench/services/compression.bench.js                  # all (~2.5 min)
 *   node dist/bench/services/compression.bench.js --only codec,fanout --time 500
 *   node dist/bench/services/compression.bench.js --only e2e --duration 10s --groups none,lz4,zstd,mixed
 * Flags: `--only codec,fanout,e2e`, `--time MS` (tinybench budget per task,
 * default 1000), `--duration 10s` (e2e window), `--members 500`, `--window 32`,
 * `--text 1024` (e2e chat text bytes), `--io coalescing` (e2e service_io),
 * `--groups none,lz4,zstd,mixed`, `--repeat N` (rounds over the groups),
 * `--wait-quiet 30s` (before each part and
 * each e2e run, wait up to that long for the machine to be under 8% busy),
 * `--json FILE`.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { decompress as zstdDecompress } from '@mongodb-js/zstd';
import { uncompressSync as lz4Uncompress } from 'lz4-napi';
import { Bench } from 'tinybench';
import { encodeFrame, frameOf } from '../../src/core/envelope.js';
import { CODEC_FLAGS, type CodecName } from '../../src/services/compression/contract.js';
import { NativeCompression } from '../../src/services/compression/native.js';
import type { Row } from '../lib/row.js';
import { percentile, rng } from '../lib/stats.js';
import { CLIENT_CORE, pinSelf, waitQuiet } from '../../src/loadgen/pin.js';
import { cpuDelta, frame, freePort, getJson, machineCpu, parseDuration, ServerProcess, sleep, STOP_TIMEOUT_MS, waitFor } from '../macro/server-process.js';

export type { Row };

const svc = new NativeCompression();
const CODECS: readonly CodecName[] = ['lz4', 'zstd'];
/** The server's default compression_threshold and max_frame_bytes. */
const THRESHOLD = 512;
const MAX_FRAME_BYTES = 65536;
const alloc = (n: number) => Buffer.allocUnsafe(n);

// ------------------------------------------------------------------ chat-like corpus

const NICKS = [
  'alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj', 'olivia', 'peggy',
  'rupert', 'sybil', 'trent', 'victor', 'walter', 'yusuf', 'zoe_k', 'marc.d', 'lin-88', 'sam_dev', 'ops-bot',
];
const ROOMS = ['general', 'random', 'dev', 'ops', 'design', 'support', 'release-2.4', 'team:backend', 'lunch'];
const WORDS = (
  'the be to of and a in that have I it for not on with he as you do at this but his by from they we say her she or an will my ' +
  'one all would there their what so up out if about who get which go me when make can like time no just him know take people ' +
  'into year your good some could them see other than then now look only come its over think also back after use two how our ' +
  'work first well way even new want because any these give day most us deploy build test merge branch review ticket release ' +
  'server client latency error log metrics dashboard alert cpu memory queue cache database index query config staging prod ' +
  'rollback hotfix feature flag meeting standup lunch coffee tomorrow today yesterday weekend thanks please sorry great nice ' +
  'cool ok yes yeah lol sure maybe later soon done fixed broken works failing green red looks ship it can someone check ' +
  'https://example.com/issues/4821 PR #1234 v2.4.1 :) :D +1 ^^ btw imo afaik fyi tbh'
).split(' ');

function sentence(r: () => number): string {
  const n = 3 + Math.floor(r() * 14);
  const w: string[] = [];
  for (let i = 0; i < n; i++) w.push(WORDS[Math.floor(r() * WORDS.length)]!);
  const s = w.join(' ');
  return s[0]!.toUpperCase() + s.slice(1) + ['.', '.', '!', '?', '', '...'][Math.floor(r() * 6)]!;
}

/** Chat text of exactly `bytes` bytes (ASCII), a few sentences long. */
export function chatText(r: () => number, bytes: number): string {
  let t = sentence(r);
  while (t.length < bytes) t += ` ${sentence(r)}`;
  return t.slice(0, bytes).trimEnd().padEnd(bytes, '.');
}

/** A `chat` envelope (PROTOCOL.md §3) whose JSON is about `bodyBytes` long (at least ~110). */
export function chatEnvelope(r: () => number, seq: number, bodyBytes: number): string {
  const env = {
    type: 'chat',
    room: ROOMS[Math.floor(r() * ROOMS.length)]!,
    seq,
    id: `c${Math.floor(r() * 0xffffffff).toString(16)}`,
    from: NICKS[Math.floor(r() * NICKS.length)]!,
    text: '',
    ts: 1_763_700_000_000 + seq * 137 + Math.floor(r() * 100),
  };
  const overhead = JSON.stringify(env).length;
  env.text = chatText(r, Math.max(1, bodyBytes - overhead));
  return JSON.stringify(env);
}

/** Body-size classes of the codec benchmark, [min, max) bytes; `mixed` is log-uniform over 64 B – 4 KiB. */
export const SIZE_CLASSES: { name: string; min: number; max: number }[] = [
  { name: '64–255 B', min: 64, max: 256 },
  { name: '256–511 B', min: 256, max: 512 },
  { name: '512 B–1 KiB', min: 512, max: 1024 },
  { name: '1–4 KiB', min: 1024, max: 4097 },
  { name: 'mixed 64 B–4 KiB', min: 64, max: 4097 },
];

/** `count` chat envelope bodies of one size class. */
export function corpus(cls: { min: number; max: number }, count: number, seed = 1): Buffer[] {
  const r = rng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const size = Math.floor(Math.exp(Math.log(cls.min) + r() * (Math.log(cls.max) - Math.log(cls.min))));
    out.push(Buffer.from(chatEnvelope(r, 1 + i, Math.max(cls.min, Math.min(cls.max - 1, size)))));
  }
  return out;
}

// ------------------------------------------------------------------ (a) codec

/** Ratio and speed of one codec on one size class. */
export interface CodecResult {
  codec: CodecName;
  sizeClass: string;
  bodies: number;
  meanBodyBytes: number;
  /** Compressed bytes ÷ original bytes (the zstd frame includes its 4-byte Frame_Content_Size). */
  ratio: number;
  compressMBs: number;
  decompressMBs: number;
  /** zstd only: the whole corpus in flight on the thread pool. */
  compressConcurrentMBs?: number;
  decompressConcurrentMBs?: number;
}

function mbPerS(bytes: number, task: { result: unknown; name: string }): number {
  const r = task.result as { state: string; period?: number; error?: Error };
  if (r.state !== 'completed' || r.period === undefined) throw new Error(`${task.name}: ${r.state}${r.error ? `: ${r.error.message}` : ''}`);
  return bytes / (r.period / 1000) / 1e6;
}

/**
 * Part (a).
 * @param timeMs tinybench budget per task, ms
 */
export async function runCodecBench(timeMs = 1000, bodiesPerClass = 2000): Promise<{ results: CodecResult[]; rows: Row[] }> {
  const results: CodecResult[] = [];
  for (const cls of SIZE_CLASSES) {
    const bodies = corpus(cls, bodiesPerClass, cls.min * 7 + cls.max);
    const total = bodies.reduce((s, b) => s + b.length, 0);
    for (const codec of CODECS) {
      const packed: Buffer[] = [];
      for (const b of bodies) packed.push(await svc.compress(codec, b));
      // Check the round trip once, with the server's own decoder.
      for (let i = 0; i < bodies.length; i++) {
        if (!(await svc.decompress(codec, packed[i]!, MAX_FRAME_BYTES)).equals(bodies[i]!)) throw new Error(`${codec}: round trip failed`);
      }
      const ratio = packed.reduce((s, b) => s + b.length, 0) / total;
      const bench = new Bench({ name: `${codec} ${cls.name}`, time: timeMs, warmupTime: Math.min(300, timeMs), throws: true });
      if (codec === 'lz4') {
        bench.add('compress', () => {
          let n = 0;
          for (const b of bodies) n += (svc.compress('lz4', b) as Buffer).length;
          return n;
        });
        bench.add('decompress', () => {
          let n = 0;
          for (const p of packed) n += (svc.decompress('lz4', p, MAX_FRAME_BYTES) as Buffer).length;
          return n;
        });
      } else {
        bench.add('compress', async () => {
          let n = 0;
          for (const b of bodies) n += (await svc.compress('zstd', b)).length;
          return n;
        });
        bench.add('decompress', async () => {
          let n = 0;
          for (const p of packed) n += (await svc.decompress('zstd', p, MAX_FRAME_BYTES)).length;
          return n;
        });
        bench.add('compress concurrent', async () => (await Promise.all(bodies.map((b) => svc.compress('zstd', b)))).length);
        bench.add('decompress concurrent', async () => (await Promise.all(packed.map((p) => svc.decompress('zstd', p, MAX_FRAME_BYTES)))).length);
      }
      await bench.run();
      const t = (name: string) => bench.tasks.find((x) => x.name === name)!;
      const res: CodecResult = {
        codec,
        sizeClass: cls.name,
        bodies: bodies.length,
        meanBodyBytes: total / bodies.length,
        ratio,
        compressMBs: mbPerS(total, t('compress')),
        decompressMBs: mbPerS(total, t('decompress')),
      };
      if (codec === 'zstd') {
        res.compressConcurrentMBs = mbPerS(total, t('compress concurrent'));
        res.decompressConcurrentMBs = mbPerS(total, t('decompress concurrent'));
      }
      results.push(res);
    }
  }
  const rows: Row[] = [];
  for (const r of results) {
    const c = `${r.codec}, ${r.sizeClass} (mean ${Math.round(r.meanBodyBytes)} B)`;
    rows.push({ bench: 'compression-codec', case: c, metric: 'compressed / original', value: r.ratio, unit: 'ratio', note: `${r.bodies} chat envelopes` });
    rows.push({ bench: 'compression-codec', case: c, metric: 'compress', value: r.compressMBs, unit: 'MB/s', ...(r.codec === 'zstd' ? { note: 'one in flight' } : {}) });
    rows.push({ bench: 'compression-codec', case: c, metric: 'decompress', value: r.decompressMBs, unit: 'MB/s', note: 'server inbound path (size checks included)' });
    if (r.compressConcurrentMBs !== undefined) {
      rows.push({ bench: 'compression-codec', case: c, metric: 'compress (all in flight)', value: r.compressConcurrentMBs, unit: 'MB/s', note: `libuv pool ${process.env.UV_THREADPOOL_SIZE ?? 4} threads` });
      rows.push({ bench: 'compression-codec', case: c, metric: 'decompress (all in flight)', value: r.decompressConcurrentMBs!, unit: 'MB/s' });
    }
  }
  return { results, rows };
}

// ------------------------------------------------------------------ (b) fan-out encode

type Group = 'none' | CodecName;

/** One fan-out encoding case: µs per broadcast to `recipients` members. */
export interface FanoutEncodeResult {
  members: string;
  strategy: string;
  textBytes: number;
  recipients: number;
  usPerBroadcast: number;
  nsPerDelivery: number;
  /** Compress calls per broadcast. */
  compressCalls: number;
  rme: number;
}

/** A frame of `json` for one member's codec, as ChatServer.binaryFrame builds it. */
function binaryFrame(json: string, codec: CodecName): Buffer | Promise<Buffer> {
  if (json.length < THRESHOLD / 3) return encodeFrame(json, alloc);
  const body = Buffer.from(json, 'utf8');
  if (body.length < THRESHOLD) return frameOf(body, 0, alloc);
  const z = svc.compress(codec, body);
  const wrap = (zb: Buffer) => (zb.length < body.length ? frameOf(zb, CODEC_FLAGS[codec], alloc) : frameOf(body, 0, alloc));
  return z instanceof Promise ? z.then(wrap) : wrap(z);
}

/**
 * Part (b): one broadcast encoded for `recipients` members.
 * @param textBytes chat text sizes to measure
 */
export async function runFanoutEncodeBench(timeMs = 1000, recipients = 500, textSizes = [600, 1024, 4000]): Promise<{ results: FanoutEncodeResult[]; rows: Row[] }> {
  const results: FanoutEncodeResult[] = [];
  const sink: (Buffer | Promise<Buffer>)[] = new Array(recipients);
  const layouts: [string, Group[]][] = [
    ['all none', Array.from({ length: recipients }, () => 'none' as Group)],
    ['all lz4', Array.from({ length: recipients }, () => 'lz4' as Group)],
    ['all zstd', Array.from({ length: recipients }, () => 'zstd' as Group)],
    ['mixed (⅓ each)', Array.from({ length: recipients }, (_, i) => (['none', 'lz4', 'zstd'] as Group[])[i % 3]!)],
  ];
  for (const textBytes of textSizes) {
    const r = rng(textBytes);
    const envs = Array.from({ length: 64 }, (_, i) => ({
      type: 'chat',
      room: 'general',
      seq: 1000 + i,
      id: `c${i}`,
      from: NICKS[i % NICKS.length]!,
      text: chatText(r, textBytes),
      ts: 1_763_700_000_000 + i,
    }));
    let k = 0;
    const bench = new Bench({ name: `fan-out ${textBytes}`, time: timeMs, warmupTime: Math.min(300, timeMs), throws: true });
    const meta = new Map<string, { members: string; strategy: string; calls: number }>();
    for (const [members, groups] of layouts) {
      const codecs = new Set(groups.filter((g) => g !== 'none'));
      // What the server does: serialise once, encode once per codec on first need, share the frame.
      const server = `${members} · once per codec (server)`;
      meta.set(server, { members, strategy: 'once per codec (server)', calls: codecs.size });
      bench.add(server, async () => {
        const json = JSON.stringify(envs[k++ & 63]);
        let plain: Buffer | undefined, lz4: Buffer | Promise<Buffer> | undefined, zstd: Buffer | Promise<Buffer> | undefined;
        for (let i = 0; i < groups.length; i++) {
          const g = groups[i]!;
          sink[i] = g === 'none' ? (plain ??= encodeFrame(json, alloc)) : g === 'lz4' ? (lz4 ??= binaryFrame(json, 'lz4')) : (zstd ??= binaryFrame(json, 'zstd'));
        }
        if (zstd instanceof Promise) await zstd;
      });
      if (codecs.size > 0) {
        // A naive server: every member's frame compressed on its own.
        const naive = `${members} · per recipient (naive)`;
        meta.set(naive, { members, strategy: 'per recipient (naive)', calls: groups.filter((g) => g !== 'none').length });
        bench.add(naive, async () => {
          const json = JSON.stringify(envs[k++ & 63]);
          const pending: Promise<Buffer>[] = [];
          let plain: Buffer | undefined;
          for (let i = 0; i < groups.length; i++) {
            const g = groups[i]!;
            const f = g === 'none' ? (plain ??= encodeFrame(json, alloc)) : binaryFrame(json, g);
            sink[i] = f;
            if (f instanceof Promise) pending.push(f);
          }
          if (pending.length > 0) await Promise.all(pending);
        });
      }
    }
    // No compression at all, and a plain frame per recipient, for scale.
    const perPlain = 'all none · plain frame per recipient';
    meta.set(perPlain, { members: 'all none', strategy: 'plain frame per recipient', calls: 0 });
    bench.add(perPlain, () => {
      const json = JSON.stringify(envs[k++ & 63]);
      for (let i = 0; i < recipients; i++) sink[i] = encodeFrame(json, alloc);
    });
    await bench.run();
    for (const task of bench.tasks) {
      const m = meta.get(task.name)!;
      const res = task.result as { state: string; period?: number; latency?: { rme: number }; error?: Error };
      if (res.state !== 'completed' || res.period === undefined) throw new Error(`${task.name}: ${res.state}${res.error ? `: ${res.error.message}` : ''}`);
      results.push({
        members: m.members,
        strategy: m.strategy,
        textBytes,
        recipients,
        usPerBroadcast: res.period * 1000,
        nsPerDelivery: (res.period * 1e6) / recipients,
        compressCalls: m.calls,
        rme: res.latency?.rme ?? NaN,
      });
    }
  }
  const rows: Row[] = results.map((r) => ({
    bench: 'compression-fanout-encode',
    case: `${r.textBytes} B text, ${r.recipients} members ${r.members}`,
    metric: r.strategy,
    value: r.usPerBroadcast,
    unit: 'µs/broadcast',
    rme: r.rme,
    note: `${r.nsPerDelivery.toFixed(0)} ns/delivery; ${r.compressCalls} compress call(s)`,
  }));
  return { results, rows };
}

// ------------------------------------------------------------------ (c) end-to-end

const ROOM = 'compression';
const MAX_LENGTH = MAX_FRAME_BYTES + 1;
const READ_BUF = Buffer.allocUnsafe(256 * 1024);

/** A counting member: hello (with its codecs), join, then length-prefix walking only. */
class Member {
  readonly sock: net.Socket;
  frames = 0;
  bytes = 0;
  readonly byFlags = [0, 0, 0, 0];
  closed = false;
  failure: string | null = null;
  readonly joined: Promise<void>;
  private resolveJoined!: () => void;
  private rejectJoined!: (err: Error) => void;
  private setupBuf: Buffer | null = Buffer.alloc(0);
  private remaining = 0;
  private curFlags = -1;
  private pfill = 0;
  private pacc = 0;

  constructor(
    port: number,
    readonly group: Group,
    nick: string,
  ) {
    this.joined = new Promise((resolve, reject) => {
      this.resolveJoined = resolve;
      this.rejectJoined = reject;
    });
    this.joined.catch(() => {});
    this.sock = net.connect({ port, host: '127.0.0.1', noDelay: true, onread: { buffer: READ_BUF, callback: (n: number) => this.onRead(n) } });
    this.sock.once('connect', () => {
      const hello: Record<string, unknown> = { type: 'hello', nick };
      if (group !== 'none') hello.codecs = [group];
      this.sock.write(Buffer.concat([frame(hello), frame({ type: 'join_room', room: ROOM })]));
    });
    this.sock.on('error', (err) => {
      this.failure ??= err.message;
      this.rejectJoined(err);
    });
    this.sock.once('close', () => {
      this.closed = true;
      this.rejectJoined(new Error(`member closed before joined${this.failure ? `: ${this.failure}` : ''}`));
    });
  }

  private onRead(n: number): boolean {
    if (this.setupBuf === null) this.count(READ_BUF, 0, n);
    else this.setup(Buffer.concat([this.setupBuf, READ_BUF.subarray(0, n)]));
    return true;
  }

  /** Decodes welcome and joined (small, so uncompressed), then counts the rest. */
  private setup(buf: Buffer): void {
    let off = 0;
    while (buf.length - off >= 4 && buf.length - off >= 4 + buf.readUInt32BE(off)) {
      const len = buf.readUInt32BE(off);
      const env = JSON.parse(buf.subarray(off + 5, off + 4 + len).toString('utf8')) as { type: string; codecs?: string[]; code?: string };
      off += 4 + len;
      if (env.type === 'welcome') {
        const want = this.group === 'none' ? [] : [this.group];
        if (JSON.stringify(env.codecs) !== JSON.stringify(want)) this.failure = `welcome.codecs ${JSON.stringify(env.codecs)}, want ${JSON.stringify(want)}`;
      } else if (env.type === 'joined') {
        this.setupBuf = null;
        if (this.failure) this.rejectJoined(new Error(this.failure));
        else this.resolveJoined();
        this.count(buf, off, buf.length);
        return;
      } else {
        this.failure = `unexpected ${env.type}${env.code ? ` (${env.code})` : ''} before joined`;
        this.rejectJoined(new Error(this.failure));
      }
    }
    this.setupBuf = Buffer.from(buf.subarray(off));
  }

  private count(buf: Buffer, start: number, end: number): void {
    let off = start;
    while (off < end) {
      if (this.remaining > 0) {
        if (this.curFlags < 0) this.curFlags = buf[off]!;
        const take = Math.min(this.remaining, end - off);
        this.remaining -= take;
        off += take;
        if (this.remaining === 0) {
          this.frames++;
          this.byFlags[this.curFlags & 3]!++;
        }
        continue;
      }
      let len: number;
      if (this.pfill === 0 && end - off >= 4) {
        len = buf.readUInt32BE(off);
        off += 4;
      } else {
        this.pacc = this.pacc * 256 + buf[off++]!;
        if (++this.pfill < 4) continue;
        len = this.pacc;
        this.pacc = 0;
        this.pfill = 0;
      }
      if (len === 0 || len > MAX_LENGTH) {
        this.failure = `bad frame length ${len} from server`;
        this.sock.destroy();
        return;
      }
      this.remaining = len;
      this.curFlags = -1;
      this.bytes += 4 + len;
    }
  }
}

/** A member that decodes every frame (lz4 / zstd) and checks chat seq order and text size. */
class Verifier {
  readonly sock: net.Socket;
  frames = 0;
  bytes = 0;
  readonly byFlags = [0, 0, 0, 0];
  closed = false;
  failure: string | null = null;
  lastSeq = -1;
  chats = 0;
  readonly joined: Promise<void>;
  private resolveJoined!: () => void;
  private buf: Buffer = Buffer.alloc(0);
  private chain: Promise<void> = Promise.resolve();
  private isJoined = false;

  constructor(
    port: number,
    readonly group: Group,
    nick: string,
    private readonly textBytes: number,
  ) {
    this.joined = new Promise((resolve) => (this.resolveJoined = resolve));
    this.sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.sock.once('connect', () => {
      const hello: Record<string, unknown> = { type: 'hello', nick };
      if (group !== 'none') hello.codecs = [group];
      this.sock.write(Buffer.concat([frame(hello), frame({ type: 'join_room', room: ROOM })]));
    });
    this.sock.on('data', (d: Buffer) => this.onData(d));
    this.sock.on('error', (err) => (this.failure ??= err.message));
    this.sock.once('close', () => (this.closed = true));
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let off = 0;
    while (this.buf.length - off >= 4) {
      const len = this.buf.readUInt32BE(off);
      if (this.buf.length - off < 4 + len) break;
      const flags = this.buf[off + 4]!;
      const body = Buffer.from(this.buf.subarray(off + 5, off + 4 + len));
      off += 4 + len;
      if (this.isJoined) {
        this.frames++;
        this.bytes += 4 + len;
        this.byFlags[flags & 3]!++;
      } else if (flags === 0 && (JSON.parse(body.toString('utf8')) as { type: string }).type === 'joined') {
        // Counted from here on, synchronously (like Member); welcome and joined are small, so plain.
        this.isJoined = true;
        this.resolveJoined();
      }
      this.chain = this.chain.then(() => this.decode(flags, body));
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
  }

  private async decode(flags: number, wire: Buffer): Promise<void> {
    try {
      const body = flags === 0 ? wire : flags === 1 ? lz4Uncompress(wire) : flags === 2 ? await zstdDecompress(wire) : null;
      if (body === null) throw new Error(`flags ${flags}`);
      const env = JSON.parse(body.toString('utf8')) as { type: string; seq?: number; text?: string };
      if (env.type === 'joined') {
        this.lastSeq = env.seq!;
      } else if (env.type === 'chat') {
        if (env.seq !== this.lastSeq + 1) throw new Error(`chat seq ${env.seq} after ${this.lastSeq}`);
        if (env.text!.length !== this.textBytes) throw new Error(`chat text of ${env.text!.length} bytes`);
        this.lastSeq = env.seq;
        this.chats++;
      }
    } catch (err) {
      this.failure ??= `decode: ${(err as Error).message}`;
    }
  }
}

/** The sender: plain frames, `window` send_chats in flight, ack round trips. */
class Sender {
  readonly sock: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  running = false;
  inflight = 0;
  sent = 0;
  acks = 0;
  errors: Record<string, number> = {};
  readonly rtt: number[] = [];
  private readonly sentAt = new Map<string, number>();
  private waiter: { type: string; resolve: (env: Record<string, unknown>) => void } | null = null;

  constructor(
    port: number,
    private readonly window: number,
    private readonly texts: string[],
  ) {
    this.sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.sock.on('data', (d: Buffer) => this.onData(d));
    this.sock.on('error', () => {});
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
    this.sock.write(frame({ type: 'hello', nick: 'bench-sender' }));
    await this.next('welcome');
    this.sock.write(frame({ type: 'join_room', room: ROOM }));
    const j = await this.next('joined');
    return j.members as number;
  }

  private next(type: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`sender: no ${type} within 10 s`)), 10_000);
      this.waiter = {
        type,
        resolve: (e) => {
          clearTimeout(t);
          resolve(e);
        },
      };
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let off = 0;
    this.sock.cork();
    while (this.buf.length - off >= 4) {
      const len = this.buf.readUInt32BE(off);
      if (this.buf.length - off < 4 + len) break;
      const env = JSON.parse(this.buf.subarray(off + 5, off + 4 + len).toString('utf8')) as Record<string, unknown>;
      off += 4 + len;
      if (env.type === 'ack') {
        this.acks++;
        this.inflight--;
        const t = this.sentAt.get(env.id as string);
        if (t !== undefined) {
          this.sentAt.delete(env.id as string);
          this.rtt.push(performance.now() - t);
        }
        this.pump();
      } else if (env.type === 'error') {
        this.errors[env.code as string] = (this.errors[env.code as string] ?? 0) + 1;
      } else if (this.waiter && env.type === this.waiter.type) {
        const w = this.waiter;
        this.waiter = null;
        w.resolve(env);
      }
    }
    this.sock.uncork();
    this.buf = off === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
  }

  pump(): void {
    while (this.running && this.inflight < this.window) {
      const id = `m${++this.sent}`;
      this.sentAt.set(id, performance.now());
      this.inflight++;
      this.sock.write(frame({ type: 'send_chat', room: ROOM, id, text: this.texts[this.sent % this.texts.length] }));
    }
  }
}

/** Options of the end-to-end runs. */
export interface E2eOptions {
  durationMs: number;
  members: number;
  window: number;
  textBytes: number;
  /** service_io of the server. */
  io: string;
  /** One run per entry: members all negotiate it, or a third each for `mixed`. */
  groups: (Group | 'mixed')[];
  /** Rounds over `groups` (runs interleave, so drift in the machine hits every group alike). */
  repeat: number;
  waitQuietMs: number;
  log: (line: string) => void;
}

/** Per codec group of one run. */
export interface E2eGroup {
  group: Group;
  members: number;
  deliveries: number;
  wireBytesPerDelivery: number;
  /** Share of chat frames that came compressed. */
  compressedShare: number;
}

/** One end-to-end run. */
export interface E2eResult {
  run: string;
  io: string;
  members: number;
  textBytes: number;
  windowS: number;
  deliveriesPerS: number;
  acksPerS: number;
  ackP50Ms: number;
  ackP99Ms: number;
  serverCpu: number | null;
  generatorCpu: number;
  serverCoreBusy: number | null;
  serverRssMiB: number;
  groups: E2eGroup[];
  /** Delivered after drain ÷ acknowledged × members, %. */
  integrityPct: number;
  warnings: string[];
}

const E2E_DEFAULTS: Omit<E2eOptions, 'log'> = {
  durationMs: 10_000,
  members: 500,
  window: 32,
  textBytes: 1024,
  io: 'coalescing',
  groups: ['none', 'lz4', 'zstd', 'mixed'],
  repeat: 1,
  waitQuietMs: 0,
};

async function runE2eOnce(run: Group | 'mixed', o: Omit<E2eOptions, 'groups'>, texts: string[]): Promise<E2eResult> {
  const warnings: string[] = [];
  const port = await freePort();
  const server = await ServerProcess.start(port, {
    service_compression: 'native',
    service_io: o.io,
    max_connections: String(Math.max(10_000, o.members * 2 + 100)),
    max_connections_per_ip: String(Math.max(1000, o.members * 2 + 100)),
    rate_msgs_per_sec: '1000000',
    rate_burst: '1000000',
    // The overload monitor would shed presence (member_joined) once p99 latency passes max_latency_ms
    // (default 1 ms), which the setup's 500 joins do on a busy machine: off, so the counts are exact.
    max_latency_ms: '0',
  });
  const killOnExit = () => server.kill();
  process.once('exit', killOnExit);
  const members: (Member | Verifier)[] = [];
  let sender: Sender | null = null;
  try {
    const groupOf = (i: number): Group => (run === 'mixed' ? (['none', 'lz4', 'zstd'] as Group[])[i % 3]! : run);
    const verifiers = new Set<Group>();
    for (let i = 0; i < o.members; i += 100) {
      const batch: (Member | Verifier)[] = [];
      for (let j = i; j < Math.min(o.members, i + 100); j++) {
        const g = groupOf(j);
        if (!verifiers.has(g)) {
          verifiers.add(g);
          batch.push(new Verifier(port, g, `verify-${g}`, o.textBytes));
        } else batch.push(new Member(port, g, `m${j}-${g}`));
      }
      members.push(...batch);
      await Promise.all(batch.map((m) => m.joined));
    }
    sender = new Sender(port, o.window, texts);
    const inRoom = await sender.start();
    if (inRoom !== o.members + 1) throw new Error(`sender joined a room of ${inRoom}, want ${o.members + 1}`);
    const presence = (o.members * (o.members - 1)) / 2 + o.members;
    const total = () => members.reduce((s, m) => s + m.frames, 0);
    if (!(await waitFor(() => total() >= presence, 30_000))) throw new Error(`members got ${total()} of ${presence} member_joined frames`);
    await sleep(200);
    if (total() !== presence) warnings.push(`members got ${total()} presence frames, expected ${presence}`);

    const base = members.map((m) => ({ frames: m.frames, bytes: m.bytes, flags: [...m.byFlags] }));
    const cpu0 = process.cpuUsage();
    const scpu0 = server.cpuSeconds();
    const m0 = machineCpu();
    const t0 = performance.now();
    sender.running = true;
    sender.pump();
    await sleep(o.durationMs);
    sender.running = false;
    const windowS = (performance.now() - t0) / 1000;
    const deliveries = total() - base.reduce((s, b) => s + b.frames, 0);
    const acks = sender.acks;
    const cpu = process.cpuUsage(cpu0);
    const scpu1 = server.cpuSeconds();
    const m1 = machineCpu();
    const stats = await getJson(port, '/stats').catch(() => ({}) as Record<string, unknown>);

    // Drain: every acknowledged message reaches every member once.
    await waitFor(() => sender!.inflight <= 0, 10_000);
    const expected = sender.acks * o.members;
    await waitFor(() => total() - base.reduce((s, b) => s + b.frames, 0) >= expected || members.some((m) => m.closed), 15_000);
    await sleep(100);
    for (const m of members) if (m instanceof Verifier) await waitFor(() => m.chats >= sender!.acks || m.failure !== null, 5000);
    const delivered = total() - base.reduce((s, b) => s + b.frames, 0);
    if (delivered !== expected) warnings.push(`integrity: ${delivered} chat frames delivered for ${sender.acks} acks × ${o.members} = ${expected}`);
    for (const m of members) {
      if (m.failure) warnings.push(`${m.group} member: ${m.failure}`);
      if (m.closed) warnings.push(`${m.group} member closed`);
    }
    for (const m of members) if (m instanceof Verifier && m.chats !== sender.acks) warnings.push(`verifier ${m.group} decoded ${m.chats} chats of ${sender.acks}`);
    if (Object.keys(sender.errors).length > 0) warnings.push(`sender errors ${JSON.stringify(sender.errors)}`);

    const groups: E2eGroup[] = [];
    for (const g of ['none', 'lz4', 'zstd'] as Group[]) {
      let n = 0, frames = 0, bytes = 0, compressed = 0;
      members.forEach((m, i) => {
        if (m.group !== g) return;
        n++;
        frames += m.frames - base[i]!.frames;
        bytes += m.bytes - base[i]!.bytes;
        compressed += m.byFlags[1]! + m.byFlags[2]! - base[i]!.flags[1]! - base[i]!.flags[2]!;
      });
      if (n > 0) groups.push({ group: g, members: n, deliveries: frames, wireBytesPerDelivery: bytes / frames, compressedShare: compressed / frames });
    }
    const generatorCpu = (cpu.user + cpu.system) / 1e6 / windowS;
    if (generatorCpu > 0.85) warnings.push(`the load generator used ${(generatorCpu * 100).toFixed(0)}% of a core: deliveries/s may be generator-bound`);
    const rtt = sender.rtt.sort((a, b) => a - b);
    const pinned = server.pinning.startsWith('core');
    return {
      run,
      io: o.io,
      members: o.members,
      textBytes: o.textBytes,
      windowS,
      deliveriesPerS: deliveries / windowS,
      acksPerS: acks / windowS,
      ackP50Ms: percentile(rtt, 50),
      ackP99Ms: percentile(rtt, 99),
      serverCpu: scpu0 && scpu1 ? (scpu1.user + scpu1.system - scpu0.user - scpu0.system) / windowS : null,
      generatorCpu,
      serverCoreBusy: pinned ? (cpuDelta(m0, m1, 'cpu0', windowS)?.busy ?? null) : null,
      serverRssMiB: typeof stats.memory_mb === 'number' ? stats.memory_mb : NaN,
      groups,
      integrityPct: expected === 0 ? NaN : (100 * delivered) / expected,
      warnings,
    };
  } finally {
    for (const m of members) m.sock.destroy();
    sender?.sock.destroy();
    const stopped = await server.stop();
    if (stopped.forced) warnings.push(`server did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM`);
    process.off('exit', killOnExit);
  }
}

/** Part (c): one server per entry of `groups`. */
export async function runE2eBench(opts: Partial<E2eOptions> = {}): Promise<{ results: E2eResult[]; rows: Row[] }> {
  const o: E2eOptions = { ...E2E_DEFAULTS, log: (l) => process.stderr.write(`[compression e2e] ${l}\n`), ...opts };
  const pinning = pinSelf(CLIENT_CORE);
  const r = rng(2024);
  const texts = Array.from({ length: 256 }, () => chatText(r, o.textBytes));
  const results: E2eResult[] = [];
  for (let round = 1; round <= o.repeat; round++) {
    for (const run of o.groups) {
      if (o.waitQuietMs > 0) {
        const busy = await waitQuiet(o.waitQuietMs, 0.08, o.log);
        if (busy !== null && busy >= 0.08) o.log(`machine still ${(busy * 100).toFixed(0)}% busy after waiting; running anyway`);
      }
      o.log(`run ${run} (round ${round}/${o.repeat}): ${o.members} members, ${o.textBytes}-byte text, service_io=${o.io}, ${o.durationMs / 1000} s (generator ${pinning})`);
      const res = await runE2eOnce(run, o, texts);
      for (const w of res.warnings) o.log(`WARNING (${run}): ${w}`);
      o.log(`  ${Math.round(res.deliveriesPerS)} deliveries/s, server CPU ${res.serverCpu === null ? '?' : (res.serverCpu * 100).toFixed(0)}%, server core busy ${res.serverCoreBusy === null ? '?' : (res.serverCoreBusy * 100).toFixed(0)}%`);
      results.push(res);
    }
  }
  const rows: Row[] = [];
  for (const res of results) {
    const c = `members ${res.run}, ${res.members} members, ${res.textBytes} B text, io ${res.io}`;
    rows.push({ bench: 'compression-e2e', case: c, metric: 'deliveries/s', value: res.deliveriesPerS, unit: '/s', note: `${res.acksPerS.toFixed(0)} acks/s; integrity ${res.integrityPct.toFixed(2)}%` });
    for (const g of res.groups) {
      rows.push({
        bench: 'compression-e2e',
        case: c,
        metric: `wire bytes/delivery (${g.group})`,
        value: g.wireBytesPerDelivery,
        unit: 'B',
        note: `${g.members} members, ${(g.compressedShare * 100).toFixed(1)}% of chat frames compressed`,
      });
    }
    rows.push({ bench: 'compression-e2e', case: c, metric: 'ack round trip p50', value: res.ackP50Ms, unit: 'ms' });
    rows.push({ bench: 'compression-e2e', case: c, metric: 'ack round trip p99', value: res.ackP99Ms, unit: 'ms' });
    rows.push({ bench: 'compression-e2e', case: c, metric: 'server CPU', value: res.serverCpu === null ? NaN : res.serverCpu * 100, unit: '% of a core', note: res.serverCoreBusy === null ? 'unpinned' : `server core ${(res.serverCoreBusy * 100).toFixed(0)}% busy` });
    rows.push({ bench: 'compression-e2e', case: c, metric: 'generator CPU', value: res.generatorCpu * 100, unit: '% of a core' });
    rows.push({ bench: 'compression-e2e', case: c, metric: 'server RSS after load', value: res.serverRssMiB, unit: 'MiB' });
  }
  return { results, rows };
}

// ------------------------------------------------------------------ CLI

/** Runs the parts named by `--only` (default all) and prints a table. */
export async function run(argv: string[] = process.argv.slice(2)): Promise<{ rows: Row[]; codec?: CodecResult[]; fanout?: FanoutEncodeResult[]; e2e?: E2eResult[] }> {
  let only = new Set(['codec', 'fanout', 'e2e']);
  let timeMs = 1000;
  let json: string | null = null;
  const e2e: Partial<E2eOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--only') only = new Set(value().split(',').map((s) => s.trim()));
    else if (flag === '--time') timeMs = Number(value());
    else if (flag === '--json') json = value();
    else if (flag === '--duration') e2e.durationMs = parseDuration(value());
    else if (flag === '--members') e2e.members = Number(value());
    else if (flag === '--window') e2e.window = Number(value());
    else if (flag === '--text') e2e.textBytes = Number(value());
    else if (flag === '--io') e2e.io = value();
    else if (flag === '--groups') e2e.groups = value().split(',').map((s) => s.trim()) as E2eOptions['groups'];
    else if (flag === '--wait-quiet') e2e.waitQuietMs = parseDuration(value());
    else if (flag === '--repeat') e2e.repeat = Number(value());
    else throw new Error(`unknown flag ${a} (see the header of bench/services/compression.bench.ts)`);
  }
  for (const p of only) if (!['codec', 'fanout', 'e2e'].includes(p)) throw new Error(`--only takes codec, fanout, e2e; not ${p}`);
  const out: Awaited<ReturnType<typeof run>> = { rows: [] };
  const quiet = async () => {
    if (e2e.waitQuietMs) await waitQuiet(e2e.waitQuietMs, 0.08, (l) => process.stderr.write(`[compression] ${l}\n`));
  };
  if (only.has('codec')) {
    await quiet();
    const r = await runCodecBench(timeMs);
    out.codec = r.results;
    out.rows.push(...r.rows);
    printCodec(r.results);
  }
  if (only.has('fanout')) {
    await quiet();
    const r = await runFanoutEncodeBench(timeMs);
    out.fanout = r.results;
    out.rows.push(...r.rows);
    printFanout(r.results);
  }
  if (only.has('e2e')) {
    const r = await runE2eBench(e2e);
    out.e2e = r.results;
    out.rows.push(...r.rows);
    printE2e(r.results);
  }
  if (json) {
    writeFileSync(json, JSON.stringify({ node: process.version, cpus: os.cpus()[0]?.model, argv, ...out }, null, 2));
    process.stderr.write(`wrote ${json}\n`);
  }
  return out;
}

const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

function printCodec(results: CodecResult[]): void {
  console.log('\n(a) codec: chat envelopes; MB/s of uncompressed bytes; zstd level 3 (one in flight / all in flight)');
  console.log(`${'size class'.padEnd(18)} ${'codec'.padEnd(5)} ${'mean B'.padStart(7)} ${'ratio'.padStart(6)} ${'compress MB/s'.padStart(20)} ${'decompress MB/s'.padStart(20)}`);
  for (const r of results) {
    const c = r.compressConcurrentMBs === undefined ? f1(r.compressMBs) : `${f1(r.compressMBs)} / ${f1(r.compressConcurrentMBs)}`;
    const d = r.decompressConcurrentMBs === undefined ? f1(r.decompressMBs) : `${f1(r.decompressMBs)} / ${f1(r.decompressConcurrentMBs)}`;
    console.log(`${r.sizeClass.padEnd(18)} ${r.codec.padEnd(5)} ${f0(r.meanBodyBytes).padStart(7)} ${r.ratio.toFixed(3).padStart(6)} ${c.padStart(20)} ${d.padStart(20)}`);
  }
}

function printFanout(results: FanoutEncodeResult[]): void {
  console.log(`\n(b) fan-out encode: one chat broadcast to ${results[0]?.recipients ?? 500} members`);
  console.log(`${'text'.padEnd(6)} ${'members'.padEnd(15)} ${'strategy'.padEnd(28)} ${'µs/broadcast'.padStart(13)} ${'ns/delivery'.padStart(12)} ${'compressions'.padStart(12)} ${'±%'.padStart(6)}`);
  for (const r of results) {
    console.log(`${String(r.textBytes).padEnd(6)} ${r.members.padEnd(15)} ${r.strategy.padEnd(28)} ${f1(r.usPerBroadcast).padStart(13)} ${f0(r.nsPerDelivery).padStart(12)} ${String(r.compressCalls).padStart(12)} ${r.rme.toFixed(1).padStart(6)}`);
  }
}

function printE2e(results: E2eResult[]): void {
  console.log('\n(c) end-to-end: real server (service_compression=native), one sender, 1 room');
  console.log(`${'members'.padEnd(8)} ${'io'.padEnd(11)} ${'deliveries/s'.padStart(13)} ${'acks/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'srv CPU%'.padStart(9)} ${'core0%'.padStart(7)} ${'gen CPU%'.padStart(9)} ${'RSS MiB'.padStart(8)}  wire B/delivery by group (compressed share)`);
  for (const r of results) {
    const g = r.groups.map((x) => `${x.group} ${f1(x.wireBytesPerDelivery)} (${(x.compressedShare * 100).toFixed(0)}%)`).join(', ');
    console.log(
      `${r.run.padEnd(8)} ${r.io.padEnd(11)} ${f0(r.deliveriesPerS).padStart(13)} ${f0(r.acksPerS).padStart(8)} ${f1(r.ackP50Ms).padStart(7)} ${f1(r.ackP99Ms).padStart(7)} ${(r.serverCpu === null ? 'n/a' : f1(r.serverCpu * 100)).padStart(9)} ${(r.serverCoreBusy === null ? 'n/a' : f0(r.serverCoreBusy * 100)).padStart(7)} ${f1(r.generatorCpu * 100).padStart(9)} ${f1(r.serverRssMiB).padStart(8)}  ${g}${r.warnings.length ? `  [${r.warnings.length} warning(s)]` : ''}`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run();
}
