/**
 * The client side of RFC 6455 (WebSocket) for the load generator's ws
 * adapter (ws.ts): the opening handshake (§4.1, §4.2.2), masked frames out
 * (§5.2, §5.3), and a frame reader for what a server sends (§5.2–§5.5).
 *
 * The reader walks the bytes of one socket read synchronously, the way the
 * tcp adapter's frame reader does (tcp.ts): an explicit state machine with
 * integer states, early return when bytes are short, and a whole message
 * handed out as a view of the caller's buffer when it lies inside one read.
 * It copies only what spans reads: a frame header (into a 10-byte scratch),
 * a payload (into a Buffer of the payload's size, or a 125-byte scratch for
 * control frames), and the fragments of a fragmented message (concatenated
 * when the last one arrives).
 *
 * Scope: no extensions (no permessage-deflate, so RSV1–3 must be 0), no
 * subprotocols, no UTF-8 validation of text (the caller decodes, and
 * decoding replaces invalid bytes). Lengths encoded in more bytes than
 * needed are accepted, as the `ws` package does. The 64-bit length must be
 * below 2^32, which any useful `maxPayload` is.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';

/** RFC 6455 §1.3: appended to Sec-WebSocket-Key before hashing. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Frame opcodes (RFC 6455 §5.2). */
export const OP_CONT = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Largest control-frame payload, bytes (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** Largest HTTP response head (status line + headers + blank line) the client accepts, bytes. */
export const MAX_HANDSHAKE_BYTES = 16 * 1024;

/** A server's answer to the upgrade request that does not open a WebSocket (RFC 6455 §4.1, client requirements). */
export class WsHandshakeError extends Error {
  readonly code = 'handshake';
  constructor(message: string) {
    super(message);
    this.name = 'WsHandshakeError';
  }
}

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 §4.1). */
export function newKey(): string {
  return randomBytes(16).toString('base64');
}

/** The Sec-WebSocket-Accept a server must answer to `key`: base64(SHA-1(key + WS_GUID)) (RFC 6455 §4.2.2). */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

/**
 * The opening handshake's request (RFC 6455 §4.1): `GET /`, HTTP/1.1, no
 * extensions, no subprotocols.
 * @param host the Host header's value: `host:port`, an IPv6 address in brackets
 */
