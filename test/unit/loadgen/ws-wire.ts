/**
 * RFC 6455 wire helpers for the ws adapter's tests, written apart from the
 * code under test (src/loadgen/clients/ws-framing.ts) so that a bug there is
 * not mirrored here: server frames built byte by byte, client frames
 * decoded (and their masking checked), and a raw net server that speaks
 * the opening handshake by hand.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';

export interface FrameOptions {
  /** FIN bit; default true. */
  fin?: boolean;
  /** RSV1–3 as a 3-bit number; default 0. */
  rsv?: number;
  /** Mask the payload (a server must not); default false. */
  mask?: boolean;
  /** Length encoding: 7, 16 or 64 bits; default the smallest that fits. */
  lenBits?: 7 | 16 | 64;
  /** Length written in the header instead of the payload's (for oversize frames without sending them). */
  declaredLength?: number;
}

/** One frame as a server would write it (unmasked unless asked). */
export function serverFrame(opcode: number, payload: Buffer | string, o: FrameOptions = {}): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const n = o.declaredLength ?? body.length;
  const bits = o.lenBits ?? (n < 126 ? 7 : n < 65536 ? 16 : 64);
  const head: number[] = [((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | opcode];
  const m = o.mask ? 0x80 : 0;
  if (bits === 7) head.push(m | n);
  else if (bits === 16) head.push(m | 126, n >> 8, n & 0xff);
  else {
    head.push(m | 127);
    const hi = Math.floor(n / 2 ** 32);
    const lo = n >>> 0;
    head.push(hi >>> 24, (hi >> 16) & 0xff, (hi >> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >> 16) & 0xff, (lo >> 8) & 0xff, lo & 0xff);
  }
  let data = body;
  if (o.mask) {
    const key = [0x12, 0x34, 0x56, 0x78];
    head.push(...key);
    data = Buffer.from(body.map((v, i) => v ^ key[i & 3]!));
  }
  return Buffer.concat([Buffer.from(head), data]);
}

export const text = (s: string | Buffer, o?: FrameOptions) => serverFrame(0x1, s, o);
export const binary = (b: Buffer, o?: FrameOptions) => serverFrame(0x2, b, o);

/** A frame the client sent, unmasked. */
export interface ClientFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** Header length field size: 7, 16 or 64 bits. */
  lenBits: number;
  mask: Buffer;
  payload: Buffer;
}

/** Decodes the complete client frames at the start of `buf`; returns them and the bytes used. */
export function decodeClientFrames(buf: Buffer): { frames: ClientFrame[]; used: number } {
  const frames: ClientFrame[] = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    let len = b1 & 0x7f;
    let at = off + 2;
    let lenBits = 7;
    if (len === 126) {
      if (buf.length - at < 2) break;
      len = buf.readUInt16BE(at);
      at += 2;
      lenBits = 16;
    } else if (len === 127) {
      if (buf.length - at < 8) break;
      len = Number(buf.readBigUInt64BE(at));
      at += 8;
      lenBits = 64;
    }
    const masked = (b1 & 0x80) !== 0;
    const mask = masked ? buf.subarray(at, at + 4) : Buffer.alloc(4);
    if (masked) at += 4;
    if (buf.length - at < len) break;
    const payload = Buffer.from(buf.subarray(at, at + len).map((v, i) => v ^ mask[i & 3]!));
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, lenBits, mask: Buffer.from(mask), payload });
    off = at + len;
  }
  return { frames, used: off };
}

/** The correct Sec-WebSocket-Accept for `key`, computed here from RFC 6455 §4.2.2. */
export function acceptOf(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** A 101 response head for `key`; `accept` overrides the Sec-WebSocket-Accept value. */
export function response101(key: string, accept = acceptOf(key)): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
}

/** One accepted connection of a RawServer, after the client's request head has arrived. */
export interface RawPeer {
  sock: net.Socket;
  /** The request head, up to the blank line. */
  request: string;
  /** Header names lowercased. */
  headers: Map<string, string>;
  key: string;
  /** Frames the client sent so far. */
  frames: ClientFrame[];
  /** Resolves with the client's frame number i (0-based) once it has arrived. */
  frame(i: number): Promise<ClientFrame>;
  /** Resolves once the client ended or closed its side. */
  ended: Promise<void>;
}

/** A net server on 127.0.0.1 and an ephemeral port that reads the upgrade request and leaves the answer to the test. */
export interface RawServer {
  port: number;
  /** The next connection whose request head has arrived. */
  accept(): Promise<RawPeer>;
  close(): Promise<void>;
}

export async function startRawServer(): Promise<RawServer> {
  const ready: RawPeer[] = [];
  const waiting: ((p: RawPeer) => void)[] = [];
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    socks.add(sock);
    sock.setNoDelay(true);
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let peer: RawPeer | null = null;
    const frameWaiters: { i: number; resolve: (f: ClientFrame) => void }[] = [];
    let endedResolve!: () => void;
    const ended = new Promise<void>((r) => (endedResolve = r));
    sock.once('end', () => endedResolve());
    sock.once('close', () => endedResolve());
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (peer === null) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const request = buf.toString('latin1', 0, i);
        buf = buf.subarray(i + 4);
        const headers = new Map<string, string>();
        for (const line of request.split('\r\n').slice(1)) {
          const c = line.indexOf(':');
          headers.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
        }
        const frames: ClientFrame[] = [];
        peer = {
          sock,
          request,
          headers,
          key: headers.get('sec-websocket-key') ?? '',
          frames,
          frame: (n) => (n < frames.length ? Promise.resolve(frames[n]!) : new Promise((resolve) => frameWaiters.push({ i: n, resolve }))),
          ended,
        };
        const w = waiting.shift();
        if (w) w(peer);
        else ready.push(peer);
      }
      const { frames, used } = decodeClientFrames(buf);
      buf = buf.subarray(used);
      for (const f of frames) {
        peer.frames.push(f);
        for (let k = frameWaiters.length - 1; k >= 0; k--) {
          if (frameWaiters[k]!.i === peer.frames.length - 1) frameWaiters.splice(k, 1)[0]!.resolve(f);
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    accept: () => {
      const p = ready.shift();
      return p ? Promise.resolve(p) : new Promise((r) => waiting.push(r));
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Polls `cond` until it holds: on the next turns of the event loop first (a
 * loopback read lands within a few), then every 5 ms, so that a long wait
 * does not spin a core.
 */
export async function until(cond: () => boolean, what = 'condition', timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  for (let turn = 0; !cond(); turn++) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => (turn < 100 ? setImmediate(r) : setTimeout(r, 5)));
  }
}
