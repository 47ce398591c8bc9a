/**
 * The WebSocket transport (PROTOCOL.md §7) on uWebSockets.js: a second
 * listener, on its own port (`ws_host:ws_port`, when `ws_enabled`), whose
 * connections are the server's ordinary `Connection`s. Each WebSocket
 * message carries one envelope: a text message is the envelope's JSON, a
 * binary message is `flags` + body as in §2, with the same limits and codec
 * agreement. The core's own path (onBody → dispatch, the rate limit, the
 * error budget, the slow-consumer policy, heartbeats) handles them.
 *
 * Sockets are uWS's, in C++: reads arrive as one callback per message.
 * Writes are coalesced as the async-I/O service does for TCP, but per
 * message: what the server sends a WebSocket within one event-loop turn is
 * queued and sent at the end of the turn (one setImmediate for all sockets)
 * inside `ws.cork`, so each socket gets one syscall per turn however many
 * messages it was sent. Without this, a fan-out is one syscall per recipient
 * per message, and the multi-room benchmark saturated the server's core
 * (bench/macro/multiroom-vs-uws.ts, docs/performance.md). uWS's own pub/sub
 * batches the same way. The async-I/O service's writer is not used for these
 * connections: it concatenates frames, which would merge messages.
 *
 * With `ws_fanout=publish` (the default) a text-mode socket skips that
 * queue: it is subscribed to its rooms' topics, a room broadcast reaches it
 * by one uWS publish per room, and its other frames go to a topic of its
 * own (WsSocket.publishing), so uWS writes all of them in order, in native
 * code, once per loop iteration.
 */
import { App, us_listen_socket_close, us_socket_local_port, type TemplatedApp, type us_listen_socket, type WebSocket } from 'uWebSockets.js';

/** What the gateway needs from the server; the server is the only implementation. */
export interface WsHandlers<C> {
  /** A WebSocket opened: the server makes (and pools) its Connection. */
  open(socket: WsSocket<C>): C;
  /**
   * One inbound message. `body` views uWS's memory and is valid only during
   * this call: a handler that keeps it past return must copy it.
   */
  message(conn: C, body: Buffer, isBinary: boolean): void;
  /** The WebSocket closed (any cause); no send after this. */
  close(conn: C): void;
  /** The WebSocket's send buffer drained (uWS `drain`). */
  drain(conn: C): void;
  /** A ping or pong control frame came in (uWS answers pings itself): inbound bytes, so liveness (PROTOCOL.md §3). */
  alive(conn: C): void;
  /** uWS dropped a message for this socket: its backpressure passed `maxBackpressureBytes` (possible only for published messages, whose budget is checked periodically). */
  dropped(conn: C): void;
}

/** uWS user data of one WebSocket: its adapter, set in `open`. */
interface UserData<C> {
  socket: WsSocket<C> | null;
}

/** WebSocket close codes (RFC 6455 §7.4.1) the server uses. */
const CLOSE_NORMAL = 1000;

/** Longest per-socket queue array kept for reuse after a flush (entries); a longer one is dropped. */
const QUEUE_KEEP = 64;

/**
 * Sockets with queued messages, flushed by one setImmediate per turn: the
 * first `dirtyCount` entries. Kept and reused, like a socket's queue.
 */
const dirty: (WsSocket<unknown> | null)[] = [];
let dirtyCount = 0;
let flushScheduled = false;
/** The socket whose queue corkedSend sends (a module-level function, not a closure per flush). */
let corkTarget: WsSocket<unknown> | null = null;

function flushDirty(): void {
  flushScheduled = false;
  // Reads dirtyCount on every pass: a socket queued during the flush (were uWS to run a close handler
  // that broadcasts) is appended and flushed by this same loop.
  for (let i = 0; i < dirtyCount; i++) {
    dirty[i]!.flush();
    dirty[i] = null;
  }
  dirtyCount = 0;
}

function corkedSend(): void {
  corkTarget!.sendQueued();
}

/**
 * The last frame queued and its message view: a fan-out queues one shared
 * frame for many sockets in a row, so the view is made once, not once per
 * recipient. A frame Buffer is only ever one kind (a binary frame or a
 * json-lines line), so its view does not depend on the socket.
 */
let memoFrame: Buffer | null = null;
let memoView: Buffer | null = null;

/**
 * One WebSocket, with the part of `net.Socket`'s surface the server uses on
 * any connection (pause / resume / end / destroy), so the core's lifecycle
 * code serves both transports.
 *
 * `end` and `destroy` call uWS on the next turn (setImmediate): uWS runs the
 * close handler inside `ws.end()` / `ws.close()`, and the server's close
 * handling (leaving rooms, freeing the pool slot) must not run inside a
 * fan-out or a sweep that is iterating those sets, just as a `net.Socket`'s
 * 'close' event comes later. Until then nothing more is sent.
 */
