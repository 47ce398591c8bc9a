/**
 * The WebSocket adapter (src/loadgen/clients/ws.ts).
 *
 * The read path without a socket: one envelope per message, fed with
 * `feed`. Counting clients count `{"type":"c` messages and skip
 * `{"type":"m` ones without decoding them. Probes decode everything.
 *
 * Then over real sockets on 127.0.0.1: against a `ws` WebSocketServer (the
 * `ws` package as the server), and against a raw net server that speaks the
 * handshake by hand (ws-wire.ts) to send what `ws` would not: chosen read
 * splits (each chunk is written only once the client has read the last
 * one), bad answers to the upgrade, and frames that break RFC 6455. The
 * codec alone, byte by byte, is ws-framing.test.ts.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { LoadClientError, WsClient, type ClientHandlers, type JoinedInfo } from '../../../src/loadgen/clients/index.js';
import { binary as binaryFrame, response101, serverFrame, startRawServer, text as textFrame, until, type RawServer } from './ws-wire.js';

function recorder() {
  const seen = {
    joined: [] as JoinedInfo[],
    acks: [] as (string | undefined)[],
    chats: [] as number[],
    errors: [] as string[],
    gaps: 0,
    closes: 0,
    closeReasons: [] as string[],
  };
  const handlers: ClientHandlers = {
    onJoined: (_room, info) => seen.joined.push(info),
    onAck: (_room, _seq, id) => seen.acks.push(id),
    onChat: (_room, seq) => seen.chats.push(seq),
    onError: (code) => seen.errors.push(code),
    onGap: () => seen.gaps++,
    onClose: (_expected, reason) => {
      seen.closes++;
      seen.closeReasons.push(reason);
    },
  };
  return { seen, handlers };
}

const make = (decodeChats: boolean, handlers: ClientHandlers) => new WsClient({ host: '127.0.0.1', port: 1, decodeChats, echo: true, handlers });

const ENVELOPES: Record<string, unknown>[] = [
  { type: 'welcome', session: 's1', nick: 'n', codecs: [], heartbeat_ms: 30000, max_frame_bytes: 65536, server: { name: 't', version: '1' } },
  { type: 'joined', room: 'main', seq: 0, epoch: 'e', members: 2 },
  { type: 'member_joined', room: 'main', nick: 'other' },
  { type: 'chat', room: 'main', seq: 1, id: '1', from: 'a', text: '0:1:12.5|xxxx', ts: 1 },
  { type: 'ack', room: 'main', seq: 2, id: '7', ts: 2 },
  { type: 'chat', room: 'main', seq: 2, id: '7', from: 'n', text: 'y'.repeat(300), ts: 2 },
  { type: 'error', code: 'rate_limited', message: 'slow down', ref: '8', fatal: false },
  { type: 'gap', room: 'main', from_seq: 3, to_seq: 4 },
  { type: 'chat', room: 'main', seq: 5, from: 'b', text: 'é ü — multi-byte', ts: 4 },
];
const CHAT_SEQS = [1, 2, 5];

describe('ws adapter read path', () => {
  for (const decodeChats of [false, true]) {
    for (const binary of [false, true]) {
      it(`${decodeChats ? 'probe' : 'counting client'}, ${binary ? 'binary (flags 0 + body)' : 'text'} messages`, () => {
        const { seen, handlers } = recorder();
        const c = make(decodeChats, handlers);
        for (const e of ENVELOPES) {
          const body = Buffer.from(JSON.stringify(e));
          c.feed(binary ? Buffer.concat([Buffer.of(0), body]) : body, binary);
        }
        expect(c.chats).toBe(CHAT_SEQS.length);
        expect(seen.chats).toEqual(decodeChats ? CHAT_SEQS : []);
        expect(seen.joined).toEqual([{ seq: 0, epoch: 'e', members: 2 }]);
        expect(seen.acks).toEqual(['7']);
        expect(seen.errors).toEqual(['rate_limited']);
        expect(seen.gaps).toBe(1);
        expect(c.heartbeatMs).toBe(30000);
      });
    }
  }

  it('counts a chat by its prefix without decoding it', () => {
    const { seen, handlers } = recorder();
    const c = make(false, handlers);
    // Not JSON past the prefix: a decoding client would fail on it.
    c.feed(Buffer.from('{"type":"chat","room":'));
    c.feed(Buffer.from('{"type":"member_left",'));
    expect(c.chats).toBe(1);
    expect(seen.chats).toEqual([]);
  });

  it('decodes a chat whose key order is not type-first, and short messages', () => {
    const { seen, handlers } = recorder();
    const c = make(false, handlers);
    c.feed(Buffer.from(JSON.stringify({ room: 'main', type: 'chat', seq: 9, text: 'x' })));
    c.feed(Buffer.from('{"type":"x"}'));
    c.feed(Buffer.from('{}'));
    expect(c.chats).toBe(1);
    expect(seen.chats).toEqual([9]);
  });
});

// ---------------------------------------------------------------------------
// Over real sockets.

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const WELCOME = JSON.stringify(ENVELOPES[0]);
const hello = (nick: string) => `{"type":"hello","nick":"${nick}","echo":true}`;

/** A chat envelope of exactly `size` bytes (ASCII), `{"type":"chat"` first as servers write it. */
function chatOfSize(seq: number, size: number): string {
  const base = `{"type":"chat","room":"main","seq":${seq},"from":"a","text":"","ts":1}`;
  const s = base.replace('"text":""', `"text":"${'x'.repeat(size - base.length)}"`);
  if (s.length !== size) throw new Error(`no chat of ${size} bytes`);
  return s;
}

