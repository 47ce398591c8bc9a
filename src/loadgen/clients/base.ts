/**
 * What every adapter shares: the request/answer bookkeeping (`welcome`,
 * `joined`), the decoded-envelope dispatch, the handler calls and the
 * connection's life cycle (fail, close, finish). The transport is the
 * adapter's: BaseClient sees the current connection only through `Conn`
 * (send an envelope, drop abruptly, is it gone, when did it close), and the
 * adapter reports back through connOpened / connError / connClosed.
 * - tcp and lines (stream.ts, then tcp.ts / lines.ts): a net.Socket read
 *   into one shared buffer; the subclasses walk their wire format
 *   (PROTOCOL.md §2 or §4) and either count a frame or hand its body to
 *   `dispatch`.
 * - ws (ws.ts): a WebSocket (our own RFC 6455 client, ws-framing.ts), one envelope per message
 *   (PROTOCOL.md §7).
 *
 * Two kinds of client use the same code (the `decodeChats` option):
 * - a *counting* client (the many ordinary subscribers) classifies each frame
 *   by the first character of its `type` value — every server envelope starts
 *   with `{"type":"` — and counts `chat` frames without decoding them, skips
 *   `member_*` presence frames, and decodes the rest (ack, joined, error, …,
 *   rare next to chats);
 * - a *probe* decodes every frame, so its chats reach `onChat` for latency
 *   and seq checks.
 * A frame whose body does not start with `{"type":"` is decoded, so a server
 * that orders keys differently costs speed, not correctness.
 */
import type { ProtocolClient } from '../types.js';

/** Called by a client; all optional fields of the envelope are passed through. */
export interface ClientHandlers {
  /**
   * A `joined`, called synchronously before any chat that follows it in the
   * same read (replays do): seq bookkeeping must start here, not when the
   * `join` promise resolves.
   */
  onJoined(room: string, info: JoinedInfo): void;
  /** An `ack` for this client's `send_chat`. */
  onAck(room: string, seq: number, id: string | undefined, duplicate: boolean): void;
  /** A decoded `chat` (probes only; counting clients just bump `chats`). */
  onChat(room: string, seq: number, text: string): void;
  /** An `error` envelope. `ref` is the request's id or type. */
  onError(code: string, message: string, ref: string | undefined, fatal: boolean): void;
  /** A `gap` (slow-consumer policy `drop`): seqs from..to were dropped for this client. */
  onGap(room: string, fromSeq: number, toSeq: number): void;
  /**
   * The connection is gone. `expected`: closed by `close()`; otherwise by the
   * server or the network, with `reason` (socket error, fatal error code,
   * `shutdown`).
   */
  onClose(expected: boolean, reason: string): void;
}

/** Options of one load client. */
export interface LoadClientOptions {
  host: string;
  port: number;
  /** Probe: decode every chat (true) or count chat frames without decoding (false). */
  decodeChats: boolean;
  /** `hello.echo`: the sender receives its own chats too (after the ack). */
  echo: boolean;
  handlers: ClientHandlers;
  /** Largest frame body / line / WebSocket message accepted from the server, bytes (PROTOCOL.md §2, §7). Default 65536. */
  maxFrameBytes?: number;
  /** How long connect (TCP, or TCP + WebSocket handshake, then `welcome`) and join may take, ms. Default 10 000. */
  timeoutMs?: number;
  /** Cork the socket while a read is handled, so writes it triggers (window refills) leave as one; for senders. */
  cork?: boolean;
}

/** `joined` fields. */
export interface JoinedInfo {
  seq: number;
  epoch: string;
  recovered?: boolean;
  members: number;
}

/**
 * A ProtocolClient with what the load generator reads back: counters that
 * survive reconnects (one object serves one virtual client for the whole run).
 */
