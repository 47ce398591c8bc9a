/**
 * One client connection's state. Plain data with one fixed shape (all
 * fields set in the constructor); the server's module-level handlers reach it
 * through the socket's `kConnection` field instead of a closure per socket.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { CodecName } from '../services/compression/index.js';
import type { Envelope } from './envelope.js';
import type { FrameParser } from './frame-parser.js';
import type { LineSplitter } from './line-splitter.js';
import type { Mode } from './mode-detect.js';
import type { ClientHandle } from './plugin.js';
import type { ChatServer } from './server.js';

/** Socket field that points at its Connection. */
export const kConnection = Symbol('tcpserver.connection');

/** A socket that belongs to the server. */
export type ServerSocket = Socket & { [kConnection]?: Connection };

/** An inbound envelope waiting while an asynchronous plugin finishes. */
export interface Pending {
  /** A decoded envelope, or null when `body` is still inflating. */
  envelope: Envelope | null;
  /** A compressed body being inflated asynchronously (zstd), or null. */
  body: Promise<Buffer> | null;
  /** performance.now() when its frame arrived. */
  t0: number;
}

/** Initial `codecs`: one shared empty list (hello assigns the agreed ones). */
const NO_CODECS: readonly CodecName[] = Object.freeze([]);

/**
 * A client connection, in any mode. Memory per idle connection counts
 * (bench/services/connection-pool.bench.ts): what most connections never use
 * (a room set, a backlog) is made on first use, not per connection.
 */
export class Connection implements ClientHandle {
  /** Mode, fixed once detected (PROTOCOL.md §1); 'text' until then for typing only. */
  mode: Mode = 'text';
  /** True once the first bytes decided the mode. */
  detected = false;
  /** Bytes received before the mode was known (bounded by MAX_DETECT_BYTES + one chunk). */
  detectBuf: Buffer | null = null;
  nick: string;
  /** True while the nick is the assigned `guest-<n>`. */
  guest = true;
  readonly session: string = randomBytes(9).toString('base64url');
  echo = false;
  /** Codecs agreed in `welcome` (PROTOCOL.md §2). */
  codecs: readonly CodecName[] = NO_CODECS;
  /** Decoded envelopes so far (`hello` must be the first, PROTOCOL.md §3). */
  envelopes = 0;
  #rooms: Set<string> | null = null;
  /** Text mode: the room plain lines go to. */
  currentRoom: string | null = null;
  /** Date.now() of the last inbound bytes. */
  lastInboundMs = Date.now();
  /** Date.now() of the last server `ping` not yet answered by any bytes, or 0. */
  pingSentMs = 0;
  readonly connectedMs = Date.now();
  /** True after a fatal error or shutdown: no more reads, sends dropped. */
  closing = false;
  /** Set when the pool refused this connection: answered `server_busy` once its mode is known. */
  refused = false;
  /** True after the plugins' onConnect ran (so onDisconnect must run). */
  announced = false;
  parser: FrameParser | null = null;
  splitter: LineSplitter | null = null;
  /** True while an asynchronous plugin handles one of this client's envelopes. */
  busy = false;
  #backlog: Pending[] | null = null;
  /** Outbound frames kept in order behind an asynchronous encode (zstd), or null when none waits. */
  outQueue: (Buffer | Promise<Buffer>)[] | null = null;
  /** Token bucket: envelopes the client may still send now (rate_msgs_per_sec, rate_burst). */
  tokens: number;
  /** Date.now() of the last refill. */
  tokensAtMs = Date.now();
  /** Set while reading is paused until the next token (after `rate_limited`). */
  rateWaitTimer: NodeJS.Timeout | null = null;
  /** Start of the current 10-s error-budget window, ms. */
  errorWindowMs = 0;
  /** Non-fatal errors in the current window. */
  errorCount = 0;
  /** Date.now() when the unfinished frame / line began, or 0 (frame_deadline_ms). */
  midFrameSinceMs = 0;
  /** Slow-consumer policy `drop`: room → the seq range dropped for this client, sent as `gap` once it drains. */
  gaps: Map<string, { from: number; to: number }> | null = null;
  readonly remoteAddress: string;

  /**
   * @param id unique per process
   * @param socket the TCP socket
   * @param burst initial tokens (config rate_burst)
   * @param server the server it belongs to (the module-level handlers reach it through here)
   */
  constructor(
    readonly id: number,
    readonly socket: ServerSocket,
    burst: number,
    readonly server: ChatServer,
  ) {
    this.tokens = burst;
    this.nick = `guest-${id}`;
    this.remoteAddress = socket.remoteAddress ?? '';
  }

  /** Rooms joined. Made on first use: an empty Set is ~140 bytes, and many connections never join a room. */
  get rooms(): Set<string> {
    return (this.#rooms ??= new Set<string>());
  }

  /** Envelopes that arrived while busy, handled in order afterwards. Made on first use (only async plugins need it). */
  get backlog(): Pending[] {
    return (this.#backlog ??= []);
  }
}
