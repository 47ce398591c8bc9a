/**
 * Compressed binary frames over real sockets (PROTOCOL.md §2) with
 * `service_compression=native`: codec negotiation, inbound lz4 / zstd bodies,
 * outbound compression past `compression_threshold` with each client's first
 * agreed codec, per-connection order behind asynchronous zstd (inbound and
 * outbound), and hostile compressed bodies (size checks before inflating,
 * exactly one zstd frame with Frame_Content_Size) that close only the
 * offender. Runs once per async-I/O implementation.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd';
import { zstdWithSize } from '../helpers/codecs.js';
import { compressSync as lz4Compress, uncompressSync as lz4Uncompress } from 'lz4-napi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/index.js';
import { readZstdFrame } from '../../src/services/compression/zstd-frame.js';
import { JsonClient, startServer, type TestServer } from '../helpers/clients.js';

// ------------------------------------------------------------------ codec helpers (independent of src/)

type Codec = 'none' | 'lz4' | 'zstd';
const FLAGS: Record<Codec, number> = { none: 0, lz4: 1, zstd: 2 };

/** One binary frame around raw body bytes. */
function wireFrame(body: Buffer, flags: number): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length + 1, 0);
  out[4] = flags;
  body.copy(out, 5);
  return out;
}

/** The body of `obj` encoded with `codec`. */
async function encodeBody(obj: unknown, codec: Codec): Promise<Buffer> {
  const json = Buffer.from(JSON.stringify(obj));
  if (codec === 'lz4') return lz4Compress(json);
  if (codec === 'zstd') return zstdWithSize(json);
  return json;
}

/** One frame of `obj` with `codec`. */
async function encodeFrame(obj: unknown, codec: Codec = 'none'): Promise<Buffer> {
  return wireFrame(await encodeBody(obj, codec), FLAGS[codec]);
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** zstd block header (RFC 8878 §3.1.1.2). */
function blockHeader(last: boolean, type: number, size: number): Buffer {
  const v = (last ? 1 : 0) | (type << 1) | (size << 3);
  return Buffer.from([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff]);
}

/** A zstd frame declaring `declared` bytes (4-byte FCS) around one Raw_Block of `content`. */
function rawZstd(content: Buffer, declared = content.length): Buffer {
  const fcs = Buffer.alloc(4);
  fcs.writeUInt32LE(declared);
  return Buffer.concat([ZSTD_MAGIC, Buffer.from([0x80, 11 << 3]), fcs, blockHeader(true, 0, content.length), content]);
}

// ------------------------------------------------------------------ peak RSS (Linux)

/** Resets the process's peak RSS (VmHWM) to its current RSS; false where /proc does not allow it. */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
function procStatusKiB(field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]);
}

/**
 * Runs `fn` and returns how far the peak RSS rose above the RSS before it, MiB
 * (the server runs in this process). Null where the peak cannot be reset.
 */
async function peakRssGrowthMiB(fn: () => Promise<void>): Promise<number | null> {
  const canReset = resetPeakRss();
  const before = canReset ? procStatusKiB('VmRSS') : 0;
  await fn();
  return canReset ? (procStatusKiB('VmHWM') - before) / 1024 : null;
}

// ------------------------------------------------------------------ the client

/** A received frame: its flags, the body as sent, and the decoded envelope. */
interface Received {
  flags: number;
  wire: Buffer;
  env: Envelope;
}

/**
 * Binary client that decodes lz4 and zstd bodies (in arrival order: every
 * frame goes through one promise chain, since zstd decoding is async).
 */
class CodecClient {
  readonly sock: net.Socket;
  readonly inbox: Received[] = [];
  readonly decodeErrors: string[] = [];
  closed = false;
  welcome: Envelope | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private chain: Promise<void> = Promise.resolve();
  private waiters: { pred: (r: Received) => boolean; resolve: (r: Received | null) => void; timer: NodeJS.Timeout }[] = [];

