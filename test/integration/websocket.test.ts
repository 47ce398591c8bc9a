/**
 * The WebSocket transport (PROTOCOL.md §7; src/core/ws-gateway.ts): a real
 * server with `ws_enabled` on an ephemeral WebSocket port, driven by the
 * `ws` package's client over real sockets. Text messages carry JSON
 * envelopes, binary messages `flags` + body (§2); the same limits, errors,
 * heartbeats, slow-consumer budget and shutdown as over TCP; chat crosses
 * between the two transports.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { compressSync as lz4Compress } from 'lz4-napi';
import { configFrom } from '../../src/core/config.js';
import type { Envelope } from '../../src/core/envelope.js';
import { ConfigError } from '../../src/core/errors.js';
import { createServer, type ChatServer, type ConfigInput } from '../../src/index.js';
import type { MessageProcessor } from '../../src/core/plugin.js';
import pino from 'pino';
import { runLoad } from '../../src/loadgen/run.js';
import { resolveScenario } from '../../src/loadgen/scenarios.js';
import { helloClient, join, sleep } from '../helpers/clients.js';
import { zstdWithSize } from '../helpers/codecs.js';

/** A server with its TCP and WebSocket ports. */
interface Running {
  server: ChatServer;
  port: number;
  wsPort: number;
}

const open: Running[] = [];
const clients: WsClient[] = [];
/** The `ws_fanout` of the servers start() makes: every test runs under both (set by the describe below). */
let fanout: 'queue' | 'publish' = 'queue';

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const s of open.splice(0)) await s.server.close();
});

async function start(overrides: ConfigInput = {}): Promise<Running> {
  const server = await createServer(
    { tcp_host: '127.0.0.1', tcp_port: 0, voice_udp_port: 0, log_level: 'silent', log_file: '', max_latency_ms: 0, max_error_rate: 0, ws_enabled: true, ws_port: 0, ws_fanout: fanout, ...overrides },
    { logger: pino({ level: 'silent' }) },
  );
  const addr = await server.listen();
  const r = { server, port: addr.port, wsPort: addr.ws!.port };
  open.push(r);
  return r;
}

/** One received WebSocket message, decoded. */
interface Msg {
  binary: boolean;
  /** The flags byte of a binary message. */
  flags: number;
  env: Envelope;
}

/** A `ws` client with an inbox of decoded envelopes. */
class WsClient {
  readonly inbox: Msg[] = [];
  closeCode: number | null = null;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const flags = isBinary ? data[0]! : 0;
      const body = isBinary ? data.subarray(1) : data;
      this.inbox.push({ binary: isBinary, flags, env: JSON.parse(body.toString('utf8')) as Envelope });
      this.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
    ws.on('error', () => {});
  }

  static async connect(port: number): Promise<WsClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const c = new WsClient(ws);
    clients.push(c);
    return c;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Sends an envelope as a text message. */
  send(env: unknown): void {
    this.ws.send(JSON.stringify(env));
  }

  /** Sends `flags` + body as a binary message. */
  sendBinary(flags: number, body: Buffer): void {
    this.ws.send(Buffer.concat([Buffer.from([flags]), body]), { binary: true });
  }

  /** The first message whose envelope has `type` (removed from the inbox), or null after `ms` or on close. */
  async next(type: string, ms = 2000): Promise<Msg | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.env.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0 || this.closeCode !== null) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves the close code once the server closed the WebSocket, or null after `ms`. */
  async closed(ms = 3000): Promise<number | null> {
    const deadline = Date.now() + ms;
    while (this.closeCode === null && Date.now() < deadline) await sleep(10);
    return this.closeCode;
  }
}

/** A text-mode WebSocket client that sent `hello` (with `fields`) and joined `room`. */
async function wsMember(wsPort: number, room: string, fields: Record<string, unknown> = {}): Promise<WsClient> {
  const c = await WsClient.connect(wsPort);
  c.send({ type: 'hello', ...fields });
  await c.next('welcome');
  c.send({ type: 'join_room', room });
  await c.next('joined');
  return c;
}

