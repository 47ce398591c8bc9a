/**
 * RoomEngine: where a room's seq counter, retained history and dedup window
 * live (PROTOCOL.md §3 "Join, resume, dedup"). The chat-room plugin talks
 * only to this contract, so a shared engine (Redis, for cluster mode) can
 * replace the in-memory one without touching the plugin.
 *
 * Guarantees every engine keeps (test/contract/room-engine.test.ts):
 * - seq is per room, 1 for the first message, +1 per accepted message;
 * - `append` resolves only once the message is in the room log, so an `ack`
 *   built from its result is never for a lost message (while the engine lives);
 * - a repeated (dedupKey, id) within DEDUP_TTL_MS and among the room's
 *   DEDUP_MAX_IDS newest ids is not appended; the original seq and ts are
 *   returned with `duplicate: true`;
 * - subscribers of a room get every appended message once, in seq order,
 *   before `append` resolves;
 * - a room lives while it has a subscriber and for `idleMs` after its last
 *   unsubscribe; a room created again after eviction has a new epoch.
 *
 * Methods may return a value or a promise (MaybePromise): the in-memory
 * engine answers synchronously, a networked one asynchronously.
 */
import type { Envelope } from '../../../core/envelope.js';

/** A value now, or later. */
export type MaybePromise<T> = T | Promise<T>;

/** A stored `chat` envelope (PROTOCOL.md §3). */
export interface ChatEnvelope extends Envelope {
  type: 'chat';
  room: string;
  seq: number;
  id?: string;
  from: string;
  text: string;
  ts: number;
}

/** One message to append. */
export interface AppendInput {
  /** Sender's nick, shown as `chat.from`. */
  from: string;
  /** Sender identity for dedup: token subject, else the nick at send time (PROTOCOL.md §3). */
  dedupKey: string;
  text: string;
  /** Client message id (1-64 characters), the idempotency key. */
  id?: string;
  /** Opaque tag handed back to subscribers (the sending connection, to skip it in fan-out). */
  origin?: unknown;
}

/** Result of an append. */
export interface AppendResult {
  seq: number;
  /** Server time of the message, ms since the Unix epoch. */
  ts: number;
  /** True when (dedupKey, id) repeated within the window: nothing was appended. */
  duplicate: boolean;
}

/** A room's stream position. */
export interface RoomInfo {
  /** Names the seq stream; changes when the stream restarts. */
  epoch: string;
  /** Last assigned seq; 0 before the first message. */
  lastSeq: number;
}

/** Result of a range read. */
export interface RangeResult {
  epoch: string;
  /** Ascending by seq. */
  messages: ChatEnvelope[];
  /** True iff no message of the asked range had fallen out of retention. */
  recovered: boolean;
}

/** Called with each appended message, in seq order. */
export type RoomListener = (message: ChatEnvelope, origin: unknown) => void;

/** The room log contract. */
export interface RoomEngine {
  /**
   * Appends a chat to `room` (created if missing), unless it is a duplicate.
   * @param now server time, ms since the Unix epoch
   */
  append(room: string, input: AppendInput, now: number): MaybePromise<AppendResult>;
  /**
   * Messages with afterSeq < seq <= uptoSeq still retained, ascending: the
   * oldest `limit` of them, or the newest `limit` when `fromNewest`.
   * `recovered` says whether all of that window (the first / last `limit`
   * seqs of the range) was retained.
   */
  range(room: string, afterSeq: number, uptoSeq: number, limit: number, fromNewest?: boolean): MaybePromise<RangeResult>;
  /** Epoch and last seq of `room`, creating it if missing. */
  info(room: string): MaybePromise<RoomInfo>;
  /** Last assigned seq of `room`; 0 for a room that does not exist. */
  lastSeq(room: string): MaybePromise<number>;
  /** Delivers every later append to `room` to `listener`; keeps the room alive. */
  subscribe(room: string, listener: RoomListener): void;
  /** Stops delivery; the last unsubscribe starts the room's idle clock. */
  unsubscribe(room: string, listener: RoomListener): void;
  /** Rooms held now (live or idle, not yet evicted). */
  readonly size: number;
  /** Stops timers; the engine is unusable afterwards. */
  close(): void;
}
