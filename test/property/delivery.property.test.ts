/**
 * Property tests of delivery (PROTOCOL.md §3 "Join, resume, dedup") against
 * the real server over sockets: random command sequences over a few clients
 * and rooms — chats with ids drawn from a small pool (to force duplicates),
 * joins, leaves, drops, reconnects that resume with `since_seq` and `epoch` —
 * then checks what every client saw against the room logs.
 *
 * Runs, per server set-up: `PROPERTY_RUNS` (default 60); e.g. `PROPERTY_RUNS=2000 npx vitest run test/property`.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/core/envelope.js';
import type { AppendInput, RoomListener } from '../../src/plugins/chat-room/engine/index.js';
import { MemoryRoomEngine, type MemoryEngineOptions, type RoomEngine } from '../../src/plugins/chat-room/engine/index.js';
import { ChatRoomPlugin } from '../../src/plugins/chat-room/index.js';
import { FrameClient, sleep, startServer, type TestServer } from '../helpers/clients.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? '') || 60;
const ID_POOL = 4;

type Op =
  | { k: 'send'; c: number; r: number; id: number | null; text: string }
  | { k: 'burst'; c: number; r: number; ids: (number | null)[] }
  | { k: 'join'; c: number; r: number; resume: boolean }
  | { k: 'leave'; c: number; r: number }
  | { k: 'drop'; c: number }
  | { k: 'reconnect'; c: number }
  | { k: 'sync'; c: number }
  | { k: 'tick'; ms: number };

const client = fc.nat(4);
const roomIx = fc.nat(2);
/** A client message id from a small pool, or none. */
const idArb = fc.option(fc.nat(ID_POOL - 1), { freq: 6 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ k: fc.constant('send' as const), c: client, r: roomIx, id: idArb, text: fc.string({ minLength: 1, maxLength: 12 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('burst' as const), c: client, r: roomIx, ids: fc.array(idArb, { minLength: 2, maxLength: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('join' as const), c: client, r: roomIx, resume: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('leave' as const), c: client, r: roomIx }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('drop' as const), c: client }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('reconnect' as const), c: client }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('sync' as const), c: client }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3 }) }) },
);

const scenarioArb = fc.record({
  clients: fc.integer({ min: 3, max: 5 }),
  rooms: fc.integer({ min: 2, max: 3 }),
  echo: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  /** Rooms each client joins first: a bit mask over the rooms. */
  initial: fc.array(fc.nat(7), { minLength: 5, maxLength: 5 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 80, size: 'max' }),
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** A run of one client's view of a room: seqs seen after a join, continued by recovered resumes. */
interface Segment {
  /** joined.seq of the fresh join that started it. */
  start: number;
  seen: Set<number>;
  max: number;
}

/** What one connection expects next for a room. */
interface PendingJoin {
  since?: number;
  epoch?: string;
  /** The segment a resume continues. */
  seg?: Segment;
}

/** One connection's per-room state. */
interface ConnRoom {
  /** join_room / leave_room sent, answers not yet seen, in order. */
  expect: ({ type: 'joined'; join: PendingJoin } | { type: 'left' })[];
  member: boolean;
  /** joined.seq of the current membership. */
  joinedSeq: number;
  /** Last chat seq on this connection (strictly increasing). */
  lastChat: number;
  /**
   * Replayed seqs up to this one may repeat what the segment already saw: a
   * rejoin on the same connection can carry a since_seq that chats still in
   * flight before its `left` overtook. The server replays what was asked.
   */
  staleUpTo: number;
  /** Own non-duplicate acks on this connection, by seq. */
  acked: Set<number>;
}

interface Conn {
  fc: FrameClient;
  rooms: Map<string, ConnRoom>;
  /** Rooms joined (join_room sent) and not left: what a reconnect rejoins. */
  wanted: Set<string>;
  pings: number;
  /** send_chat written / acks read on this connection. */
  sends: number;
  acks: number;
}

interface Client {
  nick: string;
  echo: boolean;
  conn: Conn | null;
  /** Rooms to rejoin on reconnect (what was wanted when the connection dropped). */
  rejoin: Set<string>;
  /** room → current segment, and all segments so far. */
  seg: Map<string, Segment>;
  segments: { room: string; seg: Segment }[];
  epoch: Map<string, string>;
  /**
   * Sends whose ack was lost in a drop. The server may still handle one
   * after this client's next connection joined, and then (nicks not being
   * exclusive) that connection gets the chat live: it is not an echo.
   */
  lostSends: number;
}

interface AckRec {
  nick: string;
  room: string;
  seq: number;
  ts: number;
  id: string | undefined;
  duplicate: boolean;
}

/** An envelope as JSON with sorted keys, to compare regardless of field order. */
function canon(m: Envelope | undefined): string {
  return m === undefined ? 'undefined' : JSON.stringify(Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1))));
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/**
 * A RoomEngine answering every call on an in-memory engine a turn later and
 * resolving a turn after that, as a networked engine would (the same adapter
 * as in test/contract/room-engine.test.ts).
 */
