/**
 * Reference server for issue #5's multi-room bar: "end-to-end p99 no worse
 * than uWebSockets.js pub/sub, measured in the same setup". It is a
 * uWebSockets.js App with one WebSocket route (`/*`). It speaks the part of
 * PROTOCOL.md that the load generator uses, as text messages, one envelope
 * per message (§7). Fan-out uses uWS's native pub/sub: one topic per room.
 *
 * Per accepted `send_chat` it does the same protocol work as our server:
 * parse the envelope, check membership, take the room's next seq, send the
 * `ack` to the sender, and JSON-encode the `chat` once. It then hands that
 * string to `app.publish(room, …)`, which writes it to every subscriber in
 * native code. With `hello.echo` the sender is a subscriber too and gets its
 * chat after its ack, as §3 says. Without echo the sender's
 * `ws.publish(room, …)` skips the sender.
 *
 * What it supports:
 * - `hello` → `welcome`. `heartbeat_ms` is 0: liveness is uWS's own
 *   WebSocket pings (`idleTimeout` 120 s, `sendPingsAutomatically`), which
 *   the client answers by itself.
 * - `join_room` → `joined` {room, seq, epoch, members}. With `since_seq` it
 *   also sends `recovered`: true only if nothing would have to be replayed.
 *   There is no log, so there is no replay.
 * - `leave_room` → `left`.
 * - `send_chat` → `ack` {room, seq, id, ts} and the `chat` {type, room, seq,
 *   id, from, text, ts}, with the same keys in the same order as
 *   src/plugins/chat-room/engine/room-log.ts.
 * - `ping` → `pong`.
 * - Anything else gets `error` `unknown_type` (not fatal). A binary message
 *   gets fatal `bad_frame`, because codecs and binary frames are not
 *   implemented.
 *
 * What it does not do, though our server does: no dedup window, no room log
 * or history, no presence (`member_*`), no rate limit, no auth, no /stats.
 * This makes it a lower bound on the per-message work. GET /health answers
 * 200 and any other HTTP request 404, closing the connection.
 *
 * Limits, set to the same values as our server's defaults:
 * - `maxPayloadLength` 65537: max_frame_bytes (65536) plus the flags byte of
 *   a binary message (§7, "the same limits").
 * - `maxBackpressure` 4 MiB with `closeOnBackpressureLimit`: a subscriber
 *   more than 4 MiB behind is closed, like our `max_outbound_bytes`
 *   (4 MiB) with the default slow-consumer policy `disconnect`. uWS's
 *   default would skip messages for that subscriber instead, which is
 *   silent loss.
 * - No permessage-deflate.
 *
 * Run: `node dist/bench/reference/uws-pubsub.js --port N [--host H]`. It
 * prints `uws-pubsub listening on H:N`. SIGTERM or SIGINT closes every
 * socket and exits 0.
 */
import { App, us_listen_socket_close, us_socket_local_port, type TemplatedApp, type us_listen_socket, type WebSocket } from 'uWebSockets.js';
import { pathToFileURL } from 'node:url';

/** PROTOCOL.md §3 name rules and the defaults this server mirrors. */
const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const NICK_RE = /^[A-Za-z0-9_.-]{1,32}$/;
const MAX_FRAME_BYTES = 65536;
const MAX_OUTBOUND_BYTES = 4 * 1024 * 1024;

/** Per-connection state (uWS user data); every field set at upgrade, so all share one shape. */
interface Client {
  nick: string;
  session: string;
  echo: boolean;
  /** `hello` (or anything else) has been received: a later `hello` is refused (§3). */
  greeted: boolean;
  rooms: Set<string>;
}

interface Room {
  seq: number;
  members: number;
}

/** A running reference server. */
export interface UwsPubsub {
  host: string;
  port: number;
  /** The room's last seq (0 for a room never used). */
  roomSeq(room: string): number;
  /** Closes the listen socket and every connection. */
  close(): void;
}

