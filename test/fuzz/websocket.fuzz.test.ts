/**
 * Fuzzing the WebSocket transport (PROTOCOL.md §7; src/core/ws-gateway.ts)
 * over real sockets: batches of `ws` clients send random scripts of
 * messages — envelopes with good and bad fields as text or binary messages,
 * text that is not JSON, not an object or not UTF-8, binary messages with
 * random flags bytes (reserved bits, codecs 1–3), lz4 and zstd bodies real
 * and fake, empty messages, messages at and past max_frame_bytes, some sent
 * in fragments, with ping control frames in between — at random paces, and
 * end them with a close handshake (with or without a code), by lingering, or
 * by terminating mid-script. Meanwhile:
 *
 * - every message the server sends back is of the kind the client's first
 *   message chose (text or binary); a binary one carries flags 0 or the
 *   codec agreed in `welcome`, and inflates to JSON; both hold JSON objects
 *   with a string `type`, within max_frame_bytes; every `error` carries a
 *   PROTOCOL.md §3 code with its fatality; nothing follows a fatal error;
 * - the server closes a WebSocket only after a fatal error (close code 1000)
 *   or, for a message uWS refuses in its parser (over max_frame_bytes + 1,
 *   or a text message that is not UTF-8), by dropping the TCP connection
 *   without a close frame (1006, no `error`: docs/protocol.md, Known
 *   deviations). uWS corks what the handlers send during one read and drops
 *   it with the connection, so replies to earlier messages of that read,
 *   a fatal error included, are lost too. Close codes seen by the clients:
 *   1000 (a fatal error, or our close echoed), 1005 (our close without a
 *   code, echoed), 1006 (our terminate, or uWS's drop); 1009 (RFC 6455's
 *   "message too big") is allowed too, but uWS does not send it;
 * - a first message that decides the outcome on its own (reserved flag bits,
 *   an unagreed codec, no flags byte, a text message of max_frame_bytes + 1
 *   bytes, a message uWS refuses) gets exactly that outcome;
 * - the `ws` client never reports a protocol error in what the server sent;
 * - after each batch, a healthy pair in a room, one WebSocket and one TCP
 *   client, still chats both ways (ack + delivery);
 * - at the end /health is 200, every fuzz connection has left the pool, RSS
 *   (after a full GC) grew by less than 100 MB, and there was no unhandled
 *   rejection.
 *
 * Bounded in CI (250 batches of 1–5 clients); FUZZ_RUNS scales it up
 * (`FUZZ_RUNS=2000 npx vitest run test/fuzz/websocket.fuzz.test.ts`), and
 * FUZZ_SEED replays a run. A failing batch prints fast-check's seed and the
 * shrunk scripts.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { compressSync as lz4Compress, uncompressSync as lz4Uncompress } from 'lz4-napi';
import { decompress as zstdDecompress } from '@mongodb-js/zstd';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createServer, type ChatServer, type Envelope } from '../../src/index.js';
import { chunk, helloClient, httpRequest, join, sleep, type FrameClient } from '../helpers/clients.js';
import { binaryString as str, clientEnvelopeArb } from '../helpers/arbitraries.js';
import { envelopeProblems, fullGc as gc } from '../helpers/checks.js';
import { zstdWithSize } from '../helpers/codecs.js';

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS) > 0 ? Number(process.env.FUZZ_RUNS) : 0;
const FUZZ_SEED = Number(process.env.FUZZ_SEED) || undefined;
/** fast-check batches (1–5 WebSocket clients each). */
const BATCHES = FUZZ_RUNS ? Math.max(250, Math.floor(FUZZ_RUNS / 10)) : 250;
/** 0: no timeout (vitest) for a scaled-up run. */
const TIMEOUT = FUZZ_RUNS ? 0 : 60_000;

// config requires max_text_bytes * 6 + 1024 <= max_frame_bytes.
const MAX_FRAME = 4096;
const MAX_TEXT = 512;
const ROOM = 'fuzz';
/** Flags value of each codec name (PROTOCOL.md §2). */
const CODEC_FLAGS: Record<string, number> = { lz4: 1, zstd: 2 };
/** Close codes a client may see (RFC 6455 §7.4.1). */
const CLOSE_CODES = [1000, 1005, 1006, 1009];