export class WsSocket<C> {
  /** Set by the server right after `open`. */
  conn!: C;
  /** The remote address as text (IPv4 dotted, IPv6 as uWS prints it). */
  readonly remoteAddress: string;
  /** Outbound messages are binary (flags + body, §2) rather than text JSON; fixed by the client's first message. */
  binary = false;
  #ws: WebSocket<UserData<C>> | null;
  /** end() or destroy() was called: nothing more is sent. */
  #ending = false;
  #paused = false;
  /**
   * Message payloads (frames without their TCP framing, see send) queued this
   * turn: the first #queued entries. The array is kept and reused from turn
   * to turn (entries are cleared once sent), so queuing allocates nothing
   * once it has grown: a fresh array per socket per turn was a quarter of
   * the server's allocation in the multi-room benchmark (docs/performance.md).
   */
  #queue: (Buffer | null)[] = [];
  /** Entries of #queue waiting to be sent. */
  #queued = 0;
  /** Bytes in #queue. */
  #queuedBytes = 0;
  /** uWS's backpressure as last read, bytes: after a flush that met backpressure, else 0. */
  #buffered = 0;
  /** `ws_fanout=publish`: the app and this socket's own topic, which its frames are published to (see publishing()). */
  #own: { app: TemplatedApp; topic: string } | null = null;

  /** @param ws the uWS WebSocket, valid until its close handler runs */
  constructor(ws: WebSocket<UserData<C>>) {
    this.#ws = ws;
    this.remoteAddress = Buffer.from(ws.getRemoteAddressAsText()).toString('latin1');
  }

  /** True once closed, or once end() / destroy() was called. */
  get destroyed(): boolean {
    return this.#ws === null || this.#ending;
  }

