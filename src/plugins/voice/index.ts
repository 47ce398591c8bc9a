/**
 * VoicePlugin — the voice chat coordinator (PROTOCOL.md §3 voice rows, §7).
 * Types: start_voice, join_voice, end_voice. Gated by the feature `voice`.
 *
 * Signalling runs on the chat connection; media runs through the UDP relay
 * (./udp-relay.ts) bound to `voice_udp_host:voice_udp_port`.
 *
 * A channel belongs to one room and lives while it has participants. Every
 * participant (the starter included) holds its own token. Participation ends
 * on disconnect (onDisconnect), on leaving the channel's room, or when the
 * channel ends (end_voice, or its last participant gone).
 *
 * Leaving the room: the plugin API has no leave hook, so membership is
 * checked (1) on every datagram, for the sender and each recipient — a client
 * that left stops sending and hearing at once; (2) on every voice request
 * that names the channel; (3) by a sweep every `sweepMs` while any channel is
 * live. A participant found outside the room is removed silently (the room's
 * `member_left` tells the others); when it was the last participant the
 * channel ends and that client, still connected, gets `voice_ended`. A leave
 * followed by a rejoin between two checks is not noticed.
 */
import { randomBytes } from 'node:crypto';
import { roomField, type Envelope } from '../../core/envelope.js';
import { PluginError, ProtocolError } from '../../core/errors.js';
import type { ClientHandle, MessageProcessor, PluginApi, PluginContext } from '../../core/plugin.js';
import { RelayGroup, UdpRelay, type RelayPeer, type RelayStats } from './udp-relay.js';

export { TOKEN_BYTES, type RelayStats } from './udp-relay.js';

const TYPES = new Set(['start_voice', 'join_voice', 'end_voice']);
/** Random bytes of a channel id (16 hex characters). */
const CHANNEL_BYTES = 8;
/** Longest `channel` field accepted before lookup, characters. */
const MAX_CHANNEL_CHARS = 64;
/** Most channels one connection may take part in at once; bounds memory per client. */
export const MAX_CHANNELS_PER_CLIENT = 32;
/** Default period of the membership sweep, ms. */
export const DEFAULT_SWEEP_MS = 1000;

/** One participant: a client in a channel, with its relay peer (token, learned UDP address). */
class Participant {
  readonly peer: RelayPeer<Participant>;

  constructor(
    readonly client: ClientHandle,
    readonly channel: VoiceChannel,
    relay: UdpRelay<Participant>,
  ) {
    this.peer = relay.addPeer(channel.group, this);
  }
}

/** A live voice channel. */
class VoiceChannel {
  /** Client id → participant. */
  readonly participants = new Map<number, Participant>();
  readonly group = new RelayGroup<Participant>();

  /**
   * @param id 16 hex characters
   * @param room the room whose members may join
   * @param starterId ClientHandle.id of the client that sent start_voice (an id, so a
   *   disconnected starter is not kept alive)
   */
  constructor(
    readonly id: string,
    readonly room: string,
    readonly starterId: number,
  ) {}
}

/** Options of a VoicePlugin. */
export interface VoicePluginOptions {
  /** Period of the sweep that notices participants who left their room, ms (default DEFAULT_SWEEP_MS). */
  sweepMs?: number;
}

/** Sizes of the plugin's state, for tests and diagnostics. */
export interface VoiceStats {
  /** Live channels. */
  channels: number;
  /** Live participants across channels (= relay tokens). */
  participants: number;
  /** The relay's datagram counters. */
  relay: RelayStats;
}

/**
 * The voice coordinator. One instance per server; register after ChatRoomPlugin.
 *
 * Replies (PROTOCOL.md §3):
 * - `start_voice {room}` → `voice_started {room, channel, udp_host, udp_port, token}` to the
 *   sender, `voice_available {room, channel}` to the room's other members. A client that already
 *   started a live channel in that room and still takes part in it gets that channel's
 *   `voice_started` again, and nobody else is told.
 * - `join_voice {channel}` → `voice_joined {room, channel, udp_host, udp_port, token}`; joining
 *   again answers the same token.
 * - `end_voice {channel}` → `voice_ended {room, channel}` to every participant.
 *
 * `udp_host` is config `voice_udp_host` as written; `udp_port` the relay's bound port.
 * `token` is 32 lowercase hex characters (16 random bytes), one per participant.
 *
 * Errors (thrown as ProtocolError): `bad_request` for a missing or mistyped field, an unknown or
 * ended channel, or more than MAX_CHANNELS_PER_CLIENT channels; `not_in_room` when the sender is
 * not a member of the room (`start_voice`) or of the channel's room (`join_voice`, `end_voice`);
 * `forbidden` for `end_voice` by a client that is neither the channel's starter nor its last
 * participant (PROTOCOL.md §7).
 */
