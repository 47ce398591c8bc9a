/**
 * Bad input over real sockets (PROTOCOL.md §2–§5): every malformed or hostile
 * input gets exactly the wire answer the contract names, and never disturbs a
 * healthy client in the same room nor takes the server down.
 */
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, MessageProcessor } from '../../src/index.js';
import {
  FrameClient,
  frame,
  helloClient,
  httpRequest,
  join,
  JsonClient,
  sleep,
  startServer,
  TextClient,
  type TestServer,
} from '../helpers/clients.js';

// ------------------------------------------------------------------ helpers

/** A binary frame around raw body bytes (PROTOCOL.md §2). */
function rawFrame(body: Buffer, flags = 0): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length + 1, 0);
  out[4] = flags;
  body.copy(out, 5);
  return out;
}

/** A bare 4-byte length prefix. */
function prefix(length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(length >>> 0, 0);
  return b;
}

let healthySeqNo = 0;

/**
 * Two binary clients in `room` that must keep chatting whatever others do.
 * `seq` is the room's last seq as the test expects it: a test that makes a
 * bad client chat there on purpose bumps it, so an input that was wrongly
 * accepted shows up as a seq mismatch.
 */
class Healthy {
  seq = 0;
  private constructor(
    readonly port: number,
    readonly room: string,
    readonly a: FrameClient,
    readonly b: FrameClient,
  ) {}

  static async open(port: number, room: string): Promise<Healthy> {
    const n = ++healthySeqNo;
    const a = await helloClient(port, `healthy-a${n}`);
    const b = await helloClient(port, `healthy-b${n}`);
    const ja = await join(a, room);
    await join(b, room);
    const h = new Healthy(port, room, a, b);
    h.seq = ja.seq as number;
    return h;
  }

  /**
   * The healthy pair still chats: `ack` with the next seq, the other member
   * receives the `chat`; neither got an `error`; the server still answers
   * `/health`.
   * @param probeHttp false when the connection limit is reached on purpose
   */
  async check(probeHttp = true): Promise<void> {
    for (const [from, to] of [[this.a, this.b], [this.b, this.a]] as const) {
      const text = `still alive ${++healthySeqNo}`;
      const id = `h${healthySeqNo}`;
      from.send({ type: 'send_chat', room: this.room, text, id });
      const ack = await from.next((m) => m.type === 'ack' && m.id === id);
      expect(ack, `ack for ${id}`).toMatchObject({ type: 'ack', room: this.room, seq: this.seq + 1, id });
      const chat = await to.next((m) => m.type === 'chat' && m.text === text);
      expect(chat, `chat ${id} fanned out`).toMatchObject({ room: this.room, seq: this.seq + 1, id, text });
      this.seq++;
    }
    for (const c of [this.a, this.b]) {
      expect(c.closed).toBe(false);
      expect(c.inbox.filter((m) => m.type === 'error')).toEqual([]);
    }
    if (probeHttp) {
      const res = await httpRequest(this.port, '/health');
      expect(res.status).toBe(200);
    }
  }

  close(): void {
    this.a.end();
    this.b.end();
  }
}

type EnvClient = FrameClient | JsonClient;

/** Next `error`: fatal, with `code`, and the server closes the connection (PROTOCOL.md §3). */
async function expectFatal(c: EnvClient, code: string): Promise<void> {
  const err = await c.type('error', 3000);
  expect(err, `fatal ${code}`).toMatchObject({ type: 'error', code, fatal: true });
  expect(await c.waitClose(3000), 'socket closed after fatal error').toBe(true);
}

/** Next `error`: non-fatal with `code` (and `ref` when given); the connection still answers a ping. */
async function expectNonFatal(c: EnvClient, code: string, ref?: string): Promise<Envelope> {
  const err = await c.type('error');
  expect(err, `non-fatal ${code}`).toMatchObject({ type: 'error', code, fatal: false });
  expect(typeof err!.message).toBe('string');
  if (ref !== undefined) expect(err!.ref).toBe(ref);
  return err!;
}

let pingNo = 0;
/** The connection is still usable: ping → pong with the same `t`. */
async function expectUsable(c: EnvClient): Promise<void> {
  const t = `p${++pingNo}`;
  c.send({ type: 'ping', t });
  expect(await c.next((m) => m.type === 'pong' && m.t === t), 'pong').not.toBeNull();
  expect(c.closed).toBe(false);
}

/** Resolves on 'drain' or 'close' of `sock`, or after `ms`. */
function drainOrClose(sock: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    sock.on('drain', done);
    sock.on('close', done);
  });
}