class AsyncEngine implements RoomEngine {
  private readonly inner: MemoryRoomEngine;
  constructor(options: MemoryEngineOptions) {
    this.inner = new MemoryRoomEngine(options);
  }
  private async later<T>(f: () => T): Promise<T> {
    await tick();
    const out = f();
    await tick();
    return out;
  }
  append(room: string, input: AppendInput, now: number) {
    return this.later(() => this.inner.append(room, input, now));
  }
  range(room: string, afterSeq: number, uptoSeq: number, limit: number, fromNewest?: boolean) {
    return this.later(() => this.inner.range(room, afterSeq, uptoSeq, limit, fromNewest));
  }
  info(room: string) {
    return this.later(() => this.inner.info(room));
  }
  lastSeq(room: string) {
    return this.later(() => this.inner.lastSeq(room));
  }
  subscribe(room: string, listener: RoomListener): void {
    this.inner.subscribe(room, listener);
  }
  unsubscribe(room: string, listener: RoomListener): void {
    this.inner.unsubscribe(room, listener);
  }
  get size(): number {
    return this.inner.size;
  }
  close(): void {
    this.inner.close();
  }
}

/** How a run is checked. */
interface RunOptions {
  /**
   * A sender with echo off may have a hole at its own message: with an
   * asynchronous engine a later seq can reach it before its own ack, and a
   * drop in between loses the ack. It knows what it sent (and re-sends by id).
   */
  ownGapsOk: boolean;
}

let runNo = 0;

/**
 * Drives one scenario against the server on `port` and checks every
 * invariant; throws listing the violations.
 * @returns every ack the clients got
 */
