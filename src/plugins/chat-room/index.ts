/**
 * ChatRoomPlugin: rooms, chat, history, presence, resume (PROTOCOL.md §3).
 * Types: join_room, leave_room, send_chat, history, who, rooms.
 * Gated by the feature `chat`.
 *
 * The room log (seq, history, dedup) lives behind a RoomEngine. Live chats
 * reach this server's members through the engine's subscription, so an
 * engine shared by several servers fans out everywhere. A joiner receives
 * `joined`, then the replay, then live chats with seq > joined.seq — live
 * chats that arrive while an asynchronous engine is still answering the join
 * are held for the joiner and released after its replay.
 */
import { fitToFrame, optionalInt, optionalString, roomField, type Envelope } from '../../core/envelope.js';
import { textField } from '../../core/envelope.js';
import { ProtocolError } from '../../core/errors.js';
import type { ClientHandle, MessageProcessor, PluginApi, PluginContext } from '../../core/plugin.js';
import { MemoryRoomEngine, type ChatEnvelope, type MaybePromise, type RoomEngine, type RoomListener } from './engine/index.js';

export type { RoomEngine } from './engine/index.js';

const TYPES = new Set(['join_room', 'leave_room', 'send_chat', 'history', 'who', 'rooms']);
/** `history.limit` default and maximum (PROTOCOL.md §3). */
const HISTORY_DEFAULT = 100;
const HISTORY_MAX = 1000;

/** Runs `f` on a value now, or when its promise settles. */
function then<T, R>(v: MaybePromise<T>, f: (t: T) => MaybePromise<R>): MaybePromise<R> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/** This server's view of one room it subscribes to. */
interface LocalRoom {
  listener: RoomListener;
  /** Clients whose join is in flight → live chats held for them. */
  joining: Map<ClientHandle, ChatEnvelope[]>;
}

/** Options of ChatRoomPlugin. */
export interface ChatRoomOptions {
  /** The room engine; default: in-memory with `history_per_room` and `room_idle_ms`. */
  engine?: RoomEngine;
}

/** Rooms and chat. One instance per server. */
export class ChatRoomPlugin implements MessageProcessor {
  readonly name = 'chat-room';
  readonly feature = 'chat';
  private engine: RoomEngine | null;
  private readonly local = new Map<string, LocalRoom>();
  /**
   * Echoing sender → the room and seq of its last own chat that a room
   * listener already acked and echoed. One record per sender, updated in
   * place: holding the chat itself kept every sender's last message alive
   * through a young-generation GC, and a set per message churned the map.
   */
  private readonly echoed = new WeakMap<ClientHandle, { room: string; seq: number }>();
  private api: PluginApi | null = null;

  constructor(options: ChatRoomOptions = {}) {
    this.engine = options.engine ?? null;
  }

  canHandle(type: string): boolean {
    return TYPES.has(type);
  }

  /** Rooms the engine holds (with members, or empty and not yet evicted). */
  get roomCount(): number {
    return this.engine?.size ?? 0;
  }

  init(api: PluginApi): void {
    this.api = api;
    this.engine ??= new MemoryRoomEngine({ retain: api.config.history_per_room, idleMs: api.config.room_idle_ms });
  }

  process(ctx: PluginContext, env: Envelope): MaybePromise<void> {
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
    this.engine?.close();
    this.local.clear();
  }

  /** The room named in `env`, which the sender must be a member of. */
  private memberRoom(ctx: PluginContext, env: Envelope): string {
    const room = roomField(env);
    if (!ctx.rooms.isMember(room, ctx.client)) throw new ProtocolError('not_in_room', `not a member of ${room}`);
    return room;
  }

  /** Subscribes to `room` when this server first needs it. */
  private localRoom(room: string): LocalRoom {
    let lr = this.local.get(room);
    if (!lr) {
      const api = this.api!;
      const joining = new Map<ClientHandle, ChatEnvelope[]>();
      const listener: RoomListener = (msg, origin) => {
        const sender = (origin as ClientHandle | undefined) ?? null;
        // An echoing sender gets its ack, then its own chat, here rather than
        // when append resolves: with an asynchronous engine other senders'
        // later seqs reach it meanwhile, and its echo would arrive out of seq
        // order (PROTOCOL.md §3). The message is in the room log by now.
        // The echo rides on the fan-out (one encoding for the whole room)
        // when the sender is still a member here.
        if (sender?.echo) {
          const ack: Envelope = { type: 'ack', room, seq: msg.seq, ts: msg.ts };
          if (msg.id !== undefined) ack.id = msg.id;
          api.sendTo(sender, ack);
          if (api.rooms.isMember(room, sender)) api.broadcast(room, msg);
          else {
            api.broadcast(room, msg, { except: sender });
            api.sendTo(sender, msg);
          }
          const last = this.echoed.get(sender);
          if (last === undefined) this.echoed.set(sender, { room, seq: msg.seq });
          else {
            last.room = room;
            last.seq = msg.seq;
          }
        } else {
          api.broadcast(room, msg, { except: sender });
        }
        if (joining.size > 0) for (const held of joining.values()) held.push(msg);
      };
      lr = { listener, joining };
      this.local.set(room, lr);
      this.engine!.subscribe(room, listener);
    }
    return lr;
  }