const rssMb = () => process.memoryUsage.rss() / (1024 * 1024);

// ------------------------------------------------------------------ tests

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(() => s.close());

describe('bad input', () => {
  it('1. zero length prefix: fatal bad_frame, socket closed', async () => {
    const h = await Healthy.open(s.port, 'r1');
    // As the very first bytes.
    const c1 = await FrameClient.connect(s.port);
    c1.raw(Buffer.from([0, 0, 0, 0]));
    await expectFatal(c1, 'bad_frame');
    // After valid frames, from a member of the room.
    const c2 = await FrameClient.connect(s.port);
    await join(c2, h.room);
    c2.raw(Buffer.concat([frame({ type: 'ping', t: 1 }), Buffer.from([0, 0, 0, 0]), frame({ type: 'ping', t: 2 })]));
    expect(await c2.next((m) => m.type === 'pong' && m.t === 1)).not.toBeNull();
    await expectFatal(c2, 'bad_frame');
    expect(c2.inbox.find((m) => m.type === 'pong')).toBeUndefined(); // nothing read after the fatal error
    await h.check();
    h.close();
  });

  it('2. length prefix 0x7fffffff: fatal frame_too_large, nothing allocated', async () => {
    const h = await Healthy.open(s.port, 'r2');
    const max = s.server.config.max_frame_bytes;
    // Boundary: max_frame_bytes + 2 is one too many; an oversized prefix as the first bytes.
    for (const len of [max + 2, 0x00ffffff]) {
      const c = await FrameClient.connect(s.port);
      c.raw(prefix(len));
      await expectFatal(c, 'frame_too_large');
    }
    const before = rssMb();
    for (let batch = 0; batch < 5; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const c = await FrameClient.connect(s.port);
          // 0x7f as a first byte would mean text mode (PROTOCOL.md §1): a valid frame fixes binary mode first.
          c.raw(Buffer.concat([frame({ type: 'ping', t: 'x' }), prefix(0x7fffffff), Buffer.alloc(64, 0x41)]));
          expect(await c.next((m) => m.type === 'pong')).not.toBeNull();
          await expectFatal(c, 'frame_too_large');
        }),
      );
    }
    const grown = rssMb() - before;
    expect(grown, `RSS grew by ${grown.toFixed(1)} MB over 50 connections`).toBeLessThan(20);
    await h.check();
    h.close();
  });

  it('3. reserved flag bits, reserved codec, unagreed lz4: fatal bad_frame', async () => {
    const h = await Healthy.open(s.port, 'r3');
    for (const flags of [0x04, 0x80, 0x03, 0x01]) {
      const c = await FrameClient.connect(s.port);
      await join(c, h.room);
      c.raw(frame({ type: 'send_chat', room: h.room, text: `flags ${flags}` }, flags));
      await expectFatal(c, 'bad_frame');
    }
    // lz4 after a hello that agreed no codec.
    const c = await FrameClient.connect(s.port);
    c.send({ type: 'hello', nick: 'nocodec', codecs: [] });
    expect(await c.type('welcome')).toMatchObject({ codecs: [] });
    c.raw(rawFrame(Buffer.from([5, 0, 0, 0, 0x50, 0x7b, 0x7d, 0x0a, 0x0a]), 0x01));
    await expectFatal(c, 'bad_frame');
    await h.check(); // none of those chats was accepted: seq is still the healthy pair's
    h.close();
  });

  it('4. invalid JSON body: non-fatal bad_json, connection usable after', async () => {
    const h = await Healthy.open(s.port, 'r4');
    const c = await FrameClient.connect(s.port);
    await join(c, h.room);
    for (const body of ['{"type":', 'not json', "{type:'ping'}", '{"type":"ping"}}', '']) {
      c.raw(rawFrame(Buffer.from(body)));
      await expectNonFatal(c, 'bad_json');
      await expectUsable(c);
    }
    const j = await JsonClient.connect(s.port);
    j.raw('{"type":"ping"\n');
    await expectNonFatal(j, 'bad_json');
    j.raw('{"type":"join_room","room":"r4"} trailing\n');
    await expectNonFatal(j, 'bad_json');
    await expectUsable(j);
    // The bad client can still chat in the room.
    c.send({ type: 'send_chat', room: h.room, text: 'after bad json', id: 'c4' });
    expect(await c.type('ack')).toMatchObject({ seq: h.seq + 1, id: 'c4' });
    expect(await h.b.next((m) => m.type === 'chat' && m.id === 'c4')).toMatchObject({ seq: h.seq + 1 });
    h.seq++;
    await h.check();
    h.close();
  });

  it('5. JSON that is not an object: non-fatal bad_json', async () => {
    const h = await Healthy.open(s.port, 'r5');
    const c = await FrameClient.connect(s.port);
    await join(c, h.room);
    const j = await JsonClient.connect(s.port);
    j.send({ type: 'join_room', room: h.room });
    await j.type('joined');
    for (const body of ['[1,2]', '"str"', 'null', '42']) {
      c.raw(rawFrame(Buffer.from(body)));
      await expectNonFatal(c, 'bad_json');
      j.raw(`${body}\n`);
      await expectNonFatal(j, 'bad_json');
    }
    await expectUsable(c);
    await expectUsable(j);
    await h.check();
    h.close();
  });

  it('6. invalid UTF-8: bad_json in binary and json-lines; U+FFFD in text mode', async () => {
    const h = await Healthy.open(s.port, 'r6');
    const withBytes = (...bytes: number[]) =>
      Buffer.concat([Buffer.from(`{"type":"send_chat","room":"${h.room}","text":"caf`), Buffer.from(bytes), Buffer.from('"}')]);
    const c = await FrameClient.connect(s.port);
    await join(c, h.room);
    // 0xff 0xfe; an overlong '/'; a UTF-16 surrogate; a truncated sequence.
    const bad = [[0xff, 0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]];
    for (const bytes of bad) {
      c.raw(rawFrame(withBytes(...bytes)));
      await expectNonFatal(c, 'bad_json');
    }
    await expectUsable(c);
    const j = await JsonClient.connect(s.port);
    j.send({ type: 'join_room', room: h.room });
    await j.type('joined');
    j.raw(Buffer.concat([withBytes(0xff, 0xfe), Buffer.from('\n')]));
    await expectNonFatal(j, 'bad_json');
    await expectUsable(j);
    await sleep(50);
    expect(h.b.inbox.find((m) => m.type === 'chat')).toBeUndefined(); // nothing was chatted

    const t = await TextClient.connect(s.port);
    t.line(`/join ${h.room}`);
    expect(await t.expect(/^\* joined r6 /)).not.toBeNull();
    t.raw(Buffer.concat([Buffer.from('caf'), Buffer.from([0xff, 0xfe]), Buffer.from(' au lait\n')]));
    const chat = await h.a.next((m) => m.type === 'chat' && String(m.text).startsWith('caf'));
    expect(chat).toMatchObject({ room: h.room, seq: h.seq + 1, text: 'caf\uFFFD\uFFFD au lait' });
    expect(await h.b.next((m) => m.type === 'chat' && m.seq === h.seq + 1)).toMatchObject({ text: 'caf\uFFFD\uFFFD au lait' });
    h.seq++;
    expect(t.inbox.find((l) => l.startsWith('!'))).toBeUndefined();
    t.end();
    await h.check();
    h.close();
  });

  it('7. missing or non-string type: bad_request; unknown type: unknown_type with ref', async () => {
    const h = await Healthy.open(s.port, 'r7');
    const c = await FrameClient.connect(s.port);
    await join(c, h.room);
    for (const env of [{}, { room: h.room, text: 'x' }, { type: 5 }, { type: null }, { type: { t: 'ping' } }, { type: ['ping'] }]) {
      c.send(env);
      await expectNonFatal(c, 'bad_request');
    }
    await expectUsable(c);
    const c2 = await FrameClient.connect(s.port);
    c2.send({ type: 'frobnicate' });
    await expectNonFatal(c2, 'unknown_type', 'frobnicate');
    c2.send({ type: 'frobnicate', id: 'q7' });
    await expectNonFatal(c2, 'unknown_type', 'q7');
    c2.send({ type: 'SEND_CHAT', room: h.room, text: 'case matters' }); // names are case-sensitive
    await expectNonFatal(c2, 'unknown_type', 'SEND_CHAT');
    const j = await JsonClient.connect(s.port);
    j.send({ type: 'nope', id: 'j7' });
    await expectNonFatal(j, 'unknown_type', 'j7');
    j.send({ id: 'j8' });
    await expectNonFatal(j, 'bad_request');
    await expectUsable(c2);
    await expectUsable(j);
    await h.check();
    h.close();
  });

  it('8. bad room names: bad_request; send_chat to a room not joined: not_in_room', async () => {
    const h = await Healthy.open(s.port, 'r8');
    const c = await FrameClient.connect(s.port);
    const bad: unknown[] = ['bad!room', '', 'a'.repeat(65), 42, null, ['r8'], 'r 8', 'räum'];
    for (const room of bad) {
      c.send({ type: 'join_room', room });
      await expectNonFatal(c, 'bad_request', 'join_room');
    }
    const c2 = await FrameClient.connect(s.port);
    c2.send({ type: 'join_room' }); // missing room
    await expectNonFatal(c2, 'bad_request', 'join_room');
    expect(await c2.type('joined', 100)).toBeNull();
    // 64 characters is the limit, and fine.
    expect(await join(c2, 'a'.repeat(64))).toMatchObject({ room: 'a'.repeat(64), seq: 0 });
    // A room that exists but c2 is not in, and one that does not exist.
    c2.send({ type: 'send_chat', room: h.room, text: 'intruder', id: 'i8' });
    await expectNonFatal(c2, 'not_in_room', 'i8');
    c2.send({ type: 'send_chat', room: 'no-such-room', text: 'x' });
    await expectNonFatal(c2, 'not_in_room', 'send_chat');
    await expectUsable(c);
    await expectUsable(c2);
    await h.check(); // the intruder's chat took no seq
    h.close();
  });

  it('9. text over max_text_bytes: bad_request; in text mode `! bad_request: ...`', async () => {
    const s9 = await startServer({ max_text_bytes: 100 });
    try {
      const h = await Healthy.open(s9.port, 'r9');
      const c = await FrameClient.connect(s9.port);
      await join(c, h.room);
      // Bytes, not characters: 34 × '€' is 34 characters but 102 bytes.
      for (const text of ['a'.repeat(101), '€'.repeat(34), '\u{1F600}'.repeat(26), 'a'.repeat(10_000)]) {
        c.send({ type: 'send_chat', room: h.room, text, id: `long${text.length}` });
        await expectNonFatal(c, 'bad_request', `long${text.length}`);
      }
      // Exactly 100 bytes is accepted.
      for (const text of ['a'.repeat(100), `${'€'.repeat(33)}a`]) {
        c.send({ type: 'send_chat', room: h.room, text });
        expect(await c.type('ack')).toMatchObject({ seq: h.seq + 1 });
        expect(await h.a.next((m) => m.type === 'chat' && m.text === text)).toMatchObject({ seq: h.seq + 1 });
        h.seq++;
      }
      const t = await TextClient.connect(s9.port);
      t.line(`/join ${h.room}`);
      expect(await t.expect(/^\* joined r9 /)).not.toBeNull();
      t.line('x'.repeat(101));
      expect(await t.expect(/^! bad_request: /)).not.toBeNull();
      t.line('y'.repeat(100));
      expect(await h.b.next((m) => m.type === 'chat' && m.text === 'y'.repeat(100))).toMatchObject({ seq: h.seq + 1 });
      h.seq++;
      expect(t.closed).toBe(false);
      t.end();
      await h.check();
      h.close();
    } finally {
      await s9.close();
    }
  });

  it('10. a 10 MB json-lines line without newline: fatal frame_too_large before it ends, RSS bounded', async () => {
    const h = await Healthy.open(s.port, 'r10');
    const before = rssMb();
    const total = 10 * 1024 * 1024;
    const j = await JsonClient.connect(s.port);
    let sockError: string | null = null;
    j.sock.on('error', (e: NodeJS.ErrnoException) => (sockError = e.code ?? e.message));
    let sentAtError = -1;
    let sent = 0;
    const errP = j.type('error', 8000).then((e) => {
      sentAtError = sent;
      return e;
    });
    const head = Buffer.from(`{"type":"send_chat","room":"${h.room}","text":"`);
    j.sock.write(head);
    sent += head.length;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const deadline = Date.now() + 8000;
    while (sent < total && sentAtError < 0 && !j.closed && !j.sock.destroyed && Date.now() < deadline) {
      const ok = j.sock.write(chunk);
      sent += chunk.length;
      // Let I/O run between chunks, as a real streaming client would: a write
      // the kernel takes at once emits 'drain' before the event loop polls.
      if (!ok) await drainOrClose(j.sock, 500);
      await new Promise((r) => setImmediate(r));
    }
    const err = await errP;
    expect(err).toMatchObject({ type: 'error', code: 'frame_too_large', fatal: true });
    expect(sentAtError, 'error arrived while the client was still writing').toBeGreaterThan(0);
    expect(sentAtError).toBeLessThan(total);
    expect(await j.waitClose(3000)).toBe(true);
    expect([null, 'EPIPE', 'ECONNRESET']).toContain(sockError);
    const grown = rssMb() - before;
    expect(grown, `RSS grew by ${grown.toFixed(1)} MB`).toBeLessThan(40);
    await h.check();
    h.close();
  });

  it('11. half a frame, then a stall: others keep chatting; the frame completes later', async () => {
    const h = await Healthy.open(s.port, 'r11');
    const c = await FrameClient.connect(s.port);
    await join(c, h.room);
    // A 999-byte ping body: with the flags byte, length 1000.
    const shell = '{"type":"ping","t":""}';
    const body = Buffer.from(`{"type":"ping","t":"${'z'.repeat(999 - shell.length)}"}`);
    expect(body.length).toBe(999);
    const whole = rawFrame(body);
    expect(whole.readUInt32BE(0)).toBe(1000);
    c.raw(whole.subarray(0, 14)); // the prefix and 10 bytes
    const t0 = Date.now();
    await h.check();
    const other = await helloClient(s.port, 'other11');
    await join(other, h.room);
    other.send({ type: 'send_chat', room: h.room, text: 'meanwhile', id: 'm11' });
    expect(await other.type('ack')).toMatchObject({ seq: h.seq + 1 });
    expect(await c.next((m) => m.type === 'chat' && m.id === 'm11')).toMatchObject({ seq: h.seq + 1 }); // the stalled client still receives
    h.seq++;
    await h.check();
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(c.inbox.find((m) => m.type === 'pong' || m.type === 'error')).toBeUndefined();
    c.raw(whole.subarray(14));
    expect(await c.type('pong')).toMatchObject({ t: 'z'.repeat(999 - shell.length) });
    await expectUsable(c);
    other.end();
    await h.check();
    h.close();
  });

  it('12. over max_connections: server_busy on first bytes, HTTP 503, a slot frees on close', async () => {
    const s12 = await startServer({ max_connections: 3 });
    try {
      const h = await Healthy.open(s12.port, 'r12');
      const filler = await helloClient(s12.port, 'filler');
      await join(filler, h.room);
      const extra = await FrameClient.connect(s12.port);
      expect(await extra.next(() => true, 200), 'nothing before the first bytes').toBeNull();
      expect(extra.closed).toBe(false);
      extra.send({ type: 'hello', nick: 'fourth' });
      await expectFatal(extra, 'server_busy');
      expect(extra.inbox.find((m) => m.type === 'welcome')).toBeUndefined();
      const res = await httpRequest(s12.port, '/health');
      expect(res.status).toBe(503);
      expect(res.head).toMatch(/connection: close/i);
      await h.check(false);

      filler.end();
      const deadline = Date.now() + 2000;
      while (s12.server.stats().connections >= 3 && Date.now() < deadline) await sleep(10);
      expect(s12.server.stats().connections).toBe(2);
      const fresh = await helloClient(s12.port, 'fresh');
      expect(await join(fresh, h.room)).toMatchObject({ members: 3 });
      fresh.send({ type: 'send_chat', room: h.room, text: 'got in', id: 'f12' });
      expect(await fresh.type('ack')).toMatchObject({ seq: h.seq + 1 });
      h.seq++;
      fresh.end();
      while (s12.server.stats().connections >= 3 && Date.now() < deadline + 2000) await sleep(10);
      await h.check(); // /health answers 200 again once a slot is free
      h.close();
    } finally {
      await s12.close();
    }
  });

  it('13. a throwing plugin: non-fatal internal_error, counted, others unaffected', async () => {
    const throwing: MessageProcessor = {
      name: 'boom',
      canHandle: (type) => type === 'boom',
      process() {
        throw new Error('kaboom');
      },
    };
    const rejecting: MessageProcessor = {
      name: 'boom-async',
      canHandle: (type) => type === 'boom_async',
      async process() {
        await sleep(5);
        throw new Error('async kaboom');
      },
    };
    const s13 = await startServer({}, { plugins: [throwing, rejecting] });
    try {
      const h = await Healthy.open(s13.port, 'r13');
      const c = await helloClient(s13.port, 'victim');
      await join(c, h.room);
      const before = s13.server.stats().plugin_errors_total;
      c.send({ type: 'boom', id: 'b1' });
      await expectNonFatal(c, 'internal_error', 'b1');
      c.send({ type: 'boom' });
      await expectNonFatal(c, 'internal_error', 'boom');
      // The rejection arrives before the chat that followed it, which is still handled.
      c.send({ type: 'boom_async', id: 'b2' });
      c.send({ type: 'send_chat', room: h.room, text: 'after boom', id: 'c13' });
      await expectNonFatal(c, 'internal_error', 'b2');
      expect(await c.type('ack')).toMatchObject({ seq: h.seq + 1, id: 'c13' });
      expect(await h.a.next((m) => m.type === 'chat' && m.id === 'c13')).toMatchObject({ from: 'victim', seq: h.seq + 1 });
      h.seq++;
      expect(s13.server.stats().plugin_errors_total).toBe(before + 3);
      await expectUsable(c);
      await h.check();
      h.close();
    } finally {
      await s13.close();
    }
  });

  it('14. repeated or late hello: bad_request, nothing changes; hello claiming guest-<n>: bad_request', async () => {
    const h = await Healthy.open(s.port, 'r14');
    // Repeated: nick and echo stay as the first hello set them.
    const c = await helloClient(s.port, 'first14');
    await join(c, h.room);
    c.send({ type: 'hello', nick: 'second14', echo: true });
    await expectNonFatal(c, 'bad_request', 'hello');
    expect(c.inbox.find((m) => m.type === 'welcome')).toBeUndefined();
    c.send({ type: 'send_chat', room: h.room, text: 'still first', id: 'r14' });
    expect(await c.type('ack')).toMatchObject({ seq: h.seq + 1 });
    expect(await h.b.next((m) => m.type === 'chat' && m.id === 'r14')).toMatchObject({ from: 'first14' });
    expect(await c.next((m) => m.type === 'chat' && m.id === 'r14', 150), 'echo still off').toBeNull();
    h.seq++;

    // Late: a hello after another envelope.
    const late = await FrameClient.connect(s.port);
    late.send({ type: 'join_room', room: h.room });
    await late.type('joined');
    const joinedNote = await h.a.next((m) => m.type === 'member_joined' && /^guest-\d+$/.test(String(m.nick)));
    const guestNick = joinedNote!.nick;
    late.send({ type: 'hello', nick: 'late14' });
    await expectNonFatal(late, 'bad_request', 'hello');
    late.send({ type: 'send_chat', room: h.room, text: 'late chat', id: 'l14' });
    expect(await late.type('ack')).toMatchObject({ seq: h.seq + 1 });
    expect(await h.b.next((m) => m.type === 'chat' && m.id === 'l14')).toMatchObject({ from: guestNick });
    h.seq++;
    h.a.send({ type: 'who', room: h.room });
    const who = await h.a.type('members');
    expect(who!.nicks).not.toContain('second14');
    expect(who!.nicks).not.toContain('late14');

    // A hello may not claim a guest nick.
    const g = await FrameClient.connect(s.port);
    g.send({ type: 'hello', nick: 'guest-7' });
    await expectNonFatal(g, 'bad_request', 'hello');
    expect(g.inbox.find((m) => m.type === 'welcome')).toBeUndefined();
    await expectUsable(g);
    await h.check();
    h.close();
  });

  it('15. non-integer since_seq / limit: bad_request, never coerced', async () => {
    const h = await Healthy.open(s.port, 'r15');
    await h.check(); // seq 2 in the room, so a coerced "5" or 1.5 would be visible
    const c = await FrameClient.connect(s.port);
    for (const since of ['5', 1.5, -1, '0']) {
      c.send({ type: 'join_room', room: h.room, since_seq: since });
      await expectNonFatal(c, 'bad_request', 'join_room');
    }
    expect(await c.type('joined', 100), 'no join happened').toBeNull();
    const c2 = await FrameClient.connect(s.port);
    await join(c2, h.room);
    for (const field of ['since_seq', 'limit']) {
      for (const v of ['5', 1.5, -1]) {
        c2.send({ type: 'history', room: h.room, [field]: v, id: `${field}:${String(v)}` });
        await expectNonFatal(c2, 'bad_request', `${field}:${String(v)}`);
      }
    }
    expect(c2.inbox.find((m) => m.type === 'history')).toBeUndefined();
    // The same fields as integers work.
    c2.send({ type: 'history', room: h.room, since_seq: 1, limit: 5 });
    expect(await c2.type('history')).toMatchObject({ room: h.room, messages: [{ seq: 2 }] });
    await expectUsable(c);
    await h.check();
    h.close();
  });
});
