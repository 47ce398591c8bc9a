/**
 * WebSocket adapter (PROTOCOL.md §7) over the `ws` package: one envelope per
 * message. The client writes text messages (JSON). It reads text messages,
 * and binary ones as `flags` + body (§2); `hello` offers no codec, so the
 * flags must be 0.
 *
 * It works against any server that speaks PROTOCOL.md over WebSocket at
 * `ws://host:port/` (bench/reference/uws-pubsub.ts is one). This project's
 * own server has no WebSocket gateway yet.
 *
 * `ws` does the framing, so there is no read state machine here: each
 * message is whole when it arrives. A counting client looks at the first
 * 10 bytes of the message, the way the tcp and lines adapters do. If they
 * are `{"type":"c` (a chat) it counts the message, and if `{"type":"m`
 * (presence) it skips it, without decoding either. Anything else goes to
 * `dispatch`.
 *
 * Client settings:
 * - no permessage-deflate;
 * - `maxPayload` is max_frame_bytes + 1 (the flags byte of a binary message);
 * - no UTF-8 validation of text messages. The tcp and lines adapters do not
 *   validate either, and decoding replaces invalid bytes.
 * - `reads` counts reads of the underlying socket. A sender corks that socket
 *   while a read is handled (until the next tick), as the TCP adapters do.
 *   The socket comes from the `upgrade` event's response.
 *
 * `ws` is loaded on first use, so tcp and lines runs do not need it
 * installed.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import type WebSocket from 'ws';
import { BaseClient, T_CHAT, type Conn, type LoadClientOptions } from './base.js';

/** WebSocket.readyState values. */
const OPEN = 1;
const CLOSED = 3;

let wsClass: typeof WebSocket | undefined;
function WebSocketClass(): typeof WebSocket {
  wsClass ??= createRequire(import.meta.url)('ws') as typeof WebSocket;
  return wsClass;
}

function uncork(sock: net.Socket): void {
  sock.uncork();
}

/** One WebSocket connection of a WsClient. */
class WsConn implements Conn {
  constructor(readonly ws: WebSocket) {}

  send(json: string): void {
    this.ws.send(json);
  }

  destroy(): void {
    this.ws.terminate();
  }

  /** True unless the WebSocket is open (also while the handshake runs: nothing may be sent then). */
  get gone(): boolean {
    return this.ws.readyState !== OPEN;
  }

  whenClosed(): Promise<void> {
    const ws = this.ws;
    if (ws.readyState === CLOSED) return Promise.resolve();
    return new Promise((r) => ws.once('close', () => r()));
  }
}

/** Load client over WebSocket. */
export class WsClient extends BaseClient {
  private readonly cork: boolean;
  private readonly url: string;

  constructor(options: LoadClientOptions) {
    super(options);
    this.cork = options.cork ?? false;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.url = `ws://${host}:${options.port}/`;
  }

  protected open(): Conn {
    const WS = WebSocketClass();
    const ws = new WS(this.url, { perMessageDeflate: false, maxPayload: this.maxFrameBytes + 1, skipUTF8Validation: true });
    const conn = new WsConn(ws);
    ws.once('upgrade', (res: IncomingMessage) => {
      // Attached before ws attaches its own 'data' listener (right after this event), so it runs first in each read.
      const sock = res.socket;
      sock.on('data', () => {
        if (!this.isCurrent(conn)) return;
        this.reads++;
        if (this.cork) {
          sock.cork();
          process.nextTick(uncork, sock);
        }
      });
    });
    ws.once('open', () => this.connOpened(conn));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.isCurrent(conn)) this.message(data, isBinary);
    });
    ws.on('error', (err: Error) => this.connError(conn, err.message));
    ws.once('close', () => this.connClosed(conn));
    return conn;
  }

  /**
   * Hands one message to the read path as if it had been received (tests
   * drive the counting and dispatch with it, no socket needed).
   */
  feed(data: Buffer, isBinary = false): void {
    this.message(data, isBinary);
  }

  private message(data: Buffer, isBinary: boolean): void {
    let at = 0;
    if (isBinary) {
      if (data.length === 0 || data[0] !== 0) return this.fail(this.conn, `server sent a binary message with flags ${data[0]} (no codec was agreed)`);
      at = 1;
    }
    if (this.counted(data, at)) {
      if (data[at + 9] === T_CHAT) this.chats++;
      return;
    }
    this.dispatch(data, at, data.length);
  }
}
