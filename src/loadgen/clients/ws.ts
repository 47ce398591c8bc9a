/**
 * WebSocket adapter (PROTOCOL.md §7): one envelope per message, over a lean
 * RFC 6455 client of our own on a raw net.Socket (ws-framing.ts does the
 * handshake and the framing). The client writes text messages (JSON). It
 * reads text messages, and binary ones as `flags` + body (§2); `hello`
 * offers no codec, so the flags must be 0.
 *
 * It works against any server that speaks PROTOCOL.md over WebSocket at
 * `ws://host:port/` (bench/reference/uws-pubsub.ts is one). This project's
 * own server has no WebSocket gateway yet.
 *
 * Why not the `ws` package: in the project's benchmarks against the
 * uWebSockets.js reference server, the `ws`-based client was the bottleneck.
 * At 100,000 received messages/s it used 100 % of its core, while the tcp
 * adapter used about 70 % for the same traffic. `ws` reads through Node
 * streams and allocates per read and per message. This adapter reads the
 * way the tcp and lines adapters do (stream.ts): `onread` into the shared
 * READ_BUF, nothing allocated per read, frames walked synchronously. A
 * message that lies inside one read is counted or decoded in place; only a
 * frame or message that spans reads is copied out.
 *
 * Connection life cycle:
 * - TCP connect, then the upgrade request (`GET /`, a random 16-byte
 *   Sec-WebSocket-Key, version 13, no extensions). The connection counts as
 *   open (`hello` is sent) only once a valid answer has arrived: 101 with
 *   the right Sec-WebSocket-Accept. Anything else fails the connection with
 *   the broken rule in the message (LoadClientError code `handshake`), as
 *   does a response head over MAX_HANDSHAKE_BYTES (16 KiB). Bytes that follow
 *   the head in the same read are frames and are read at once.
 * - Server pings are answered with a pong carrying the same payload (uWS
 *   pings idle connections on its own); pongs are ignored.
 * - A server close is answered with a close frame (echoing the status
 *   code), then the socket is ended; the server closes TCP, and the client
 *   reports `closed by server` as before. If the server never closes, the
 *   socket is destroyed after CLOSE_TIMEOUT_MS.
 * - `close()` drops the connection with no closing handshake, as a client
 *   crash would (the same as the other adapters).
 *
 * Counting: a counting client looks at the first 10 bytes of each message,
 * the way the tcp and lines adapters do. If they are `{"type":"c` (a chat)
 * it counts the message, and if `{"type":"m` (presence) it skips it,
 * without decoding either. Anything else goes to `dispatch`. A binary
 * message with flags other than 0, and any breach of RFC 6455, fail the
 * connection (code `protocol`).
 *
 * Settings and limits:
 * - the largest message accepted is max_frame_bytes + 1 bytes (the flags
 *   byte of a binary message), all fragments together;
 * - no permessage-deflate or other extension, no subprotocol, `ws://` only
 *   (no TLS), path `/` only, no redirects, no proxies;
 * - no UTF-8 validation of text messages. The tcp and lines adapters do not
 *   validate either, and decoding replaces invalid bytes;
 * - a close frame's code and reason are not reported (as before);
 * - `reads` counts reads of the socket, the handshake's included. A sender
 *   (`cork`) corks the socket while a read is handled, so the writes it
 *   triggers (window refills, pongs) leave as one, as the TCP adapters do.
 */
import net from 'node:net';
import { BaseClient, T_CHAT, type Conn, type LoadClientOptions } from './base.js';
import { READ_BUF } from './stream.js';
import {
  acceptFor,
  checkUpgradeResponse,
  encodeControl,
  encodeText,
  MAX_HANDSHAKE_BYTES,
  newKey,
  OP_CLOSE,
  OP_PONG,
  upgradeRequest,
  WsFrameReader,
  WsHandshakeError,
  type WsFrameSink,
} from './ws-framing.js';

/** How long after answering a server's close the client waits for the server to close TCP, ms (the `ws` package waits 30 s). */
export const CLOSE_TIMEOUT_MS = 30_000;

/** End of an HTTP response head. */
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

const enum WsState {
  /** Upgrade request sent (or TCP still connecting); nothing else may be sent. */
  Handshake,
  Open,
  /** A close frame was answered; nothing more is sent or read. */
  Closing,
}

function destroySocket(sock: net.Socket): void {
  sock.destroy();
}

/** One WebSocket connection of a WsClient. */
class WsConn implements Conn {
  state = WsState.Handshake;
  constructor(readonly sock: net.Socket) {}

  send(json: string): void {
    this.sock.write(encodeText(json));
  }

  destroy(): void {
    this.sock.destroy();
  }

  /** True unless the WebSocket is open (also while the handshake runs: nothing may be sent then). */
  get gone(): boolean {
    return this.state !== WsState.Open || this.sock.destroyed;
  }

  whenClosed(): Promise<void> {
    const sock = this.sock;
    if (sock.closed) return Promise.resolve();
    return new Promise((r) => sock.once('close', () => r()));
  }
}

/** Load client over WebSocket. */
export class WsClient extends BaseClient {
  private readonly cork: boolean;
  /** The Host header: `host:port`, an IPv6 address in brackets. */
  private readonly hostHeader: string;
  private readonly reader: WsFrameReader;
  /** Sec-WebSocket-Accept the current connection's server must answer. */
  private accept = '';
  /** The current connection's response head so far, when it spans reads (null otherwise). */
  private handshakeHead: Buffer | null = null;

