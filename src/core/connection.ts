/**
 * One client connection's state. Plain data with one fixed shape (all
 * fields set in the constructor); the server's module-level handlers reach it
 * through the socket's `kConnection` field instead of a closure per socket.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { CodecName } from '../services/compression/index.js';
import type { Envelope } from './envelope.js';
import type { ProtocolError } from './errors.js';
import type { FrameParser, FrameSink } from './frame-parser.js';
import type { LineSink, LineSplitter } from './line-splitter.js';
import type { Mode } from './mode-detect.js';
import type { ClientHandle } from './plugin.js';
import type { ChatServer } from './server.js';
import type { WsSocket } from './ws-gateway.js';

/** Socket field that points at its Connection. */
export const kConnection = Symbol('tcpserver.connection');

/** A TCP socket that belongs to the server. */
export type ServerSocket = Socket & { [kConnection]?: Connection };

/** A connection's transport: a TCP socket, or a WebSocket (PROTOCOL.md §7, ws-gateway.ts). */
export type ClientSocket = ServerSocket | WsSocket<Connection>;

/** An inbound envelope waiting while an asynchronous plugin finishes. */
export interface Pending {
  /** A decoded envelope, or null when `body` is still inflating. */
  envelope: Envelope | null;
  /** A compressed body being inflated asynchronously (zstd), or null. */
  body: Promise<Buffer> | null;
  /** performance.now() when its frame arrived. */
  t0: number;
}

/**
 * Origin of the connection's stored times, ms since the epoch: the moment
 * this module loaded, less 1 ms (so no stored time is 0, the "none" value
 * of the optional ones). Times are kept as ms since this origin: small
 * integers that V8 stores unboxed (Smi). A Date.now() value (~1.8e12) is
 * not a Smi, so each such field would cost a 16-byte heap number per
 * connection (bench/services/connection-pool.bench.ts measures memory per
 * idle connection). The Smi range on 64-bit V8 is ±2^31 ms, about 24.8 days
 * of uptime; past it the values are heap numbers again: more memory, the
 * same exact times. The public fields read and write Date.now() ms.
 */
const ORIGIN_MS = Date.now() - 1;
/**
 * ms → ms since ORIGIN_MS. `| 0` makes it a Smi (a difference of two
 * doubles is a heap number even when it is a small integer), used only when
 * it is exact: an integer in the int32 range. Anything else is kept as it is.
 */
const since = (ms: number) => {
  const t = ms - ORIGIN_MS;
  const i = t | 0;
  return i === t ? i : t;
};
/** For optional times: 0 (none) stays 0. */
const sinceOr0 = (ms: number) => (ms === 0 ? 0 : since(ms));
const at = (t: number) => t + ORIGIN_MS;
const atOr0 = (t: number) => (t === 0 ? 0 : t + ORIGIN_MS);

/** Bits of Connection's flags. */
const F_DETECTED = 1;
const F_GUEST = 2;
const F_ECHO = 4;
const F_CLOSING = 8;
const F_REFUSED = 16;
const F_ANNOUNCED = 32;
const F_BUSY = 64;
const F_PUBLISHED = 128;
/** Key of the session ids (Connection.session), drawn once per process. */
const SESSION_KEY = randomBytes(32);

/** Initial `codecs`: one shared empty list (hello assigns the agreed ones). */
const NO_CODECS: readonly CodecName[] = Object.freeze([]);

/**
 * A client connection, in any mode. Memory per idle connection counts
 * (bench/services/connection-pool.bench.ts): what most connections never use
 * (a room set, a backlog, the fields in Rare) is made on first use, not per
 * connection; times are Smis and booleans bits (see ORIGIN_MS, F_*).
 */
export class Connection implements ClientHandle, FrameSink, LineSink {
  /** Mode, fixed once detected (PROTOCOL.md §1); 'text' until then for typing only. */
  mode: Mode = 'text';
  nick: string;
  /** The boolean fields below, one bit each (F_*): one Smi instead of eight fields. */
  #flags = F_GUEST;
  /** Codecs agreed in `welcome` (PROTOCOL.md §2). */
  codecs: readonly CodecName[] = NO_CODECS;
  /** Decoded envelopes so far (`hello` must be the first, PROTOCOL.md §3). */
  envelopes = 0;
  #rooms: Set<string> | null = null;
  // The times below are stored as ms since ORIGIN_MS (Smi) and read as Date.now() ms through accessors.
  #lastInbound = since(Date.now());
  #pingSent = 0;
  readonly #connected = this.#lastInbound;
  parser: FrameParser | null = null;
  splitter: LineSplitter | null = null;
  /** Token bucket: envelopes the client may still send now (rate_msgs_per_sec, rate_burst). */
  tokens: number;
  #tokensAt = this.#lastInbound;
  #midFrameSince = 0;
  readonly remoteAddress: string;
  /** What few connections use (see Rare), made on first use. */
  #rare: Rare | null = null;