  /**
   * Queues one frame, to go out as one WebSocket message at the end of this
   * event-loop turn. `frame` is in the TCP form of the connection's mode, as
   * the core encodes it: a binary frame (u32 length, flags, body: sent as a
   * binary message without the length) or a json-lines line (sent as a text
   * message without its `\n`). It is not modified, so a broadcast Buffer is
   * shared by every recipient; uWS copies it when it is sent.
   * @returns bytes not yet taken by the kernel: queued here plus uWS's backpressure as of the last flush;
   *   for a publishing socket, uWS's backpressure now (frames still in the topic tree are not counted: the
   *   server checks those sockets periodically, checkPublished)
   */
  send(frame: Buffer): number {
    const ws = this.#ws;
    if (ws === null || this.#ending) return 0;
    let view: Buffer;
    if (frame === memoFrame) view = memoView!;
    else {
      view = this.binary ? frame.subarray(4) : frame.subarray(0, frame.length - 1);
      memoFrame = frame;
      memoView = view;
    }
    if (this.#own !== null) return this.#publishOwn(this.#own, ws, view, this.binary);
    if (this.#queued === 0) {
      dirty[dirtyCount++] = this as WsSocket<unknown>;
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushDirty);
      }
    }
    this.#queue[this.#queued++] = view;
    this.#queuedBytes += view.length;
    // Only a socket that met backpressure has a count worth re-reading (it may have drained since).
    if (this.#buffered > 0) this.#buffered = ws.getBufferedAmount();
    return this.#queuedBytes + this.#buffered;
  }

  /**
   * Sends one envelope's JSON as a text message through the socket's own
   * topic (`ws_fanout=publish` only; see publishing()), in order with every
   * frame and broadcast published to it before.
   * @returns uWS's backpressure now, bytes (frames still in the topic tree are not counted, as in send)
   * @throws Error when the socket is not publishing (a caller's bug)
   */
  sendText(json: string): number {
    const ws = this.#ws;
    if (ws === null || this.#ending) return 0;
    if (this.#own === null) throw new Error('WsSocket.sendText: the socket is not in ws_fanout=publish');
    return this.#publishOwn(this.#own, ws, json, false);
  }

  /**
   * Publishes one message to the socket's own topic. uWS keeps one order per
   * subscriber across all its topics and writes them together at the end of
   * the loop iteration.
   * @returns uWS's backpressure now, bytes
   */
  #publishOwn(own: { app: TemplatedApp; topic: string }, ws: WebSocket<UserData<C>>, message: Buffer | string, binary: boolean): number {
    own.app.publish(own.topic, message, binary);
    return ws.getBufferedAmount();
  }

  /**
   * Switches the socket to `ws_fanout=publish` (before it joins a room):
   * room broadcasts reach it through the room topics it is subscribed to,
   * and every other frame for it is published to `topic`, a topic of its
   * own. uWS keeps one order per subscriber across all its topics, so a
   * frame cannot be overtaken by a broadcast published after it, and it
   * writes them together once per loop iteration. (Sending a frame directly
   * would also keep the order, since uWS's send first drains the
   * subscriber's pending topic messages, but costs a write per frame: that
   * was slower than the per-turn queue, docs/performance.md.)
   * @param app the gateway's uWS app, which publishes
   * @param topic a name no room can have
   */
  publishing(app: TemplatedApp, topic: string): void {
    this.flush();
    this.#ws?.subscribe(topic);
    this.#own = { app, topic };
  }

  /** Subscribes to a room's topic (publish mode); no-op once closed. */
  subscribe(topic: string): void {
    this.#ws?.subscribe(topic);
  }

  /** Unsubscribes from a room's topic (publish mode); no-op once closed. */
  unsubscribe(topic: string): void {
    this.#ws?.unsubscribe(topic);
  }

  /**
   * Publishes `message` (a text message) to a topic's subscribers other than
   * this socket (uWS `ws.publish`).
   * @returns false when the socket is closed (nothing was published)
   */
  publishExceptSelf(topic: string, message: string): boolean {
    const ws = this.#ws;
    if (ws === null) return false;
    ws.publish(topic, message, false);
    return true;
  }

  /** Bytes not yet taken by the kernel: queued this turn plus uWS's backpressure (0 once closed). */
  get bufferedAmount(): number {
    if (this.#ws === null) return 0;
    return this.#queuedBytes + this.#ws.getBufferedAmount();
  }

  /** Sends the queue now, corked (one syscall), instead of at the end of the turn: from the turn's flush, end(), and the server before a shutdown. */
  flush(): void {
    const ws = this.#ws;
    if (this.#queued === 0 || ws === null) return this.clearQueue();
    // One message: uWS writes it in one syscall uncorked; cork's callback round trip would only add cost.
    if (this.#queued === 1) return this.sendQueued();
    corkTarget = this as WsSocket<unknown>;
    ws.cork(corkedSend);
    corkTarget = null;
  }

  /** @internal From flush: sends the queue (inside ws.cork when it holds more than one message). */
  sendQueued(): void {
    const ws = this.#ws!;
    const q = this.#queue;
    const n = this.#queued;
    const binary = this.binary;
    this.#queued = 0;
    this.#queuedBytes = 0;
    // send: 1 sent, 0 sent but buffered by uWS (backpressure), 2 dropped (cannot happen below maxBackpressureBytes).
    let backpressure = this.#buffered > 0;
    for (let i = 0; i < n; i++) if (ws.send(q[i]!, binary) !== 1) backpressure = true;
    // uWS copied them: the frames (and their pooled slabs) are not kept alive by this socket.
    this.release(n);
    this.#buffered = backpressure ? ws.getBufferedAmount() : 0;
  }

  /** Drops what is queued (the socket closed before the flush). */
  private clearQueue(): void {
    this.release(this.#queued);
    this.#queued = 0;
    this.#queuedBytes = 0;
  }

  /** Clears the first `n` entries of the queue array for reuse; a burst's long array is dropped instead of kept for the socket's lifetime. */
  private release(n: number): void {
    if (n > QUEUE_KEEP) this.#queue = [];
    else for (let i = 0, q = this.#queue; i < n; i++) q[i] = null; // not fill(): a runtime call, slower for a few entries
  }

  /**
   * uWS cannot stop reading one WebSocket, so this only records the wish:
   * a client over its rate keeps getting `rate_limited` per message instead
   * of TCP backpressure, and the slow-consumer budget bounds what it costs.
   */
  pause(): this {
    this.#paused = true;
    return this;
  }

  /** See pause(). */
  resume(): this {
    this.#paused = false;
    return this;
  }

  /** True between pause() and resume(). */
  isPaused(): boolean {
    return this.#paused;
  }

  /** Not used by WebSocket connections (text mode's keepalive); here for the shared surface. */
  setKeepAlive(): this {
    return this;
  }

  /**
   * Sends `last` (in the connection's TCP form, see send) and then a close
   * frame with code 1000, on the next turn.
   */
  end(last?: Buffer): this {
    if (this.#ending || this.#ws === null) return this;
    if (last !== undefined) this.send(last);
    this.flush();
    this.#ending = true;
    setImmediate(closeLater, this, true);
    return this;
  }

  /** Drops the connection without a close frame (uWS `close()`), on the next turn. */
  destroy(): this {
    if (this.#ws === null) return this;
    this.#ending = true;
    setImmediate(closeLater, this, false);
    return this;
  }

  /** @internal from closeLater: the deferred uWS call */
  finish(graceful: boolean): void {
    const ws = this.#ws;
    if (ws === null) return;
    if (graceful) ws.end(CLOSE_NORMAL);
    else ws.close();
  }

  /** @internal from the close handler: the uWS object is gone. */
  closed(): void {
    this.#ws = null;
    this.#ending = true;
    this.clearQueue();
  }
}

function closeLater(socket: WsSocket<unknown>, graceful: boolean): void {
  socket.finish(graceful);
}

/** Options of a WsGateway. */
export interface WsGatewayOptions {
  host: string;
  /** 0: a free port. */
  port: number;
  /** Largest message accepted, bytes: max_frame_bytes + 1 (the flags byte of a binary message, §7 "the same limits"). uWS drops the TCP connection on a larger one, without a close frame (clients see 1006; docs/protocol.md, Known deviations). */
  maxPayloadBytes: number;
  /**
   * uWS's own backpressure cap, bytes. It must stay above the server's
   * slow-consumer budget plus a frame, so the server's check (which answers
   * `slow_consumer`) acts first and uWS never drops a message silently.
   */
  maxBackpressureBytes: number;
}

/** The WebSocket listener. */
export class WsGateway<C> {
  readonly #app: TemplatedApp;
  /** Own topics handed out (publishing()). */
  #ownTopics = 0;
  #listen: us_listen_socket | null = null;

  /**
   * @param options where to listen and the limits
   * @param handlers the server's side
   */
  constructor(
    private readonly options: WsGatewayOptions,
    handlers: WsHandlers<C>,
  ) {
    this.#app = App();
    this.#app.ws<UserData<C>>('/*', {
      compression: 0, // uWS.DISABLED: §7 codecs are per message, in the flags byte
      maxPayloadLength: options.maxPayloadBytes,
      maxBackpressure: options.maxBackpressureBytes,
      closeOnBackpressureLimit: false,
      // Liveness is the server's own heartbeat (PROTOCOL.md §3 ping / idle_timeout), as on TCP.
      idleTimeout: 0,
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => {
        const data: UserData<C> = { socket: null };
        res.upgrade(data, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
      },
      open: (ws) => {
        const socket = new WsSocket<C>(ws);
        ws.getUserData().socket = socket;
        socket.conn = handlers.open(socket);
      },
      message: (ws, message, isBinary) => {
        const socket = ws.getUserData().socket!;
        if (!socket.destroyed) handlers.message(socket.conn, Buffer.from(message), isBinary);
      },
      drain: (ws) => {
        handlers.drain(ws.getUserData().socket!.conn);
      },
      dropped: (ws) => {
        const socket = ws.getUserData().socket;
        if (socket) handlers.dropped(socket.conn);
      },
      ping: (ws) => {
        handlers.alive(ws.getUserData().socket!.conn);
      },
      pong: (ws) => {
        handlers.alive(ws.getUserData().socket!.conn);
      },
      close: (ws) => {
        const data = ws.getUserData();
        const socket = data.socket!;
        data.socket = null;
        socket.closed();
        handlers.close(socket.conn);
      },
    });
    this.#app.any('/*', (res) => {
      res.writeStatus('426 Upgrade Required').writeHeader('content-type', 'text/plain').end('this port speaks WebSocket only (PROTOCOL.md §7); HTTP endpoints are on tcp_port\n', true);
    });
  }

  /**
   * Binds the listener.
   * @returns the bound address (the real port when the option was 0)
   * @throws Error when the port cannot be bound
   */
  listen(): Promise<{ host: string; port: number }> {
    const { host, port } = this.options;
    return new Promise((resolve, reject) => {
      this.#app.listen(host, port, (ls) => {
        if (ls === false) return reject(new Error(`WebSocket listener could not bind ${host}:${port}`));
        this.#listen = ls;
        resolve({ host, port: us_socket_local_port(ls as never) });
      });
    });
  }

  /**
   * Publishes a text message to every socket subscribed to `topic`
   * (`ws_fanout=publish`); uWS delivers it in native code at the end of the
   * event-loop iteration, in publish order per subscriber.
   */
  publish(topic: string, message: string): void {
    this.#app.publish(topic, message, false);
  }

  /**
   * Switches a socket to `ws_fanout=publish`: its frames go through a topic
   * of its own (a NUL-prefixed name, which no room name can be).
   */
  publishing(socket: WsSocket<C>): void {
    socket.publishing(this.#app, `\u0000${++this.#ownTopics}`);
  }

  /** Stops accepting; open WebSockets are closed by the server (end / destroy). */
  stopListening(): void {
    if (this.#listen !== null) {
      us_listen_socket_close(this.#listen);
      this.#listen = null;
    }
  }
}