function client(port: number, decodeChats: boolean, handlers: ClientHandlers, extra: { maxFrameBytes?: number; cork?: boolean } = {}): WsClient {
  const c = new WsClient({ host: '127.0.0.1', port, decodeChats, echo: true, handlers, timeoutMs: 5000, ...extra });
  cleanup.push(() => c.close());
  return c;
}

/** One connection as a `ws` WebSocketServer sees it. */
interface WssPeer {
  ws: WebSocket;
  req: IncomingMessage;
  received: { data: string; binary: boolean }[];
  closed: Promise<{ code: number; reason: string }>;
}

/** A `ws` WebSocketServer on 127.0.0.1 that answers hello with welcome and join_room with joined. */
async function startWss(options: { verifyClient?: () => boolean } = {}): Promise<{ port: number; next(): Promise<WssPeer> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await new Promise((r) => wss.once('listening', r));
  const ready: WssPeer[] = [];
  const waiting: ((p: WssPeer) => void)[] = [];
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const received: WssPeer['received'] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      const s = (data as Buffer).toString();
      received.push({ data: s, binary: isBinary });
      const env = JSON.parse(s) as { type: string; room?: string };
      if (env.type === 'hello') ws.send(WELCOME);
      else if (env.type === 'join_room') ws.send(JSON.stringify({ type: 'joined', room: env.room, seq: 0, epoch: 'e', members: 1 }));
    });
    const peer: WssPeer = { ws, req, received, closed };
    const w = waiting.shift();
    if (w) w(peer);
    else ready.push(peer);
  });
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => r());
      }),
  );
  return {
    port: (wss.address() as AddressInfo).port,
    next: () => {
      const p = ready.shift();
      return p ? Promise.resolve(p) : new Promise((r) => waiting.push(r));
    },
  };
}

async function raw(): Promise<RawServer> {
  const srv = await startRawServer();
  cleanup.push(() => srv.close());
  return srv;
}

/** A client connecting to a raw server, whose request head has arrived (nothing answered yet). */
async function rawOpen(decodeChats: boolean, extra: { maxFrameBytes?: number; cork?: boolean } = {}) {
  const srv = await raw();
  const { seen, handlers } = recorder();
  const c = client(srv.port, decodeChats, handlers, extra);
  const connected = c.connect('n');
  connected.catch(() => {}); // some tests expect a rejection and check it later
  const peer = await srv.accept();
  return { c, seen, connected, peer };
}

/** rawOpen, answered with a valid 101 and welcome. */
async function rawConnected(decodeChats: boolean, extra: { maxFrameBytes?: number; cork?: boolean } = {}) {
  const o = await rawOpen(decodeChats, extra);
  o.peer.sock.write(Buffer.concat([Buffer.from(response101(o.peer.key)), textFrame(WELCOME)]));
  await o.connected;
  return o;
}

/** Writes each chunk once the client has read the previous one, so that each lands in reads of its own. */
async function writeReads(sock: net.Socket, c: WsClient, chunks: Buffer[]): Promise<void> {
  for (const chunk of chunks) {
    const before = c.reads;
    sock.write(chunk);
    await until(() => c.reads > before, 'the client to read a chunk');
  }
}

