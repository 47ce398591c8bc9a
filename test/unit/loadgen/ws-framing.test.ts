/**
 * The RFC 6455 client codec of the ws adapter (src/loadgen/clients/ws-framing.ts):
 * handshake helpers, masked frames out, and the frame reader fed raw server
 * bytes whole, one byte per read, split at every offset and in chunks
 * (STYLE.md: "raw bytes, split at every boundary, fed to the parser").
 * The adapter over real sockets is ws-client.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  acceptFor,
  checkUpgradeResponse,
  encodeControl,
  encodeText,
  OP_CLOSE,
  OP_CONT,
  OP_PING,
  OP_PONG,
  upgradeRequest,
  WsFrameReader,
  WsHandshakeError,
  type WsFrameSink,
} from '../../../src/loadgen/clients/ws-framing.js';
import { binary, decodeClientFrames, serverFrame, text } from './ws-wire.js';

/** What the reader handed out, copied (message views are valid only during the call). */
type Event = { kind: 'message'; data: string; binary: boolean } | { kind: 'ping' | 'close'; data: string } | { kind: 'error'; reason: string };

function recorder(stopAfterMessage = false) {
  const events: Event[] = [];
  /** Per message: was it handed out as a view of the buffer fed (in place)? */
  const inPlace: boolean[] = [];
  let fed: Buffer | null = null;
  const sink: WsFrameSink = {
    message: (b, s, e, bin) => {
      events.push({ kind: 'message', data: b.toString('latin1', s, e), binary: bin });
      inPlace.push(b === fed);
      return !stopAfterMessage;
    },
    ping: (b, s, e) => {
      events.push({ kind: 'ping', data: b.toString('latin1', s, e) });
      return true;
    },
    close: (b, s, e) => void events.push({ kind: 'close', data: b.toString('latin1', s, e) }),
    error: (reason) => void events.push({ kind: 'error', reason }),
  };
  return {
    events,
    inPlace,
    sink,
    feed(reader: WsFrameReader, chunk: Buffer) {
      fed = chunk;
      reader.ingest(chunk, 0, chunk.length);
    },
  };
}

const MAX = 100_000;
const pad = (n: number, c = 'x') => c.repeat(n);

/** A small stream with every kind of frame and fragment, and the events it must produce. */
const SMALL: [Buffer, Event[]] = (() => {
  const frames = [
    text('{"type":"welcome"}'),
    text(''),
    text(pad(125)),
    text(pad(126, 'y')),
    binary(Buffer.from([0, 1, 2, 3])),
    serverFrame(OP_PING, 'hi'),
    serverFrame(OP_PONG, 'ignored'),
    text('frag', { fin: false }),
    serverFrame(OP_PING, ''),
    serverFrame(OP_CONT, '', { fin: false }),
    serverFrame(OP_CONT, 'ment', { fin: false }),
    serverFrame(OP_PONG, ''),
    serverFrame(OP_CONT, 'ed'),
    binary(Buffer.from([0, 9]), { fin: false }),
    serverFrame(OP_CONT, Buffer.from([8])),
    text('short16', { lenBits: 16 }),
    text('short64', { lenBits: 64 }),
    text('é ü'),
  ];
  const events: Event[] = [
    { kind: 'message', data: '{"type":"welcome"}', binary: false },
    { kind: 'message', data: '', binary: false },
    { kind: 'message', data: pad(125), binary: false },
    { kind: 'message', data: pad(126, 'y'), binary: false },
    { kind: 'message', data: '\x00\x01\x02\x03', binary: true },
    { kind: 'ping', data: 'hi' },
    { kind: 'ping', data: '' },
    { kind: 'message', data: 'fragmented', binary: false },
    { kind: 'message', data: '\x00\x09\x08', binary: true },
    { kind: 'message', data: 'short16', binary: false },
    { kind: 'message', data: 'short64', binary: false },
    { kind: 'message', data: Buffer.from('é ü').toString('latin1'), binary: false },
  ];
  return [Buffer.concat(frames), events];
})();

function run(stream: Buffer, cut: (s: Buffer) => Buffer[], max = MAX) {
  const r = recorder();
  const reader = new WsFrameReader(max, r.sink);
  for (const part of cut(stream)) r.feed(reader, part);
  return r;
}

const whole = (s: Buffer) => [s];
const bytes = (s: Buffer) => Array.from({ length: s.length }, (_, i) => s.subarray(i, i + 1));
const at = (...cuts: number[]) => (s: Buffer) => [0, ...cuts, s.length].slice(1).map((end, i, a) => s.subarray(i === 0 ? 0 : a[i - 1]!, end));
const every = (n: number) => (s: Buffer) => Array.from({ length: Math.ceil(s.length / n) }, (_, i) => s.subarray(i * n, (i + 1) * n));