  /**
   * @param id unique per process
   * @param socket the TCP socket or WebSocket
   * @param burst initial tokens (config rate_burst)
   * @param server the server it belongs to (the module-level handlers reach it through here)
   */
  constructor(
    readonly id: number,
    readonly socket: ClientSocket,
    burst: number,
    readonly server: ChatServer,
  ) {
    this.tokens = burst;
    this.nick = `guest-${id}`;
    this.remoteAddress = socket.remoteAddress ?? '';
  }

  /** Date.now() of the last inbound bytes, ms. */
  get lastInboundMs(): number {
    return at(this.#lastInbound);
  }
  set lastInboundMs(ms: number) {
    this.#lastInbound = since(ms);
  }
  /** Date.now() of the last server `ping` not yet answered by any bytes, ms, or 0. */
  get pingSentMs(): number {
    return atOr0(this.#pingSent);
  }
  set pingSentMs(ms: number) {
    this.#pingSent = sinceOr0(ms);
  }
  /** Date.now() when the connection was accepted, ms. */
  get connectedMs(): number {
    return at(this.#connected);
  }
  /** Date.now() of the token bucket's last refill, ms. */
  get tokensAtMs(): number {
    return at(this.#tokensAt);
  }
  set tokensAtMs(ms: number) {
    this.#tokensAt = since(ms);
  }
  /** Start of the current 10-s error-budget window, Date.now() ms, or 0 before the first error. */
  get errorWindowMs(): number {
    return atOr0(this.#rare?.errorWindow ?? 0);
  }
  set errorWindowMs(ms: number) {
    if (ms !== 0 || this.#rare !== null) this.#more().errorWindow = sinceOr0(ms);
  }
  /** Date.now() when the unfinished frame / line began, ms, or 0 when none is (frame_deadline_ms). */
  get midFrameSinceMs(): number {
    return atOr0(this.#midFrameSince);
  }
  set midFrameSinceMs(ms: number) {
    this.#midFrameSince = sinceOr0(ms);
  }

  /** True once the first bytes decided the mode. */
  get detected(): boolean {
    return (this.#flags & F_DETECTED) !== 0;
  }
  set detected(on: boolean) {
    this.#flags = on ? this.#flags | F_DETECTED : this.#flags & ~F_DETECTED;
  }
  /** True while the nick is the assigned `guest-<n>`. */
  get guest(): boolean {
    return (this.#flags & F_GUEST) !== 0;
  }
  set guest(on: boolean) {
    this.#flags = on ? this.#flags | F_GUEST : this.#flags & ~F_GUEST;
  }
  /** `hello.echo`: the client receives its own chats too (PROTOCOL.md §3). */
  get echo(): boolean {
    return (this.#flags & F_ECHO) !== 0;
  }
  set echo(on: boolean) {
    this.#flags = on ? this.#flags | F_ECHO : this.#flags & ~F_ECHO;
  }
  /** True after a fatal error or shutdown: no more reads, sends dropped. */
  get closing(): boolean {
    return (this.#flags & F_CLOSING) !== 0;
  }
  set closing(on: boolean) {
    this.#flags = on ? this.#flags | F_CLOSING : this.#flags & ~F_CLOSING;
  }
  /**
   * `ws_fanout=publish`: room broadcasts reach this (text-mode WebSocket)
   * connection by a topic publish, not frame by frame (RoomMember.published).
   */
  get published(): boolean {
    return (this.#flags & F_PUBLISHED) !== 0;
  }
  set published(on: boolean) {
    this.#flags = on ? this.#flags | F_PUBLISHED : this.#flags & ~F_PUBLISHED;
  }
  /** Set when the pool refused this connection: answered `server_busy` once its mode is known. */
  get refused(): boolean {
    return (this.#flags & F_REFUSED) !== 0;
  }
  set refused(on: boolean) {
    this.#flags = on ? this.#flags | F_REFUSED : this.#flags & ~F_REFUSED;
  }
  /** True after the plugins' onConnect ran (so onDisconnect must run). */
  get announced(): boolean {
    return (this.#flags & F_ANNOUNCED) !== 0;
  }
  set announced(on: boolean) {
    this.#flags = on ? this.#flags | F_ANNOUNCED : this.#flags & ~F_ANNOUNCED;
  }
  /** True while an asynchronous plugin handles one of this client's envelopes. */
  get busy(): boolean {
    return (this.#flags & F_BUSY) !== 0;
  }
  set busy(on: boolean) {
    this.#flags = on ? this.#flags | F_BUSY : this.#flags & ~F_BUSY;
  }
  /**
   * Opaque session id sent in `welcome`: 12 base64url characters, derived
   * from the connection id with a key drawn at start-up (HMAC-SHA-256), so
   * it is unique in this process, unguessable from outside, and not stored
   * per connection.
   */
  get session(): string {
    return createHmac('sha256', SESSION_KEY).update(String(this.id)).digest('base64url').slice(0, 12);
  }

  // The parser's sink is the connection itself (no object per connection for it): each call goes to the server.
  /** FrameSink: one complete frame from this connection's FrameParser. */
  onFrame(flags: number, body: Buffer): void {
    this.server.onParsedFrame(this, flags, body);
  }
  /** FrameSink: the parser's fatal error. */
  onFrameError(err: ProtocolError): void {
    this.server.onParseError(this, err);
  }
  /** LineSink: one line from this connection's LineSplitter. */
  onLine(line: Buffer): void {
    this.server.onParsedLine(this, line);
  }
  /** LineSink: the splitter's fatal error. */
  onLineError(err: ProtocolError): void {
    this.server.onParseError(this, err);
  }

  /** Rooms joined. Made on first use: an empty Set is ~140 bytes, and many connections never join a room. */
  get rooms(): Set<string> {
    return (this.#rooms ??= new Set<string>());
  }

  /** Envelopes that arrived while busy, handled in order afterwards. Made on first use (only async plugins need it). */
  get backlog(): Pending[] {
    return (this.#more().backlog ??= []);
  }
  /** Envelopes waiting in the backlog; reading it makes nothing. */
  get backlogSize(): number {
    return this.#rare?.backlog?.length ?? 0;
  }

  // Fields kept in Rare: null / 0 while there is no Rare; storing null / 0 does not make one.
  #more(): Rare {
    return (this.#rare ??= new Rare());
  }
  /** Bytes received before the mode was known (bounded by MAX_DETECT_BYTES + one chunk), or null. */
  get detectBuf(): Buffer | null {
    return this.#rare?.detectBuf ?? null;
  }
  set detectBuf(b: Buffer | null) {
    if (b !== null || this.#rare !== null) this.#more().detectBuf = b;
  }
  /** Text mode: the room plain lines go to, or null. */
  get currentRoom(): string | null {
    return this.#rare?.currentRoom ?? null;
  }
  set currentRoom(room: string | null) {
    if (room !== null || this.#rare !== null) this.#more().currentRoom = room;
  }
  /** Outbound frames kept in order behind an asynchronous encode (zstd), or null when none waits. */
  get outQueue(): (Buffer | Promise<Buffer>)[] | null {
    return this.#rare?.outQueue ?? null;
  }
  set outQueue(q: (Buffer | Promise<Buffer>)[] | null) {
    if (q !== null || this.#rare !== null) this.#more().outQueue = q;
  }
  /** Set while reading is paused until the next token (after `rate_limited`), else null. */
  get rateWaitTimer(): NodeJS.Timeout | null {
    return this.#rare?.rateWaitTimer ?? null;
  }
  set rateWaitTimer(t: NodeJS.Timeout | null) {
    if (t !== null || this.#rare !== null) this.#more().rateWaitTimer = t;
  }
  /** Non-fatal errors in the current error-budget window. */
  get errorCount(): number {
    return this.#rare?.errorCount ?? 0;
  }
  set errorCount(n: number) {
    if (n !== 0 || this.#rare !== null) this.#more().errorCount = n;
  }
  /** Slow-consumer policy `drop`: room → the seq range dropped for this client, sent as `gap` once it drains; or null. */
  get gaps(): Map<string, { from: number; to: number }> | null {
    return this.#rare?.gaps ?? null;
  }
  set gaps(g: Map<string, { from: number; to: number }> | null) {
    if (g !== null || this.#rare !== null) this.#more().gaps = g;
  }
}

/**
 * The fields of a Connection that most connections never set: an idle or
 * plain chat connection has none of them, so they live in one object made
 * on first use and cost one pointer otherwise (memory per idle connection,
 * bench/services/connection-pool.bench.ts). Fields fixed here (one shape).
 */
class Rare {
  detectBuf: Buffer | null = null;
  currentRoom: string | null = null;
  backlog: Pending[] | null = null;
  outQueue: (Buffer | Promise<Buffer>)[] | null = null;
  rateWaitTimer: NodeJS.Timeout | null = null;
  /** Start of the error-budget window, ms since ORIGIN_MS, or 0. */
  errorWindow = 0;
  errorCount = 0;
  gaps: Map<string, { from: number; to: number }> | null = null;
}