// ------------------------------------------------------------------ scripts

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
};
const withFlags = (flags: number, body: Buffer) => Buffer.concat([Buffer.from([flags]), body]);
/** A ping envelope of exactly `n` bytes of JSON (n >= 22). */
const paddedPing = (n: number) => {
  const head = '{"type":"ping","t":"';
  return Buffer.from(`${head}${'z'.repeat(n - head.length - 2)}"}`);
};
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** Envelopes a client might send (helpers/arbitraries.ts), with large pings whose pongs are compressed when a codec was agreed. */
const envelopeArb = clientEnvelopeArb({ room: ROOM, maxText: MAX_TEXT, bigPings: true });

/** Envelopes that mostly succeed once joined to ROOM, so acks, fan-outs, history and (compressed) large replies come back. */
const goodArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ type: fc.constant('send_chat'), room: fc.constant(ROOM), text: fc.string({ maxLength: 40 }), id: fc.string({ minLength: 1, maxLength: 8 }) }, { requiredKeys: ['type', 'room', 'text'] }),
  fc.record({ type: fc.constant('history'), room: fc.constant(ROOM), limit: fc.integer({ min: 1, max: 100 }) }, { requiredKeys: ['type', 'room'] }),
  fc.record({ type: fc.constant('ping'), t: fc.oneof(fc.nat(), fc.constantFrom('p'.repeat(600), 'q'.repeat(3000))) }),
  fc.record({ type: fc.constantFrom('join_room', 'leave_room', 'who'), room: fc.constantFrom(ROOM, 'r1') }),
  fc.constant({ type: 'rooms' }),
);

/** `hello` with codec lists good and bad; agreed codecs make the server compress large binary replies. */
const helloArb = fc.record(
  {
    type: fc.constant('hello'),
    nick: fc.constantFrom('wz', 'a.b', 'guest-1', 'bad nick'),
    codecs: fc.constantFrom<unknown>(['lz4'], ['zstd'], ['zstd', 'lz4'], ['lz4', 'nope'], [], 'lz4', [1]),
    echo: fc.boolean(),
  },
  { requiredKeys: ['type'] },
);

/** One thing a client does on its WebSocket. */
type Wire =
  /** A message, sent in fragments split at `cuts` (none: one frame). */
  | { op: 'text' | 'binary'; data: Buffer; cuts: number[] }
  /** A binary message: `flags` + a real zstd body of `body` (made when played: the library is asynchronous). */
  | { op: 'zstd'; flags: number; body: Buffer }
  /** A ping control frame (at most 125 bytes). */
  | { op: 'ping'; data: Buffer };

/** A Wire as sent: zstd bodies made. */
type Sent = Exclude<Wire, { op: 'zstd' }>;

/** Bytes as a counterexample shows them: printable UTF-8 as a string, else hex; long ones cut, with their length. */
function show(b: Buffer): string {
  const s = b.toString('utf8');
  if (isUtf8(b) && !/[\x00-\x08\x0e-\x1f\x7f]/.test(s)) return b.length > 80 ? `${JSON.stringify(s.slice(0, 40))}…(${b.length} bytes)` : JSON.stringify(s);
  return b.length > 40 ? `${b.toString('hex', 0, 20)}…(${b.length} bytes)` : `0x${b.toString('hex')}`;
}

/** Gives `w` a short form for fast-check's counterexamples (the seed replays the exact bytes). */
function shown<T extends Wire>(w: T): T {
  const text =
    w.op === 'ping'
      ? `ping(${show(w.data)})`
      : w.op === 'zstd'
        ? `zstd[flags ${w.flags}](${show(w.body)})`
        : `${w.op}${w.op === 'binary' && w.data.length > 0 ? `[flags ${w.data[0]}](${show(w.data.subarray(1))})` : `(${show(w.data)})`}${w.cuts.length > 0 ? ` cut at ${w.cuts.join(',')}` : ''}`;
  return Object.assign(w, { [fc.toStringMethod]: () => text });
}

