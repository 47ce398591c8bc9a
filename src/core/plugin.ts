/**
 * The plugin API: what a MessageProcessor sees of the server. docs/plugins.md
 * teaches it; nothing of the core's internals is reachable from here.
 */
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Envelope } from './envelope.js';
import type { WireErrorCode } from './errors.js';
import type { FeatureGate } from './feature-gate.js';
import type { Mode } from './mode-detect.js';
import type { RoomMember } from './room-registry.js';

/** What a plugin sees of one client connection. */
export interface ClientHandle extends RoomMember {
  /** Unique per process, never reused. */
  readonly id: number;
  /** Current nick (`guest-<n>` until `hello` or `/nick` sets one). */
  readonly nick: string;
  /** Opaque session id sent in `welcome`. */
  readonly session: string;
  /** Wire mode (PROTOCOL.md §1). */
  readonly mode: Mode;
  /** True when the client asked for its own chats back (`hello.echo`). */
  readonly echo: boolean;
  /** Remote IP address. */
  readonly remoteAddress: string;
  /** True once the connection is closing; sends to it are dropped. */
  readonly closing: boolean;
}

/** Read and membership operations on rooms. */
export interface RoomsApi {
  /** @returns true when the client was not a member before */
  join(room: string, client: ClientHandle): boolean;
  /** @returns true when the client was a member */
  leave(room: string, client: ClientHandle): boolean;
  isMember(room: string, client: ClientHandle): boolean;
  /** Live view of the members; do not keep it across awaits. */
  members(room: string): ReadonlySet<ClientHandle>;
  memberCount(room: string): number;
  /** Rooms with at least one member. */
  list(): IterableIterator<{ room: string; members: number }>;
}

/** Counters a plugin may bump; they feed `/stats` and `/metrics`. */
export interface PluginMetrics {
  /** One chat message accepted (`messages_total`, `msg_per_sec`). */
  recordMessage(): void;
}

/** Options of a broadcast. */
export interface BroadcastOptions {
  /** A member not to send to (usually the sender). */
  except?: ClientHandle | null;
}

/** Server facilities available to a plugin at any time. */
export interface PluginApi {
  /** Sends one envelope to one client (encoded for its mode). */
  sendTo(client: ClientHandle, envelope: Envelope): void;
  /**
   * Sends one envelope to every member of `room`: encoded once per wire
   * format, the same Buffer written to each recipient.
   * @returns deliveries written
   */
  broadcast(room: string, envelope: Envelope, options?: BroadcastOptions): number;
  /** Sends a non-fatal `error` envelope to a client. */
  sendError(client: ClientHandle, code: WireErrorCode, message: string, ref?: string): void;
  readonly rooms: RoomsApi;
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: PluginMetrics;
  readonly gate: FeatureGate;
}

/** The context of one inbound envelope. */
export interface PluginContext extends PluginApi {
  /** The client that sent the envelope. */
  readonly client: ClientHandle;
  /** Sends one envelope back to the sender. */
  reply(envelope: Envelope): void;
}

/**
 * A feature, as a link in the message chain (issue #2). Plugins are tried in
 * registration order; the first whose `canHandle(type)` is true handles the
 * envelope; the core handles `hello` / `ping` / `pong` only when no plugin does.
 *
 * To reject a request, throw a ProtocolError: the client gets that error.
 * Anything else thrown is logged, counted, and answered `internal_error`.
 */
export interface MessageProcessor {
  /** Unique name, used in logs and metrics. */
  readonly name: string;
  /** Feature gate name: when set, a client outside it gets `feature_disabled`. */
  readonly feature?: string;
  /** Names of plugins that must be registered before this one. */
  readonly dependencies?: readonly string[];
  /** True for the envelope types this plugin handles; asked once per type. */
  canHandle(type: string): boolean;
  /** Handles one envelope. A returned promise delays the client's next envelope until it settles. */
  process(ctx: PluginContext, envelope: Envelope): Promise<void> | void;
  /** Called once before the server accepts connections. */
  init?(api: PluginApi): Promise<void> | void;
  /** A client connected (its mode is known). */
  onConnect?(api: PluginApi, client: ClientHandle): void;
  /**
   * A client disconnected. Hooks run in reverse registration order, so a
   * plugin runs before the plugins it depends on: after chat-room it still
   * sees the client in its rooms (chat-room's own hook removes it).
   */
  onDisconnect?(api: PluginApi, client: ClientHandle): void;
  /** The server is stopping; release timers and sockets. */
  close?(): Promise<void> | void;
}