export class VoicePlugin implements MessageProcessor {
  readonly name = 'voice';
  readonly feature = 'voice';
  readonly dependencies = ['chat-room'] as const;
  private readonly channels = new Map<string, VoiceChannel>();
  /** Client id → its participations; only clients in at least one live channel. */
  private readonly byClient = new Map<number, Set<Participant>>();
  private relay: UdpRelay<Participant> | null = null;
  private api: PluginApi | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly sweepMs: number;

  /** @param options.sweepMs membership sweep period, ms (>= 10) */
  constructor(options: VoicePluginOptions = {}) {
    this.sweepMs = Math.max(10, options.sweepMs ?? DEFAULT_SWEEP_MS);
  }

  canHandle(type: string): boolean {
    return TYPES.has(type);
  }

  /**
   * Binds the UDP relay to `voice_udp_host:voice_udp_port`.
   * @throws PluginError (code ERR_PLUGIN) when the socket cannot be bound; the server does not start
   */
  async init(api: PluginApi): Promise<void> {
    this.api = api;
    const relay = new UdpRelay<Participant>({
      host: api.config.voice_udp_host,
      port: api.config.voice_udp_port,
      logger: api.logger,
      isLive: (p) => this.isLive(p),
      onStale: (p) => this.removeParticipant(p, true),
    });
    try {
      const addr = await relay.bind();
      api.logger.info({ host: addr.host, port: addr.port }, 'voice relay listening');
    } catch (err) {
      throw new PluginError(
        this.name,
        `cannot bind the voice relay to voice_udp_host:voice_udp_port ${api.config.voice_udp_host}:${api.config.voice_udp_port}`,
        { cause: err },
      );
    }
    this.relay = relay;
  }

  process(ctx: PluginContext, env: Envelope): void {
    switch (env.type) {
      case 'start_voice':
        return this.start(ctx, env);
      case 'join_voice':
        return this.join(ctx, env);
      case 'end_voice':
        return this.end(ctx, env);
    }
  }

  /**
   * Removes the client from every channel it takes part in. Runs after chat-room's hook, so the
   * client is no longer a room member here; a channel left without participants ends (there is
   * nobody left to tell).
   */
  onDisconnect(_api: PluginApi, client: ClientHandle): void {
    const mine = this.byClient.get(client.id);
    if (!mine) return;
    for (const p of [...mine]) this.removeParticipant(p, false);
  }

  /** Stops the sweep, closes the UDP socket and forgets every channel. */
  async close(): Promise<void> {
    this.stopSweep();
    this.channels.clear();
    this.byClient.clear();
    const relay = this.relay;
    this.relay = null;
    await relay?.close();
  }

  /** Live channels, participants and relay counters. */
  get stats(): VoiceStats {
    let participants = 0;
    for (const ch of this.channels.values()) participants += ch.participants.size;
    const relay = this.relay?.stats ?? { received: 0, forwarded: 0, droppedShort: 0, droppedUnknown: 0, droppedStale: 0, sendErrors: 0 };
    return { channels: this.channels.size, participants, relay };
  }

  /** The relay's bound UDP port (0 before init and after close). */
  get udpPort(): number {
    return this.relay?.port ?? 0;
  }

  // ---------------------------------------------------------------- requests

  private start(ctx: PluginContext, env: Envelope): void {
    const room = roomField(env);
    const { client } = ctx;
    if (!ctx.rooms.isMember(room, client)) throw new ProtocolError('not_in_room', `not a member of ${room}`);
    // Idempotent for a starter still in its channel: bounds channels per client and room.
    for (const p of this.byClient.get(client.id) ?? []) {
      const ch = p.channel;
      if (ch.room === room && ch.starterId === client.id) return ctx.reply(this.describe('voice_started', p));
    }
    this.checkQuota(client);
    let id: string;
    do id = randomBytes(CHANNEL_BYTES).toString('hex');
    while (this.channels.has(id));
    const channel = new VoiceChannel(id, room, client.id);
    this.channels.set(id, channel);
    const p = this.addParticipant(channel, client);
    this.startSweep();
    ctx.reply(this.describe('voice_started', p));
    ctx.broadcast(room, { type: 'voice_available', room, channel: id }, { except: client });
  }

  private join(ctx: PluginContext, env: Envelope): void {
    const channel = this.channelOf(ctx, env);
    const { client } = ctx;
    let p = channel.participants.get(client.id);
    if (!p) {
      this.checkQuota(client);
      p = this.addParticipant(channel, client);
    }
    ctx.reply(this.describe('voice_joined', p));
  }