  /** Unsubscribes once no member and no joiner is left here. */
  private releaseIfUnused(api: PluginApi, room: string): void {
    const lr = this.local.get(room);
    if (!lr || lr.joining.size > 0 || api.rooms.memberCount(room) > 0) return;
    this.local.delete(room);
    this.engine!.unsubscribe(room, lr.listener);
  }

  private join(ctx: PluginContext, env: Envelope): MaybePromise<void> {
    const room = roomField(env);
    const since = optionalInt(env, 'since_seq', 0, Number.MAX_SAFE_INTEGER);
    // `epoch` without `since_seq` is ignored (PROTOCOL.md §3).
    const epoch = since === undefined ? undefined : env.epoch;
    if (epoch !== undefined && typeof epoch !== 'string') throw new ProtocolError('bad_request', 'epoch must be a string');
    const { client } = ctx;
    const engine = this.engine!;
    const lr = this.localRoom(room);
    const already = ctx.rooms.isMember(room, client);
    if (!already && !lr.joining.has(client)) lr.joining.set(client, []);
    return then(engine.info(room), (info) => {
      // A different epoch is another stream: nothing is replayed (PROTOCOL.md §3).
      const sameStream = epoch === undefined || epoch === info.epoch;
      const replay = since !== undefined && sameStream ? engine.range(room, since, info.lastSeq, Number.MAX_SAFE_INTEGER) : null;
      return then(replay, (r) => {
        const held = lr.joining.get(client) ?? [];
        lr.joining.delete(client);
        if (client.closing) return this.releaseIfUnused(ctx, room);
        if (!already && ctx.rooms.join(room, client) && ctx.gate.isEnabled('presence', client.nick)) {
          ctx.broadcast(room, { type: 'member_joined', room, nick: client.nick }, { except: client });
        }
        const joined: Envelope = { type: 'joined', room, seq: info.lastSeq, epoch: info.epoch, members: ctx.rooms.memberCount(room) };
        if (since !== undefined) joined.recovered = r !== null && r.recovered;
        ctx.reply(joined);
        for (const msg of r?.messages ?? []) ctx.reply(msg);
        for (const msg of held) if (msg.seq > info.lastSeq) ctx.reply(msg);
      });
    });
  }

  private leave(ctx: PluginContext, env: Envelope): void {
    const room = this.memberRoom(ctx, env);
    this.depart(ctx, room, ctx.client);
    ctx.reply({ type: 'left', room });
  }

  private depart(api: PluginApi, room: string, client: ClientHandle): void {
    if (!api.rooms.leave(room, client)) return;
    // Presence events are non-critical: shed while the server is overloaded.
    if (api.gate.isEnabled('presence', client.nick)) api.broadcast(room, { type: 'member_left', room, nick: client.nick });
    this.releaseIfUnused(api, room);
  }

  private sendChat(ctx: PluginContext, env: Envelope): MaybePromise<void> {
    const room = this.memberRoom(ctx, env);
    const text = textField(env, ctx.config.max_text_bytes);
    const id = optionalString(env, 'id', 64);
    const { client } = ctx;
    const from = client.nick;
    // The ack goes out only once the engine has the message in the room log (PROTOCOL.md §3).
    return then(this.engine!.append(room, { from, dedupKey: from, text, id, origin: client }, Date.now()), (r) => {
      if (!r.duplicate) {
        ctx.metrics.recordMessage();
        const echoed = client.echo ? this.echoed.get(client) : undefined;
        if (echoed !== undefined && echoed.room === room && echoed.seq === r.seq) return; // acked and echoed by the room listener
      }
      const ack: Envelope = { type: 'ack', room, seq: r.seq, ts: r.ts };
      if (id !== undefined) ack.id = id;
      if (r.duplicate) {
        ack.duplicate = true;
        return ctx.reply(ack);
      }
      ctx.reply(ack);
      if (client.echo) {
        const chat: Envelope = { type: 'chat', room, seq: r.seq, from, text, ts: r.ts };
        if (id !== undefined) chat.id = id;
        ctx.reply(chat);
      }
    });
  }

  private history(ctx: PluginContext, env: Envelope): MaybePromise<void> {
    const room = this.memberRoom(ctx, env);
    const since = optionalInt(env, 'since_seq', 0, Number.MAX_SAFE_INTEGER);
    const limit = optionalInt(env, 'limit', 1, HISTORY_MAX) ?? HISTORY_DEFAULT;
    // Without since_seq: the newest `limit`; with it: the oldest `limit` after it (PROTOCOL.md §3).
    return then(this.engine!.range(room, since ?? 0, Number.MAX_SAFE_INTEGER, limit, since === undefined), (r) => {
      const base = { type: 'history', room, epoch: r.epoch, recovered: r.recovered };
      ctx.reply(fitToFrame(base, 'messages', r.messages, ctx.config.max_frame_bytes));
    });
  }

  private who(ctx: PluginContext, env: Envelope): void {
    const room = this.memberRoom(ctx, env);
    const nicks = [...new Set([...ctx.rooms.members(room)].map((m) => m.nick))];
    ctx.reply(fitToFrame({ type: 'members', room }, 'nicks', nicks, ctx.config.max_frame_bytes));
  }

  private roomList(ctx: PluginContext): void {
    const rooms = [...ctx.rooms.list()];
    ctx.reply(fitToFrame({ type: 'room_list' }, 'rooms', rooms, ctx.config.max_frame_bytes));
  }
}