async function runScenario(port: number, sc: Scenario, opts: RunOptions = { ownGapsOk: false }): Promise<AckRec[]> {
  const run = ++runNo;
  const roomNames = Array.from({ length: sc.rooms }, (_, i) => `p${run}.r${i}`);
  const clients: Client[] = Array.from({ length: sc.clients }, (_, i) => ({
    nick: `c${i}`,
    echo: sc.echo[i]!,
    conn: null,
    rejoin: new Set(),
    seg: new Map(),
    segments: [],
    epoch: new Map(),
    lostSends: 0,
  }));
  const acks: AckRec[] = [];
  /** Every chat any client saw: room → seq → the envelope as first seen. */
  const chats = new Map<string, Map<number, Envelope>>();
  const violations: string[] = [];
  const fail = (msg: string) => violations.push(msg);
  const all: FrameClient[] = [];

  /** Folds the connection's inbox into the model. */
  const absorb = (cl: Client, conn: Conn) => {
    for (const m of conn.fc.inbox.splice(0)) {
      const room = m.room as string;
      const cr = typeof room === 'string' ? conn.rooms.get(room) : undefined;
      const where = `${cl.nick} ${m.type} ${room ?? ''} ${JSON.stringify(m)}`;
      switch (m.type) {
        case 'welcome':
        case 'ping':
        case 'member_joined':
        case 'member_left':
          break;
        case 'pong':
          conn.pings--;
          break;
        case 'error':
          fail(`unexpected error: ${where}`);
          break;
        case 'joined': {
          const next = cr?.expect.shift();
          if (!cr || next?.type !== 'joined') {
            fail(`unexpected joined: ${where}`);
            break;
          }
          const seq = m.seq as number;
          cr.member = true;
          cr.joinedSeq = seq;
          cr.lastChat = seq;
          cr.staleUpTo = 0;
          const { since, epoch } = next.join;
          if (since === undefined) {
            if ('recovered' in m) fail(`recovered without since_seq: ${where}`);
            const seg = { start: seq, seen: new Set<number>(), max: seq };
            cl.seg.set(room, seg);
            cl.segments.push({ room, seg });
          } else {
            if (m.recovered !== true) fail(`resume not recovered: ${where}`);
            if (m.epoch !== epoch) fail(`epoch changed: ${where}`);
            if (seq < since) fail(`joined.seq below since_seq ${since}: ${where}`);
            // Replay since+1..seq follows, then live chats.
            cr.lastChat = since;
            cl.seg.set(room, next.join.seg!);
            cr.staleUpTo = Math.min(seq, next.join.seg!.max);
          }
          cl.epoch.set(room, m.epoch as string);
          break;
        }
        case 'left': {
          const next = cr?.expect.shift();
          if (!cr || next?.type !== 'left') fail(`unexpected left: ${where}`);
          else cr.member = false;
          break;
        }
        case 'chat':
        case 'ack': {
          if (!cr?.member) {
            fail(`${m.type} while not a member: ${where}`);
            break;
          }
          const seq = m.seq as number;
          if (m.type === 'ack') {
            conn.acks++;
            acks.push({ nick: cl.nick, room, seq, ts: m.ts as number, id: m.id as string | undefined, duplicate: m.duplicate === true });
            if (m.duplicate === true) break;
            cr.acked.add(seq);
            if (cl.echo) break; // seen through its echo
          } else {
            let byRoom = chats.get(room);
            if (!byRoom) chats.set(room, (byRoom = new Map()));
            const first = byRoom.get(seq);
            if (!first) byRoom.set(seq, m);
            else if (canon(first) !== canon(m)) fail(`two versions of ${room}#${seq}: ${JSON.stringify(first)} vs ${where}`);
            if (seq <= cr.lastChat) fail(`chat seq not increasing (last ${cr.lastChat}): ${where}`);
            cr.lastChat = seq;
            const live = seq > cr.joinedSeq;
            if (m.from === cl.nick && live && !(cl.echo && cr.acked.has(seq))) {
              if (cl.lostSends > 0) cl.lostSends--;
              else fail(cl.echo ? `own chat before its ack: ${where}` : `own chat echoed with echo off: ${where}`);
            }
          }
          const seg = cl.seg.get(room);
          if (!seg) {
            fail(`message outside any segment: ${where}`);
            break;
          }
          if (seg.seen.has(seq) && m.type === 'chat' && seq <= cr.staleUpTo) break;
          if (seg.seen.has(seq)) fail(`seq ${seq} seen twice: ${where}`);
          seg.seen.add(seq);
          seg.max = Math.max(seg.max, seq);
          break;
        }
        default:
          fail(`unexpected envelope: ${where}`);
      }
    }
  };

  const absorbAll = () => {
    for (const cl of clients) if (cl.conn) absorb(cl, cl.conn);
  };

  const sendJoin = (cl: Client, conn: Conn, room: string, resume: boolean) => {
    let cr = conn.rooms.get(room);
    if (!cr) conn.rooms.set(room, (cr = { expect: [], member: false, joinedSeq: 0, lastChat: 0, staleUpTo: 0, acked: new Set() }));
    const seg = cl.seg.get(room);
    const epoch = cl.epoch.get(room);
    const join: PendingJoin = resume && seg && epoch !== undefined ? { since: seg.max, epoch, seg } : {};
    cr.expect.push({ type: 'joined', join });
    conn.wanted.add(room);
    conn.fc.send({ type: 'join_room', room, ...(join.since === undefined ? {} : { since_seq: join.since, epoch: join.epoch }) });
  };

  const connect = async (cl: Client) => {
    const f = await FrameClient.connect(port);
    all.push(f);
    const conn: Conn = { fc: f, rooms: new Map(), wanted: new Set(), pings: 0, sends: 0, acks: 0 };
    cl.conn = conn;
    f.send({ type: 'hello', nick: cl.nick, echo: cl.echo });
    for (const room of cl.rejoin) sendJoin(cl, conn, room, true);
    cl.rejoin.clear();
  };

  const drop = (cl: Client) => {
    const conn = cl.conn;
    if (!conn) return;
    absorb(cl, conn);
    conn.fc.end();
    absorb(cl, conn);
    cl.lostSends += conn.sends - conn.acks;
    cl.rejoin = new Set(conn.wanted);
    cl.conn = null;
  };

  /** Ping every connected client twice over: after the second pongs, every fan-out has been written. */
  const quiesce = async () => {
    for (let round = 0; round < 2; round++) {
      const live = clients.filter((cl) => cl.conn);
      for (const cl of live) {
        cl.conn!.pings++;
        cl.conn!.fc.send({ type: 'ping' });
      }
      const deadline = Date.now() + 5000;
      while (live.some((cl) => cl.conn!.pings > 0)) {
        if (Date.now() > deadline) throw new Error('quiesce timed out');
        await sleep(1);
        absorbAll();
      }
    }
    absorbAll();
  };

  try {
    for (const [i, cl] of clients.entries()) {
      await connect(cl);
      for (const [r, room] of roomNames.entries()) if (sc.initial[i]! & (1 << r) || r === 0) sendJoin(cl, cl.conn!, room, false);
    }
    for (const op of sc.ops) {
      absorbAll();
      if (op.k === 'tick') {
        await sleep(op.ms);
        continue;
      }
      const cl = clients[op.c % clients.length]!;
      const conn = cl.conn;
      switch (op.k) {
        case 'send': {
          const room = roomNames[op.r % roomNames.length]!;
          if (!conn || !conn.wanted.has(room)) break;
          conn.sends++;
          conn.fc.send({ type: 'send_chat', room, text: op.text, ...(op.id === null ? {} : { id: `m${op.id}` }) });
          break;
        }
        case 'burst': {
          const room = roomNames[op.r % roomNames.length]!;
          if (!conn || !conn.wanted.has(room)) break;
          for (const [j, id] of op.ids.entries()) {
            conn.sends++;
            conn.fc.send({ type: 'send_chat', room, text: `burst ${j}`, ...(id === null ? {} : { id: `m${id}` }) });
          }
          break;
        }
        case 'join': {
          const room = roomNames[op.r % roomNames.length]!;
          if (!conn || conn.wanted.has(room)) break;
          sendJoin(cl, conn, room, op.resume);
          break;
        }
        case 'leave': {
          const room = roomNames[op.r % roomNames.length]!;
          if (!conn || !conn.wanted.has(room)) break;
          conn.rooms.get(room)!.expect.push({ type: 'left' });
          conn.wanted.delete(room);
          conn.fc.send({ type: 'leave_room', room });
          break;
        }
        case 'drop':
          drop(cl);
          break;
        case 'reconnect':
          drop(cl);
          await connect(cl);
          break;
        case 'sync':
          if (conn) {
            const t = Math.random();
            conn.fc.send({ type: 'ping', t });
            if (!(await conn.fc.next((m) => m.type === 'pong' && m.t === t, 5000))) throw new Error('no pong');
          }
          break;
      }
    }
    // Everyone comes back and resumes, so every client must end up with every seq.
    for (const cl of clients) if (!cl.conn) await connect(cl);
    await quiesce();

    // The room logs, read by a fresh client.
    const checker = await FrameClient.connect(port);
    all.push(checker);
    checker.send({ type: 'hello', nick: 'checker' });
    const logs = new Map<string, Envelope[]>();
    for (const room of roomNames) {
      checker.send({ type: 'join_room', room });
      checker.send({ type: 'history', room, since_seq: 0, limit: 1000 });
      const h = await checker.next((m) => m.type === 'history' && m.room === room, 5000);
      if (!h) throw new Error(`no history for ${room}`);
      if (h.recovered !== true || h.more === true) fail(`history of ${room} not complete: ${JSON.stringify(h).slice(0, 200)}`);
      const messages = h.messages as Envelope[];
      logs.set(room, messages);
      messages.forEach((m, i) => {
        if (m.seq !== i + 1) fail(`history of ${room} has seq ${String(m.seq)} at ${i}`);
      });
      // No (from, id) broadcast twice.
      const ids = new Set<string>();
      for (const m of messages) {
        if (m.id === undefined) continue;
        const k = `${String(m.from)}\u0000${String(m.id)}`;
        if (ids.has(k)) fail(`${room}: ${k} accepted twice`);
        ids.add(k);
      }
    }
    const errs = checker.inbox.filter((m) => m.type === 'error');
    if (errs.length > 0) fail(`checker got errors: ${JSON.stringify(errs)}`);

    // Every chat anyone saw is the logged one.
    for (const [room, byRoom] of chats) {
      const log = logs.get(room)!;
      for (const [seq, m] of byRoom) {
        if (canon(log[seq - 1]) !== canon(m)) fail(`${room}#${seq} seen as ${JSON.stringify(m)}, logged as ${JSON.stringify(log[seq - 1])}`);
      }
    }

    // Acks: in the log; non-duplicate seqs unique per room; duplicates answer the original.
    const firstAck = new Map<string, AckRec>();
    const ackSeqs = new Map<string, Set<number>>();
    for (const a of acks) {
      const logged = logs.get(a.room)![a.seq - 1];
      if (!logged || logged.from !== a.nick || logged.ts !== a.ts || logged.id !== a.id) {
        fail(`ack ${JSON.stringify(a)} does not match the log: ${JSON.stringify(logged)}`);
      }
      if (!a.duplicate) {
        let set = ackSeqs.get(a.room);
        if (!set) ackSeqs.set(a.room, (set = new Set()));
        if (set.has(a.seq)) fail(`non-duplicate ack seq ${a.seq} twice in ${a.room}`);
        set.add(a.seq);
      }
      if (a.id === undefined) {
        if (a.duplicate) fail(`duplicate ack without id: ${JSON.stringify(a)}`);
        continue;
      }
      const k = `${a.nick}\u0000${a.room}\u0000${a.id}`;
      const first = firstAck.get(k);
      if (!first) {
        firstAck.set(k, a);
        // The first ack a client saw may be a duplicate: its first send's ack was lost in a drop.
      } else {
        if (!a.duplicate) fail(`second non-duplicate ack for ${k}: ${JSON.stringify(a)}`);
        if (a.seq !== first.seq || a.ts !== first.ts) fail(`duplicate ack ${JSON.stringify(a)} differs from ${JSON.stringify(first)}`);
      }
    }

    // Per client and room: each segment saw start+1..max with no gap; the
    // current one of a joined room reaches the room's last seq.
    for (const cl of clients) {
      for (const { room, seg } of cl.segments) {
        const missing = [];
        for (let q = seg.start + 1; q <= seg.max; q++) {
          if (seg.seen.has(q)) continue;
          const own = logs.get(room)![q - 1]?.from === cl.nick && !cl.echo;
          if (!(own && opts.ownGapsOk)) missing.push(q);
        }
        if (missing.length > 0) fail(`${cl.nick} in ${room}: gap after joined.seq ${seg.start}, missing ${missing.join(',')}`);
      }
      const conn = cl.conn!;
      for (const room of conn.wanted) {
        const cr = conn.rooms.get(room)!;
        if (!cr.member || cr.expect.length > 0) {
          fail(`${cl.nick} not settled in ${room}`);
          continue;
        }
        const last = logs.get(room)!.length;
        const seg = cl.seg.get(room)!;
        if (seg.max !== last) fail(`${cl.nick} in ${room}: saw up to ${seg.max}, room is at ${last}`);
      }
    }
  } finally {
    for (const f of all) f.end();
  }
  if (violations.length > 0) throw new Error(`${violations.length} violation(s):\n${violations.slice(0, 20).join('\n')}`);
  return acks;
}

