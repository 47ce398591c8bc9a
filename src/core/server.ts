/**
 * The chat server: one `net` server on one port, four modes (PROTOCOL.md §1),
 * with WebSocket on a second port when enabled (§7, ws-gateway.ts), the
 * plugin chain, heartbeats, and graceful shutdown. Services come from the
 * registry; plugins see only the PluginApi.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { Connection, kConnection, type ServerSocket } from './connection.js';
import { decodeEnvelope, encodeFrame, encodeLine, frameOf, GUEST_RE, NICK_RE, type Envelope } from './envelope.js';
import { isProtocolError, ProtocolError, WIRE_ERRORS, type WireErrorCode } from './errors.js';
import { FeatureGate } from './feature-gate.js';
import { FrameParserPool } from './frame-parser.js';
import * as http from './http.js';
import { LineSplitter } from './line-splitter.js';
import { detectMode, MAX_DETECT_BYTES, type Mode } from './mode-detect.js';
import { Pipeline } from './pipeline.js';
import type { BroadcastOptions, ClientHandle, MessageProcessor, PluginApi, RoomsApi } from './plugin.js';
import { createServices, type Services } from './registry.js';
import { OverloadDetector } from '../services/perf-monitor/overload.js';
import { RoomRegistry } from './room-registry.js';
import { parseTextLine, renderText, TEXT_HELP } from './text-mode.js';
import { CODEC_FLAGS, type CodecName } from '../services/compression/index.js';
import { VERSION } from '../version.js';
import { WsGateway, WsSocket } from './ws-gateway.js';

/** The flags byte's codec bits (PROTOCOL.md §2): 0 plain, 1 lz4, 2 zstd. */
const CODEC_BITS = 0x03;
/** Longest period of the one sweep that runs heartbeats, idle limits and deadlines, ms (a quarter of heartbeat_ms when shorter). */
const SWEEP_MAX_MS = 1000;
/** The error budget's window, ms (PROTOCOL.md §3: at least 10 errors within 10 s). */
const ERROR_WINDOW_MS = 10_000;
/** Backlog length at which a client's socket is paused until an async plugin catches up. */
const BACKLOG_PAUSE = 64;
/** Frames one connection may have waiting behind an asynchronous encode before it is a slow consumer. */
const MAX_ORDERED_FRAMES = 4096;
/** A fatal close destroys the socket this long after the error is written, ms (PROTOCOL.md §3). */
const FATAL_DESTROY_MS = 1000;
/**
 * `ws_fanout=publish`: what a published-to member may fall further behind
 * between two budget checks (`ws_publish_check_ms`) before uWS drops
 * messages for it, bytes. At 100 ms that is room for 10 MiB/s per member.
 */
const PUBLISH_SLACK_BYTES = 1 << 20;

/** Options of a ChatServer beyond its config. */
export interface ServerOptions {
  /** The plugin chain, in order. */
  plugins: MessageProcessor[];
  logger: Logger;
}

// Module-level socket handlers (STYLE.md: no closure per socket).
function socketOnData(this: ServerSocket, chunk: Buffer): void {
  const conn = this[kConnection]!;
  conn.server.onData(conn, chunk);
}
function socketOnClose(this: ServerSocket): void {
  const conn = this[kConnection]!;
  conn.server.onClose(conn);
}
function socketOnDrain(this: ServerSocket): void {
  const conn = this[kConnection]!;
  conn.server.onDrain(conn);
}
function socketOnError(this: ServerSocket): void {
  // 'close' follows; resets by clients are routine.
}
/** `error.ref`: the request's `id` if it had one, else its `type` (PROTOCOL.md §3). */
function refOf(env: Envelope): string {
  return typeof env.id === 'string' ? env.id : env.type;
}

/** The server. Create with createServer() from the package root. */
export class ChatServer {
  readonly config: Config;
  readonly logger: Logger;
  readonly services: Services<Connection>;
  readonly gate: FeatureGate;
  readonly rooms: RoomRegistry<Connection>;
  private readonly pipeline: Pipeline;
  private readonly api: PluginApi;
  private readonly tcp: net.Server;
  /** The WebSocket listener (PROTOCOL.md §7), when `ws_enabled`. */
  private readonly ws: WsGateway<Connection> | null = null;
  private nextId = 1;
  private sweepTimer: NodeJS.Timeout | null = null;
  private overloadTimer: NodeJS.Timeout | null = null;
  /** `ws_fanout=publish`: the periodic budget check of published-to members (checkPublished). */
  private publishCheckTimer: NodeJS.Timeout | null = null;
  /** `ws_fanout=publish`: open connections that get room broadcasts by topic publish. */
  private readonly publishedConns = new Set<Connection>();
  /** Threshold checks and load shedding (performance monitor, issue #5). */
  readonly overload: OverloadDetector;
  private isDraining = false;
  private closed: Promise<void> | null = null;
  /** Connections the pool refused (answered `server_busy` or, while draining, HTTP only): swept on every tick. */
  private readonly unpooled = new Set<Connection>();
  /** Frame parsers between connections' frames, reused (see onData). */
  private readonly parsers: FrameParserPool;
  private readonly alloc: (size: number) => Buffer;
  /** Bytes queued for one client past which it is a slow consumer: max_outbound_bytes, twice that under policy `drop` (where only chat frames are dropped). */
  private readonly outboundLimit: number;
  private readonly shape: { maxDepth: number; maxKeys: number };