describe.each(['queue', 'publish'] as const)('WebSocket transport (PROTOCOL.md §7), ws_fanout=%s', (mode) => {
  beforeAll(() => {
    fanout = mode;
  });

  it('is off unless ws_enabled; the key takes true / false and refuses anything else', async () => {
    const server = await createServer({ tcp_host: '127.0.0.1', tcp_port: 0, voice_udp_port: 0, log_level: 'silent', log_file: '' }, { logger: pino({ level: 'silent' }) });
    const addr = await server.listen();
    expect(addr.ws).toBeUndefined();
    await server.close();
    expect(configFrom({ ws_enabled: 'true' }).ws_enabled).toBe(true);
    expect(configFrom({ ws_enabled: 'off' }).ws_enabled).toBe(false);
    expect(() => configFrom({ ws_enabled: 'maybe' })).toThrow(ConfigError);
  });

  it('text messages: hello, join, chat with ack and echo, errors that are not fatal', async () => {
    const { wsPort } = await start();
    const c = await WsClient.connect(wsPort);
    c.send({ type: 'hello', nick: 'wanda', echo: true });
    const welcome = await c.next('welcome');
    expect(welcome?.binary).toBe(false);
    expect(welcome?.env).toMatchObject({ nick: 'wanda', max_frame_bytes: 65536 });
    // A text connection is like json-lines (§4): no codecs.
    expect(welcome?.env.codecs).toBeUndefined();
    c.send({ type: 'join_room', room: 'lobby' });
    expect((await c.next('joined'))?.env).toMatchObject({ room: 'lobby', seq: 0, members: 1 });
    c.send({ type: 'send_chat', room: 'lobby', text: 'hi', id: 'm1' });
    expect((await c.next('ack'))?.env).toMatchObject({ room: 'lobby', seq: 1, id: 'm1' });
    expect((await c.next('chat'))?.env).toMatchObject({ room: 'lobby', seq: 1, from: 'wanda', text: 'hi' });
    c.ws.send('not json');
    expect((await c.next('error'))?.env).toMatchObject({ code: 'bad_json', fatal: false });
    c.send({ type: 'ping', t: 7 });
    expect((await c.next('pong'))?.env).toEqual({ type: 'pong', t: 7 });
    expect(c.closeCode).toBeNull();
  });

  it('chat crosses transports: a WebSocket member and a TCP member of one room see each other, in seq order', async () => {
    const { port, wsPort } = await start();
    const w = await WsClient.connect(wsPort);
    w.send({ type: 'hello', nick: 'webby' });
    await w.next('welcome');
    w.send({ type: 'join_room', room: 'mixed' });
    await w.next('joined');
    const t = await helloClient(port, 'tcpy');
    await join(t, 'mixed');
    for (let i = 1; i <= 20; i++) t.send({ type: 'send_chat', room: 'mixed', text: `t${i}` });
    w.send({ type: 'send_chat', room: 'mixed', text: 'from ws' });
    // Without echo the WebSocket sender gets only the TCP member's 20 chats.
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) {
      const m = await w.next('chat');
      expect(m?.env.from).toBe('tcpy');
      seen.push(m!.env.seq as number);
    }
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect((await w.next('ack'))?.env.room).toBe('mixed');
    const fromWs = await t.next((m) => m.type === 'chat' && m.text === 'from ws');
    expect(fromWs).toMatchObject({ from: 'webby', room: 'mixed' });
    t.end();
  });

  it('many messages in one turn (a 300-message replay), then a few, then live chat: each arrives once, in seq order', async () => {
    // The gateway reuses each socket's send queue between turns and drops a long one (ws-gateway.ts):
    // a burst longer than the kept array, a short queue after it, and a live message must all come through whole.
    const { port, wsPort } = await start();
    const t = await helloClient(port, 'feeder');
    await join(t, 'burst');
    for (let i = 1; i <= 300; i++) t.send({ type: 'send_chat', room: 'burst', text: `m${i}`, id: `b${i}` });
    for (let i = 0; i < 300; i++) expect(await t.next((m) => m.type === 'ack')).toBeTruthy();
    const w = await WsClient.connect(wsPort);
    w.send({ type: 'hello', nick: 'reader' });
    await w.next('welcome');
    w.send({ type: 'join_room', room: 'burst', since_seq: 0 });
    expect((await w.next('joined'))?.env).toMatchObject({ seq: 300, recovered: true });
    w.send({ type: 'history', room: 'burst', limit: 3 });
    t.send({ type: 'send_chat', room: 'burst', text: 'live' });
    const seqs: number[] = [];
    for (let i = 0; i < 301; i++) {
      const m = await w.next('chat');
      expect(m?.env.text).toBe(i < 300 ? `m${i + 1}` : 'live');
      seqs.push(m!.env.seq as number);
    }
    expect(seqs).toEqual(Array.from({ length: 301 }, (_, i) => i + 1));
    const history = await w.next('history');
    expect((history?.env.messages as Envelope[]).map((m) => m.seq)).toEqual([298, 299, 300]);
    expect(w.inbox.filter((m) => m.env.type === 'chat')).toEqual([]);
    t.end();
  });

  it('binary messages: flags + body, codecs agreed in welcome, an lz4 body inflated; replies are binary', async () => {
    const { wsPort } = await start({ service_compression: 'native' });
    const c = await WsClient.connect(wsPort);
    c.sendBinary(0, Buffer.from(JSON.stringify({ type: 'hello', nick: 'bin', codecs: ['lz4', 'nope'], echo: true })));
    const welcome = await c.next('welcome');
    expect(welcome).toMatchObject({ binary: true, flags: 0 });
    expect(welcome?.env.codecs).toEqual(['lz4']);
    c.sendBinary(0, Buffer.from(JSON.stringify({ type: 'join_room', room: 'z' })));
    await c.next('joined');
    // lz4 body: u32 LE uncompressed size + block (PROTOCOL.md §2), as lz4-napi makes it.
    c.sendBinary(1, lz4Compress(Buffer.from(JSON.stringify({ type: 'send_chat', room: 'z', text: 'packed', id: 'p1' }))));
    expect((await c.next('ack'))?.env).toMatchObject({ id: 'p1', seq: 1 });
    const chat = await c.next('chat');
    expect(chat).toMatchObject({ binary: true, flags: 0, env: { text: 'packed' } });
  });

  it('zstd bodies inflate asynchronously in order; past 64 waiting behind them a message gets rate_limited (uWS cannot pause reads), none is lost', async () => {
    const { wsPort } = await start({ service_compression: 'native', rate_msgs_per_sec: 100000, rate_burst: 100000 });
    const c = await WsClient.connect(wsPort);
    c.sendBinary(0, Buffer.from(JSON.stringify({ type: 'hello', codecs: ['zstd'] })));
    expect((await c.next('welcome'))?.env.codecs).toEqual(['zstd']);
    const n = 1000;
    const bodies = await Promise.all(Array.from({ length: n }, (_, i) => zstdWithSize(Buffer.from(JSON.stringify({ type: 'ping', t: i })))));
    // Sent in one tick of this process (which also runs the server): uWS reads them many per read, faster than the thread pool inflates them.
    for (const body of bodies) c.sendBinary(2, body);
    const pongs: number[] = [];
    let limited = 0;
    const deadline = Date.now() + 10_000;
    while (pongs.length + limited < n && Date.now() < deadline) {
      const m = c.inbox.shift();
      if (m === undefined) {
        await sleep(5);
        continue;
      }
      if (m.env.type === 'pong') pongs.push(m.env.t as number);
      else if (m.env.type === 'error' && m.env.code === 'rate_limited') limited++;
      else throw new Error(`unexpected ${JSON.stringify(m.env)}`);
    }
    expect(pongs.length + limited).toBe(n);
    expect(limited).toBeGreaterThan(0);
    // Every processed envelope was answered in arrival order.
    expect(pongs).toEqual([...pongs].sort((a, b) => a - b));
    expect(c.closeCode).toBeNull();
  });

  it('a text message may also come on a binary connection, and the reverse', async () => {
    const { wsPort } = await start();
    const c = await WsClient.connect(wsPort);
    c.send({ type: 'hello' }); // first message is text: replies are text
    await c.next('welcome');
    c.sendBinary(0, Buffer.from(JSON.stringify({ type: 'ping', t: 1 })));
    expect(await c.next('pong')).toMatchObject({ binary: false, env: { t: 1 } });
  });

  it.each([
    ['reserved flag bits', Buffer.from([0x04, 0x7b, 0x7d]), 'bad_frame'],
    ['an unagreed codec', Buffer.from([0x01, 0, 0, 0, 0]), 'bad_frame'],
    ['no flags byte', Buffer.alloc(0), 'bad_frame'],
  ])('a binary message with %s is fatal %s: error, then close 1000; other clients are not disturbed', async (_what, msg, code) => {
    const { wsPort } = await start();
    const other = await WsClient.connect(wsPort);
    other.send({ type: 'hello', echo: true });
    await other.next('welcome');
    const c = await WsClient.connect(wsPort);
    c.sendBinary(0, Buffer.from(JSON.stringify({ type: 'hello' })));
    await c.next('welcome');
    c.ws.send(msg, { binary: true });
    expect((await c.next('error'))?.env).toMatchObject({ code, fatal: true });
    expect(await c.closed()).toBe(1000);
    other.send({ type: 'ping', t: 2 });
    expect((await other.next('pong'))?.env.t).toBe(2);
  });

  it('limits: a text message over max_frame_bytes is fatal frame_too_large; one past max_frame_bytes + 1 is cut off by uWS (no close frame)', async () => {
    const { wsPort } = await start({ max_frame_bytes: 2048, max_text_bytes: 100 });
    const a = await WsClient.connect(wsPort);
    a.send({ type: 'hello' });
    await a.next('welcome');
    // Exactly max_frame_bytes + 1 bytes: past the limit, within what uWS lets through.
    const head = '{"type":"ping","pad":"';
    a.ws.send(`${head}${'x'.repeat(2049 - head.length - 2)}"}`);
    expect((await a.next('error'))?.env).toMatchObject({ code: 'frame_too_large', fatal: true });
    expect(await a.closed()).toBe(1000);
    const b = await WsClient.connect(wsPort);
    b.send({ type: 'hello' });
    await b.next('welcome');
    b.ws.send(Buffer.alloc(2050), { binary: true });
    // uWS drops the TCP connection inside its parser: the client sees 1006 (abnormal closure), and no error envelope.
    expect(await b.closed()).toBe(1006);
    expect(b.inbox).toEqual([]);
  });

  it('max_connections counts both transports: one more gets fatal server_busy at its first message', async () => {
    const { port, wsPort } = await start({ max_connections: 1 });
    const t = await helloClient(port, 'first');
    const c = await WsClient.connect(wsPort);
    c.send({ type: 'hello' });
    expect((await c.next('error'))?.env).toMatchObject({ code: 'server_busy', fatal: true });
    expect(await c.closed()).toBe(1000);
    t.end();
  });

  it('heartbeats: a silent client is pinged after heartbeat_ms and closed with idle_timeout after heartbeat_timeout_ms', async () => {
    const { wsPort } = await start({ heartbeat_ms: 150, heartbeat_timeout_ms: 400 });
    const c = await WsClient.connect(wsPort);
    c.send({ type: 'hello' });
    await c.next('welcome');
    expect((await c.next('ping', 2000))?.env.type).toBe('ping');
    expect((await c.next('error', 2000))?.env).toMatchObject({ code: 'idle_timeout', fatal: true });
    expect(await c.closed()).toBe(1000);
  });

  it('a client that stops reading is a slow consumer past max_outbound_bytes; the room goes on for the others', async () => {
    const { server, port, wsPort } = await start({ max_outbound_bytes: 256 * 1024, rate_msgs_per_sec: 100000, rate_burst: 100000 });
    const slow = await WsClient.connect(wsPort);
    slow.send({ type: 'hello' });
    await slow.next('welcome');
    slow.send({ type: 'join_room', room: 'flood' });
    await slow.next('joined');
    const fast = await WsClient.connect(wsPort);
    fast.send({ type: 'hello' });
    await fast.next('welcome');
    fast.send({ type: 'join_room', room: 'flood' });
    await fast.next('joined');
    // Stop reading: the kernel buffers fill, then uWS's, then the budget is crossed.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const sender = await helloClient(port, 'sender');
    await join(sender, 'flood');
    const text = 'y'.repeat(4000);
    let sent = 0;
    // Bursts of 20 × 4 KB: one turn's fan-out stays well under the budget of a member that reads.
    for (let round = 0; round < 1000 && server.stats().slow_consumer_disconnects_total === 0; round++) {
      for (let i = 0; i < 20; i++) sender.send({ type: 'send_chat', room: 'flood', text });
      sent += 20;
      await sleep(10);
    }
    expect(server.stats().slow_consumer_disconnects_total).toBe(1);
    expect(fast.closeCode).toBeNull();
    // The reading member got every chat, in order.
    let last = 0;
    for (let i = 0; i < sent; i++) {
      const m = await fast.next('chat', 5000);
      expect(m?.env.seq).toBe(last + 1);
      last = m!.env.seq as number;
    }
    sender.end();
  }, 30_000);

  it('shutdown: WebSocket clients get shutdown, then close 1000; the port stops listening', async () => {
    const { server, wsPort } = await start();
    const c = await WsClient.connect(wsPort);
    c.send({ type: 'hello' });
    await c.next('welcome');
    const closing = server.close();
    expect((await c.next('shutdown'))?.env.type).toBe('shutdown');
    expect(await c.closed()).toBe(1000);
    await closing;
    open.splice(0);
    await expect(WsClient.connect(wsPort)).rejects.toThrow();
  });

  it('the load generator over ws (--protocol ws, --stats-port the TCP port): every chat delivered once, in order; /stats read', async () => {
    const { server, port, wsPort } = await start();
    const scenario = resolveScenario({ scenario: 'multi-room', protocol: 'ws', host: '127.0.0.1', port: wsPort, clients: 8, rooms: 2, probes: 2, ramp: '100/s', duration: '2s', msg_interval: '100ms', msg_size: 64 });
    const out = await runLoad({ ...scenario, slo: {} }, { log: () => {}, serverPid: null, statsPort: port, drainTimeoutMs: 5000, sampleEveryMs: 250 });
    const t = out.result.totals;
    expect(t.sent).toBeGreaterThan(0);
    expect(t.acked).toBe(t.sent);
    expect([t.errors, t.lost, t.duplicated, t.out_of_order, t.disconnects]).toEqual([0, 0, 0, 0, 0]);
    for (const room of out.rooms) {
      expect(room.counters_short + room.counters_over + room.counters_unchecked).toBe(0);
    }
    expect(out.notes.filter((n) => n.includes('/stats'))).toEqual([]);
    expect(server.stats().messages_total).toBe(t.acked);
  }, 20_000);

  it('an HTTP request that is not an upgrade gets 426 and a hint', async () => {
    const { wsPort } = await start();
    const res = await fetch(`http://127.0.0.1:${wsPort}/stats`);
    expect(res.status).toBe(426);
    expect(await res.text()).toMatch(/WebSocket only/);
  });
});