const LIMITS = { rate_msgs_per_sec: 100_000, rate_burst: 100_000, error_budget: 1_000_000, history_per_room: 1000 };

const setups: [string, () => Promise<TestServer>, RunOptions][] = [
  ['default server (in-memory engine)', () => startServer(LIMITS), { ownGapsOk: false }],
  [
    'chat plugin over an asynchronous engine',
    () => startServer(LIMITS, { builtins: [new ChatRoomPlugin({ engine: new AsyncEngine({ retain: 1000, idleMs: 300_000 }) })] }),
    { ownGapsOk: true },
  ],
];

describe.each(setups)('delivery properties over real sockets (PROTOCOL.md §3): %s', (_name, start, opts) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await start();
  });
  afterAll(() => s.close());

  it(`hold for random chat / join / leave / drop / resume sequences (${RUNS} runs)`, async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, (sc) => runScenario(s.port, sc, opts).then(() => {})), { numRuns: RUNS });
  }, Math.max(60_000, RUNS * 2000));

  it('a resend of an acked id after a reconnect is answered as a duplicate, with the original ack', async () => {
    const acks = await runScenario(
      s.port,
      {
        clients: 3,
        rooms: 2,
        echo: [false, true, false, false, false],
        initial: [3, 1, 1, 0, 0],
        ops: [
          { k: 'send', c: 0, r: 0, id: 1, text: 'a' },
          { k: 'send', c: 0, r: 1, id: 1, text: 'same id, other room' },
          { k: 'sync', c: 0 },
          { k: 'reconnect', c: 0 },
          { k: 'send', c: 0, r: 0, id: 1, text: 'a again' },
          { k: 'send', c: 1, r: 0, id: 1, text: 'same id, other nick' },
          { k: 'drop', c: 2 },
          { k: 'send', c: 1, r: 0, id: null, text: 'while c2 is away' },
          { k: 'send', c: 1, r: 0, id: 1, text: 'echoed duplicate' },
        ],
      },
      opts,
    );
    const mine = acks.filter((a) => a.nick === 'c0' && a.room.endsWith('.r0'));
    expect(mine.map((a) => [a.seq, a.duplicate])).toEqual([
      [1, false],
      [1, true],
    ]);
    expect(mine[1]!.ts).toBe(mine[0]!.ts);
    expect(acks.filter((a) => a.nick === 'c0' && a.room.endsWith('.r1')).map((a) => [a.seq, a.duplicate])).toEqual([[1, false]]);
    expect(acks.filter((a) => a.nick === 'c1').map((a) => [a.seq, a.duplicate])).toEqual([
      [2, false],
      [3, false],
      [2, true],
    ]);
  });
});