describe('handshake helpers', () => {
  it('computes Sec-WebSocket-Accept as RFC 6455 §1.3 shows', () => {
    expect(acceptFor('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('asks for an upgrade of / with version 13 and no extensions', () => {
    const req = upgradeRequest('[::1]:8080', 'k==');
    expect(req.startsWith('GET / HTTP/1.1\r\n')).toBe(true);
    expect(req.endsWith('\r\n\r\n')).toBe(true);
    const lines = req.split('\r\n');
    expect(lines).toContain('Host: [::1]:8080');
    expect(lines).toContain('Upgrade: websocket');
    expect(lines).toContain('Connection: Upgrade');
    expect(lines).toContain('Sec-WebSocket-Key: k==');
    expect(lines).toContain('Sec-WebSocket-Version: 13');
    expect(req.toLowerCase()).not.toContain('extensions');
  });

  const ok = (extra = '') => `HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, Upgrade\r\nSec-WebSocket-Accept: A=${extra}`;
  it('accepts a 101 with the right headers, in any case', () => {
    expect(() => checkUpgradeResponse(ok(), 'A=')).not.toThrow();
  });

  it.each([
    ['a non-101 status', 'HTTP/1.1 404 Not Found\r\nContent-Length: 0', /"HTTP\/1.1 404 Not Found", not 101/],
    ['HTTP/1.0', 'HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: A=', /not 101/],
    ['a wrong Sec-WebSocket-Accept', ok().replace('A=', 'B='), /Sec-WebSocket-Accept is "B=", expected "A="/],
    ['no Sec-WebSocket-Accept', 'HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade', /Sec-WebSocket-Accept is null/],
    ['no Upgrade', 'HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: A=', /Upgrade is null/],
    ['Connection without upgrade', 'HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Accept: A=', /Connection is "close"/],
    ['an extension nobody offered', ok('\r\nSec-WebSocket-Extensions: permessage-deflate'), /extensions "permessage-deflate"/],
    ['a subprotocol nobody offered', ok('\r\nSec-WebSocket-Protocol: chat'), /subprotocol "chat"/],
    ['a malformed header line', ok('\r\nnonsense'), /malformed header line/],
  ])('rejects %s', (_what, head, msg) => {
    expect(() => checkUpgradeResponse(head, 'A=')).toThrow(WsHandshakeError);
    expect(() => checkUpgradeResponse(head, 'A=')).toThrow(msg);
  });
});

describe('frames out', () => {
  it.each([
    [0, 7],
    [125, 7],
    [126, 16],
    [65535, 16],
    [65536, 64],
    [70_000, 64],
  ])('a %i-byte envelope is one masked FIN text frame with a %i-bit length', (n, bits) => {
    const json = `{"t":"${pad(Math.max(0, n - 8))}"}`.slice(0, n);
    const out = encodeText(json);
    const { frames, used } = decodeClientFrames(out);
    expect(used).toBe(out.length);
    expect(frames).toHaveLength(1);
    const f = frames[0]!;
    expect(f).toMatchObject({ fin: true, rsv: 0, opcode: 1, masked: true, lenBits: bits });
    expect(f.payload.toString()).toBe(json);
  });

  it('encodes multi-byte text by its UTF-8 length', () => {
    const json = '{"text":"é ü — ✓"}';
    const f = decodeClientFrames(encodeText(json)).frames[0]!;
    expect(f.payload.length).toBe(Buffer.byteLength(json));
    expect(f.payload.toString()).toBe(json);
  });

  it('uses a fresh masking key per frame', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 2000; i++) keys.add(decodeClientFrames(encodeText('{}')).frames[0]!.mask.toString('hex'));
    expect(keys.size).toBeGreaterThan(1990); // 2000 random 32-bit keys; a handful of repeats at most
  });

  it('encodes control frames masked, with the payload given', () => {
    const src = Buffer.from('..ping-data..');
    const f = decodeClientFrames(encodeControl(OP_PONG, src, 2, 11)).frames[0]!;
    expect(f).toMatchObject({ fin: true, opcode: OP_PONG, masked: true });
    expect(f.payload.toString()).toBe('ping-data');
    const c = decodeClientFrames(encodeControl(OP_CLOSE, Buffer.from([0x03, 0xe9]), 0, 2)).frames[0]!;
    expect(c.opcode).toBe(OP_CLOSE);
    expect(c.payload.readUInt16BE(0)).toBe(1001);
  });
});