const oneByte = (s: Buffer) => Array.from({ length: s.length }, (_, i) => s.subarray(i, i + 1));
/** `s` cut at the given offsets (deduplicated, sorted): no empty chunk. */
function cutAt(s: Buffer, cuts: number[]): Buffer[] {
  const ends = [...new Set([...cuts, s.length])].sort((a, b) => a - b).filter((c) => c > 0 && c <= s.length);
  return ends.map((end, i) => s.subarray(i === 0 ? 0 : ends[i - 1]!, end));
}

describe('ws adapter handshake', () => {
  it('opens after a valid 101 from a ws server and says hello; the upgrade request is RFC 6455 §4.1', async () => {
    const srv = await startWss();
    const { handlers } = recorder();
    const c = client(srv.port, false, handlers);
    await c.connect('alice');
    const p = await srv.next();
    expect(c.connected).toBe(true);
    expect(c.heartbeatMs).toBe(30000);
    expect(p.received).toEqual([{ data: hello('alice'), binary: false }]);
    expect(p.req.url).toBe('/');
    expect(p.req.headers.host).toBe(`127.0.0.1:${srv.port}`);
    expect(p.req.headers['sec-websocket-version']).toBe('13');
    expect(Buffer.from(p.req.headers['sec-websocket-key']!, 'base64')).toHaveLength(16);
    expect(p.req.headers['sec-websocket-extensions']).toBeUndefined();
    expect(p.req.headers['sec-websocket-protocol']).toBeUndefined();

    // A fresh key per connection.
    const c2 = client(srv.port, false, handlers);
    await c2.connect('bob');
    expect((await srv.next()).req.headers['sec-websocket-key']).not.toBe(p.req.headers['sec-websocket-key']);
  });

  it('sends nothing before the 101, and reads the frames that arrive in the same read as the response head', async () => {
    const { c, connected, peer } = await rawOpen(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(peer.frames).toEqual([]);
    peer.sock.write(Buffer.concat([Buffer.from(response101(peer.key)), textFrame(WELCOME)]));
    await connected;
    expect(c.reads).toBe(1); // head and welcome in one read
    const f = await peer.frame(0);
    expect(f).toMatchObject({ fin: true, rsv: 0, opcode: 1, masked: true });
    expect(f.payload.toString()).toBe(hello('n'));
  });

  it('fails the connect on a wrong Sec-WebSocket-Accept, having sent nothing', async () => {
    const { connected, peer } = await rawOpen(false);
    peer.sock.write(response101(peer.key, 'bm90IHRoZSByaWdodCBvbmU='));
    const err = await connected.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LoadClientError);
    expect(err).toMatchObject({ code: 'handshake', message: expect.stringMatching(/^WebSocket handshake failed: Sec-WebSocket-Accept is "bm90IHRoZSByaWdodCBvbmU=", expected "/) });
    await peer.ended;
    expect(peer.frames).toEqual([]);
  });

  it('fails the connect on an answer other than 101', async () => {
    const { connected, peer } = await rawOpen(false);
    peer.sock.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    await expect(connected).rejects.toMatchObject({ code: 'handshake', message: expect.stringMatching(/"HTTP\/1.1 404 Not Found", not 101 Switching Protocols/) });
  });

  it('fails the connect when a ws server refuses the upgrade (401)', async () => {
    const srv = await startWss({ verifyClient: () => false });
    const c = client(srv.port, false, recorder().handlers);
    await expect(c.connect('n')).rejects.toMatchObject({ code: 'handshake', message: expect.stringMatching(/"HTTP\/1.1 401 Unauthorized", not 101/) });
  });

  it('fails the connect when the response head exceeds 16 KiB', async () => {
    const { connected, peer } = await rawOpen(false);
    peer.sock.write(`HTTP/1.1 101 Switching Protocols\r\nX-Pad: ${'a'.repeat(17_000)}`);
    await expect(connected).rejects.toMatchObject({ code: 'handshake', message: expect.stringMatching(/response head exceeds 16384 bytes/) });
  });

  it('fails the connect when the server closes during the handshake', async () => {
    const { connected, peer } = await rawOpen(false);
    peer.sock.end('HTTP/1.1 101 Switching');
    await expect(connected).rejects.toMatchObject({ code: 'disconnected', message: expect.stringMatching(/during the WebSocket handshake/) });
  });
});

describe('ws adapter over a real socket', () => {
  it('envelopes arrive intact and unmasked at a ws server, in 7-, 16- and 64-bit length frames', async () => {
    const srv = await startWss();
    const c = client(srv.port, false, recorder().handlers);
    await c.connect('n');
    const p = await srv.next();
    await c.join('main');
    const texts = ['short', 'm'.repeat(200), 'l'.repeat(70_000)];
    texts.forEach((t, i) => c.send('main', t, `id${i}`));
    c.ping();
    await until(() => p.received.length === 6, 'the envelopes');
    expect(p.received).toEqual(
      [
        hello('n'),
        '{"type":"join_room","room":"main"}',
        ...texts.map((t, i) => `{"type":"send_chat","room":"main","id":"id${i}","text":"${t}"}`),
        '{"type":"ping"}',
      ].map((data) => ({ data, binary: false })),
    );
  });

  for (const binary of [false, true]) {
    for (const decodeChats of [false, true]) {
      it(`${decodeChats ? 'probe' : 'counting client'}: ${binary ? 'binary' : 'text'} messages of 125, 126, 65535, 65536 and 100000 bytes from a ws server`, async () => {
        const srv = await startWss();
        const { seen, handlers } = recorder();
        // The largest message allowed is maxFrameBytes + 1: the 100000-byte binary one (flags byte + body).
        const c = client(srv.port, decodeChats, handlers, { maxFrameBytes: 100_000 });
        await c.connect('n');
        const p = await srv.next();
        const sizes = [125, 126, 65535, 65536, 100_000];
        sizes.forEach((n, i) => {
          const chat = chatOfSize(i + 1, binary ? n - 1 : n);
          p.ws.send(binary ? Buffer.concat([Buffer.of(0), Buffer.from(chat)]) : chat, { binary });
        });
        await until(() => c.chats === sizes.length, 'the chats');
        expect(seen.chats).toEqual(decodeChats ? [1, 2, 3, 4, 5] : []);
        expect(c.connected).toBe(true);
      });
    }
  }

  it('fails on an empty text message (not JSON) and an empty binary one (no flags byte)', async () => {
    const srv = await startWss();
    for (const [data, reason] of [
      ['', /^server sent a body that is not JSON$/],
      [Buffer.alloc(0), /binary message with flags missing/],
    ] as const) {
      const { seen, handlers } = recorder();
      const c = client(srv.port, false, handlers);
      await c.connect('n');
      (await srv.next()).ws.send(data);
      await until(() => seen.closes === 1, 'the close');
      expect(seen.closeReasons[0]).toMatch(reason);
    }
  });

  it('reassembles fragmented messages from a ws server, with a ping between fragments', async () => {
    for (const decodeChats of [false, true]) {
      const srv = await startWss();
      const { seen, handlers } = recorder();
      const c = client(srv.port, decodeChats, handlers);
      await c.connect('n');
      const p = await srv.next();
      const pongs: string[] = [];
      p.ws.on('pong', (d: Buffer) => pongs.push(d.toString()));
      const c1 = chatOfSize(1, 300);
      p.ws.send(c1.slice(0, 5), { fin: false }); // `{"typ`: not even the head in the first fragment
      p.ws.ping('between');
      p.ws.send(c1.slice(5, 100), { fin: false });
      p.ws.send(c1.slice(100), { fin: true });
      p.ws.send(Buffer.of(0), { binary: true, fin: false });
      p.ws.send(Buffer.from(chatOfSize(2, 80)), { binary: true, fin: true });
      const c3 = chatOfSize(3, 65_000);
      p.ws.send(c3.slice(0, 30_000), { fin: false });
      p.ws.send('', { fin: false });
      p.ws.send(c3.slice(30_000), { fin: true });
      await until(() => c.chats === 3, 'the chats');
      expect(seen.chats).toEqual(decodeChats ? [1, 2, 3] : []);
      await until(() => pongs.length === 1, 'the pong');
      expect(pongs).toEqual(['between']);
    }
  });

  for (const cork of [false, true]) {
    it(`answers pings with pongs carrying the same payload${cork ? ' (corked sender)' : ''}`, async () => {
      const srv = await startWss();
      const c = client(srv.port, false, recorder().handlers, { cork });
      await c.connect('n');
      const p = await srv.next();
      const pongs: string[] = [];
      p.ws.on('pong', (d: Buffer) => pongs.push(d.toString()));
      p.ws.ping('abc');
      p.ws.ping();
      p.ws.ping('a'.repeat(125));
      await until(() => pongs.length === 3, 'the pongs');
      expect(pongs).toEqual(['abc', '', 'a'.repeat(125)]);
      expect(c.connected).toBe(true);
    });
  }

  it('answers a close from a ws server with a close echoing its code, then the connection ends', async () => {
    const srv = await startWss();
    const { seen, handlers } = recorder();
    const c = client(srv.port, false, handlers);
    await c.connect('n');
    const p = await srv.next();
    p.ws.close(1001, 'going away');
    expect(await p.closed).toEqual({ code: 1001, reason: '' });
    await c.closed();
    await until(() => seen.closes === 1, 'onClose');
    expect(seen.closeReasons).toEqual(['closed by server']);
    expect(c.connected).toBe(false);
  });

  it('answers a close frame with a masked close, ends its side, and reads nothing after the close', async () => {
    const { c, seen, peer } = await rawConnected(false);
    peer.sock.write(Buffer.concat([serverFrame(0x8, Buffer.concat([Buffer.of(0x03, 0xe8), Buffer.from('bye')])), textFrame(chatOfSize(1, 100))]));
    const f = await peer.frame(1);
    expect(f).toMatchObject({ fin: true, opcode: 0x8, masked: true });
    expect([...f.payload]).toEqual([0x03, 0xe8]);
    await peer.ended;
    expect(c.chats).toBe(0);
    peer.sock.end();
    await c.closed();
    await until(() => seen.closes === 1, 'onClose');
    expect(seen.closeReasons).toEqual(['closed by server']);
  });
});

describe('ws adapter reads split at chosen boundaries (raw server)', () => {
  /** Everything after the response head: every length form, fragments with control frames between them, a binary message. */
  const frames = () => [
    textFrame(WELCOME),
    textFrame(JSON.stringify(ENVELOPES[1])), // joined
    textFrame(JSON.stringify(ENVELOPES[2])), // member_joined
    textFrame(chatOfSize(1, 125)),
    textFrame(chatOfSize(2, 126)),
    textFrame(chatOfSize(3, 90).slice(0, 5), { fin: false }),
    serverFrame(0x9, 'p1'),
    serverFrame(0x0, chatOfSize(3, 90).slice(5, 40), { fin: false }),
    serverFrame(0xa, ''),
    serverFrame(0x0, chatOfSize(3, 90).slice(40)),
    binaryFrame(Buffer.concat([Buffer.of(0), Buffer.from(chatOfSize(4, 70))])),
    textFrame(JSON.stringify(ENVELOPES[4])), // ack
    textFrame(JSON.stringify(ENVELOPES[6])), // error
    textFrame(JSON.stringify(ENVELOPES[7])), // gap
    textFrame(JSON.stringify({ type: 'chat', room: 'main', seq: 5, from: 'b', text: 'é ü — multi-byte', ts: 4 })),
  ];

  for (const decodeChats of [false, true]) {
    it(`${decodeChats ? 'probe' : 'counting client'}: handshake and frames one byte per read`, async () => {
      const { c, seen, connected, peer } = await rawOpen(decodeChats);
      const stream = Buffer.concat([Buffer.from(response101(peer.key)), ...frames()]);
      await writeReads(peer.sock, c, oneByte(stream));
      await connected;
      expect(c.reads).toBe(stream.length);
      expect(c.chats).toBe(5);
      expect(seen.chats).toEqual(decodeChats ? [1, 2, 3, 4, 5] : []);
      expect(seen.joined).toEqual([{ seq: 0, epoch: 'e', members: 2 }]);
      expect(seen.acks).toEqual(['7']);
      expect(seen.errors).toEqual(['rate_limited']);
      expect(seen.gaps).toBe(1);
      expect(c.heartbeatMs).toBe(30000);
      const pong = await peer.frame(1);
      expect(pong).toMatchObject({ opcode: 0xa, masked: true });
      expect(pong.payload.toString()).toBe('p1');
    });

    it(`${decodeChats ? 'probe' : 'counting client'}: 65535-, 65536- and 100000-byte messages split around their headers and payload starts`, async () => {
      const { c, seen, connected, peer } = await rawOpen(decodeChats, { maxFrameBytes: 100_000 });
      const sizes = [65535, 65536, 100_000];
      const big = sizes.map((n, i) => textFrame(chatOfSize(i + 1, n)));
      const response = Buffer.from(response101(peer.key));
      const head = Buffer.concat([response, textFrame(WELCOME)]);
      const stream = Buffer.concat([head, ...big]);
      const cuts: number[] = [];
      let start = head.length;
      for (const f of big) {
        const hl = f[1] === 126 ? 4 : 10;
        // In the header, right after it, inside the 10 bytes that decide counting, mid-payload, one byte before the end.
        for (const k of [1, 2, 3, hl - 1, hl, hl + 1, hl + 9, hl + 10, hl + 11, f.length >> 1, f.length - 1]) cuts.push(start + k);
        start += f.length;
      }
      // The response head's blank line split across reads, welcome right behind it; welcome split too.
      await writeReads(peer.sock, c, cutAt(stream, [response.length - 3, head.length - 5, ...cuts]));
      await connected;
      await until(() => c.chats === 3, 'the chats');
      expect(seen.chats).toEqual(decodeChats ? [1, 2, 3] : []);
      expect(c.connected).toBe(true);
    });
  }
});

describe('ws adapter protocol errors (raw server)', () => {
  const chat = chatOfSize(1, 100);
  it.each([
    ['a masked frame', textFrame(chat, { mask: true }), /^server sent a masked frame/],
    ['a frame over maxFrameBytes + 1', textFrame('', { declaredLength: 65538 }), /^server sent a message of 65538 bytes or more \(max 65537\)$/],
    ['fragments over maxFrameBytes + 1 together', Buffer.concat([textFrame('x'.repeat(65537), { fin: false }), serverFrame(0x0, 'x')]), /65538 bytes/],
    ['reserved bits (RSV1)', textFrame(chat, { rsv: 4 }), /reserved bits set/],
    ['an unknown opcode', serverFrame(0x3, ''), /unknown opcode 3/],
    ['a control frame over 125 bytes', serverFrame(0x9, 'x'.repeat(126)), /control frame \(opcode 9\) of 126 bytes/],
    ['a fragmented ping', serverFrame(0x9, 'x', { fin: false }), /fragmented control frame/],
    ['a continuation with nothing to continue', serverFrame(0x0, chat), /continuation frame with no message/],
    ['a binary message with flags 1', binaryFrame(Buffer.concat([Buffer.of(1), Buffer.from(chat)])), /binary message with flags 1/],
  ])('fails the connection on %s', async (_what, frame, reason) => {
    const { c, seen, peer } = await rawConnected(false);
    peer.sock.write(Buffer.concat([frame, textFrame(chat)]));
    await c.closed();
    await until(() => seen.closes === 1, 'onClose');
    expect(seen.closeReasons[0]).toMatch(reason);
    expect(c.chats).toBe(0);
    expect(c.connected).toBe(false);
  });

  it('does not read past the end of a short message into stale read-buffer bytes', async () => {
    const { c, seen, peer } = await rawConnected(false);
    // Read 1 leaves `{"type":"c` at READ_BUF[2, 12); read 2 is an 11-byte frame whose payload is `{"type":"`,
    // so the byte after it in READ_BUF is that stale `c`. The message is not JSON, not a chat.
    await writeReads(peer.sock, c, [textFrame(chatOfSize(1, 100)), textFrame('{"type":"')]);
    await until(() => seen.closes === 1, 'onClose');
    expect(seen.closeReasons[0]).toBe('server sent a body that is not JSON');
    expect(c.chats).toBe(1);
  });

  it('accepts a message of exactly maxFrameBytes + 1 bytes', async () => {
    const { c, peer } = await rawConnected(false, { maxFrameBytes: 1000 });
    peer.sock.write(binaryFrame(Buffer.concat([Buffer.of(0), Buffer.from(chatOfSize(1, 1000))])));
    await until(() => c.chats === 1, 'the chat');
    expect(c.connected).toBe(true);
  });

  it('a bad frame before welcome rejects the connect (code protocol)', async () => {
    const { connected, peer } = await rawOpen(false);
    peer.sock.write(Buffer.concat([Buffer.from(response101(peer.key)), textFrame(WELCOME, { mask: true })]));
    await expect(connected).rejects.toMatchObject({ code: 'protocol', message: expect.stringMatching(/masked frame/) });
  });
});
