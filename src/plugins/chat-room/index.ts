/**
 * ChatRoomPlugin: rooms, chat, history, presence (PROTOCOL.md §3).
 * Types: join_room, leave_room, send_chat, history, who, rooms.
 * Gated by the feature `chat`.
 */
import { fitToFrame, optionalInt, optionalString, roomField, textField, type Envelope } from '../../core/envelope.js';
import { ProtocolError } from '../../core/errors.js';
import type { ClientHandle, MessageProcessor, PluginApi, PluginContext } from '../../core/plugin.js';
import { RoomLog } from './room-log.js';

const TYPES = new Set(['join_room', 'leave_room', 'send_chat', 'history', 'who', 'rooms']);
/** `history.limit` default and maximum (PROTOCOL.md §3). */
const HISTORY_DEFAULT = 100;
const HISTORY_MAX = 1000;

/** Rooms and chat. One instance per server. */
export class ChatRoomPlugin implements MessageProcessor {
  readonly name = 'chat-room';
  readonly feature = 'chat';
  private readonly logs = new Map<string, RoomLog>();
  private evictTimer: NodeJS.Timeout | null = null;
  private api: PluginApi | null = null;

  canHandle(type: string): boolean {
    return TYPES.has(type);
  }

  /** Number of rooms with a live log (members, or empty and not yet evicted). */
  get roomCount(): number {
    return this.logs.size;
  }

  init(api: PluginApi): void {
    this.api = api;
    const idle = api.config.room_idle_ms;
    this.evictTimer = setInterval(() => this.evict(Date.now()), Math.max(50, Math.min(idle / 2, 10_000)));
    this.evictTimer.unref();
  }

  process(ctx: PluginContext, env: Envelope): void {
    switch (env.type) {
      case 'join_room':
        return this.join(ctx, env);
      case 'leave_room':
        return this.leave(ctx, env);
      case 'send_chat':
        return this.sendChat(ctx, env);
      case 'history':
        return this.history(ctx, env);
      case 'who':
        return this.who(ctx, env);
      case 'rooms':
        return this.roomList(ctx);
    }
  }

  onDisconnect(api: PluginApi, client: ClientHandle): void {
    for (const room of [...client.rooms]) this.depart(api, room, client);
  }

  close(): void {
    if (this.evictTimer) clearInterval(this.evictTimer);
  }

  /** Drops logs of rooms empty for `room_idle_ms`; their next join starts a new epoch. */
  evict(now: number): void {
    const idle = this.api!.config.room_idle_ms;
    for (const [room, log] of this.logs) {
      if (log.emptySince !== 0 && now - log.emptySince >= idle) this.logs.delete(room);
    }
  }

  private member(ctx: PluginContext, env: Envelope): RoomLog {
    const room = roomField(env);
    const log = this.logs.get(room);
    if (!log || !ctx.rooms.isMember(room, ctx.client)) throw new ProtocolError('not_in_room', `not a member of ${room}`);
    return log;
  }

  private join(ctx: PluginContext, env: Envelope): void {
    const room = roomField(env);
    const since = optionalInt(env, 'since_seq', 0, Number.MAX_SAFE_INTEGER);
    const epoch = env.epoch;
    if (epoch !== undefined && typeof epoch !== 'string') throw new ProtocolError('bad_request', 'epoch must be a string');
    let log = this.logs.get(room);
    if (!log) this.logs.set(room, (log = new RoomLog(room, ctx.config.history_per_room)));
    if (ctx.rooms.join(room, ctx.client)) {
      log.emptySince = 0;
      ctx.broadcast(room, { type: 'member_joined', room, nick: ctx.client.nick }, { except: ctx.client });
    }
    const joined: Envelope = { type: 'joined', room, seq: log.seq, epoch: log.epoch, members: ctx.rooms.memberCount(room) };
    if (since === undefined) return ctx.reply(joined);
    // Resume (PROTOCOL.md §3): a different epoch replays nothing.
    const sameStream = epoch === undefined || epoch === log.epoch;
    joined.recovered = sameStream && log.covers(since, log.seq);
    ctx.reply(joined);
    if (!sameStream) return;
    for (const msg of log.range(since, log.seq, Number.MAX_SAFE_INTEGER)) ctx.reply(msg);
  }

  private leave(ctx: PluginContext, env: Envelope): void {
    const log = this.member(ctx, env);
    this.depart(ctx, log.room, ctx.client);
    ctx.reply({ type: 'left', room: log.room });
  }

  private depart(api: PluginApi, room: string, client: ClientHandle): void {
    if (!api.rooms.leave(room, client)) return;
    api.broadcast(room, { type: 'member_left', room, nick: client.nick });
    const log = this.logs.get(room);
    if (log && api.rooms.memberCount(room) === 0) log.emptySince = Date.now();
  }

  private sendChat(ctx: PluginContext, env: Envelope): void {
    const log = this.member(ctx, env);
    const text = textField(env, ctx.config.max_text_bytes);
    const id = optionalString(env, 'id', 64);
    const { client } = ctx;
    const r = log.append(client.nick, client.nick, text, id, Date.now());
    const ack: Envelope = { type: 'ack', room: log.room, seq: r.seq, ts: r.ts };
    if (id !== undefined) ack.id = id;
    if (r.duplicate) {
      ack.duplicate = true;
      return ctx.reply(ack);
    }
    ctx.metrics.recordMessage();
    ctx.reply(ack);
    ctx.broadcast(log.room, r.message!, { except: client.echo ? null : client });
  }

  private history(ctx: PluginContext, env: Envelope): void {
    const log = this.member(ctx, env);
    const since = optionalInt(env, 'since_seq', 0, Number.MAX_SAFE_INTEGER);
    const limit = optionalInt(env, 'limit', 1, HISTORY_MAX) ?? HISTORY_DEFAULT;
    let messages, recovered;
    if (since === undefined) {
      messages = log.range(0, log.seq, limit, true);
      recovered = log.covers(Math.max(0, log.seq - limit), log.seq);
    } else {
      messages = log.range(since, log.seq, limit);
      recovered = log.covers(since, Math.min(log.seq, since + limit));
    }
    const base = { type: 'history', room: log.room, epoch: log.epoch, recovered };
    ctx.reply(fitToFrame(base, 'messages', messages, ctx.config.max_frame_bytes));
  }

  private who(ctx: PluginContext, env: Envelope): void {
    const log = this.member(ctx, env);
    const nicks = [...new Set([...ctx.rooms.members(log.room)].map((m) => m.nick))];
    ctx.reply(fitToFrame({ type: 'members', room: log.room }, 'nicks', nicks, ctx.config.max_frame_bytes));
  }

  private roomList(ctx: PluginContext): void {
    const rooms = [...ctx.rooms.list()];
    ctx.reply(fitToFrame({ type: 'room_list' }, 'rooms', rooms, ctx.config.max_frame_bytes));
  }
}