export function upgradeRequest(host: string, key: string): string {
  return (
    `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
}

/**
 * Checks the server's response head against RFC 6455 §4.1's client rules:
 * status 101, `Upgrade: websocket`, `Connection` with the `upgrade` token,
 * the right Sec-WebSocket-Accept, and no extension or subprotocol (none was
 * offered).
 * @param head the response up to, not including, the blank line (latin1)
 * @param accept acceptFor(the request's key)
 * @throws WsHandshakeError naming the first rule broken
 */
export function checkUpgradeResponse(head: string, accept: string): void {
  const lines = head.split('\r\n');
  const status = lines[0]!;
  if (!/^HTTP\/1\.1 101(?: |$)/.test(status)) {
    throw new WsHandshakeError(`the server answered ${JSON.stringify(status.slice(0, 200))}, not 101 Switching Protocols`);
  }
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new WsHandshakeError(`malformed header line ${JSON.stringify(line.slice(0, 200))}`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const upgrade = headers.get('upgrade');
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') {
    throw new WsHandshakeError(`Upgrade is ${JSON.stringify(upgrade ?? null)}, not "websocket"`);
  }
  const connection = headers.get('connection');
  if (connection === undefined || !connection.split(',').some((t) => t.trim().toLowerCase() === 'upgrade')) {
    throw new WsHandshakeError(`Connection is ${JSON.stringify(connection ?? null)}, without the "upgrade" token`);
  }
  const got = headers.get('sec-websocket-accept');
  if (got !== accept) throw new WsHandshakeError(`Sec-WebSocket-Accept is ${JSON.stringify(got ?? null)}, expected ${JSON.stringify(accept)}`);
  const ext = headers.get('sec-websocket-extensions');
  if (ext !== undefined) throw new WsHandshakeError(`the server chose extensions ${JSON.stringify(ext)}; none were offered`);
  const proto = headers.get('sec-websocket-protocol');
  if (proto !== undefined) throw new WsHandshakeError(`the server chose subprotocol ${JSON.stringify(proto)}; none was offered`);
}

/**
 * Masking keys come from a pool of random bytes, refilled when used up:
 * one randomFillSync per 1024 frames instead of one crypto call per frame.
 */
const MASKS = Buffer.allocUnsafe(4096);
let maskAt = MASKS.length;

/** Writes the frame header and a fresh masking key at out[0, headLen + 4); returns the payload's offset. */
function head(out: Buffer, opcode: number, n: number): number {
  out[0] = 0x80 | opcode; // FIN
  let at: number;
  if (n < 126) {
    out[1] = 0x80 | n;
    at = 2;
  } else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
    at = 4;
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    out.writeUInt32BE(n >>> 0, 6);
    at = 10;
  }
  if (maskAt === MASKS.length) {
    randomFillSync(MASKS);
    maskAt = 0;
  }
  MASKS.copy(out, at, maskAt, maskAt + 4);
  maskAt += 4;
  return at + 4;
}

/** XORs out[at, at + n) with the 4-byte key at out[at - 4] (RFC 6455 §5.3). */
function mask(out: Buffer, at: number, n: number): void {
  const m0 = out[at - 4]!;
  const m1 = out[at - 3]!;
  const m2 = out[at - 2]!;
  const m3 = out[at - 1]!;
  const end = at + n;
  let i = at;
  for (; i + 4 <= end; i += 4) {
    out[i] ^= m0;
    out[i + 1] ^= m1;
    out[i + 2] ^= m2;
    out[i + 3] ^= m3;
  }
  if (i < end) out[i++] ^= m0;
  if (i < end) out[i++] ^= m1;
  if (i < end) out[i] ^= m2;
}

/** Frame size for a payload of n bytes, masked (client to server). */
function frameSize(n: number): number {
  return (n < 126 ? 2 : n < 65536 ? 4 : 10) + 4 + n;
}

/**
 * One envelope as a single masked text frame (FIN, opcode 1), in one Buffer.
 * @param json the envelope; its UTF-8 bytes are the payload
 */
export function encodeText(json: string): Buffer {
  const n = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(frameSize(n));
  const at = head(out, OP_TEXT, n);
  out.write(json, at, 'utf8');
  mask(out, at, n);
  return out;
}

/**
 * A masked control frame (pong, close) whose payload is b[start, end).
 * @param end at most start + MAX_CONTROL_PAYLOAD
 */
export function encodeControl(opcode: number, b: Buffer, start: number, end: number): Buffer {
  const n = end - start;
  const out = Buffer.allocUnsafe(frameSize(n));
  const at = head(out, opcode, n);
  b.copy(out, at, start, end);
  mask(out, at, n);
  return out;
}

/** What a WsFrameReader hands out. Every call is synchronous, inside `ingest`. */
export interface WsFrameSink {
  /**
   * One whole message in b[start, end): a view of the read buffer (valid
   * only during the call) or a Buffer of its own.
   * @returns false to stop reading (the connection is gone)
   */
  message(b: Buffer, start: number, end: number, binary: boolean): boolean;
  /**
   * A ping whose payload is b[start, end); RFC 6455 §5.5.2 asks for a pong
   * with the same payload.
   * @returns false to stop reading
   */
  ping(b: Buffer, start: number, end: number): boolean;
  /** A close frame, payload b[start, end) (empty, or a 2-byte code and a reason). The reader reads nothing after it. */
  close(b: Buffer, start: number, end: number): void;
  /** The server broke RFC 6455 (or the size limit); the reader reads nothing after it. */
  error(reason: string): void;
}

const enum Rd {
  /** At a frame header (possibly part of it in `head`). */
  Head,
  /** Collecting a payload that spans reads into `payload`. */
  Payload,
  /** After a close frame or an error: bytes are ignored. */
  Done,
}

/** Header size from the second header byte: 2, 4 (16-bit length) or 10 (64-bit length); server frames carry no mask. */
function headSize(b1: number): number {
  const l = b1 & 0x7f;
  return l < 126 ? 2 : l === 126 ? 4 : 10;
}

const EMPTY = Buffer.alloc(0);

/**
 * Reads server frames (unmasked, RFC 6455 §5.1) and hands out whole
 * messages, pings and the close. Pongs are dropped. Errors go to the sink,
 * not thrown: the caller is inside a socket read.
 *
 * Rejected (sink.error): a masked frame; RSV bits set; an unknown opcode; a
 * control frame that is fragmented, longer than 125 bytes, or a close with
 * a 1-byte payload; a continuation frame with no message to continue, or a
 * new text/binary frame before the fragmented one ended; a message (all its
 * fragments together) longer than `maxPayload`.
 */
export class WsFrameReader {
  private st = Rd.Head;
  /** A frame header split across reads. */
  private readonly head = Buffer.allocUnsafe(10);
  private headFill = 0;
  /** The current frame: FIN bit and opcode. */
  private fin = false;
  private opcode = 0;
  /** Payload of the current frame, collected because it spans reads: `control` for control frames, else its own Buffer. */
  private payload: Buffer = EMPTY;
  private payloadLen = 0;
  private payloadFill = 0;
  private readonly control = Buffer.allocUnsafe(MAX_CONTROL_PAYLOAD);
  /** Fragments of the message being reassembled (null when no fragmented message is open), their total size and kind. */
  private parts: Buffer[] | null = null;
  private partsBytes = 0;
  private partsBinary = false;

  /**
   * @param maxPayload largest message accepted, bytes (all fragments together)
   * @param sink receives messages, pings, the close and errors
   */
  constructor(
    private readonly maxPayload: number,
    private readonly sink: WsFrameSink,
  ) {}

  /** Forgets any partial frame or message: the start of a new connection. */
  reset(): void {
    this.st = Rd.Head;
    this.headFill = 0;
    this.fin = false;
    this.opcode = 0;
    this.payload = EMPTY;
    this.payloadLen = 0;
    this.payloadFill = 0;
    this.parts = null;
    this.partsBytes = 0;
    this.partsBinary = false;
  }

  /** Walks b[off, end), the bytes of one read. */
  ingest(b: Buffer, off: number, end: number): void {
    while (off < end) {
      if (this.st === Rd.Payload) {
        const take = Math.min(this.payloadLen - this.payloadFill, end - off);
        b.copy(this.payload, this.payloadFill, off, off + take);
        this.payloadFill += take;
        off += take;
        if (this.payloadFill < this.payloadLen) return;
        this.st = Rd.Head;
        const p = this.payload;
        this.payload = EMPTY;
        if (!this.frame(p, 0, this.payloadLen, true)) return;
        continue;
      }
      if (this.st === Rd.Done) return;
      let len: number;
      if (this.headFill === 0 && end - off >= 2 && end - off >= headSize(b[off + 1]!)) {
        // Fast path: the whole header is in this read.
        len = this.header(b, off);
        off += headSize(b[off + 1]!);
      } else {
        // Slow path: assemble the header across reads.
        const h = this.head;
        while (off < end && (this.headFill < 2 || this.headFill < headSize(h[1]!))) h[this.headFill++] = b[off++]!;
        if (this.headFill < 2 || this.headFill < headSize(h[1]!)) return;
        this.headFill = 0;
        len = this.header(h, 0);
      }
      if (len < 0) return;
      if (end - off >= len) {
        const start = off;
        off += len;
        if (!this.frame(b, start, off, false)) return;
      } else {
        this.payload = this.opcode >= OP_CLOSE ? this.control : Buffer.allocUnsafe(len);
        this.payloadLen = len;
        this.payloadFill = 0;
        this.st = Rd.Payload;
      }
    }
  }

  /** Checks the header at h[at] and takes its FIN and opcode; returns the payload length, or -1 after an error. */
  private header(h: Buffer, at: number): number {
    const b0 = h[at]!;
    const b1 = h[at + 1]!;
    if ((b0 & 0x70) !== 0) return this.error(`server sent a frame with reserved bits set (RSV ${(b0 >> 4) & 7}; no extension was agreed)`);
    if ((b1 & 0x80) !== 0) return this.error('server sent a masked frame (RFC 6455 §5.1: a server must not mask)');
    const op = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    let len = b1 & 0x7f;
    if (len === 126) len = h.readUInt16BE(at + 2);
    else if (len === 127) len = h.readUInt32BE(at + 2) * 2 ** 32 + h.readUInt32BE(at + 6);
    if (op >= OP_CLOSE) {
      if (op > OP_PONG) return this.error(`server sent a frame with unknown opcode ${op}`);
      if (!fin) return this.error(`server sent a fragmented control frame (opcode ${op})`);
      if (len > MAX_CONTROL_PAYLOAD) return this.error(`server sent a control frame (opcode ${op}) of ${len} bytes (max ${MAX_CONTROL_PAYLOAD})`);
      if (op === OP_CLOSE && len === 1) return this.error('server sent a close frame with a 1-byte payload');
    } else if (op === OP_CONT) {
      if (this.parts === null) return this.error('server sent a continuation frame with no message to continue');
      if (this.partsBytes + len > this.maxPayload) return this.tooLarge(this.partsBytes + len);
    } else if (op === OP_TEXT || op === OP_BINARY) {
      if (this.parts !== null) return this.error('server sent a new message before the fragmented one ended');
      if (len > this.maxPayload) return this.tooLarge(len);
    } else {
      return this.error(`server sent a frame with unknown opcode ${op}`);
    }
    this.fin = fin;
    this.opcode = op;
    return len;
  }

  /**
   * Acts on the current frame, whose payload is b[start, end).
   * @param owned b is the frame's own Buffer (collected across reads), not the read buffer
   * @returns false to stop reading
   */
  private frame(b: Buffer, start: number, end: number, owned: boolean): boolean {
    switch (this.opcode) {
      case OP_TEXT:
      case OP_BINARY:
        if (this.fin) return this.sink.message(b, start, end, this.opcode === OP_BINARY);
        this.parts = [owned ? b : copy(b, start, end)];
        this.partsBytes = end - start;
        this.partsBinary = this.opcode === OP_BINARY;
        return true;
      case OP_CONT: {
        const parts = this.parts!;
        // The last fragment can stay a view: it is concatenated right away.
        parts.push(owned ? b : this.fin ? b.subarray(start, end) : copy(b, start, end));
        this.partsBytes += end - start;
        if (!this.fin) return true;
        const msg = Buffer.concat(parts, this.partsBytes);
        this.parts = null;
        this.partsBytes = 0;
        return this.sink.message(msg, 0, msg.length, this.partsBinary);
      }
      case OP_PING:
        return this.sink.ping(b, start, end);
      case OP_PONG:
        return true;
      default: // OP_CLOSE
        this.st = Rd.Done;
        this.sink.close(b, start, end);
        return false;
    }
  }

  private tooLarge(len: number): number {
    return this.error(`server sent a message of ${len} bytes or more (max ${this.maxPayload})`);
  }

  private error(reason: string): number {
    this.st = Rd.Done;
    this.parts = null;
    this.sink.error(reason);
    return -1;
  }
}

function copy(b: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  b.copy(out, 0, start, end);
  return out;
}