  private constructor(port: number) {
    this.sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.sock.on('data', (d: Buffer) => this.onData(d));
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      this.chain = this.chain.then(() => {
        this.closed = true;
        this.wake();
      });
    });
  }

  /**
   * Connects; with `codecs` (or `nick`) sends `hello` and waits for `welcome`.
   * @param codecs hello.codecs; undefined: hello without the field; null: no hello at all
   */
  static async open(port: number, nick: string | null, codecs?: string[] | null): Promise<CodecClient> {
    const c = new CodecClient(port);
    await new Promise<void>((resolve, reject) => {
      c.sock.once('connect', resolve);
      c.sock.once('error', reject);
    });
    if (codecs !== null) {
      const hello: Envelope = { type: 'hello' };
      if (nick !== null) hello.nick = nick;
      if (codecs !== undefined) hello.codecs = codecs;
      await c.send(hello);
      c.welcome = (await c.type('welcome'))?.env ?? null;
      if (c.welcome === null) throw new Error(`no welcome for ${nick}`);
    }
    return c;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + len) break;
      const flags = this.buf[4]!;
      const wire = Buffer.from(this.buf.subarray(5, 4 + len));
      this.buf = this.buf.subarray(4 + len);
      this.chain = this.chain.then(async () => {
        try {
          let body: Buffer;
          if (flags === 0) body = wire;
          else if (flags === 1) body = lz4Uncompress(wire);
          else if (flags === 2) body = await zstdDecompress(wire);
          else throw new Error(`server sent flags ${flags}`);
          this.inbox.push({ flags, wire, env: JSON.parse(body.toString('utf8')) as Envelope });
        } catch (err) {
          this.decodeErrors.push(`flags ${flags}: ${(err as Error).message}`);
        }
        this.wake();
      });
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      const i = this.inbox.findIndex(w.pred);
      if (i < 0 && !this.closed) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      clearTimeout(w.timer);
      w.resolve(i >= 0 ? this.inbox.splice(i, 1)[0]! : null);
    }
  }

  /** The first received frame matching `pred` (removed from the inbox), or null after `ms` or on close. */
  next(pred: (r: Received) => boolean, ms = 3000): Promise<Received | null> {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const w = {
        pred,
        resolve,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          resolve(null);
        }, ms),
      };
      this.waiters.push(w);
    });
  }

  type(type: string, ms?: number): Promise<Received | null> {
    return this.next((r) => r.env.type === type, ms);
  }

  /** Waits until `n` frames matching `pred` arrived; returns them in arrival order (removed from the inbox). */
  async collect(pred: (r: Received) => boolean, n: number, ms = 10_000): Promise<Received[]> {
    const deadline = Date.now() + ms;
    while (this.inbox.filter(pred).length < n && !this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await this.chain;
    const out = this.inbox.filter(pred);
    for (const r of out) this.inbox.splice(this.inbox.indexOf(r), 1);
    return out;
  }

  /** Sends one envelope with `codec`. */
  async send(obj: unknown, codec: Codec = 'none'): Promise<void> {
    this.raw(await encodeFrame(obj, codec));
  }

  raw(bytes: Buffer): void {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  async join(room: string, extra: Record<string, unknown> = {}): Promise<Envelope> {
    await this.send({ type: 'join_room', room, ...extra });
    const j = await this.type('joined');
    if (!j) throw new Error(`no joined for ${room}`);
    return j.env;
  }

  /** Resolves true once the server closed the socket (false after `ms`). */
  waitClose(ms = 3000): Promise<boolean> {
    if (this.sock.destroyed || this.sock.readableEnded) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.sock.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  end(): void {
    this.sock.destroy();
  }
}

// ------------------------------------------------------------------ text

const WORDS = 'the a room seq ack frame codec chat nick hello world message fan-out zstd lz4 server client order join leave history typing coffee meeting tomorrow deploy build green red'.split(' ');

/** Chat-like ASCII text of exactly `n` bytes (compressible, as real chat is). */
function chatText(n: number, seed: number): string {
  let s = seed >>> 0 || 1;
  let out = '';
  while (out.length < n) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out += `${WORDS[(s >>> 8) % WORDS.length]} `;
  }
  return `${seed}:${out}`.slice(0, n);
}

/** Next fatal `error` with `code`, then the server closes the connection (PROTOCOL.md §3). */
async function expectFatal(c: CodecClient, code: string): Promise<void> {
  const err = await c.type('error', 3000);
  expect(err?.env, `fatal ${code}`).toMatchObject({ type: 'error', code, fatal: true });
  expect(err!.flags, 'a fatal error goes out uncompressed').toBe(0);
  expect(await c.waitClose(3000), 'socket closed after the fatal error').toBe(true);
}

// ------------------------------------------------------------------ tests

describe.each(['baseline', 'coalescing'])('compression (service_compression=native, service_io=%s)', (io) => {
  let s: TestServer;
  let threshold: number;
  const opened: CodecClient[] = [];
  const open = async (nick: string | null, codecs?: string[] | null) => {
    const c = await CodecClient.open(s.port, nick, codecs);
    opened.push(c);
    return c;
  };

  beforeAll(async () => {
    s = await startServer({ service_compression: 'native', service_io: io });
    threshold = s.server.config.compression_threshold;
  });
  afterAll(async () => {
    for (const c of opened) c.end();
    await s.close();
  });

  /**
   * A zstd member and an lz4 member of `room` that must keep chatting
   * (small and compressed-size messages, both ways) whatever others do.
   */
  class Healthy {
    seq = 0;
    n = 0;
    constructor(
      readonly room: string,
      readonly a: CodecClient,
      readonly b: CodecClient,
    ) {}

    static async open(room: string): Promise<Healthy> {
      const a = await open(`ok-zstd-${room}`, ['zstd']);
      const b = await open(`ok-lz4-${room}`, ['lz4']);
      const h = new Healthy(room, a, b);
      h.seq = (await a.join(room)).seq as number;
      await b.join(room);
      return h;
    }

    async check(): Promise<void> {
      for (const [from, to, codec, size] of [
        [this.a, this.b, 'zstd', 2000],
        [this.b, this.a, 'lz4', 2000],
        [this.a, this.b, 'none', 20],
      ] as const) {
        const id = `${this.room}-ok-${++this.n}`;
        const text = chatText(size, this.n);
        await from.send({ type: 'send_chat', room: this.room, text, id }, codec);
        const ack = await from.next((r) => r.env.type === 'ack' && r.env.id === id);
        expect(ack?.env, `ack ${id}`).toMatchObject({ room: this.room, seq: this.seq + 1 });
        const chat = await to.next((r) => r.env.type === 'chat' && r.env.id === id);
        expect(chat?.env, `chat ${id}`).toMatchObject({ room: this.room, seq: this.seq + 1, text });
        expect(chat!.flags).toBe(size >= threshold ? FLAGS[to === this.a ? 'zstd' : 'lz4'] : 0);
        this.seq++;
      }
      for (const c of [this.a, this.b]) {
        expect(c.closed).toBe(false);
        expect(c.decodeErrors).toEqual([]);
        expect(c.inbox.filter((r) => r.env.type === 'error')).toEqual([]);
      }
    }
  }

  describe('negotiation', () => {
    it('welcome.codecs is hello.codecs filtered to lz4 / zstd, in the client order', async () => {
      const cases: [string[] | undefined, string[]][] = [
        [['zstd', 'lz4', 'brotli'], ['zstd', 'lz4']],
        [['lz4'], ['lz4']],
        [['zstd'], ['zstd']],
        [['brotli', 'lz4', 'zstd'], ['lz4', 'zstd']],
        [['gzip', 'deflate'], []],
        [['LZ4', 'Zstd'], []],
        [['zstd', 'zstd', 'lz4'], ['zstd', 'lz4']],
        [[], []],
        [undefined, []],
      ];
      for (const [codecs, agreed] of cases) {
        const c = await open('neg', codecs);
        expect(c.welcome, JSON.stringify(codecs)).toMatchObject({ type: 'welcome', codecs: agreed });
        c.end();
      }
    });

    it('without hello nothing is agreed: a compressed frame is fatal bad_frame', async () => {
      const c = await open(null, null);
      await c.send({ type: 'ping', t: 1 });
      expect((await c.type('pong'))?.env).toEqual({ type: 'pong', t: 1 });
      await c.send({ type: 'ping', t: 2 }, 'lz4');
      await expectFatal(c, 'bad_frame');
    });

    it('json-lines: welcome has no codecs field, even when hello asks', async () => {
      const j = await JsonClient.connect(s.port);
      j.send({ type: 'hello', nick: 'jl', codecs: ['lz4', 'zstd'] });
      const w = await j.type('welcome');
      expect(w).toMatchObject({ type: 'welcome', nick: 'jl' });
      expect(w).not.toHaveProperty('codecs');
      j.end();
    });
  });

  describe('inbound', () => {
    it('lz4 and zstd send_chat are accepted and fanned out decoded', async () => {
      const sender = await open('in-sender', ['lz4', 'zstd']);
      const plain = await open('in-plain');
      const room = 'inbound';
      const base = (await sender.join(room)).seq as number;
      await plain.join(room);
      const cases: [Codec, number][] = [['lz4', 30], ['zstd', 30], ['lz4', 3000], ['zstd', 3000], ['none', 3000], ['zstd', 4096]];
      for (const [i, [codec, size]] of cases.entries()) {
        const text = chatText(size, i + 100);
        const id = `in-${i}`;
        await sender.send({ type: 'send_chat', room, text, id }, codec);
        expect((await sender.next((r) => r.env.type === 'ack' && r.env.id === id))?.env, `${codec} ${size}`).toMatchObject({ seq: base + i + 1 });
        expect((await plain.next((r) => r.env.type === 'chat' && r.env.id === id))?.env).toMatchObject({ seq: base + i + 1, text, from: 'in-sender' });
      }
      // Any other envelope may come compressed too.
      await sender.send({ type: 'ping', t: { nested: chatText(1000, 9) } }, 'zstd');
      expect((await sender.type('pong'))?.env.t).toEqual({ nested: chatText(1000, 9) });
      await sender.send({ type: 'history', room, limit: 2 }, 'lz4');
      expect((await sender.type('history'))?.env.messages).toHaveLength(2);
      expect(sender.inbox.filter((r) => r.env.type === 'error')).toEqual([]);
    });
  });

  describe('outbound', () => {
    it('a big chat reaches an lz4 client with flags 1, a zstd client with flags 2 (with Frame_Content_Size), a plain client uncompressed; same JSON', async () => {
      const room = 'out-big';
      const sender = await open('out-sender');
      const lz4 = await open('out-lz4', ['lz4', 'zstd']);
      const zstd = await open('out-zstd', ['zstd', 'lz4']);
      const plain = await open('out-plain', ['brotli']);
      const json = await JsonClient.connect(s.port);
      json.send({ type: 'join_room', room });
      for (const c of [sender, lz4, zstd, plain]) await c.join(room);
      expect(await json.type('joined')).not.toBeNull();

      for (const size of [threshold, 1000, 4096]) {
        const id = `big-${size}`;
        await sender.send({ type: 'send_chat', room, text: chatText(size, size), id });
        const got = await Promise.all([lz4, zstd, plain].map((c) => c.next((r) => r.env.type === 'chat' && r.env.id === id)));
        const [viaLz4, viaZstd, viaPlain] = got as Received[];
        expect(viaLz4.flags, 'lz4 client').toBe(1);
        expect(viaZstd.flags, 'zstd client').toBe(2);
        expect(viaPlain.flags, 'plain client').toBe(0);
        const plainBody = viaPlain.wire;
        expect(viaLz4.wire.readUInt32LE(0), 'lz4 size prefix').toBe(plainBody.length);
        const info = readZstdFrame(viaZstd.wire);
        expect(info, 'zstd header carries Frame_Content_Size').not.toBeNull();
        expect(info).toMatchObject({ contentSize: plainBody.length, frameSize: viaZstd.wire.length });
        expect(viaLz4.wire.length).toBeLessThan(plainBody.length);
        expect(viaZstd.wire.length).toBeLessThan(plainBody.length);
        expect(viaLz4.env).toEqual(viaPlain.env);
        expect(viaZstd.env).toEqual(viaPlain.env);
        expect(await json.next((m) => m.type === 'chat' && m.id === id)).toEqual(viaPlain.env);
        expect(viaPlain.env).toMatchObject({ type: 'chat', room, id, text: chatText(size, size), from: 'out-sender' });
      }
      for (const c of [lz4, zstd, plain]) expect(c.decodeErrors).toEqual([]);
      json.end();
    });

    it('small envelopes go uncompressed, to every client', async () => {
      const room = 'out-small';
      const sender = await open('small-sender', ['zstd']);
      const lz4 = await open('small-lz4', ['lz4']);
      const zstd = await open('small-zstd', ['zstd']);
      expect(zstd.welcome).toBeTruthy();
      for (const c of [sender, lz4, zstd]) await c.join(room);
      for (const size of [1, 100, 300]) {
        const id = `small-${size}`;
        await sender.send({ type: 'send_chat', room, text: chatText(size, size), id }, 'zstd');
        for (const c of [lz4, zstd]) {
          const r = await c.next((x) => x.env.type === 'chat' && x.env.id === id);
          expect(r?.flags, `${size}-byte text`).toBe(0);
          expect(r!.wire.length).toBeLessThan(threshold);
        }
        expect((await sender.next((x) => x.env.type === 'ack' && x.env.id === id))?.flags).toBe(0);
      }
      // Everything the clients got so far (welcome, joined, member_joined, acks, chats) was small and plain.
      for (const c of [sender, lz4, zstd]) for (const r of c.inbox) expect(r.flags, r.env.type).toBe(0);
    });

    it('an incompressible big body goes out uncompressed', async () => {
      const room = 'out-random';
      const sender = await open('rnd-sender');
      const zstd = await open('rnd-zstd', ['zstd']);
      const lz4 = await open('rnd-lz4', ['lz4']);
      for (const c of [sender, zstd, lz4]) await c.join(room);
      // JSON-escaped control bytes and random letters: no codec gains much, and either way the JSON must survive.
      let x = 12345;
      const text = Array.from({ length: 3000 }, () => String.fromCharCode(33 + ((x = (Math.imul(x, 48271) + 11) >>> 0) % 90))).join('');
      await sender.send({ type: 'send_chat', room, text, id: 'rnd' });
      for (const c of [zstd, lz4]) {
        const r = await c.next((m) => m.env.type === 'chat' && m.env.id === 'rnd');
        expect(r?.env.text).toBe(text);
        if (r!.flags !== 0) expect(r!.wire.length).toBeLessThan(Buffer.byteLength(JSON.stringify(r!.env)));
      }
    });

    it('an echoing zstd sender gets its ack, then its own compressed chat', async () => {
      const room = 'out-echo';
      const me = await open('echo-zstd', ['zstd']);
      await me.send({ type: 'hello' }); // repeated hello: non-fatal bad_request, changes nothing
      expect((await me.type('error'))?.env).toMatchObject({ code: 'bad_request', fatal: false });
      const echo = await open('echo-zstd2', ['zstd']);
      // hello with echo on
      const e2 = await CodecClient.open(s.port, null, null);
      opened.push(e2);
      await e2.send({ type: 'hello', nick: 'echoer', echo: true, codecs: ['zstd'] });
      expect((await e2.type('welcome'))?.env.codecs).toEqual(['zstd']);
      await e2.join(room);
      await echo.join(room);
      const text = chatText(2000, 77);
      await e2.send({ type: 'send_chat', room, text, id: 'e1' }, 'zstd');
      const frames = await e2.collect((r) => r.env.id === 'e1', 2);
      expect(frames.map((r) => [r.env.type, r.flags])).toEqual([['ack', 0], ['chat', 2]]);
      expect(frames[1]!.env.text).toBe(text);
      expect((await echo.next((r) => r.env.id === 'e1'))?.flags).toBe(2);
      me.end();
    });
  });

  describe('order', () => {
    it('zstd A, plain B, lz4 C, zstd D in one write: acks in A, B, C, D seq order', async () => {
      const room = 'order-in';
      const x = await open('order-x', ['lz4', 'zstd']);
      const rz = await open('order-rz', ['zstd']);
      const rp = await open('order-rp');
      let seq = (await x.join(room)).seq as number;
      await rz.join(room);
      await rp.join(room);
      const kinds: [string, Codec, number][] = [['A', 'zstd', 3000], ['B', 'none', 20], ['C', 'lz4', 600], ['D', 'zstd', 40]];
      const ids: string[] = [];
      // One write of four, then one write of 25 rounds of four.
      for (const rounds of [1, 25]) {
        const frames: Buffer[] = [];
        const sent: string[] = [];
        for (let r = 0; r < rounds; r++) {
          for (const [k, codec, size] of kinds) {
            const id = `${k}${rounds}-${r}`;
            sent.push(id);
            frames.push(await encodeFrame({ type: 'send_chat', room, text: chatText(size, ids.length + sent.length), id }, codec));
          }
        }
        x.raw(Buffer.concat(frames));
        const acks = await x.collect((r) => r.env.type === 'ack', sent.length);
        expect(acks.map((r) => r.env.id)).toEqual(sent);
        expect(acks.map((r) => r.env.seq)).toEqual(sent.map((_, i) => seq + i + 1));
        for (const rcv of [rz, rp]) {
          const chats = await rcv.collect((r) => r.env.type === 'chat', sent.length);
          expect(chats.map((r) => r.env.id)).toEqual(sent);
          expect(chats.map((r) => r.env.seq)).toEqual(sent.map((_, i) => seq + i + 1));
        }
        seq += sent.length;
        ids.push(...sent);
      }
      expect(x.inbox.filter((r) => r.env.type === 'error')).toEqual([]);
    });

    it('a zstd receiver gets 300 mixed big (compressed) and small (plain) chats in strict seq order', async () => {
      const room = 'order-out';
      const sender = await open('stream-sender', ['lz4']);
      const rz = await open('stream-zstd', ['zstd']);
      const rl = await open('stream-lz4', ['lz4', 'zstd']);
      const rp = await open('stream-plain');
      const base = (await sender.join(room)).seq as number;
      for (const c of [rz, rl, rp]) await c.join(room);
      const N = 300;
      const texts = Array.from({ length: N }, (_, i) => chatText(i % 2 === 0 ? 600 + (i % 7) * 500 : 10 + (i % 5), i));
      const frames = await Promise.all(texts.map((text, i) => encodeFrame({ type: 'send_chat', room, text, id: `s${i}` }, i % 3 === 0 ? 'lz4' : 'none')));
      sender.raw(Buffer.concat(frames));
      const acks = await sender.collect((r) => r.env.type === 'ack', N);
      expect(acks.map((r) => r.env.seq)).toEqual(texts.map((_, i) => base + i + 1));
      for (const [rcv, big] of [[rz, 2], [rl, 1], [rp, 0]] as const) {
        const chats = await rcv.collect((r) => r.env.type === 'chat', N);
        expect(chats.map((r) => r.env.seq), `receiver flags ${big}`).toEqual(texts.map((_, i) => base + i + 1));
        expect(chats.map((r) => r.env.text)).toEqual(texts);
        expect(chats.map((r) => r.flags)).toEqual(texts.map((_, i) => (i % 2 === 0 ? big : 0)));
        expect(rcv.decodeErrors).toEqual([]);
      }
    });

    it('a zstd client resuming with since_seq gets joined, then the replayed chats in order, big ones compressed', async () => {
      const room = 'order-replay';
      const w = await open('replay-writer');
      const base = (await w.join(room)).seq as number;
      const texts = Array.from({ length: 40 }, (_, i) => chatText(i % 3 === 0 ? 1500 : 15, 500 + i));
      w.raw(Buffer.concat(await Promise.all(texts.map((text, i) => encodeFrame({ type: 'send_chat', room, text, id: `rp${i}` })))));
      await w.collect((r) => r.env.type === 'ack', texts.length);
      const z = await open('replay-zstd', ['zstd']);
      await z.send({ type: 'join_room', room, since_seq: base });
      const got = await z.collect((r) => r.env.type === 'joined' || r.env.type === 'chat', texts.length + 1);
      expect(got[0]!.env).toMatchObject({ type: 'joined', seq: base + texts.length, recovered: true });
      expect(got.slice(1).map((r) => r.env.seq)).toEqual(texts.map((_, i) => base + i + 1));
      expect(got.slice(1).map((r) => r.flags)).toEqual(texts.map((_, i) => (i % 3 === 0 ? 2 : 0)));
      // A big history reply is one compressed frame.
      await z.send({ type: 'history', room, since_seq: base, limit: 1000 });
      const h = await z.type('history');
      expect(h?.flags).toBe(2);
      expect((h!.env.messages as Envelope[]).map((m) => m.text)).toEqual(texts);
    });
  });

  describe('hostile compressed bodies: fatal for the offender only', () => {
    let h: Healthy;
    beforeAll(async () => {
      h = await Healthy.open('hostile');
      await h.check();
    });

    /** Opens an offender that agreed both codecs and joined the healthy room; sends `bytes`; expects fatal `code`. */
    async function offend(name: string, bytes: Buffer, code: string, codecs = ['lz4', 'zstd']): Promise<void> {
      const c = await open(`bad-${name}`, codecs);
      await c.join(h.room);
      c.raw(bytes);
      await expectFatal(c, code);
      const left = await h.a.next((r) => r.env.type === 'member_left' && r.env.nick === `bad-${name}`);
      expect(left, `${name}: member_left`).not.toBeNull();
      await h.b.next((r) => r.env.type === 'member_left' && r.env.nick === `bad-${name}`);
      await h.check();
    }

    const json = Buffer.from(JSON.stringify({ type: 'send_chat', room: 'hostile', text: chatText(800, 5) }));

    it('lz4 declaring 10 MiB (and more): frame_too_large before anything is allocated', async () => {
      const grown = await peakRssGrowthMiB(async () => {
        for (const declared of [10 * 1024 * 1024, 10 * 1024 * 1024, 256 * 1024 * 1024, 0xffffffff, 65537]) {
          const body = lz4Compress(json);
          body.writeUInt32LE(declared >>> 0, 0);
          await offend(`lz4-${declared}`, wireFrame(body, 1), 'frame_too_large');
        }
      });
      if (grown !== null) expect(grown, `peak RSS rose ${grown.toFixed(1)} MiB`).toBeLessThan(8);
    });

    it('lz4 declared size not matching the output, garbage, a missing prefix: bad_frame', async () => {
      const good = lz4Compress(json);
      const more = Buffer.from(good);
      more.writeUInt32LE(json.length + 10, 0);
      await offend('lz4-more', wireFrame(more, 1), 'bad_frame');
      const less = Buffer.from(good);
      less.writeUInt32LE(json.length - 10, 0);
      await offend('lz4-less', wireFrame(less, 1), 'bad_frame');
      const zero = Buffer.from(good);
      zero.writeUInt32LE(0, 0);
      await offend('lz4-zero', wireFrame(zero, 1), 'bad_frame');
      await offend('lz4-garbage', wireFrame(Buffer.concat([Buffer.from([100, 0, 0, 0]), Buffer.alloc(20, 0xff)]), 1), 'bad_frame');
      await offend('lz4-short', wireFrame(Buffer.from([5, 0]), 1), 'bad_frame');
      await offend('lz4-truncated', wireFrame(good.subarray(0, good.length - 5), 1), 'bad_frame');
    });

    it('zstd without Frame_Content_Size (the @mongodb-js/zstd encoder output): bad_frame', async () => {
      const noFcs = await zstdCompress(json, 3);
      expect(readZstdFrame(noFcs)).toBeNull();
      await offend('zstd-nofcs', wireFrame(noFcs, 2), 'bad_frame');
    });

    it('zstd with trailing bytes, two frames, a skippable frame, garbage blocks, a lying size: bad_frame', async () => {
      const good = await zstdWithSize(json);
      await offend('zstd-trailing', wireFrame(Buffer.concat([good, Buffer.from([0, 0, 0])]), 2), 'bad_frame');
      await offend('zstd-two', wireFrame(Buffer.concat([good, await zstdWithSize(Buffer.from('{"type":"ping"}'))]), 2), 'bad_frame');
      const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]), Buffer.from('skip')]);
      await offend('zstd-skip-first', wireFrame(Buffer.concat([skippable, good]), 2), 'bad_frame');
      await offend('zstd-skip-after', wireFrame(Buffer.concat([good, skippable]), 2), 'bad_frame');
      // Valid header (Single_Segment, FCS 100), one Compressed_Block of junk.
      const junk = Buffer.concat([ZSTD_MAGIC, Buffer.from([0x20, 100]), blockHeader(true, 2, 20), Buffer.alloc(20, 0xff)]);
      await offend('zstd-junk', wireFrame(junk, 2), 'bad_frame');
      await offend('zstd-random', wireFrame(Buffer.concat([ZSTD_MAGIC, Buffer.from([0x80, 0x58, 50, 0, 0, 0]), blockHeader(true, 2, 40), Buffer.from(chatText(40, 3))]), 2), 'bad_frame');
      await offend('zstd-fcs-more', wireFrame(rawZstd(json, json.length + 1), 2), 'bad_frame');
      await offend('zstd-fcs-less', wireFrame(rawZstd(json, json.length - 1), 2), 'bad_frame');
      await offend('zstd-truncated', wireFrame(good.subarray(0, good.length - 3), 2), 'bad_frame');
      const dict = Buffer.from(good);
      dict[4] = dict[4]! | 1;
      await offend('zstd-dict', wireFrame(dict, 2), 'bad_frame');
      await offend('zstd-lz4-body', wireFrame(lz4Compress(json), 2), 'bad_frame');
    });

    it('zstd declaring more than max_frame_bytes: frame_too_large; an RLE bomb under a small declared size: bad_frame, no memory', async () => {
      await offend('zstd-big', wireFrame(rawZstd(Buffer.from('{}'), 10 * 1024 * 1024), 2), 'frame_too_large');
      const fcs8 = Buffer.concat([ZSTD_MAGIC, Buffer.from([0xc0, 0x58]), Buffer.from([0, 0, 0, 0, 0, 1, 0, 0]), blockHeader(true, 0, 2), Buffer.from('{}')]);
      await offend('zstd-big8', wireFrame(fcs8, 2), 'frame_too_large');
      // 16,000 RLE blocks of 128 KiB (2 GB of output) in a 64 KB frame declaring 100 bytes.
      const blocks: Buffer[] = [ZSTD_MAGIC, Buffer.from([0x80, 0x58, 100, 0, 0, 0])];
      for (let i = 0; i < 16_000; i++) blocks.push(blockHeader(i === 15_999, 1, 128 * 1024), Buffer.from('A'));
      const bomb = Buffer.concat(blocks);
      expect(bomb.length).toBeLessThanOrEqual(s.server.config.max_frame_bytes);
      const grown = await peakRssGrowthMiB(() => offend('zstd-bomb', wireFrame(bomb, 2), 'bad_frame'));
      if (grown !== null) expect(grown, `peak RSS rose ${grown.toFixed(1)} MiB`).toBeLessThan(8);
    });

    it('a codec not agreed in welcome, or the reserved codec: bad_frame', async () => {
      await offend('unagreed-zstd', await encodeFrame({ type: 'ping' }, 'zstd'), 'bad_frame', ['lz4']);
      await offend('unagreed-lz4', await encodeFrame({ type: 'ping' }, 'lz4'), 'bad_frame', ['zstd']);
      await offend('unagreed-none', await encodeFrame({ type: 'ping' }, 'lz4'), 'bad_frame', ['brotli']);
      await offend('reserved-codec', wireFrame(Buffer.from('{"type":"ping"}'), 3), 'bad_frame');
      await offend('reserved-bit', wireFrame(lz4Compress(Buffer.from('{"type":"ping"}')), 0x05), 'bad_frame');
    });

    it('envelopes before a hostile frame in the same write are handled first, even behind an async zstd inflate', async () => {
      const bad: [string, Buffer, string][] = [
        ['no-fcs', wireFrame(await zstdCompress(json, 3), 2), 'bad_frame'],
        ['lz4-10mib', wireFrame(Buffer.concat([Buffer.from([0, 0, 0xa0, 0]), lz4Compress(json).subarray(4)]), 1), 'frame_too_large'],
        ['zero-length', Buffer.from([0, 0, 0, 0]), 'bad_frame'],
        ['prefix-too-large', Buffer.from([0, 0x10, 0, 0]), 'frame_too_large'],
        ['reserved-codec', wireFrame(Buffer.from('{"type":"ping"}'), 3), 'bad_frame'],
        ['zstd-two-frames', wireFrame(Buffer.concat([await zstdWithSize(json), await zstdWithSize(json)]), 2), 'bad_frame'],
      ];
      for (const [name, hostile, code] of bad) {
        const c = await open(`bad-mixed-${name}`, ['lz4', 'zstd']);
        await c.join(h.room);
        const id = `mixed-${name}`;
        c.raw(
          Buffer.concat([
            await encodeFrame({ type: 'ping', t: 1 }, 'zstd'),
            await encodeFrame({ type: 'ping', t: 2 }, 'lz4'),
            await encodeFrame({ type: 'send_chat', room: h.room, text: chatText(2000, 42), id }, 'zstd'),
            await encodeFrame({ type: 'ping', t: 3 }),
            hostile,
            await encodeFrame({ type: 'ping', t: 4 }),
          ]),
        );
        const got = await c.collect((r) => r.env.type === 'pong' || r.env.type === 'error' || r.env.type === 'ack', 5);
        expect(got.map((r) => (r.env.type === 'pong' ? r.env.t : r.env.type === 'ack' ? r.env.id : r.env.code)), name).toEqual([1, 2, id, 3, code]);
        expect(await c.waitClose(), name).toBe(true);
        // The acknowledged chat was fanned out.
        h.seq++;
        for (const m of [h.a, h.b]) expect((await m.next((r) => r.env.type === 'chat' && r.env.id === id))?.env.seq, name).toBe(h.seq);
        await h.check();
      }
    });
  });
});