/** Options of startUwsPubsub. */
export interface UwsPubsubOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0: an ephemeral port. */
  port: number;
}

function errorJson(code: string, message: string, ref: string | undefined, fatal: boolean): string {
  return JSON.stringify(ref === undefined ? { type: 'error', code, message, fatal } : { type: 'error', code, message, ref, fatal });
}

/**
 * Starts the reference server.
 * @throws Error when the port cannot be bound
 */
export function startUwsPubsub(options: UwsPubsubOptions): Promise<UwsPubsub> {
  const host = options.host ?? '127.0.0.1';
  const rooms = new Map<string, Room>();
  // One seq stream per server life: a restart starts every room again at seq 1.
  const epoch = `uws-${Date.now().toString(36)}`;
  let clients = 0;
  let listenSocket: us_listen_socket | null = null;

  const app: TemplatedApp = App();
  app.ws<Client>('/*', {
    compression: 0, // uWS.DISABLED (a value at run time, declared only as a type)
    maxPayloadLength: MAX_FRAME_BYTES + 1,
    maxBackpressure: MAX_OUTBOUND_BYTES,
    closeOnBackpressureLimit: true,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const n = ++clients;
      const data: Client = { nick: `guest-${n}`, session: `s${n}`, echo: false, greeted: false, rooms: new Set() };
      res.upgrade(data, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    message: (ws, message, isBinary) => {
      if (isBinary) {
        ws.send(errorJson('bad_frame', 'binary messages are not supported by this reference server', undefined, true));
        ws.end(1003, 'binary messages are not supported');
        return;
      }
      let env: Record<string, unknown>;
      try {
        env = JSON.parse(Buffer.from(message).toString('utf8')) as Record<string, unknown>;
      } catch {
        ws.send(errorJson('bad_json', 'not JSON', undefined, false));
        return;
      }
      if (typeof env !== 'object' || env === null || typeof env.type !== 'string') {
        ws.send(errorJson('bad_request', 'an envelope is a JSON object with a string type', undefined, false));
        return;
      }
      const c = ws.getUserData();
      const first = !c.greeted;
      c.greeted = true;
      switch (env.type) {
        case 'send_chat':
          return sendChat(ws, c, env);
        case 'join_room':
          return joinRoom(ws, c, env);
        case 'hello':
          return hello(ws, c, env, first);
        case 'leave_room': {
          const room = env.room;
          if (typeof room !== 'string' || !c.rooms.has(room)) return void ws.send(errorJson('not_in_room', 'not a member of this room', 'leave_room', false));
          c.rooms.delete(room);
          ws.unsubscribe(room);
          rooms.get(room)!.members--;
          ws.send(JSON.stringify({ type: 'left', room }));
          return;
        }
        case 'ping':
          ws.send(env.t === undefined ? '{"type":"pong"}' : JSON.stringify({ type: 'pong', t: env.t }));
          return;
        case 'pong':
          return;
        default:
          ws.send(errorJson('unknown_type', `unknown type ${JSON.stringify(env.type).slice(0, 80)}`, env.type, false));
      }
    },
    close: (ws) => {
      // uWS drops the topics; the member counts are ours.
      const c = ws.getUserData();
      for (const room of c.rooms) rooms.get(room)!.members--;
      c.rooms.clear();
    },
  });
  app.get('/health', (res) => {
    res.writeHeader('content-type', 'application/json').end('{"status":"ok"}', true);
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end('not found', true);
  });

  function hello(ws: WebSocket<Client>, c: Client, env: Record<string, unknown>, first: boolean): void {
    if (!first) return void ws.send(errorJson('bad_request', 'hello must come once, first', 'hello', false));
    const nick = env.nick;
    if (nick !== undefined && (typeof nick !== 'string' || !NICK_RE.test(nick) || /^guest-\d+$/.test(nick))) {
      return void ws.send(errorJson('bad_request', 'bad nick', 'hello', false));
    }
    if (typeof nick === 'string') c.nick = nick;
    c.echo = env.echo === true;
    ws.send(
      JSON.stringify({
        type: 'welcome',
        session: c.session,
        nick: c.nick,
        codecs: [],
        heartbeat_ms: 0,
        max_frame_bytes: MAX_FRAME_BYTES,
        server: { name: 'uws-pubsub', version: '1' },
      }),
    );
  }

  function joinRoom(ws: WebSocket<Client>, c: Client, env: Record<string, unknown>): void {
    const room = env.room;
    if (typeof room !== 'string' || !ROOM_RE.test(room)) return void ws.send(errorJson('bad_request', 'bad room name', 'join_room', false));
    let r = rooms.get(room);
    if (r === undefined) {
      r = { seq: 0, members: 0 };
      rooms.set(room, r);
    }
    if (!c.rooms.has(room)) {
      c.rooms.add(room);
      ws.subscribe(room);
      r.members++;
    }
    const since = env.since_seq;
    if (typeof since === 'number') {
      // No log: the join is "recovered" only when there is nothing to replay.
      const recovered = since >= r.seq && (env.epoch === undefined || env.epoch === epoch);
      ws.send(JSON.stringify({ type: 'joined', room, seq: r.seq, epoch, members: r.members, recovered }));
    } else {
      ws.send(JSON.stringify({ type: 'joined', room, seq: r.seq, epoch, members: r.members }));
    }
  }

  function sendChat(ws: WebSocket<Client>, c: Client, env: Record<string, unknown>): void {
    const room = env.room;
    const id = typeof env.id === 'string' ? env.id : undefined;
    if (typeof room !== 'string' || !c.rooms.has(room)) return void ws.send(errorJson('not_in_room', 'not a member of this room', id ?? 'send_chat', false));
    const text = env.text;
    if (typeof text !== 'string' || text.length === 0) return void ws.send(errorJson('bad_request', 'text must be a non-empty string', id ?? 'send_chat', false));
    const r = rooms.get(room)!;
    const seq = ++r.seq;
    const ts = Date.now();
    ws.send(id === undefined ? JSON.stringify({ type: 'ack', room, seq, ts }) : JSON.stringify({ type: 'ack', room, seq, id, ts }));
    const chat = JSON.stringify(id === undefined ? { type: 'chat', room, seq, from: c.nick, text, ts } : { type: 'chat', room, seq, id, from: c.nick, text, ts });
    // app.publish includes the sender (echo, after its ack); ws.publish leaves it out.
    if (c.echo) app.publish(room, chat);
    else ws.publish(room, chat);
  }

  return new Promise((resolve, reject) => {
    app.listen(host, options.port, (sock) => {
      if (!sock) return reject(new Error(`uws-pubsub: cannot listen on ${host}:${options.port}`));
      listenSocket = sock;
      resolve({
        host,
        port: us_socket_local_port(sock),
        roomSeq: (room) => rooms.get(room)?.seq ?? 0,
        close: () => {
          if (listenSocket) us_listen_socket_close(listenSocket);
          listenSocket = null;
          app.close();
        },
      });
    });
  });
}

function parseArgs(argv: string[]): UwsPubsubOptions {
  const out: UwsPubsubOptions = { port: 4000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[++i];
    if (a === '--port' && v !== undefined && /^\d+$/.test(v)) out.port = Number(v);
    else if (a === '--host' && v !== undefined) out.host = v;
    else throw new Error(`usage: node dist/bench/reference/uws-pubsub.js --port N [--host H] (bad argument ${JSON.stringify(a)})`);
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const srv = await startUwsPubsub(parseArgs(process.argv.slice(2)));
  process.stdout.write(`uws-pubsub listening on ${srv.host}:${srv.port} (pid ${process.pid})\n`);
  const stop = () => {
    srv.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