  /**
   * @param config validated configuration
   * @param options plugins and logger
   * @throws PluginError when the plugin list is invalid
   */
  constructor(config: Config, options: ServerOptions) {
    this.config = config;
    this.outboundLimit = config.max_outbound_bytes * (config.slow_consumer_policy === 'drop' ? 2 : 1);
    this.parsers = new FrameParserPool(config.max_frame_bytes);
    this.logger = options.logger;
    this.services = createServices<Connection>(config, {
      connections: () => this.services.pool.size,
      rooms: () => this.rooms.size,
    });
    this.shape = { maxDepth: config.max_json_depth, maxKeys: config.max_json_keys };
    const buffers = this.services.buffers;
    this.alloc = (size) => buffers.alloc(size);
    // Only WebSocket connections are ever published-to (onWsMessage).
    this.rooms = new RoomRegistry<Connection>(this.services.stores, {
      joined: (room, conn) => (conn.socket as WsSocket<Connection>).subscribe(room),
      left: (room, conn) => (conn.socket as WsSocket<Connection>).unsubscribe(room),
    });
    this.gate = new FeatureGate({
      chat: { percent: config.feature_chat_pct, beta: config.feature_chat_beta },
      voice: { percent: config.feature_voice_pct, beta: config.feature_voice_beta },
    });
    for (const f of config.noncritical_features) this.gate.markNonCritical(f);
    this.overload = new OverloadDetector(
      {
        maxLatencyMs: config.max_latency_ms,
        maxMemoryMb: config.max_memory_mb,
        minThroughput: config.min_throughput,
        maxErrorRate: config.max_error_rate,
        recoverChecks: config.overload_recover_checks,
      },
      { setShedding: (on) => this.gate.setShedding(on), logger: this.logger, webhookUrl: config.alert_webhook_url },
    );
    this.api = this.makeApi();
    this.pipeline = new Pipeline(
      options.plugins,
      this.api,
      (client, env) => this.coreHandle(client as Connection, env),
      this.gate,
      this.services.monitor,
      this.logger,
    );
    this.tcp = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    this.tcp.on('error', (err) => this.logger.error({ err }, 'listener error'));
    if (config.ws_enabled) {
      this.ws = new WsGateway<Connection>(
        {
          host: config.ws_host,
          port: config.ws_port,
          maxPayloadBytes: config.max_frame_bytes + 1,
          // The budget, the frame that crosses it and the fatal error after it (see writeNow), and
          // with ws_fanout=publish what may arrive between two budget checks (checkPublished).
          maxBackpressureBytes:
            this.outboundLimit + 2 * (config.max_frame_bytes + 1) + 4096 + (config.ws_fanout === 'publish' ? PUBLISH_SLACK_BYTES : 0),
        },
        {
          open: (socket) => this.onWsOpen(socket),
          message: (conn, body, isBinary) => this.onWsMessage(conn, body, isBinary),
          close: (conn) => this.onClose(conn),
          drain: (conn) => this.onDrain(conn),
          alive: (conn) => this.heard(conn),
          dropped: (conn) => this.slowConsumer(conn),
        },
      );
    }
  }

  /** The PluginApi every plugin gets; no core internals leak through it. */
  private makeApi(): PluginApi {
    const rooms = this.rooms as unknown as RoomsApi;
    return {
      sendTo: (client, env) => this.send(client as Connection, env),
      broadcast: (room, env, options) => this.broadcast(room, env, options),
      sendError: (client, code, message, ref) => this.sendError(client as Connection, code, message, ref),
      rooms,
      config: this.config,
      logger: this.logger,
      metrics: { recordMessage: () => this.services.monitor.recordMessage() },
      gate: this.gate,
    };
  }