  constructor(options: LoadClientOptions) {
    super(options);
    this.cork = options.cork ?? false;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.hostHeader = `${host}:${options.port}`;
    const sink: WsFrameSink = {
      message: (b, start, end, binary) => this.message(b, start, end, binary),
      ping: (b, start, end) => {
        const conn = this.conn as WsConn;
        if (!conn.gone) conn.sock.write(encodeControl(OP_PONG, b, start, end));
        return true;
      },
      close: (b, start, end) => this.serverClosed(this.conn as WsConn, b, start, end),
      error: (reason) => this.fail(this.conn, reason),
    };
    this.reader = new WsFrameReader(this.maxFrameBytes + 1, sink);
  }

  protected open(): Conn {
    this.reader.reset();
    this.handshakeHead = null;
    const key = newKey();
    this.accept = acceptFor(key);
    const sock: net.Socket = net.connect({
      host: this.options.host,
      port: this.options.port,
      noDelay: true,
      onread: { buffer: READ_BUF, callback: (n: number): boolean => this.onRead(conn, n) },
    });
    const conn = new WsConn(sock);
    sock.once('connect', () => sock.write(upgradeRequest(this.hostHeader, key)));
    sock.on('error', (err) => this.connError(conn, err.message));
    sock.once('close', () => {
      if (conn.state === WsState.Handshake) this.connError(conn, 'the server closed the connection during the WebSocket handshake');
      this.connClosed(conn);
    });
    return conn;
  }

  /**
   * Hands one message to the read path as if it had been received (tests
   * drive the counting and dispatch with it, no socket needed).
   */
  feed(data: Buffer, isBinary = false): void {
    this.message(data, 0, data.length, isBinary);
  }

  private onRead(conn: WsConn, n: number): boolean {
    if (!this.isCurrent(conn)) return true;
    this.reads++;
    if (!this.cork) {
      this.ingest(conn, n);
      return true;
    }
    const sock = conn.sock;
    sock.cork();
    try {
      this.ingest(conn, n);
    } finally {
      sock.uncork();
    }
    return true;
  }

  /** Walks READ_BUF[0, n): the handshake's response head first, then frames. */
  private ingest(conn: WsConn, n: number): void {
    let off = 0;
    if (conn.state === WsState.Handshake) {
      off = this.handshake(conn, n);
      if (off < 0) return;
    }
    if (conn.state === WsState.Open) this.reader.ingest(READ_BUF, off, n);
  }

  /**
   * Looks for the end of the response head in READ_BUF[0, n) (after the
   * part collected from earlier reads). Once it is there, checks it and
   * opens the connection.
   * @returns where the frames start in READ_BUF, or -1 when the head is
   *   incomplete or the handshake failed
   */
  private handshake(conn: WsConn, n: number): number {
    const prev = this.handshakeHead;
    const chunk = READ_BUF.subarray(0, n);
    const all = prev === null ? chunk : Buffer.concat([prev, chunk]);
    // The terminator may straddle the previous read.
    const i = all.indexOf(CRLFCRLF, prev === null ? 0 : Math.max(0, prev.length - 3));
    const headBytes = i < 0 ? all.length : i + 4;
    if (headBytes > MAX_HANDSHAKE_BYTES) {
      this.fail(conn, `WebSocket handshake failed: the response head exceeds ${MAX_HANDSHAKE_BYTES} bytes`, 'handshake');
      return -1;
    }
    if (i < 0) {
      this.handshakeHead = prev === null ? Buffer.from(chunk) : all;
      return -1;
    }
    this.handshakeHead = null;
    try {
      checkUpgradeResponse(all.toString('latin1', 0, i), this.accept);
    } catch (err) {
      if (!(err instanceof WsHandshakeError)) throw err;
      this.fail(conn, `WebSocket handshake failed: ${err.message}`, err.code);
      return -1;
    }
    conn.state = WsState.Open;
    this.connOpened(conn);
    return headBytes - (prev === null ? 0 : prev.length);
  }

  /** The server sent a close frame (payload b[start, end)): echo its status code, end the socket, wait for the server to close TCP. */
  private serverClosed(conn: WsConn, b: Buffer, start: number, end: number): void {
    if (conn.gone) return;
    conn.state = WsState.Closing;
    const sock = conn.sock;
    sock.end(encodeControl(OP_CLOSE, b, start, Math.min(end, start + 2)));
    setTimeout(destroySocket, CLOSE_TIMEOUT_MS, sock).unref();
  }

  /**
   * One whole message in b[start, end): count it, or decode and dispatch it.
   * @returns false when the connection is gone (failed here, or closed by a handler)
   */
  private message(b: Buffer, start: number, end: number, isBinary: boolean): boolean {
    let at = start;
    if (isBinary) {
      if (end === start || b[start] !== 0) {
        this.fail(this.conn, `server sent a binary message with flags ${end === start ? 'missing' : b[start]} (no codec was agreed)`);
        return false;
      }
      at++;
    }
    // counted() reads 10 bytes; in READ_BUF the bytes past `end` are the next frame's or a stale read's.
    if (end - at >= 10 && this.counted(b, at)) {
      if (b[at + 9] === T_CHAT) this.chats++;
      return true;
    }
    this.dispatch(b, at, end);
    return !this.gone;
  }
}