export interface LoadClient extends ProtocolClient {
  /** Chat frames received, all connections of this object together. */
  readonly chats: number;
  /** True between a resolved `connect` and the close. */
  readonly connected: boolean;
  /** `welcome.heartbeat_ms` of the current connection (0 before `welcome`). */
  readonly heartbeatMs: number;
  /** performance.now() of the last write. */
  readonly lastWriteAt: number;
  /** Socket reads handled (to compute frames per read); ws: reads of the WebSocket's socket. */
  readonly reads: number;
  join(room: string, sinceSeq?: number, epoch?: string): Promise<JoinedInfo>;
  /** Sends a client `ping` (keeps the connection alive: any inbound byte counts, PROTOCOL.md §3). */
  ping(): void;
  /** Resolves once the socket of the current connection has closed (at once when there is none). */
  closed(): Promise<void>;
}

/**
 * True when b[at, at + 9) is `{"type":"` — the start of every envelope the
 * server writes — so the byte after it is the first character of the type.
 */
export function typeFirst(b: Buffer, at: number): boolean {
  return (
    b[at] === 0x7b && b[at + 1] === 0x22 && b[at + 2] === 0x74 && b[at + 3] === 0x79 && b[at + 4] === 0x70 &&
    b[at + 5] === 0x65 && b[at + 6] === 0x22 && b[at + 7] === 0x3a && b[at + 8] === 0x22
  );
}

/** First byte of the `type` value → kind, for counting clients. */
export const T_CHAT = 0x63; // c: chat (no other server type starts with c)
export const T_MEMBER = 0x6d; // m: member_joined, member_left, members

/**
 * The current connection of a client, as BaseClient sees it: the transport
 * part of an adapter. One object per connection, so that events of a
 * connection the client has already replaced are recognised and ignored.
 */
export interface Conn {
  /** Writes one envelope (JSON text), framed for the wire. Called only while `gone` is false. */
  send(json: string): void;
  /** Drops the connection at once, with no closing handshake (as a client crash or a network loss would). */
  destroy(): void;
  /** True once the connection was destroyed or has closed. */
  readonly gone: boolean;
  /** Resolves once the underlying socket has closed (at once when it has). */
  whenClosed(): Promise<void>;
}

const enum St {
  Idle,
  Connecting,
  Open,
  Closed,
}

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Error of a connect or join that did not succeed; `code` is a wire error code or a local one. */
export class LoadClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LoadClientError';
  }
}

/** The adapters' common part; subclasses provide the transport (`open`) and the framing. */
export abstract class BaseClient implements LoadClient {
  chats = 0;
  reads = 0;
  heartbeatMs = 0;
  lastWriteAt = 0;
  /** The current connection (the last one opened; null before the first connect). */
  protected conn: Conn | null = null;
  protected readonly decodeChats: boolean;
  protected readonly maxFrameBytes: number;
  private st: St = St.Idle;
  private expectedClose = false;
  private closeReason = '';
  /** The `hello` of the connection being opened, sent once its transport is up. */
  private hello = '';
  private welcomeWaiter: Waiter<void> | null = null;
  private readonly joinWaiters = new Map<string, Waiter<JoinedInfo>>();
  private readonly timeoutMs: number;