describe('frame reader', () => {
  const [stream, expected] = SMALL;

  it('reads a whole stream in one read, messages in place', () => {
    const r = run(stream, whole);
    expect(r.events).toEqual(expected);
    // Single-frame messages are views of the read; the reassembled ones are not.
    expect(r.inPlace).toEqual([true, true, true, true, true, false, false, true, true, true]);
  });

  it('reads one byte per read', () => {
    expect(run(stream, bytes).events).toEqual(expected);
  });

  it('reads a stream split at every offset', () => {
    for (let i = 1; i < stream.length; i++) expect(run(stream, at(i)).events, `split at ${i}`).toEqual(expected);
  });

  it('reads a stream in chunks of 2..40 bytes', () => {
    for (let n = 2; n <= 40; n++) expect(run(stream, every(n)).events, `chunks of ${n}`).toEqual(expected);
  });

  it('reads messages of 65535, 65536 and 100000 bytes split around their headers and payload starts', () => {
    const sizes = [65535, 65536, MAX];
    const frames = sizes.map((n, i) => text(pad(n, String(i))));
    const big = Buffer.concat(frames);
    const want: Event[] = sizes.map((n, i) => ({ kind: 'message', data: pad(n, String(i)), binary: false }));
    expect(run(big, whole).events).toEqual(want);
    let start = 0;
    for (const f of frames) {
      const hl = f.length - (f[1] === 126 ? f.readUInt16BE(2) : Number(f.readBigUInt64BE(2)));
      for (const k of [1, 2, 3, hl - 1, hl, hl + 1, hl + 9, hl + 10, hl + 11, f.length >> 1, f.length - 1]) {
        expect(run(big, at(start + k)).events, `split at ${start} + ${k}`).toEqual(want);
      }
      start += f.length;
    }
    expect(run(big, every(4096)).events).toEqual(want);
  });

  it('accepts a message of exactly maxPayload bytes, also in fragments', () => {
    expect(run(text(pad(MAX)), whole).events).toHaveLength(1);
    const frags = Buffer.concat([text(pad(MAX - 10), { fin: false }), serverFrame(OP_CONT, pad(10))]);
    expect(run(frags, whole).events).toEqual([{ kind: 'message', data: pad(MAX), binary: false }]);
  });

  it('hands the close frame over and reads nothing after it', () => {
    const r = run(Buffer.concat([text('a'), serverFrame(OP_CLOSE, Buffer.from([0x03, 0xe8, 0x62])), text('b')]), whole);
    expect(r.events).toEqual([
      { kind: 'message', data: 'a', binary: false },
      { kind: 'close', data: '\x03\xe8b' },
    ]);
  });

  it('stops reading when the sink says the connection is gone', () => {
    const r = recorder(true);
    const reader = new WsFrameReader(MAX, r.sink);
    r.feed(reader, Buffer.concat([text('a'), text('b')]));
    expect(r.events).toHaveLength(1);
  });

  it('forgets a partial frame and message on reset', () => {
    const r = recorder();
    const reader = new WsFrameReader(MAX, r.sink);
    r.feed(reader, text('frag', { fin: false }));
    r.feed(reader, serverFrame(OP_CONT, 'half-a-frame').subarray(0, 5));
    reader.reset();
    r.feed(reader, text('fresh'));
    expect(r.events).toEqual([{ kind: 'message', data: 'fresh', binary: false }]);
  });

  const bad: [string, Buffer, RegExp][] = [
    ['a masked frame', text('{}', { mask: true }), /masked frame/],
    ['RSV1 (no permessage-deflate was agreed)', text('{}', { rsv: 4 }), /reserved bits set \(RSV 4/],
    ['RSV2', text('{}', { rsv: 2 }), /reserved bits/],
    ['RSV3', text('{}', { rsv: 1 }), /reserved bits/],
    ...[3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((op): [string, Buffer, RegExp] => [`opcode ${op}`, serverFrame(op, ''), new RegExp(`unknown opcode ${op}`)]),
    ['a control frame over 125 bytes', serverFrame(OP_PING, pad(126)), /control frame \(opcode 9\) of 126 bytes/],
    ['a fragmented control frame', serverFrame(OP_PING, 'x', { fin: false }), /fragmented control frame/],
    ['a close with a 1-byte payload', serverFrame(OP_CLOSE, 'x'), /1-byte payload/],
    ['a continuation with no message', serverFrame(OP_CONT, 'x'), /continuation frame with no message/],
    ['a new message inside a fragmented one', Buffer.concat([text('a', { fin: false }), text('b')]), /new message before the fragmented one ended/],
    ['a message over maxPayload (header only)', text('', { declaredLength: MAX + 1 }), /100001 bytes or more \(max 100000\)/],
    ['a 64-bit length beyond 2^32', text('', { declaredLength: 2 ** 40, lenBits: 64 }), /bytes or more/],
    ['fragments over maxPayload together', Buffer.concat([text(pad(MAX), { fin: false }), serverFrame(OP_CONT, 'x')]), /100001 bytes/],
  ];
  it.each(bad)('rejects %s, whole or byte by byte, and reads nothing after it', (_what, frame, msg) => {
    for (const cut of [whole, bytes]) {
      const r = run(Buffer.concat([frame, text('after')]), cut);
      const errors = r.events.filter((e) => e.kind === 'error');
      expect(errors).toHaveLength(1);
      expect((errors[0] as { reason: string }).reason).toMatch(msg);
      expect(r.events.at(-1)).toBe(errors[0]);
    }
  });
});