  private end(ctx: PluginContext, env: Envelope): void {
    const channel = this.channelOf(ctx, env);
    const { client } = ctx;
    const { participants } = channel;
    const last = participants.size === 1 && participants.has(client.id);
    // PROTOCOL.md §7: only the starter or the last participant ends a channel.
    if (channel.starterId !== client.id && !last) {
      throw new ProtocolError('forbidden', `only the starter or the last participant may end voice channel ${channel.id}`);
    }
    this.endChannel(channel);
  }

  /**
   * The channel named by `env.channel`, after pruning participants who left its room.
   * @throws ProtocolError bad_request (missing, mistyped, unknown or ended channel), not_in_room
   */
  private channelOf(ctx: PluginContext, env: Envelope): VoiceChannel {
    const id = env.channel;
    if (typeof id !== 'string' || id.length < 1 || id.length > MAX_CHANNEL_CHARS) {
      throw new ProtocolError('bad_request', `channel must be a string of 1 to ${MAX_CHANNEL_CHARS} characters`);
    }
    const channel = this.channels.get(id);
    if (!channel) throw new ProtocolError('bad_request', `no live voice channel ${JSON.stringify(id)}`);
    if (!ctx.rooms.isMember(channel.room, ctx.client)) throw new ProtocolError('not_in_room', `not a member of ${channel.room}`);
    this.prune(channel);
    if (!this.channels.has(id)) throw new ProtocolError('bad_request', `voice channel ${id} has ended`);
    return channel;
  }

  /** @throws ProtocolError bad_request past MAX_CHANNELS_PER_CLIENT */
  private checkQuota(client: ClientHandle): void {
    if ((this.byClient.get(client.id)?.size ?? 0) >= MAX_CHANNELS_PER_CLIENT) {
      throw new ProtocolError('bad_request', `at most ${MAX_CHANNELS_PER_CLIENT} voice channels per connection`);
    }
  }

  /** `voice_started` / `voice_joined` for one participant (PROTOCOL.md §3). */
  private describe(type: 'voice_started' | 'voice_joined', p: Participant): Envelope {
    return {
      type,
      room: p.channel.room,
      channel: p.channel.id,
      udp_host: this.api!.config.voice_udp_host,
      udp_port: this.relay!.port,
      token: p.peer.token,
    };
  }

  // ---------------------------------------------------------------- state

  private addParticipant(channel: VoiceChannel, client: ClientHandle): Participant {
    const p = new Participant(client, channel, this.relay!);
    channel.participants.set(client.id, p);
    let mine = this.byClient.get(client.id);
    if (!mine) this.byClient.set(client.id, (mine = new Set()));
    mine.add(p);
    return p;
  }

  /**
   * Takes `p` out of its channel; a channel left empty ends.
   * @param notify send `voice_ended` to `p` if this ends the channel (it left the room but is connected)
   */
  private removeParticipant(p: Participant, notify: boolean): void {
    const { channel, client } = p;
    if (channel.participants.get(client.id) !== p) return;
    channel.participants.delete(client.id);
    this.relay?.removePeer(p.peer);
    this.forget(p);
    if (channel.participants.size > 0) return;
    this.channels.delete(channel.id);
    if (notify) this.api!.sendTo(client, { type: 'voice_ended', room: channel.room, channel: channel.id });
    if (this.channels.size === 0) this.stopSweep();
  }

  /** Ends a channel: `voice_ended` to every participant, then all its state goes. */
  private endChannel(channel: VoiceChannel): void {
    this.channels.delete(channel.id);
    const ended: Envelope = { type: 'voice_ended', room: channel.room, channel: channel.id };
    for (const p of channel.participants.values()) {
      this.api!.sendTo(p.client, ended);
      this.forget(p);
    }
    channel.participants.clear();
    this.relay?.removeGroup(channel.group);
    if (this.channels.size === 0) this.stopSweep();
  }

  private forget(p: Participant): void {
    const mine = this.byClient.get(p.client.id);
    if (mine?.delete(p) && mine.size === 0) this.byClient.delete(p.client.id);
  }

  /** A participant counts while its connection is open and it is still in the channel's room. */
  private isLive(p: Participant): boolean {
    return !p.client.closing && this.api!.rooms.isMember(p.channel.room, p.client);
  }

  /** Removes participants who left the channel's room (see the module comment). */
  private prune(channel: VoiceChannel): void {
    for (const p of [...channel.participants.values()]) {
      if (!this.isLive(p)) this.removeParticipant(p, true);
    }
  }

  private startSweep(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => {
      for (const channel of [...this.channels.values()]) this.prune(channel);
    }, this.sweepMs);
    this.sweepTimer.unref();
  }

  private stopSweep(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }
}