const cutsArb = fc.oneof({ weight: 6, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(fc.nat({ max: 1 << 16 }), { minLength: 1, maxLength: 3 }) });
const message = (op: 'text' | 'binary', data: fc.Arbitrary<Buffer>): fc.Arbitrary<Wire> => fc.tuple(data, cutsArb).map(([d, cuts]) => shown({ op, data: d, cuts }));

/** Text message payloads: envelopes, garbage, non-objects, sizes around the limit, bytes that may not be UTF-8. */
const textArb = fc.oneof(
  { weight: 6, arbitrary: envelopeArb.map(json) },
  { weight: 4, arbitrary: goodArb.map(json) },
  { weight: 2, arbitrary: str(80).map((s) => Buffer.from(s)) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('', ' ', '[1]', '"x"', 'null', '7', '{"type":1}', '{', '{"type":"ping"}\n', '{"type":"ping"} {"type":"ping"}', '\ufeff{"type":"ping"}', `${'['.repeat(20)}${']'.repeat(20)}`, `{"type":"ping","a":${'['.repeat(20)}${']'.repeat(20)}}`)
      .map((s) => Buffer.from(s)),
  },
  { weight: 1, arbitrary: fc.constantFrom(MAX_FRAME - 1, MAX_FRAME, MAX_FRAME + 1, MAX_FRAME + 2, 4 * MAX_FRAME).map(paddedPing) },
  { weight: 1, arbitrary: bytes(40) },
);

/** A flags byte with codec bits or reserved bits set. */
const oddFlagsArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(1, 2, 3) }, { weight: 2, arbitrary: fc.integer({ min: 4, max: 255 }) });

/** Binary message payloads (flags byte included). */
const binaryArb = fc.oneof(
  { weight: 6, arbitrary: envelopeArb.map((e) => withFlags(0, json(e))) },
  { weight: 4, arbitrary: goodArb.map((e) => withFlags(0, json(e))) },
  { weight: 2, arbitrary: bytes(60).map((b) => withFlags(0, b)) }, // not JSON / not UTF-8
  { weight: 2, arbitrary: fc.tuple(oddFlagsArb, envelopeArb).map(([f, e]) => withFlags(f, json(e))) },
  { weight: 2, arbitrary: fc.oneof(envelopeArb, goodArb).map((e) => withFlags(1, lz4Compress(json(e)))) }, // real lz4 (u32 LE size + block)
  {
    weight: 1, // lz4-looking garbage: a size prefix (small, at the limit, past it) and junk
    arbitrary: fc.tuple(fc.constantFrom(0, 3, 10, MAX_FRAME, MAX_FRAME + 1, 0xffffffff), bytes(40)).map(([n, b]) => withFlags(1, Buffer.concat([u32le(n), b]))),
  },
  {
    weight: 1, // zstd-looking garbage: the magic, then a header declaring a size (or junk), then junk
    arbitrary: fc
      .tuple(fc.constantFrom(null, 5, MAX_FRAME, MAX_FRAME + 1, 0xffffffff), bytes(40))
      .map(([n, b]) => withFlags(2, Buffer.concat([ZSTD_MAGIC, n === null ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x80, 0x48]), u32le(n)]), b]))),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Buffer.alloc(0), // no flags byte
      Buffer.from([0]), // an empty body
      withFlags(1, lz4Compress(paddedPing(MAX_FRAME + 100))), // inflates past max_frame_bytes
      withFlags(0, paddedPing(MAX_FRAME)), // max_frame_bytes + 1 in all: the largest accepted
      withFlags(0, paddedPing(MAX_FRAME + 1)), // one byte past: uWS drops the connection
      withFlags(0, paddedPing(3 * MAX_FRAME)),
    ),
  },
);

/** A real zstd body; past max_frame_bytes once inflated, or with a codec it does not match. */
const zstdArb: fc.Arbitrary<Wire> = fc
  .tuple(fc.constantFrom(1, 2, 3, 0x44), fc.oneof(envelopeArb.map(json), goodArb.map(json), fc.constant(paddedPing(MAX_FRAME + 100))))
  .map(([flags, body]) => shown({ op: 'zstd', flags, body }));

const wireArb: fc.Arbitrary<Wire> = fc.oneof(
  { weight: 5, arbitrary: message('text', textArb) },
  { weight: 5, arbitrary: message('binary', binaryArb) },
  { weight: 1, arbitrary: zstdArb },
  { weight: 1, arbitrary: bytes(125).map((data) => shown({ op: 'ping', data })) },
);