  /**
   * Runs plugin init, then listens on `tcp_host:tcp_port` and, when
   * `ws_enabled`, on `ws_host:ws_port` (WebSocket, PROTOCOL.md §7).
   * @returns the bound addresses (ports are the real ones when configured as 0); `ws` only when enabled
   * @throws Error when a port cannot be bound
   */
  async listen(): Promise<{ host: string; port: number; ws?: { host: string; port: number } }> {
    await this.pipeline.init();
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen({ port: this.config.tcp_port, host: this.config.tcp_host, backlog: this.config.tcp_backlog }, () => {
        this.tcp.off('error', reject);
        resolve();
      });
    });
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(25, Math.min(SWEEP_MAX_MS, Math.floor(this.config.heartbeat_ms / 4))));
    this.sweepTimer.unref();
    this.overloadTimer = setInterval(() => this.overload.check(this.services.monitor.snapshot()), this.config.overload_check_ms);
    this.overloadTimer.unref();
    if (this.ws !== null && this.config.ws_fanout === 'publish') {
      this.publishCheckTimer = setInterval(() => this.checkPublished(), this.config.ws_publish_check_ms);
      this.publishCheckTimer.unref();
    }
    const addr = this.tcp.address() as net.AddressInfo;
    this.logger.info({ host: addr.address, port: addr.port }, 'listening');
    if (this.ws === null) return { host: addr.address, port: addr.port };
    let ws: { host: string; port: number };
    try {
      ws = await this.ws.listen();
    } catch (err) {
      this.tcp.close();
      throw err;
    }
    this.logger.info(ws, 'WebSocket listening');
    return { host: addr.address, port: addr.port, ws };
  }

  /** The /stats document (PROTOCOL.md §6), plus `overloaded` (true while shedding non-critical features). */
  stats() {
    return { ...this.services.monitor.snapshot(), overloaded: this.overload.isOverloaded };
  }

  /** True while draining (after close() began). */
  get draining(): boolean {
    return this.isDraining;
  }

  // ---------------------------------------------------------------- connections

  private onConnection(raw: net.Socket): void {
    const socket = raw as ServerSocket;
    const conn = new Connection(this.nextId++, socket, this.config.rate_burst, this);
    socket[kConnection] = conn;
    socket.on('data', socketOnData);
    socket.on('close', socketOnClose);
    socket.on('error', socketOnError);
    socket.on('drain', socketOnDrain);
    // While draining, only HTTP is served (so /health can answer 503); setMode refuses the rest.
    if (this.isDraining || !this.services.pool.add(conn)) {
      conn.refused = true;
      this.unpooled.add(conn);
    }
  }

  /** A WebSocket opened (ws-gateway.ts): a Connection like a TCP one, its mode fixed by its first message. */
  private onWsOpen(socket: WsSocket<Connection>): Connection {
    const conn = new Connection(this.nextId++, socket, this.config.rate_burst, this);
    if (this.isDraining || !this.services.pool.add(conn)) {
      conn.refused = true;
      this.unpooled.add(conn);
    }
    return conn;
  }

  /**
   * One WebSocket message (PROTOCOL.md §7): a text message is an envelope's
   * JSON, a binary message is `flags` + body as in §2, with the same limits.
   * The first message fixes the connection's mode and so the kind of every
   * message the server sends it: text (as json-lines, §4: no codecs) or
   * binary (as binary frames, §2: codecs may be agreed).
   * @param body valid only during this call (uWS memory)
   */
  private onWsMessage(conn: Connection, body: Buffer, isBinary: boolean): void {
    if (conn.closing) return;
    this.heard(conn);
    if (!conn.detected) {
      const socket = conn.socket as WsSocket<Connection>;
      socket.binary = isBinary;
      // ws_fanout=publish serves text-mode members; binary ones keep per-recipient frames (codecs, §2).
      // Set before setMode, whose onConnect hooks may already join rooms.
      if (!isBinary && this.config.ws_fanout === 'publish') {
        this.ws!.publishing(socket);
        conn.published = true;
        this.publishedConns.add(conn);
      }
      this.setMode(conn, isBinary ? 'binary' : 'json');
      if (conn.closing) return;
    }
    // TCP stops reading at BACKLOG_PAUSE envelopes waiting behind an asynchronous step (zstd inflate, an async
    // plugin); uWS cannot stop reading one WebSocket, so past it a message is refused, which keeps memory bounded.
    if (conn.backlogSize >= BACKLOG_PAUSE) {
      return this.sendError(conn, 'rate_limited', `more than ${BACKLOG_PAUSE} envelopes waiting behind an asynchronous step; this message was not processed`);
    }
    const max = this.config.max_frame_bytes;
    if (!isBinary) {
      if (body.length > max) return this.fatal(conn, new ProtocolError('frame_too_large', `text message of ${body.length} bytes exceeds max_frame_bytes (${max})`));
      return this.onBody(conn, body, performance.now());
    }
    // Same checks as a frame's length prefix (§2): at least the flags byte, at most max_frame_bytes + 1 (uWS enforces this one too).
    if (body.length === 0) return this.frameFatal(conn, new ProtocolError('bad_frame', 'empty binary message (no flags byte)'));
    const flags = body[0]!;
    // A compressed body may be inflated asynchronously (zstd): it must outlive uWS's buffer.
    this.onFrame(conn, flags, (flags & CODEC_BITS) === 0 ? body.subarray(1) : Buffer.from(body.subarray(1)));
  }

  /** Inbound bytes: liveness (PROTOCOL.md §3: any inbound bytes count; an outstanding ping is answered). */
  private heard(conn: Connection): void {
    conn.lastInboundMs = Date.now();
    conn.pingSentMs = 0;
  }

  /** Called for every inbound chunk. */
  onData(conn: Connection, chunk: Buffer): void {
    if (conn.closing) return;
    this.heard(conn);
    if (!conn.detected) {
      const buf = conn.detectBuf ? Buffer.concat([conn.detectBuf, chunk]) : chunk;
      const mode = detectMode(buf);
      if (mode === null) {
        conn.detectBuf = buf.length > 0 ? Buffer.from(buf) : null;
        return;
      }
      conn.detectBuf = null;
      this.setMode(conn, mode);
      if (conn.closing) return;
      chunk = buf;
    }
    switch (conn.mode) {
      case 'binary': {
        // A connection holds a parser only while a frame spans reads (or after it stopped); between frames the parser goes back to the server's pool.
        const p = (conn.parser ??= this.parsers.take(conn));
        p.push(chunk);
        if (p.midFrame) {
          if (conn.midFrameSinceMs === 0) this.frameStarted(conn);
        } else {
          conn.midFrameSinceMs = 0;
          if (!p.stopped && conn.parser === p) {
            conn.parser = null;
            this.parsers.give(p);
          }
        }
        break;
      }
      case 'http':
        this.onHttpData(conn, chunk);
        break;
      default:
        conn.splitter!.push(chunk);
        if (conn.splitter!.buffered === 0) conn.midFrameSinceMs = 0;
        else if (conn.midFrameSinceMs === 0) this.frameStarted(conn);
    }
  }

  /**
   * A frame or line began in this chunk and did not end: `frame_deadline_ms`
   * runs from its first bytes, and the sweep must look at the connection by
   * then (the only deadline that inbound bytes bring forward).
   */
  private frameStarted(conn: Connection): void {
    conn.midFrameSinceMs = conn.lastInboundMs;
    this.services.pool.schedule(conn, conn.lastInboundMs + this.config.frame_deadline_ms + 1);
  }

  private setMode(conn: Connection, mode: Mode): void {
    conn.mode = mode;
    conn.detected = true;
    const max = this.config.max_frame_bytes;
    if (mode === 'json' || mode === 'text') {
      conn.splitter = new LineSplitter(max, this.services.scanner, conn);
    }
    if (conn.refused) {
      if (mode === 'http' && this.isDraining) {
        return; // answered normally: /health says 503 draining
      } else if (mode === 'http') {
        this.endWith(conn, http.statusOnly(503, 'server_busy'));
      } else if (this.isDraining) {
        this.fatal(conn, new ProtocolError('server_busy', 'the server is shutting down'));
      } else {
        this.fatal(conn, new ProtocolError('server_busy', `connection limit reached (max_connections ${this.config.max_connections}, max_connections_per_ip ${this.config.max_connections_per_ip})`));
      }
      return;
    }
    if (mode === 'http') return;
    if (mode === 'text') {
      // Text mode (TCP only) has no pings (PROTOCOL.md §5): TCP keepalive finds dead peers.
      conn.socket.setKeepAlive(true, this.config.heartbeat_ms);
      this.send(conn, { type: 'notice', text: `welcome to ${this.config.server_name} ${VERSION}, you are ${conn.nick}; ${TEXT_HELP}` });
    }
    conn.announced = true;
    this.pipeline.connected(conn);
  }

  // ---------------------------------------------------------------- inbound

  /** From the connection's FrameParser (Connection.onFrame): one complete frame. */
  onParsedFrame(conn: Connection, flags: number, body: Buffer): void {
    // A completed frame restarts frame_deadline_ms for whatever follows it in the chunk.
    conn.midFrameSinceMs = 0;
    this.onFrame(conn, flags, body);
  }

  /** From the connection's LineSplitter (Connection.onLine): one complete line. */
  onParsedLine(conn: Connection, line: Buffer): void {
    conn.midFrameSinceMs = 0;
    if (conn.mode === 'json') this.onJsonLine(conn, line);
    else this.onTextLine(conn, line);
  }

  /** From the connection's FrameParser or LineSplitter (Connection.onFrameError / onLineError): a fatal framing error. */
  onParseError(conn: Connection, err: ProtocolError): void {
    if (conn.mode === 'binary') this.frameFatal(conn, err);
    else this.fatal(conn, err);
  }

  private onFrame(conn: Connection, flags: number, body: Buffer): void {
    const t0 = performance.now();
    if (flags & 0xfc) return this.frameFatal(conn, new ProtocolError('bad_frame', `reserved flag bits set (0x${flags.toString(16)})`));
    const codec = flags & CODEC_BITS;
    if (codec === 0) return this.onBody(conn, body, t0);
    // Only codecs agreed in welcome may be used (PROTOCOL.md §2).
    const name: CodecName | null = codec === 1 ? 'lz4' : codec === 2 ? 'zstd' : null;
    if (name === null || !conn.codecs.includes(name)) {
      return this.frameFatal(conn, new ProtocolError('bad_frame', `codec ${name ?? 'reserved'} (flags ${codec}) was not agreed in welcome`));
    }
    let inflated: Buffer | Promise<Buffer>;
    try {
      // Sizes are checked before anything is inflated (the compression service's contract).
      inflated = this.services.compression.decompress(name, body, this.config.max_frame_bytes);
    } catch (err) {
      return this.frameFatal(conn, isProtocolError(err) ? err : new ProtocolError('bad_frame', `${name} body does not decode`));
    }
    if (inflated instanceof Promise) return this.inflating(conn, inflated, t0);
    this.onBody(conn, inflated, t0);
  }

  /**
   * A fatal error in an inbound frame. Envelopes that arrived before it and
   * still wait behind an asynchronous inflate or plugin are handled first, as
   * they would be without compression; nothing after it is read.
   */
  private frameFatal(conn: Connection, err: ProtocolError): void {
    if (!conn.busy) return this.fatal(conn, err);
    // Called from within the parser's push, so the connection holds its parser; a stopped one stays with it.
    (conn.parser ??= this.parsers.take(conn)).stop();
    this.inflating(conn, Promise.reject(err), performance.now());
  }

  /**
   * An asynchronous inflate (zstd): the connection's later envelopes wait in
   * its backlog so they are handled in arrival order.
   */
  private inflating(conn: Connection, body: Promise<Buffer>, t0: number): void {
    if (conn.busy) {
      body.catch(() => {}); // handled when its turn comes
      conn.backlog.push({ envelope: null, body, t0 });
      if (conn.backlogSize >= BACKLOG_PAUSE) conn.socket.pause();
      return;
    }
    conn.busy = true;
    body.then(
      (buf) => {
        conn.busy = false;
        if (!conn.closing) this.onBody(conn, buf, t0);
        this.drainBacklog(conn);
      },
      (err: unknown) => {
        conn.busy = false;
        this.fatal(conn, isProtocolError(err) ? err : new ProtocolError('bad_frame', 'compressed body does not decode'));
      },
    );
  }

  private onJsonLine(conn: Connection, line: Buffer): void {
    for (let i = 0; i < line.length; i++) {
      const b = line[i];
      if (b !== 0x20 && b !== 0x09) return this.onBody(conn, line, performance.now());
    }
    // Blank lines are ignored (PROTOCOL.md §4).
  }

  private onBody(conn: Connection, body: Buffer, t0: number): void {
    let env: Envelope;
    // Counted before decoding so an undecodable body counts too (error_rate stays <= 1).
    this.services.monitor.recordInbound();
    try {
      env = decodeEnvelope(body, this.services.scanner, this.shape);
    } catch (err) {
      return this.replyError(conn, err, undefined);
    }
    conn.envelopes++;
    if (env.type !== 'pong' && !this.takeToken(conn)) {
      return this.rateLimited(conn, `over ${this.config.rate_msgs_per_sec} envelopes/s (burst ${this.config.rate_burst})`, refOf(env));
    }
    this.dispatch(conn, env, t0);
  }

  /**
   * Answers `rate_limited` and stops reading from the client until its next
   * token is due, so a client that ignores the error is slowed by TCP
   * backpressure instead of costing one error reply per envelope it floods.
   * Envelopes already received are still each answered.
   */
  private rateLimited(conn: Connection, message: string, ref?: string): void {
    this.sendError(conn, 'rate_limited', message, ref);
    if (conn.rateWaitTimer !== null || conn.closing) return;
    const waitMs = Math.max(1, Math.ceil(((1 - conn.tokens) * 1000) / this.config.rate_msgs_per_sec));
    conn.socket.pause();
    conn.rateWaitTimer = setTimeout(() => {
      conn.rateWaitTimer = null;
      if (!conn.closing && conn.backlogSize < BACKLOG_PAUSE) conn.socket.resume();
    }, waitMs);
    conn.rateWaitTimer.unref();
  }

  /** Token bucket (rate_msgs_per_sec, rate_burst): true when the client may send one more envelope now. */
  private takeToken(conn: Connection): boolean {
    const now = conn.lastInboundMs;
    const elapsed = now - conn.tokensAtMs;
    if (elapsed > 0) {
      conn.tokens = Math.min(this.config.rate_burst, conn.tokens + (elapsed * this.config.rate_msgs_per_sec) / 1000);
      conn.tokensAtMs = now;
    }
    if (conn.tokens < 1) return false;
    conn.tokens -= 1;
    return true;
  }

  private onTextLine(conn: Connection, line: Buffer): void {
    const t0 = performance.now();
    const text = line.toString('utf8'); // invalid UTF-8 becomes U+FFFD (PROTOCOL.md §5)
    const cmd = parseTextLine(text, conn.currentRoom);
    if (cmd.kind !== 'none') this.services.monitor.recordInbound(); // each typed line is one request
    switch (cmd.kind) {
      case 'none':
        return;
      case 'quit':
        return this.endWith(conn, Buffer.from('* bye\n'));
      case 'error':
        return this.sendError(conn, cmd.code, cmd.message);
      case 'notice':
        return this.send(conn, { type: 'notice', text: cmd.text });
      case 'nick':
        if (!NICK_RE.test(cmd.nick) || GUEST_RE.test(cmd.nick)) {
          return this.sendError(conn, 'bad_request', `nick must match ${NICK_RE.source} and not guest-<n>`);
        }
        conn.nick = cmd.nick;
        conn.guest = false;
        return this.send(conn, { type: 'notice', text: `you are now ${cmd.nick}` });
      case 'envelope': {
        const env = cmd.envelope;
        if (env.type === 'send_chat' && Buffer.byteLength(text, 'utf8') > this.config.max_text_bytes) {
          return this.sendError(conn, 'bad_request', `line exceeds max_text_bytes (${this.config.max_text_bytes})`);
        }
        conn.envelopes++;
        if (!this.takeToken(conn)) {
          return this.rateLimited(conn, `over ${this.config.rate_msgs_per_sec} lines/s (burst ${this.config.rate_burst})`);
        }
        this.dispatch(conn, env, t0);
      }
    }
  }

  /** Runs one envelope through the chain, keeping per-connection order across async plugins. */
  private dispatch(conn: Connection, env: Envelope, t0: number): void {
    if (conn.busy) {
      conn.backlog.push({ envelope: env, body: null, t0 });
      if (conn.backlogSize >= BACKLOG_PAUSE) conn.socket.pause();
      return;
    }
    let result: void | Promise<void>;
    try {
      result = this.pipeline.handle(conn, env);
    } catch (err) {
      this.replyError(conn, err, env);
      this.services.monitor.recordLatency(performance.now() - t0);
      return;
    }
    if (!result) {
      this.services.monitor.recordLatency(performance.now() - t0);
      return;
    }
    conn.busy = true;
    result
      .catch((err: unknown) => this.replyError(conn, err, env))
      .finally(() => {
        this.services.monitor.recordLatency(performance.now() - t0);
        conn.busy = false;
        this.drainBacklog(conn);
      });
  }

  private drainBacklog(conn: Connection): void {
    while (!conn.busy && conn.backlogSize > 0 && !conn.closing) {
      const next = conn.backlog.shift()!;
      if (next.body !== null) this.inflating(conn, next.body, next.t0);
      else this.dispatch(conn, next.envelope!, next.t0);
    }
    if (conn.backlogSize < BACKLOG_PAUSE && conn.rateWaitTimer === null && conn.socket.isPaused()) conn.socket.resume();
  }

  /** The core's own types (PROTOCOL.md §3): hello, ping, pong; everything else is unknown_type. */
  private coreHandle(conn: Connection, env: Envelope): void {
    switch (env.type) {
      case 'hello':
        return this.hello(conn, env);
      case 'ping':
        return this.send(conn, env.t === undefined ? { type: 'pong' } : { type: 'pong', t: env.t });
      case 'pong':
        return; // liveness is any inbound bytes; nothing else to do
      default:
        throw new ProtocolError('unknown_type', `no handler for type ${JSON.stringify(env.type).slice(0, 80)}`);
    }
  }

  private hello(conn: Connection, env: Envelope): void {
    if (conn.envelopes !== 1) {
      throw new ProtocolError('bad_request', 'hello may come only once, as the first envelope');
    }
    const { nick, echo, codecs, token } = env;
    if (nick !== undefined && (typeof nick !== 'string' || !NICK_RE.test(nick) || GUEST_RE.test(nick))) {
      throw new ProtocolError('bad_request', `nick must match ${NICK_RE.source} and not guest-<n>`);
    }
    if (echo !== undefined && typeof echo !== 'boolean') throw new ProtocolError('bad_request', 'echo must be a boolean');
    if (token !== undefined && typeof token !== 'string') throw new ProtocolError('bad_request', 'token must be a string');
    if (codecs !== undefined && (!Array.isArray(codecs) || codecs.some((c) => typeof c !== 'string'))) {
      throw new ProtocolError('bad_request', 'codecs must be an array of strings');
    }
    if (typeof nick === 'string') {
      conn.nick = nick;
      conn.guest = false;
    }
    conn.echo = echo === true;
    // welcome.codecs: the client's list filtered to ours, in its order (PROTOCOL.md §2); none in json-lines (§4).
    // No agreed codec keeps the shared empty list (memory per idle connection).
    const enabled = this.services.compression.codecs;
    const agreed =
      conn.mode === 'binary' && codecs !== undefined && enabled.length > 0
        ? [...new Set(codecs as string[])].filter((c): c is CodecName => enabled.includes(c as CodecName))
        : [];
    if (agreed.length > 0) conn.codecs = agreed;
    const welcome: Envelope = {
      type: 'welcome',
      session: conn.session,
      nick: conn.nick,
      codecs: conn.codecs,
      heartbeat_ms: this.config.heartbeat_ms,
      max_frame_bytes: this.config.max_frame_bytes,
      server: { name: this.config.server_name, version: VERSION },
    };
    if (conn.mode === 'json') delete welcome.codecs;
    this.send(conn, welcome);
  }

  // ---------------------------------------------------------------- outbound

  /**
   * A binary frame of `json`: compressed with `codec` when the body reaches
   * `compression_threshold` and compression makes it smaller (PROTOCOL.md §2);
   * a promise when the codec is asynchronous (zstd) or the broadcaster
   * compresses off the event loop (`recipients` share the frame).
   */
  private binaryFrame(json: string, codec: CodecName | undefined, recipients = 1): Buffer | Promise<Buffer> {
    if (codec === undefined || json.length < this.config.compression_threshold / 3) return encodeFrame(json, this.alloc);
    const body = Buffer.from(json, 'utf8');
    if (body.length < this.config.compression_threshold) return frameOf(body, 0, this.alloc);
    const z = this.services.broadcaster.compress?.(codec, body, recipients) ?? this.services.compression.compress(codec, body);
    const wrap = (zb: Buffer) => (zb.length < body.length ? frameOf(zb, CODEC_FLAGS[codec], this.alloc) : frameOf(body, 0, this.alloc));
    return z instanceof Promise ? z.then(wrap) : wrap(z);
  }

  /**
   * Encodes one envelope for `conn`'s mode; null when that mode does not show it.
   * @param compress false for frames that must go out now, uncompressed (the fatal error)
   */
  private encode(conn: Connection, env: Envelope, compress = true): Buffer | Promise<Buffer> | null {
    if (conn.mode === 'binary') return this.binaryFrame(JSON.stringify(env), compress ? conn.codecs[0] : undefined);
    if (conn.mode === 'json') return encodeLine(JSON.stringify(env), this.alloc);
    if (conn.mode !== 'text') return null;
    // `/join` makes the room current, `/leave` clears it (PROTOCOL.md §5).
    if (env.type === 'joined') conn.currentRoom = env.room as string;
    else if (env.type === 'left' && conn.currentRoom === env.room) conn.currentRoom = null;
    const line = renderText(env);
    return line === null ? null : Buffer.from(`${line}\n`, 'utf8');
  }

  /** Encodes one envelope for `conn`'s mode and writes it. */
  send(conn: Connection, env: Envelope): void {
    if (conn.closing) return;
    if (conn.published) {
      // A text-mode WebSocket under ws_fanout=publish (one envelope per text message, PROTOCOL.md §7):
      // uWS takes the JSON string itself, with no line Buffer made to be cut back to it.
      if (env.type === 'chat') this.services.monitor.recordDeliveries(1);
      const pending = (conn.socket as WsSocket<Connection>).sendText(JSON.stringify(env));
      if (pending > this.outboundLimit) this.slowConsumer(conn);
      return;
    }
    const buf = this.encode(conn, env);
    if (buf === null) return;
    if (env.type === 'chat') this.services.monitor.recordDeliveries(1);
    this.write(conn, buf);
  }

  /**
   * Fan-out: the envelope is serialised once and encoded at most once per
   * wire format; every recipient of a format gets the same Buffer.
   */
  broadcast(room: string, env: Envelope, options?: BroadcastOptions): number {
    const members = this.rooms.members(room);
    if (members.size === 0) return 0;
    const json = JSON.stringify(env);
    const isChat = env.type === 'chat';
    const except = (options?.except as Connection | undefined) ?? null;
    // ws_fanout=publish: one topic publish reaches the published-to members; the loop below skips them.
    const published = this.rooms.publishedCount(room);
    let n = published > 0 ? this.publishToRoom(room, json, except, members, published) : 0;
    if (published === members.size) {
      if (isChat) this.services.monitor.recordDeliveries(n);
      return n;
    }
    // One encoding per wire format and codec, made on first need.
    let bin: Buffer | undefined, binLz4: Buffer | Promise<Buffer> | undefined, binZstd: Buffer | Promise<Buffer> | undefined;
    let line: Buffer | undefined, text: Buffer | null | undefined;
    const deliver = (m: Connection): boolean => {
      if (m.closing || m.published) return false;
      let buf: Buffer | Promise<Buffer> | null;
      switch (m.mode) {
        case 'binary': {
          const codec = m.codecs[0];
          if (codec === undefined) buf = bin ??= encodeFrame(json, this.alloc);
          else if (codec === 'lz4') buf = binLz4 ??= this.binaryFrame(json, codec, members.size);
          else buf = binZstd ??= this.binaryFrame(json, codec, members.size);
          break;
        }
        case 'json':
          buf = line ??= encodeLine(json, this.alloc);
          break;
        default: {
          if (text === undefined) {
            const t = renderText(env);
            text = t === null ? null : Buffer.from(`${t}\n`, 'utf8');
          }
          buf = text;
        }
      }
      if (buf === null) return false;
      if (isChat) return this.writeChat(m, buf, env);
      this.write(m, buf);
      return true;
    };
    n += this.services.broadcaster.fanOut(members as ReadonlySet<Connection>, except, deliver);
    if (isChat) this.services.monitor.recordDeliveries(n);
    return n;
  }

  /**
   * `ws_fanout=publish`: publishes a broadcast's JSON to the room's topic
   * (PROTOCOL.md §7: one envelope per text message). uWS writes it to every
   * subscriber in native code; a published-to `except` is left out by
   * publishing from its own socket.
   * @param published the room's published-to members
   * @returns the published-to members it reaches
   */
  private publishToRoom(room: string, json: string, except: Connection | null, members: ReadonlySet<Connection>, published: number): number {
    if (except !== null && except.published && members.has(except)) {
      if ((except.socket as WsSocket<Connection>).publishExceptSelf(room, json)) return published - 1;
    }
    this.ws!.publish(room, json);
    return published;
  }

  /**
   * `ws_fanout=publish`: a published-to member's frames are not counted one
   * by one, so every `ws_publish_check_ms` each one's uWS backpressure is
   * held against the outbound budget, as writeNow does per frame.
   */
  private checkPublished(): void {
    const limit = this.outboundLimit;
    for (const conn of this.publishedConns) {
      const pending = (conn.socket as WsSocket<Connection>).bufferedAmount;
      if (pending > limit) this.slowConsumer(conn);
    }
  }

  /** Counts a slow consumer (past the outbound budget) and closes it with fatal `slow_consumer` (PROTOCOL.md §3). */
  private slowConsumer(conn: Connection): void {
    if (conn.closing) return;
    this.services.monitor.recordSlowConsumer();
    this.fatal(conn, new ProtocolError('slow_consumer', `more than ${this.outboundLimit} bytes queued unread (max_outbound_bytes)`));
  }

  /**
   * Writes through the async-I/O service. Past `max_outbound_bytes` queued
   * (twice that under policy `drop`, where only chat frames are dropped) the
   * client is a slow consumer and is closed: memory per client stays bounded.
   */
  private write(conn: Connection, buf: Buffer | Promise<Buffer>): void {
    if (conn.outQueue !== null || buf instanceof Promise) return this.writeOrdered(conn, buf);
    this.writeNow(conn, buf);
  }

  /**
   * A frame still being encoded (async compression), or one behind such a
   * frame: queued so the connection's frames keep their order (PROTOCOL.md §3
   * seq order). The queue is bounded like the outbound budget.
   */
  private writeOrdered(conn: Connection, buf: Buffer | Promise<Buffer>): void {
    if (conn.outQueue === null) {
      conn.outQueue = [buf];
      this.pumpOrdered(conn);
      return;
    }
    conn.outQueue.push(buf);
    if (conn.outQueue.length > MAX_ORDERED_FRAMES) {
      this.services.monitor.recordSlowConsumer();
      this.fatal(conn, new ProtocolError('slow_consumer', `more than ${MAX_ORDERED_FRAMES} frames waiting to be encoded`));
    }
  }

  private pumpOrdered(conn: Connection): void {
    const q = conn.outQueue!;
    while (q.length > 0) {
      const head = q[0]!;
      if (head instanceof Promise) {
        head.then(
          (b) => {
            q[0] = b;
            this.pumpOrdered(conn);
          },
          (err: unknown) => {
            this.logger.error({ err, conn: conn.id }, 'outbound encoding failed; frame dropped');
            q.shift();
            this.pumpOrdered(conn);
          },
        );
        return;
      }
      q.shift();
      if (!conn.closing) this.writeNow(conn, head);
    }
    conn.outQueue = null;
  }

  private writeNow(conn: Connection, buf: Buffer): void {
    const socket = conn.socket;
    let pending: number;
    if (socket instanceof WsSocket) {
      pending = socket.send(buf);
    } else {
      const { writer } = this.services;
      writer.write(socket, buf);
      pending = writer.pending(socket);
    }
    if (pending > this.outboundLimit) this.slowConsumer(conn);
  }

  /**
   * A chat frame of a fan-out. Under policy `drop`, a client past
   * `max_outbound_bytes` loses it (counted) and the room's dropped range
   * grows; the room keeps dropping until the client drains and gets its
   * `gap`, so each gap is one contiguous seq range.
   * @returns true when written
   */
  private writeChat(conn: Connection, buf: Buffer | Promise<Buffer>, env: Envelope): boolean {
    if (this.config.slow_consumer_policy === 'drop') {
      const room = env.room as string;
      const open = conn.gaps?.get(room);
      if (open || this.outboundBytes(conn) > this.config.max_outbound_bytes) {
        const seq = env.seq as number;
        if (open) open.to = seq;
        else {
          // The sweep retries the `gap` on every tick while one is open (onDrain may come too early).
          if (conn.gaps === null) this.services.pool.schedule(conn, 0);
          (conn.gaps ??= new Map()).set(room, { from: seq, to: seq });
        }
        this.services.monitor.recordDropped(1);
        return false;
      }
    }
    this.write(conn, buf);
    return true;
  }

  /** Bytes written to `conn` and not yet taken by the kernel: the writer's queue and the socket's buffer, or uWS's for a WebSocket. */
  private outboundBytes(conn: Connection): number {
    const socket = conn.socket;
    return socket instanceof WsSocket ? socket.bufferedAmount : this.services.writer.pending(socket);
  }

  /** Hands what was written to `conn` this turn to the kernel now (before an end or a shutdown) rather than at the end of the turn. */
  private flushOutbound(conn: Connection): void {
    const socket = conn.socket;
    if (socket instanceof WsSocket) socket.flush();
    else this.services.writer.flush(socket);
  }

  /** The socket's buffer emptied: a dropping client gets its `gap` envelopes (PROTOCOL.md §3). */
  onDrain(conn: Connection): void {
    if (!conn.gaps || conn.closing) return;
    if (this.outboundBytes(conn) > this.config.max_outbound_bytes / 2) return;
    const gaps = conn.gaps;
    conn.gaps = null;
    for (const [room, g] of gaps) this.send(conn, { type: 'gap', room, from_seq: g.from, to_seq: g.to });
  }

  /** Sends an `error` envelope; a fatal code closes the connection (PROTOCOL.md §3). */
  sendError(conn: Connection, code: WireErrorCode, message: string, ref?: string): void {
    if (WIRE_ERRORS[code]) return this.fatal(conn, new ProtocolError(code, message));
    if (code !== 'rate_limited' && this.overErrorBudget(conn)) {
      return this.fatal(conn, new ProtocolError('too_many_errors', `more than ${this.config.error_budget} errors within ${ERROR_WINDOW_MS} ms; last: ${code}`));
    }
    const env: Envelope = { type: 'error', code, message, fatal: false };
    if (ref !== undefined) env.ref = ref;
    this.services.monitor.recordError(code);
    this.send(conn, env);
  }

  /** Counts one non-fatal error; true once the client is past `error_budget` within ERROR_WINDOW_MS. */
  private overErrorBudget(conn: Connection): boolean {
    const now = Date.now();
    if (now - conn.errorWindowMs > ERROR_WINDOW_MS) {
      conn.errorWindowMs = now;
      conn.errorCount = 0;
    }
    return ++conn.errorCount > this.config.error_budget;
  }

  private replyError(conn: Connection, err: unknown, env: Envelope | undefined): void {
    if (!(err instanceof ProtocolError)) {
      this.logger.error({ err, type: env?.type }, 'core handler failed');
      err = new ProtocolError('internal_error', 'the server failed to handle this envelope', { cause: err });
    }
    const pe = err as ProtocolError;
    if (pe.fatal) return this.fatal(conn, pe);
    this.sendError(conn, pe.code, pe.message, env === undefined ? undefined : refOf(env));
  }

  /**
   * Fatal error (PROTOCOL.md §3): stop reading, write the error, send FIN,
   * destroy within 1 s.
   */
  private fatal(conn: Connection, err: ProtocolError): void {
    if (conn.closing) return;
    this.services.monitor.recordError(err.code);
    this.logger.debug({ conn: conn.id, code: err.code, msg: err.message }, 'fatal error, closing');
    if (conn.mode === 'http') return this.endWith(conn, http.statusOnly(400, err.code));
    // The error is the last write, past the outbound budget check (it must not re-enter fatal()).
    this.endWith(conn, this.encode(conn, { type: 'error', code: err.code, message: err.message, fatal: true }, false) as Buffer | null);
  }

  /**
   * Marks `conn` closing: nothing more is read or sent for it, and under
   * ws_fanout=publish it gets no more room broadcasts by topic publish.
   */
  private startClosing(conn: Connection): void {
    conn.closing = true;
    if (!conn.published) return;
    this.rooms.unpublish(conn);
    this.publishedConns.delete(conn);
  }

  /** Writes `last` (if any), half-closes, and destroys the socket after FATAL_DESTROY_MS. */
  private endWith(conn: Connection, last: Buffer | null): void {
    this.startClosing(conn);
    conn.parser?.stop();
    conn.splitter?.stop();
    conn.socket.pause();
    this.flushOutbound(conn);
    if (last) conn.socket.end(last);
    else conn.socket.end();
    setTimeout(() => conn.socket.destroy(), FATAL_DESTROY_MS).unref();
  }

  // ---------------------------------------------------------------- HTTP

  private onHttpData(conn: Connection, chunk: Buffer): void {
    const buf = conn.detectBuf ? Buffer.concat([conn.detectBuf, chunk]) : chunk;
    const head = http.readHead(buf);
    if (head === null) {
      conn.detectBuf = Buffer.from(buf);
      return;
    }
    conn.detectBuf = null;
    this.startClosing(conn);
    conn.socket.pause();
    if (head === 'too_large') return this.endWith(conn, http.statusOnly(431, 'head_too_large'));
    const isHead = head.startsWith('HEAD ');
    http
      .route(head, {
        stats: () => this.stats(),
        metrics: async () => ({ contentType: this.services.monitor.metricsContentType, body: await this.services.monitor.metrics() }),
        draining: () => this.isDraining,
      })
      .then(
        (res) => this.endWith(conn, http.serialize(res, isHead)),
        (err: unknown) => {
          this.logger.error({ err }, 'http route failed');
          conn.socket.destroy();
        },
      );
  }

  // ---------------------------------------------------------------- lifecycle

  /** 'close' of a socket: leave rooms, tell plugins, free the slot. */
  onClose(conn: Connection): void {
    this.startClosing(conn);
    if (conn.rateWaitTimer !== null) clearTimeout(conn.rateWaitTimer);
    if (conn.announced) {
      conn.announced = false;
      this.pipeline.disconnected(conn);
    }
    for (const room of [...conn.rooms]) this.rooms.leave(room, conn);
    if (!this.services.pool.remove(conn)) this.unpooled.delete(conn);
  }

  /**
   * The one periodic sweep (PROTOCOL.md §3 heartbeats, §5 and §6 limits):
   * pings binary / json-lines clients after `heartbeat_ms` of silence and
   * closes them after `heartbeat_timeout_ms`; closes text clients after
   * `text_idle_ms`, HTTP heads after 5 s, undecided connections after
   * `text_idle_ms`, and any frame or line started more than
   * `frame_deadline_ms` ago; sends pending `gap`s of drained clients.
   * It visits the connections the pool says are due (all of them with the
   * baseline pool, only those whose check time came with the timer wheel)
   * and schedules each again; refused connections are few and short-lived,
   * and are visited every time.
   */
  private sweep(): void {
    const now = Date.now();
    const pool = this.services.pool;
    for (const conn of pool.due(now)) {
      const next = this.sweepOne(conn, now);
      if (next !== 0) pool.schedule(conn, next);
    }
    for (const conn of this.unpooled) this.sweepOne(conn, now);
  }

  /**
   * One connection's sweep check.
   * @returns when it must be checked again, ms (Date.now() clock; never later
   *   than its earliest deadline: inbound bytes only move deadlines later, but
   *   for a frame that starts, see frameStarted), or 0 when it is closing and
   *   needs no more checks
   */
  private sweepOne(conn: Connection, now: number): number {
    if (conn.closing) return 0;
    const cfg = this.config;
    const silent = now - conn.lastInboundMs;
    if (conn.gaps) this.onDrain(conn);
    if (conn.midFrameSinceMs !== 0 && now - conn.midFrameSinceMs > cfg.frame_deadline_ms) {
      this.fatal(conn, new ProtocolError('idle_timeout', `frame not completed within frame_deadline_ms (${cfg.frame_deadline_ms})`));
      return 0;
    }
    // A frame that starts later schedules its own deadline (frameStarted).
    let next = conn.midFrameSinceMs !== 0 ? conn.midFrameSinceMs + cfg.frame_deadline_ms + 1 : Infinity;
    if (conn.gaps) next = now; // still open: again on the next tick
    if (!conn.detected || conn.mode === 'text') {
      if (silent > cfg.text_idle_ms) {
        if (conn.detected) this.fatal(conn, new ProtocolError('idle_timeout', `no input for ${cfg.text_idle_ms} ms`));
        else conn.socket.destroy();
        return 0;
      }
      next = Math.min(next, conn.lastInboundMs + cfg.text_idle_ms + 1);
      // Undecided: the next bytes may make it HTTP (head timeout from connectedMs) or binary / json-lines (first ping after heartbeat_ms).
      if (!conn.detected) next = Math.min(next, conn.connectedMs + http.HEAD_TIMEOUT_MS + 1, now + cfg.heartbeat_ms);
    } else if (conn.mode === 'http') {
      if (now - conn.connectedMs > http.HEAD_TIMEOUT_MS) {
        conn.socket.destroy();
        return 0;
      }
      next = Math.min(next, conn.connectedMs + http.HEAD_TIMEOUT_MS + 1);
    } else if (silent >= cfg.heartbeat_timeout_ms) {
      this.fatal(conn, new ProtocolError('idle_timeout', `no inbound bytes for ${cfg.heartbeat_timeout_ms} ms`));
      return 0;
    } else {
      if (silent >= cfg.heartbeat_ms && conn.pingSentMs === 0) {
        conn.pingSentMs = now;
        this.send(conn, { type: 'ping', t: now });
      }
      next = Math.min(next, conn.lastInboundMs + (conn.pingSentMs === 0 ? cfg.heartbeat_ms : cfg.heartbeat_timeout_ms));
    }
    return next;
  }

  /**
   * Graceful shutdown: stop accepting chat connections (new ones get fatal
   * `server_busy`; HTTP is still answered, `/health` with 503), `shutdown` to
   * every chat client (reconnect_ms spread over `shutdown_jitter_ms`), flush
   * and close; sockets still open after `shutdown_timeout_ms` are destroyed,
   * then the listener closes. Idempotent.
   */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  /**
   * Every connection whose socket has not closed yet: the pool's and the
   * refused ones (a snapshot, so the caller may close them while iterating).
   */
  private openConnections(): Connection[] {
    return [...this.services.pool.values(), ...this.unpooled];
  }

  private async doClose(): Promise<void> {
    this.isDraining = true;
    this.logger.info({ connections: this.services.pool.size + this.unpooled.size }, 'draining');
    const jitter = this.config.shutdown_jitter_ms;
    for (const conn of this.openConnections()) {
      if (conn.closing || conn.mode === 'http' || !conn.detected) continue;
      this.send(conn, { type: 'shutdown', reconnect_ms: Math.floor(Math.random() * (jitter + 1)) });
      this.flushOutbound(conn);
      conn.parser?.stop();
      conn.splitter?.stop();
      this.startClosing(conn);
      conn.socket.end();
    }
    const deadline = Date.now() + this.config.shutdown_timeout_ms;
    const chatOpen = () => this.openConnections().some((c) => c.detected && c.mode !== 'http');
    while (chatOpen() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const listenerClosed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    this.ws?.stopListening();
    for (const conn of this.openConnections()) conn.socket.destroy();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.overloadTimer) clearInterval(this.overloadTimer);
    if (this.publishCheckTimer) clearInterval(this.publishCheckTimer);
    await this.pipeline.close();
    await this.services.broadcaster.close();
    await listenerClosed;
    this.logger.info('stopped');
  }
}