describe('ws_fanout=publish (room broadcasts by uWS topic publish)', () => {
  beforeAll(() => {
    fanout = 'publish';
  });

  it('is the default; needs slow_consumer_policy=disconnect, and under drop the default is queue', () => {
    expect(configFrom({}).ws_fanout).toBe('publish');
    expect(configFrom({ slow_consumer_policy: 'drop' }).ws_fanout).toBe('queue');
    expect(configFrom({ ws_fanout: 'queue' }).ws_fanout).toBe('queue');
    expect(() => configFrom({ ws_fanout: 'publish', slow_consumer_policy: 'drop' })).toThrow(ConfigError);
    expect(() => configFrom({ ws_fanout: 'fast' })).toThrow(ConfigError);
  });

  it('text members are published to, binary and TCP members get frames; in a mixed room every member gets every chat once, in seq order', async () => {
    const { server, port, wsPort } = await start();
    const text = await wsMember(wsPort, 'mix', { nick: 'texty', echo: true });
    const bin = await WsClient.connect(wsPort);
    bin.sendBinary(0, Buffer.from(JSON.stringify({ type: 'hello', nick: 'binny' })));
    await bin.next('welcome');
    bin.sendBinary(0, Buffer.from(JSON.stringify({ type: 'join_room', room: 'mix' })));
    await bin.next('joined');
    const tcp = await helloClient(port, 'tcpy');
    await join(tcp, 'mix');
    expect(server.rooms.publishedCount('mix')).toBe(1);
    expect(server.rooms.memberCount('mix')).toBe(3);

    for (let i = 1; i <= 30; i++) {
      tcp.send({ type: 'send_chat', room: 'mix', text: `t${i}` });
      text.send({ type: 'send_chat', room: 'mix', text: `w${i}`, id: `w${i}` });
    }
    // 60 chats in all; the echoing text member gets its own too.
    const seqs = async (c: WsClient): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 60; i++) out.push((await c.next('chat'))!.env.seq as number);
      return out;
    };
    const all = Array.from({ length: 60 }, (_, i) => i + 1);
    expect(await seqs(text)).toEqual(all);
    expect(await seqs(bin)).toEqual(all);
    const tcpSeqs: number[] = [];
    for (let i = 0; i < 30; i++) tcpSeqs.push((await tcp.next((m) => m.type === 'chat' && m.from === 'texty'))!.seq as number);
    expect(tcpSeqs).toEqual([...tcpSeqs].sort((a, b) => a - b));
    tcp.end();
  });

  it("an echoing sender's ack comes before its chat, and a leaver gets no more chats", async () => {
    const { server, wsPort } = await start();
    const a = await wsMember(wsPort, 'r', { nick: 'alice', echo: true });
    const b = await wsMember(wsPort, 'r', { nick: 'bob' });
    for (let i = 1; i <= 10; i++) a.send({ type: 'send_chat', room: 'r', text: `m${i}`, id: `m${i}` });
    for (let i = 1; i <= 10; i++) expect((await b.next('chat'))?.env).toMatchObject({ seq: i, text: `m${i}` });
    // alice's inbox: ack 1, chat 1, ack 2, chat 2, ... (the ack first: PROTOCOL.md §3).
    const ackOrChat = () => a.inbox.filter((m) => m.env.type === 'ack' || m.env.type === 'chat');
    for (let i = 0; i < 200 && ackOrChat().length < 20; i++) await sleep(10);
    const kinds = ackOrChat().map((m) => `${m.env.type}${m.env.seq as number}`);
    expect(kinds).toEqual(Array.from({ length: 10 }, (_, i) => [`ack${i + 1}`, `chat${i + 1}`]).flat());
    a.inbox.length = 0;
    b.send({ type: 'leave_room', room: 'r' });
    await b.next('left');
    expect(server.rooms.publishedCount('r')).toBe(1);
    a.send({ type: 'send_chat', room: 'r', text: 'after' });
    expect((await a.next('ack'))?.env.seq).toBe(11);
    expect(await b.next('chat', 300)).toBeNull();
  });

  it('a room joined by a plugin in onConnect (before the first envelope is handled) is published to as well', async () => {
    const autoJoin: MessageProcessor = {
      name: 'auto-join',
      canHandle: () => false,
      process: () => {},
      onConnect: (api, client) => void api.rooms.join('lobby', client),
    };
    const server = await createServer(
      { tcp_host: '127.0.0.1', tcp_port: 0, voice_udp_port: 0, log_level: 'silent', log_file: '', max_latency_ms: 0, ws_enabled: true, ws_port: 0, ws_fanout: 'publish' },
      { logger: pino({ level: 'silent' }), plugins: [autoJoin] },
    );
    const addr = await server.listen();
    open.push({ server, port: addr.port, wsPort: addr.ws!.port });
    const w = await WsClient.connect(addr.ws!.port);
    w.send({ type: 'hello', nick: 'early' });
    await w.next('welcome');
    expect(server.rooms.publishedCount('lobby')).toBe(1);
    const t = await helloClient(addr.port, 'tcpy');
    await join(t, 'lobby');
    t.send({ type: 'send_chat', room: 'lobby', text: 'hi' });
    expect((await w.next('chat'))?.env).toMatchObject({ room: 'lobby', from: 'tcpy', text: 'hi' });
    t.end();
  });

  it('a member closed by a fatal error gets nothing after its error, and stops being published to', async () => {
    const { server, port, wsPort } = await start({ max_frame_bytes: 4096, max_text_bytes: 256 });
    const bad = await wsMember(wsPort, 'z');
    const sender = await helloClient(port, 'sender');
    await join(sender, 'z');
    expect(server.rooms.publishedCount('z')).toBe(1);
    for (let i = 0; i < 5; i++) sender.send({ type: 'send_chat', room: 'z', text: `c${i}` });
    bad.ws.send('x'.repeat(4097)); // over max_frame_bytes, within uWS's cap of max_frame_bytes + 1: fatal frame_too_large
    for (let i = 5; i < 10; i++) sender.send({ type: 'send_chat', room: 'z', text: `c${i}` });
    expect(await bad.closed()).toBe(1000);
    const types = bad.inbox.map((m) => m.env.type);
    const err = types.indexOf('error');
    expect(err).toBeGreaterThanOrEqual(0);
    expect(bad.inbox[err]!.env).toMatchObject({ code: 'frame_too_large', fatal: true });
    expect(types.slice(err + 1)).toEqual([]);
    expect(server.rooms.publishedCount('z')).toBe(0);
    sender.end();
  });
});