  constructor(protected readonly options: LoadClientOptions) {
    this.decodeChats = options.decodeChats;
    this.maxFrameBytes = options.maxFrameBytes ?? 65536;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  get connected(): boolean {
    return this.st === St.Open;
  }

  /**
   * Opens a connection to `options.host:port` (resetting any framing state)
   * and returns it. Later, never synchronously, the adapter calls connOpened
   * once the transport is up, connError for an error, and connClosed exactly
   * once when the connection has closed.
   */
  protected abstract open(): Conn;

  connect(nick: string): Promise<void> {
    if (this.st === St.Connecting || this.st === St.Open) return Promise.reject(new LoadClientError('busy', 'already connected'));
    this.st = St.Connecting;
    this.expectedClose = false;
    this.closeReason = '';
    this.heartbeatMs = 0;
    this.hello = `{"type":"hello","nick":${JSON.stringify(nick)},"echo":${this.options.echo}}`;
    const conn = this.open();
    this.conn = conn;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(conn, `no welcome within ${this.timeoutMs} ms`, 'timeout'), this.timeoutMs);
      this.welcomeWaiter = { resolve, reject, timer };
    });
  }

  /** The transport of `conn` is up (TCP connected, WebSocket open): say hello. */
  protected connOpened(conn: Conn): void {
    if (conn === this.conn) this.writeJson(this.hello);
  }

  /** A transport error on `conn`; the close that follows reports it. */
  protected connError(conn: Conn, message: string): void {
    if (conn === this.conn && !this.closeReason) this.closeReason = message;
  }

  /** `conn` has closed. */
  protected connClosed(conn: Conn): void {
    this.finish(conn);
  }

  /** True when `conn` is the current connection and not closed: its reads are handled. */
  protected isCurrent(conn: Conn): boolean {
    return conn === this.conn && this.st !== St.Closed;
  }

  join(room: string, sinceSeq?: number, epoch?: string): Promise<JoinedInfo> {
    if (this.st !== St.Open) return Promise.reject(new LoadClientError('not_connected', 'join before connect'));
    const prev = this.joinWaiters.get(room);
    if (prev) return Promise.reject(new LoadClientError('busy', `a join of ${room} is in flight`));
    let env = `{"type":"join_room","room":${JSON.stringify(room)}`;
    if (sinceSeq !== undefined) env += `,"since_seq":${sinceSeq}`;
    if (sinceSeq !== undefined && epoch !== undefined) env += `,"epoch":${JSON.stringify(epoch)}`;
    const p = new Promise<JoinedInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.joinWaiters.delete(room);
        reject(new LoadClientError('timeout', `no joined for ${room} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.joinWaiters.set(room, { resolve, reject, timer });
    });
    this.writeJson(`${env}}`);
    return p;
  }

  /**
   * Sends one chat. Text and id must be JSON-safe ASCII without quotes or
   * backslashes (the load generator's own texts are): they are spliced in
   * as they are, which saves a JSON.stringify per message.
   */
  send(room: string, text: string, id: string): void {
    if (this.st !== St.Open) return;
    this.writeJson(`{"type":"send_chat","room":"${room}","id":"${id}","text":"${text}"}`);
  }

  ping(): void {
    if (this.st === St.Open) this.writeJson('{"type":"ping"}');
  }

  /** Closes the connection now (destroy: an abrupt drop, as a client crash or network loss would be); onClose runs before it returns. */
  close(): void {
    const conn = this.conn;
    if (this.st === St.Closed || this.st === St.Idle || !conn) return;
    this.expectedClose = true;
    conn.destroy();
    this.finish(conn);
  }

  /** Resolves once the socket of the current connection has closed (at once when there is none). */
  closed(): Promise<void> {
    return this.conn ? this.conn.whenClosed() : Promise.resolve();
  }

  protected writeJson(json: string): void {
    const conn = this.conn;
    if (!conn || conn.gone) return;
    conn.send(json);
    this.lastWriteAt = performance.now();
  }

  /** The server broke the protocol: close this connection with `reason`. */
  protected fail(conn: Conn | null, reason: string, code = 'protocol'): void {
    if (!conn || conn !== this.conn) return;
    if (!this.closeReason) this.closeReason = reason;
    const w = this.welcomeWaiter;
    if (w) {
      this.welcomeWaiter = null;
      clearTimeout(w.timer);
      w.reject(new LoadClientError(code, reason));
    }
    conn.destroy();
  }

  /** True when the connection that is being read is no longer current (a handler closed it). */
  protected get gone(): boolean {
    return this.st === St.Closed || (this.conn !== null && this.conn.gone);
  }

  /**
   * True when the envelope whose JSON starts at b[at] is counted, not
   * decoded: it starts `{"type":"c` (a chat, on a counting client) or
   * `{"type":"m` (presence). The caller needs at least 10 bytes from `at`.
   */
  protected counted(b: Buffer, at: number): boolean {
    const t = b[at + 9];
    return ((t === T_CHAT && !this.decodeChats) || t === T_MEMBER) && typeFirst(b, at);
  }

  /** Decodes one envelope (frame body, line or WebSocket message) in buf[start, end) and acts on it. */
  protected dispatch(buf: Buffer, start: number, end: number): void {
    let env: Record<string, unknown>;
    try {
      env = JSON.parse(buf.toString('utf8', start, end)) as Record<string, unknown>;
    } catch {
      return this.fail(this.conn, 'server sent a body that is not JSON');
    }
    const h = this.options.handlers;
    switch (env.type) {
      case 'chat':
        this.chats++;
        h.onChat(env.room as string, env.seq as number, env.text as string);
        return;
      case 'ack':
        h.onAck(env.room as string, env.seq as number, env.id as string | undefined, env.duplicate === true);
        return;
      case 'joined': {
        const info: JoinedInfo = { seq: env.seq as number, epoch: env.epoch as string, members: env.members as number };
        if (typeof env.recovered === 'boolean') info.recovered = env.recovered;
        h.onJoined(env.room as string, info);
        const w = this.joinWaiters.get(env.room as string);
        if (!w) return;
        this.joinWaiters.delete(env.room as string);
        clearTimeout(w.timer);
        w.resolve(info);
        return;
      }
      case 'welcome': {
        this.heartbeatMs = typeof env.heartbeat_ms === 'number' ? env.heartbeat_ms : 0;
        const w = this.welcomeWaiter;
        if (!w) return;
        this.welcomeWaiter = null;
        clearTimeout(w.timer);
        this.st = St.Open;
        w.resolve();
        return;
      }
      case 'ping':
        this.writeJson(env.t === undefined ? '{"type":"pong"}' : `{"type":"pong","t":${JSON.stringify(env.t)}}`);
        return;
      case 'gap':
        h.onGap(env.room as string, env.from_seq as number, env.to_seq as number);
        return;
      case 'error': {
        const code = String(env.code);
        const fatal = env.fatal === true;
        const ref = typeof env.ref === 'string' ? env.ref : undefined;
        if (fatal && !this.closeReason) this.closeReason = `fatal ${code}: ${String(env.message)}`;
        // A refused join answers its waiter (ref is the request type, join_room).
        if (ref === 'join_room' && this.joinWaiters.size === 1) {
          const [room, w] = [...this.joinWaiters][0]!;
          this.joinWaiters.delete(room);
          clearTimeout(w.timer);
          w.reject(new LoadClientError(code, `join refused: ${code}: ${String(env.message)}`));
        }
        h.onError(code, String(env.message), ref, fatal);
        return;
      }
      case 'shutdown':
        if (!this.closeReason) this.closeReason = 'server shutdown';
        return;
      default:
        return; // pong, left, member_*, history, …
    }
  }

  /** The connection ended (socket closed, or close() called): settle waiters, tell the handlers once. */
  private finish(conn: Conn): void {
    if (conn !== this.conn || this.st === St.Closed) return;
    const wasOpen = this.st === St.Open;
    this.st = St.Closed;
    const reason = this.closeReason || (this.expectedClose ? 'closed by client' : 'closed by server');
    const err = new LoadClientError(this.expectedClose ? 'closed' : 'disconnected', reason);
    const w = this.welcomeWaiter;
    if (w) {
      this.welcomeWaiter = null;
      clearTimeout(w.timer);
      w.reject(err);
    }
    for (const jw of this.joinWaiters.values()) {
      clearTimeout(jw.timer);
      jw.reject(err);
    }
    this.joinWaiters.clear();
    // A connect that never completed reports through its promise, not onClose.
    if (wasOpen) this.options.handlers.onClose(this.expectedClose, reason);
  }
}