/**
 * One message many times at once: past error_budget (20) non-fatal errors in
 * 10 s is fatal too_many_errors, and zstd bodies pile up behind their
 * asynchronous inflate (past 64 waiting, rate_limited: uWS cannot pause reads).
 */
const burstArb: fc.Arbitrary<Wire[]> = fc
  .tuple(fc.oneof(message('text', textArb), message('binary', binaryArb), zstdArb), fc.integer({ min: 21, max: 80 }))
  .map(([w, n]) => Array.from({ length: n }, () => w));

/** A hello (and often a join) as the first messages, as text or binary; or no opening at all. */
const openingArb: fc.Arbitrary<Wire[]> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Wire[]>([]) },
  {
    weight: 4,
    arbitrary: fc.tuple(fc.boolean(), helloArb, fc.boolean()).map(([binary, hello, joins]) => {
      const as = (e: unknown): Wire => shown(binary ? { op: 'binary', data: withFlags(0, json(e)), cuts: [] } : { op: 'text', data: json(e), cuts: [] });
      return joins ? [as(hello), as({ type: 'join_room', room: ROOM, since_seq: 0 })] : [as(hello)];
    }),
  },
);

type Ending = 'close' | 'close-no-code' | 'linger' | 'terminate';
interface Script {
  msgs: Wire[];
  /** 0: send every message at once; 1: a setImmediate between messages; 2: ~1 ms between messages. */
  pace: 0 | 1 | 2;
  /** close: close handshake with 1000; close-no-code: without a code; linger: ~50 ms, then terminate; terminate: after `cut` messages. */
  ending: Ending;
  /** Wait up to 30 ms for replies before a close handshake (replies still queued when the close frame arrives are not sent). */
  settle: boolean;
  /** For `terminate`: how many messages go out first (modulo msgs.length + 1). */
  cut: number;
}

const scriptArb: fc.Arbitrary<Script> = fc.record({
  msgs: fc
    .tuple(openingArb, fc.oneof({ weight: 8, arbitrary: fc.array(wireArb, { maxLength: 24 }) }, { weight: 1, arbitrary: burstArb }))
    .map(([a, b]) => [...a, ...b]),
  pace: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
  ending: fc.constantFrom<Ending>('close', 'close-no-code', 'linger', 'terminate'),
  cut: fc.nat({ max: 64 }),
  settle: fc.boolean(),
});

// ------------------------------------------------------------------ running a script

async function materialize(w: Wire): Promise<Sent> {
  if (w.op !== 'zstd') return w;
  return { op: 'binary', data: withFlags(w.flags, await zstdWithSize(w.body)), cuts: [] };
}

function sendOne(ws: WebSocket, m: Sent): void {
  if (m.op === 'ping') return ws.ping(m.data);
  const binary = m.op === 'binary';
  const parts = chunk(m.data, m.cuts);
  if (parts.length <= 1) return ws.send(m.data, { binary });
  parts.forEach((p, i) => ws.send(p, { binary, fin: i === parts.length - 1 }));
}

interface Outcome {
  /** Messages the client got out before it ended (pings included). */
  sent: Sent[];
  received: { binary: boolean; data: Buffer }[];
  closeCode: number | null;
  /** The server closed first: a close frame or a dropped connection before the client ended the script. */
  serverClosed: boolean;
  /** Our close handshake got no answer within 5 s. */
  closeTimedOut: boolean;
  /** Errors the `ws` client reported (protocol errors in what the server sent). */
  errors: string[];
}

/** Plays one script against the server's WebSocket port; resolves with what came back. */
async function play(wsPort: number, s: Script): Promise<Outcome> {
  const msgs = await Promise.all(s.msgs.map(materialize));
  const o: Outcome = { sent: [], received: [], closeCode: null, serverClosed: false, closeTimedOut: false, errors: [] };
  const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/`, { perMessageDeflate: false });
  let ending = false;
  ws.on('message', (data: Buffer, isBinary: boolean) => o.received.push({ binary: isBinary, data }));
  ws.on('error', (err: NodeJS.ErrnoException) => o.errors.push(err.code ?? err.message));
  const closed = new Promise<void>((resolve) =>
    ws.on('close', (code: number) => {
      o.closeCode = code;
      if (!ending) o.serverClosed = true;
      resolve();
    }),
  );
  await new Promise<void>((resolve) => {
    ws.once('open', resolve);
    ws.once('close', resolve);
  });
  const stop = s.ending === 'terminate' ? s.cut % (msgs.length + 1) : msgs.length;
  for (let i = 0; i < stop && ws.readyState === WebSocket.OPEN; i++) {
    sendOne(ws, msgs[i]!);
    o.sent.push(msgs[i]!);
    if (s.pace === 1) await new Promise((r) => setImmediate(r));
    else if (s.pace === 2) await sleep(1);
  }
  const within = (ms: number) => Promise.race([closed, sleep(ms)]);
  if (s.ending === 'linger') await within(50);
  else if (s.settle && s.ending !== 'terminate') await within(30);
  // Not OPEN before we end it: a close frame came from the server (ws answered it) or the connection dropped.
  if (ws.readyState !== WebSocket.OPEN) o.serverClosed = true;
  ending = true;
  if (ws.readyState === WebSocket.OPEN && (s.ending === 'close' || s.ending === 'close-no-code')) {
    if (s.ending === 'close') ws.close(1000);
    else ws.close();
    await within(5000);
    o.closeTimedOut = o.closeCode === null;
  }
  ws.terminate();
  await closed;
  return o;
}

// ------------------------------------------------------------------ checking what came back


/** True for a message uWS refuses inside its parser, before the server sees it: it drops the TCP connection. */
function refusedByUws(m: Sent): boolean {
  if (m.op === 'ping') return false;
  return m.data.length > MAX_FRAME + 1 || (m.op === 'text' && !isUtf8(m.data));
}

/**
 * What a connection's first message decides on its own, whatever follows:
 * 'drop' (uWS refuses it), a fatal error code, or null (it depends).
 */
function firstVerdict(m: Sent): 'drop' | 'bad_frame' | 'frame_too_large' | null {
  if (refusedByUws(m)) return 'drop';
  if (m.op === 'text') return m.data.length > MAX_FRAME ? 'frame_too_large' : null;
  if (m.op === 'binary') {
    // No codec is agreed before hello, so any codec bit is as fatal as a reserved one.
    if (m.data.length === 0 || m.data[0] !== 0) return 'bad_frame';
  }
  return null;
}

/** The body of one received message, inflated; a string when it is not decodable. */
async function bodyOf(msg: { binary: boolean; data: Buffer }, agreedFlags: number): Promise<Buffer | string> {
  if (!msg.binary) return msg.data.length > MAX_FRAME ? `text message of ${msg.data.length} bytes` : msg.data;
  if (msg.data.length < 1 || msg.data.length > MAX_FRAME + 1) return `binary message of ${msg.data.length} bytes`;
  const flags = msg.data[0]!;
  const body = msg.data.subarray(1);
  if (flags === 0) return body;
  if (flags !== agreedFlags) return `flags ${flags}, agreed ${agreedFlags}`;
  try {
    const out = flags === 1 ? lz4Uncompress(body) : await zstdDecompress(body);
    return out.length > MAX_FRAME ? `inflates to ${out.length} bytes` : out;
  } catch {
    return `flags ${flags} body does not inflate`;
  }
}

/** Everything wrong with what came back to one script. */
async function outcomeProblems(s: Script, o: Outcome): Promise<string[]> {
  const problems: string[] = [];
  const firstData = o.sent.find((m) => m.op !== 'ping');
  let agreedFlags = 0;
  let fatalSeen = false;
  const envs: Envelope[] = [];
  for (const msg of o.received) {
    if (firstData === undefined) {
      problems.push('a message before any data message');
      break;
    }
    if (msg.binary !== (firstData.op === 'binary')) problems.push(`a ${msg.binary ? 'binary' : 'text'} message after a ${firstData.op} first message`);
    const body = await bodyOf(msg, agreedFlags);
    if (typeof body === 'string') {
      problems.push(body);
      continue;
    }
    let v: unknown;
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch {
      problems.push(`not JSON: ${body.toString('utf8', 0, 80)}`);
      continue;
    }
    if (fatalSeen) problems.push(`${JSON.stringify(v).slice(0, 120)} after a fatal error`);
    problems.push(...envelopeProblems(v));
    const env = v as Envelope;
    envs.push(env);
    if (env.type === 'welcome') {
      const codecs = env.codecs;
      if (!msg.binary && codecs !== undefined) problems.push('welcome with codecs on a text connection');
      if (msg.binary && (!Array.isArray(codecs) || codecs.some((c) => !(c in CODEC_FLAGS)))) problems.push(`welcome codecs ${JSON.stringify(codecs)}`);
      if (msg.binary && Array.isArray(codecs) && codecs.length > 0) agreedFlags = CODEC_FLAGS[codecs[0] as string]!;
    }
    if (env.type === 'error' && env.fatal === true) fatalSeen = true;
  }
  if (o.closeCode === null || !CLOSE_CODES.includes(o.closeCode)) problems.push(`close code ${o.closeCode}`);
  if (o.closeTimedOut) problems.push('no answer to our close frame within 5 s');
  const wsErrors = o.errors.filter((e) => e.startsWith('WS_ERR_'));
  if (wsErrors.length > 0) problems.push(`ws client errors ${wsErrors.join(', ')}`);
  if (o.serverClosed) {
    const refused = o.sent.some(refusedByUws);
    if (!(fatalSeen && o.closeCode === 1000) && !(refused && o.closeCode === 1006)) {
      problems.push(`the server closed (${o.closeCode}) after ${fatalSeen ? 'a fatal error' : 'no fatal error'}${refused ? ' and a message uWS refuses' : ''}`);
    }
  }
  // Only a close handshake lets every message sent before it be processed.
  if ((s.ending === 'close' || s.ending === 'close-no-code') && firstData !== undefined) {
    const verdict = firstVerdict(firstData);
    if (verdict === 'drop' && (envs.length > 0 || o.closeCode !== 1006)) problems.push(`first message refused by uWS, yet ${envs.length} replies and close ${o.closeCode}`);
    if (verdict !== null && verdict !== 'drop') {
      const alone = envs.length === 1 && envs[0]!.type === 'error' && envs[0]!.code === verdict;
      // uWS corks what a read's handlers send and drops it with the connection: a refused message in the same
      // read as the first takes the fatal error with it (the connection just drops, as for a refused first message).
      const dropped = envs.length === 0 && o.closeCode === 1006 && o.sent.slice(o.sent.indexOf(firstData) + 1).some(refusedByUws);
      if (!alone && !dropped) problems.push(`first message should get fatal ${verdict} alone, got ${JSON.stringify(envs).slice(0, 200)} and close ${o.closeCode}`);
    }
  }
  return problems;
}

// ------------------------------------------------------------------ the healthy pair

/** A text-mode WebSocket client with an inbox of envelopes. */
class HealthyWs {
  readonly inbox: Envelope[] = [];
  closeCode: number | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.inbox.push(JSON.parse(data.toString('utf8')) as Envelope));
    ws.on('close', (code: number) => (this.closeCode = code));
    ws.on('error', () => {});
  }

  static async connect(port: number): Promise<HealthyWs> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new HealthyWs(ws);
  }

  send(env: unknown): void {
    this.ws.send(JSON.stringify(env));
  }

  /** The first envelope matching `pred` (removed from the inbox), or null after `ms` or on close. */
  async next(pred: (m: Envelope) => boolean, ms = 2000): Promise<Envelope | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      if (Date.now() >= deadline || this.closeCode !== null) return null;
      await sleep(2);
    }
  }
}

let server: ChatServer;
let tcpPort = 0;
let wsPort = 0;
let w: HealthyWs;
let t: FrameClient;
let probeNo = 0;
const rejections: unknown[] = [];
const onRejection = (err: unknown) => rejections.push(err);

/** The healthy pair in ROOM still chats both ways: `ack` to the sender, `chat` to the other. */
async function healthyChat(): Promise<void> {
  const fromWs = `probe-w${++probeNo}`;
  w.send({ type: 'send_chat', room: ROOM, text: `alive ${probeNo}`, id: fromWs });
  const ackW = await w.next((m) => m.type === 'ack' && m.id === fromWs, 3000);
  const chatT = await t.next((m) => m.type === 'chat' && m.id === fromWs, 3000);
  expect(ackW, `ack for ${fromWs}`).toMatchObject({ room: ROOM, id: fromWs });
  expect(chatT, `chat ${fromWs} delivered over TCP`).toMatchObject({ room: ROOM, id: fromWs, seq: ackW!.seq, from: 'healthy-w' });
  const fromTcp = `probe-t${probeNo}`;
  t.send({ type: 'send_chat', room: ROOM, text: `alive ${probeNo}`, id: fromTcp });
  const ackT = await t.next((m) => m.type === 'ack' && m.id === fromTcp, 3000);
  const chatW = await w.next((m) => m.type === 'chat' && m.id === fromTcp, 3000);
  expect(ackT, `ack for ${fromTcp}`).toMatchObject({ room: ROOM, id: fromTcp });
  expect(chatW, `chat ${fromTcp} delivered over WebSocket`).toMatchObject({ room: ROOM, id: fromTcp, seq: ackT!.seq, from: 'healthy-t' });
  expect(w.closeCode).toBeNull();
  expect(t.closed).toBe(false);
  for (const inbox of [w.inbox, t.inbox]) {
    expect(inbox.filter((m) => m.type === 'error')).toEqual([]);
    inbox.length = 0; // fuzz clients chat in ROOM too
  }
}


let rss0 = 0;

beforeAll(async () => {
  process.on('unhandledRejection', onRejection);
  server = await createServer(
    {
      tcp_host: '127.0.0.1',
      tcp_port: 0,
      voice_udp_port: 0,
      log_level: 'silent',
      log_file: '',
      max_latency_ms: 0,
      max_error_rate: 0,
      ws_enabled: true,
      ws_port: 0,
      max_frame_bytes: MAX_FRAME,
      max_text_bytes: MAX_TEXT,
      service_compression: 'native',
    },
    { logger: pino({ level: 'silent' }) },
  );
  const addr = await server.listen();
  tcpPort = addr.port;
  wsPort = addr.ws!.port;
  w = await HealthyWs.connect(wsPort);
  w.send({ type: 'hello', nick: 'healthy-w' });
  expect(await w.next((m) => m.type === 'welcome')).not.toBeNull();
  w.send({ type: 'join_room', room: ROOM });
  expect(await w.next((m) => m.type === 'joined')).not.toBeNull();
  t = await helloClient(tcpPort, 'healthy-t');
  await join(t, ROOM);
  await healthyChat();
  gc();
  rss0 = process.memoryUsage().rss;
});

afterAll(async () => {
  process.off('unhandledRejection', onRejection);
  w?.ws.terminate();
  t?.end();
  await server?.close();
});

describe('WebSocket fuzz', () => {
  it(`${BATCHES} batches of random WebSocket clients: well-formed replies, fitting closes, the healthy pair keeps chatting`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(scriptArb, { minLength: 1, maxLength: 5 }), async (scripts) => {
        const outcomes = await Promise.all(scripts.map((s) => play(wsPort, s)));
        for (let i = 0; i < scripts.length; i++) {
          expect(await outcomeProblems(scripts[i]!, outcomes[i]!), `client ${i}`).toEqual([]);
        }
        await healthyChat();
      }),
      { numRuns: BATCHES, seed: FUZZ_SEED },
    );
  }, TIMEOUT);

  it('afterwards: /health 200, fuzz connections released, RSS bounded, no unhandled rejection', async () => {
    expect((await httpRequest(tcpPort, '/health')).status).toBe(200);
    await healthyChat();
    // Only the healthy pair is left in the pool once every fuzz WebSocket is closed.
    const deadline = Date.now() + 3000;
    while (server.services.pool.size > 2 && Date.now() < deadline) await sleep(20);
    expect(server.services.pool.size).toBe(2);
    gc();
    const grown = (process.memoryUsage().rss - rss0) / (1024 * 1024);
    expect(grown, `RSS grew by ${grown.toFixed(1)} MB`).toBeLessThan(100);
    expect(rejections).toEqual([]);
  });
});
