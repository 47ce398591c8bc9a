/**
 * The RoomEngine contract (src/plugins/chat-room/engine/contract.ts), run
 * against every implementation: the in-memory engine, and an asynchronous
 * adapter that answers each call a few event-loop turns later, the way a
 * networked engine (Redis, cluster mode) would. Then the chat plugin over the
 * asynchronous engine, end to end over real sockets (PROTOCOL.md §3 "Join,
 * resume, dedup").
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {
  AppendInput,
  AppendResult,
  ChatEnvelope,
  RangeResult,
  RoomEngine,
  RoomInfo,
  RoomListener,
} from '../../src/plugins/chat-room/engine/index.js';
import { DEDUP_MAX_IDS, DEDUP_TTL_MS, MemoryRoomEngine, type MemoryEngineOptions } from '../../src/plugins/chat-room/engine/index.js';
import { ChatRoomPlugin } from '../../src/plugins/chat-room/index.js';
import type { Envelope } from '../../src/core/envelope.js';
import { FrameClient, helloClient, join, sleep, startServer, type TestServer } from '../helpers/clients.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

/**
 * A RoomEngine that runs every call on the wrapped MemoryRoomEngine one
 * event-loop turn after it is made, and resolves one turn after that — so
 * other clients' appends (and their subscriber deliveries) interleave with a
 * caller's pending request, as with a networked engine. Calls run in the
 * order they were made (one ordered connection to the store).
 */
class AsyncEngine implements RoomEngine {
  readonly inner: MemoryRoomEngine;

  constructor(options: MemoryEngineOptions) {
    this.inner = new MemoryRoomEngine(options);
  }

  private async later<T>(f: () => T): Promise<T> {
    await tick();
    const out = f();
    await tick();
    return out;
  }

  append(room: string, input: AppendInput, now: number): Promise<AppendResult> {
    return this.later(() => this.inner.append(room, input, now));
  }

  range(room: string, afterSeq: number, uptoSeq: number, limit: number, fromNewest?: boolean): Promise<RangeResult> {
    return this.later(() => this.inner.range(room, afterSeq, uptoSeq, limit, fromNewest));
  }

  info(room: string): Promise<RoomInfo> {
    return this.later(() => this.inner.info(room));
  }

  lastSeq(room: string): Promise<number> {
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

const implementations: [string, (o: MemoryEngineOptions) => RoomEngine][] = [
  ['MemoryRoomEngine', (o) => new MemoryRoomEngine(o)],
  ['AsyncEngine (MemoryRoomEngine answered later)', (o) => new AsyncEngine(o)],
];

const T0 = 1_700_000_000_000;
const input = (id?: string, dedupKey = 'alice', text = 'hi'): AppendInput =>
  id === undefined ? { from: dedupKey, dedupKey, text } : { from: dedupKey, dedupKey, text, id };

describe.each(implementations)('RoomEngine contract: %s', (_name, make) => {
  const engines: RoomEngine[] = [];
  const engine = (o: Partial<MemoryEngineOptions> = {}): RoomEngine => {
    const e = make({ retain: 1000, idleMs: 60_000, ...o });
    engines.push(e);
    return e;
  };
  afterEach(() => {
    for (const e of engines.splice(0)) e.close();
  });

  it('numbers seqs from 1 per room, +1 per accepted message', async () => {
    const e = engine();
    for (let i = 1; i <= 5; i++) expect(await e.append('a', input(), T0 + i)).toEqual({ seq: i, ts: T0 + i, duplicate: false });
    expect(await e.append('b', input(), T0)).toEqual({ seq: 1, ts: T0, duplicate: false });
    expect(await e.append('a', input('x'), T0 + 9)).toMatchObject({ seq: 6, duplicate: false });
    expect(await e.lastSeq('a')).toBe(6);
    expect(await e.lastSeq('b')).toBe(1);
    const info = await e.info('a');
    expect(info.lastSeq).toBe(6);
    expect(typeof info.epoch).toBe('string');
    expect((await e.info('b')).epoch).not.toBe(info.epoch);
  });

  it('answers lastSeq 0 for an unknown room without creating it', async () => {
    const e = engine();
    expect(await e.lastSeq('nope')).toBe(0);
    expect(e.size).toBe(0);
    expect(await e.info('new')).toMatchObject({ lastSeq: 0 });
    expect(e.size).toBe(1);
  });

  it('answers a repeated (dedupKey, id) with the original seq and ts, appending nothing', async () => {
    const e = engine();
    const seen: number[] = [];
    e.subscribe('r', (m) => seen.push(m.seq));
    expect(await e.append('r', input('m1', 'alice', 'first'), T0)).toEqual({ seq: 1, ts: T0, duplicate: false });
    expect(await e.append('r', input('m2'), T0 + 1)).toEqual({ seq: 2, ts: T0 + 1, duplicate: false });
    // Text is not compared; the original ack comes back.
    expect(await e.append('r', input('m1', 'alice', 'other text'), T0 + 5)).toEqual({ seq: 1, ts: T0, duplicate: true });
    expect(await e.append('r', input('m1'), T0 + DEDUP_TTL_MS - 1)).toEqual({ seq: 1, ts: T0, duplicate: true });
    // Another sender, another room, or no id: not a duplicate.
    expect(await e.append('r', input('m1', 'bob'), T0 + 6)).toEqual({ seq: 3, ts: T0 + 6, duplicate: false });
    expect(await e.append('r2', input('m1'), T0 + 7)).toEqual({ seq: 1, ts: T0 + 7, duplicate: false });
    expect(await e.append('r', input(), T0 + 8)).toMatchObject({ seq: 4, duplicate: false });
    expect(await e.append('r', input(), T0 + 9)).toMatchObject({ seq: 5, duplicate: false });
    expect(await e.lastSeq('r')).toBe(5);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    const { messages } = await e.range('r', 0, 100, 100);
    expect(messages.map((m) => [m.seq, m.from, m.id, m.text])).toEqual([
      [1, 'alice', 'm1', 'first'],
      [2, 'alice', 'm2', 'hi'],
      [3, 'bob', 'm1', 'hi'],
      [4, 'alice', undefined, 'hi'],
      [5, 'alice', undefined, 'hi'],
    ]);
  });

  it('forgets an id after DEDUP_TTL_MS', async () => {
    const e = engine();
    expect(await e.append('r', input('m1'), T0)).toMatchObject({ seq: 1, duplicate: false });
    const later = T0 + DEDUP_TTL_MS;
    expect(await e.append('r', input('m1'), later)).toEqual({ seq: 2, ts: later, duplicate: false });
    // The re-sent id starts a new window from its new ts.
    expect(await e.append('r', input('m1'), later + 1000)).toEqual({ seq: 2, ts: later, duplicate: true });
    const far = T0 + 365 * 24 * 3600_000;
    expect(await e.append('r', input('m1'), far)).toEqual({ seq: 3, ts: far, duplicate: false });
  });

  it(`keeps only the room's ${DEDUP_MAX_IDS} newest ids`, async () => {
    const e = engine({ retain: 10 });
    for (let i = 0; i <= DEDUP_MAX_IDS; i++) {
      const r = await e.append('r', input(`id${i}`), T0 + i);
      if (r.duplicate) throw new Error(`id${i} reported duplicate`);
    }
    // id0 fell out of the window; id1 and the newest are still in it.
    const now = T0 + DEDUP_MAX_IDS + 10;
    expect(await e.append('r', input('id1'), now)).toEqual({ seq: 2, ts: T0 + 1, duplicate: true });
    expect(await e.append('r', input(`id${DEDUP_MAX_IDS}`), now)).toEqual({ seq: DEDUP_MAX_IDS + 1, ts: T0 + DEDUP_MAX_IDS, duplicate: true });
    expect(await e.append('r', input('id0'), now)).toEqual({ seq: DEDUP_MAX_IDS + 2, ts: now, duplicate: false });
    expect(await e.lastSeq('r')).toBe(DEDUP_MAX_IDS + 2);
  });

  it('an id sent again after it expired keeps its new entry when the window wraps past its old one', async () => {
    const e = engine({ retain: 10 });
    await e.append('r', input('x'), T0);
    const later = T0 + DEDUP_TTL_MS;
    expect(await e.append('r', input('x'), later)).toMatchObject({ seq: 2, duplicate: false });
    for (let i = 0; i < DEDUP_MAX_IDS - 2; i++) await e.append('r', input(`f${i}`), later + 1);
    // The window is full: the next id takes the place of the expired first entry of x, not of its current one.
    expect(await e.append('r', input('g'), later + 2)).toMatchObject({ duplicate: false });
    expect(await e.append('r', input('x'), later + 3)).toEqual({ seq: 2, ts: later, duplicate: true });
    expect(await e.append('r', input('f0'), later + 3)).toMatchObject({ seq: 3, duplicate: true });
  });

  it('reads the oldest or the newest `limit` of a range, with `recovered`', async () => {
    const e = engine({ retain: 100 });
    for (let i = 1; i <= 10; i++) await e.append('r', input(undefined, 'alice', `t${i}`), T0 + i);
    const seqs = (r: RangeResult) => r.messages.map((m) => m.seq);
    const epoch = (await e.info('r')).epoch;

    const all = await e.range('r', 0, 10, 100);
    expect(seqs(all)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(all).toMatchObject({ epoch, recovered: true });
    expect(all.messages[0]).toEqual({ type: 'chat', room: 'r', seq: 1, from: 'alice', text: 't1', ts: T0 + 1 });

    expect(seqs(await e.range('r', 0, 10, 3))).toEqual([1, 2, 3]);
    expect(seqs(await e.range('r', 0, 10, 3, true))).toEqual([8, 9, 10]);
    expect(seqs(await e.range('r', 3, 7, 2))).toEqual([4, 5]);
    expect(seqs(await e.range('r', 3, 7, 2, true))).toEqual([6, 7]);
    expect(seqs(await e.range('r', 5, 10, 100))).toEqual([6, 7, 8, 9, 10]);
    // uptoSeq past the end is clipped; afterSeq at or past the end is empty and recovered.
    expect(seqs(await e.range('r', 8, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER))).toEqual([9, 10]);
    expect(await e.range('r', 10, 10, 100)).toEqual({ epoch, messages: [], recovered: true });
    expect(await e.range('r', 50, 100, 100)).toEqual({ epoch, messages: [], recovered: true });
    expect(seqs(await e.range('r', 0, 0, 100))).toEqual([]);
  });

  it('retains `retain` messages; recovered is false once the range fell out', async () => {
    const e = engine({ retain: 5 });
    for (let i = 1; i <= 12; i++) await e.append('r', input(), T0 + i);
    const seqs = (r: RangeResult) => r.messages.map((m) => m.seq);
    // 1..7 fell out of retention.
    let r = await e.range('r', 0, 12, 100);
    expect(seqs(r)).toEqual([8, 9, 10, 11, 12]);
    expect(r.recovered).toBe(false);
    r = await e.range('r', 6, 12, 100);
    expect(seqs(r)).toEqual([8, 9, 10, 11, 12]);
    expect(r.recovered).toBe(false);
    r = await e.range('r', 7, 12, 100);
    expect(seqs(r)).toEqual([8, 9, 10, 11, 12]);
    expect(r.recovered).toBe(true);
    // The newest 3 of (0, 12] are all retained: recovered.
    r = await e.range('r', 0, 12, 3, true);
    expect(seqs(r)).toEqual([10, 11, 12]);
    expect(r.recovered).toBe(true);
    // The oldest 3 of (0, 12] are gone: what is retained comes back, not recovered.
    r = await e.range('r', 0, 12, 3);
    expect(seqs(r)).toEqual([8, 9, 10]);
    expect(r.recovered).toBe(false);
    r = await e.range('r', 2, 6, 100);
    expect(seqs(r)).toEqual([]);
    expect(r.recovered).toBe(false);
  });

  it('delivers every append once, in seq order, with its origin, before append resolves', async () => {
    const e = engine();
    const a: [number, unknown][] = [];
    const b: [number, unknown][] = [];
    const la: RoomListener = (m, o) => a.push([m.seq, o]);
    const lb: RoomListener = (m, o) => b.push([m.seq, o]);
    e.subscribe('r', la);
    e.subscribe('r', lb);
    e.subscribe('other', la);
    const origin = { tag: 'conn-1' };
    // Concurrent appends: each resolves only after its message reached the subscribers.
    const pending = Array.from({ length: 20 }, (_, i) =>
      Promise.resolve(e.append('r', { ...input(`m${i % 15}`), origin: i % 2 ? origin : undefined }, T0 + i)).then((res) => {
        if (!res.duplicate) expect(a.some(([s]) => s === res.seq)).toBe(true);
        return res;
      }),
    );
    const results = await Promise.all(pending);
    expect(results.filter((r) => !r.duplicate).map((r) => r.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(results.slice(15).every((r) => r.duplicate)).toBe(true);
    expect(a.map(([s]) => s)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(b).toEqual(a);
    expect(a.map(([, o]) => o)).toEqual(Array.from({ length: 15 }, (_, i) => (i % 2 ? origin : undefined)));
    e.unsubscribe('r', lb);
    e.unsubscribe('r', lb); // a second unsubscribe is harmless
    await e.append('r', input(), T0 + 100);
    expect(a.length).toBe(16);
    expect(b.length).toBe(15);
    const m: ChatEnvelope = (await e.range('r', 15, 16, 1)).messages[0]!;
    expect(m).toMatchObject({ type: 'chat', room: 'r', seq: 16, from: 'alice', text: 'hi', ts: T0 + 100 });
  });

  it('keeps a room while subscribed, evicts it idleMs after the last unsubscribe; a recreated room has a new epoch', async () => {
    const e = engine({ idleMs: 60 });
    const l: RoomListener = () => {};
    const l2: RoomListener = () => {};
    e.subscribe('r', l);
    e.subscribe('r', l2);
    await e.append('r', input('m1'), Date.now());
    const { epoch } = await e.info('r');
    await sleep(200);
    expect(e.size).toBe(1);
    expect(await e.info('r')).toEqual({ epoch, lastSeq: 1 });
    e.unsubscribe('r', l);
    await sleep(200);
    expect(e.size).toBe(1); // one subscriber left
    e.unsubscribe('r', l2);
    // Right after the last unsubscribe the room still has its seq, log and dedup window.
    expect(await e.info('r')).toEqual({ epoch, lastSeq: 1 });
    expect(await e.append('r', input('m1'), Date.now())).toMatchObject({ seq: 1, duplicate: true });
    const deadline = Date.now() + 2000;
    while (e.size > 0 && Date.now() < deadline) await sleep(20);
    expect(e.size).toBe(0);
    expect(await e.lastSeq('r')).toBe(0);
    const again = await e.info('r');
    expect(again.lastSeq).toBe(0);
    expect(again.epoch).not.toBe(epoch);
    expect(await e.append('r', input('m1'), Date.now())).toMatchObject({ seq: 1, duplicate: false });
  });

  it('evicts a room that never had a subscriber after idleMs', async () => {
    const e = engine({ idleMs: 60 });
    await e.append('lonely', input(), Date.now());
    expect(e.size).toBe(1);
    const deadline = Date.now() + 2000;
    while (e.size > 0 && Date.now() < deadline) await sleep(20);
    expect(e.size).toBe(0);
  });
});

// ---------------------------------------------------------------- the chat plugin over an async engine

/** Every envelope a client received, in order, minus presence noise. */
function stream(c: FrameClient, room: string): Envelope[] {
  return c.inbox.filter((m) => m.room === room && (m.type === 'chat' || m.type === 'joined' || m.type === 'ack'));
}

/** Waits until `pred` holds (polling), or fails after `ms`. */
async function until(pred: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Sends a ping and waits for its pong: the server has handled everything this client sent before. */
async function settle(c: FrameClient): Promise<void> {
  const t = Math.random();
  c.send({ type: 'ping', t });
  const p = await c.next((m) => m.type === 'pong' && m.t === t, 5000);
  if (!p) throw new Error('no pong');
}

/**
 * Checks the chats `c` got in `room` on one connection: `joined` first, then
 * chats with contiguous ascending seqs from `from` (exclusive) to `to`.
 */
function expectContiguous(c: FrameClient, room: string, from: number, to: number): void {
  const s = c.inbox.filter((m) => m.room === room && (m.type === 'chat' || m.type === 'joined'));
  expect(s[0]?.type).toBe('joined');
  const seqs = s.slice(1).map((m) => m.seq as number);
  expect(s.slice(1).every((m) => m.type === 'chat')).toBe(true);
  expect(seqs).toEqual(Array.from({ length: to - from }, (_, i) => from + 1 + i));
}

describe('chat plugin over an asynchronous RoomEngine', () => {
  let s: TestServer;
  let engine: AsyncEngine;
  const open: FrameClient[] = [];
  const client = async (nick: string, extra: Record<string, unknown> = {}) => {
    const c = await helloClient(s.port, nick, extra);
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    engine = new AsyncEngine({ retain: 1000, idleMs: 300_000 });
    s = await startServer(
      { rate_msgs_per_sec: 100_000, rate_burst: 100_000, error_budget: 1_000_000 },
      { builtins: [new ChatRoomPlugin({ engine })] },
    );
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.end();
  });
  afterAll(() => s.close());

  it('joins, acks, fans out, dedups', async () => {
    const a = await client('alice');
    const b = await client('bob');
    expect(await join(a, 'lobby')).toMatchObject({ type: 'joined', room: 'lobby', seq: 0, members: 1 });
    expect(await join(b, 'lobby')).toMatchObject({ seq: 0, members: 2 });
    expect(await a.type('member_joined')).toMatchObject({ room: 'lobby', nick: 'bob' });
    a.send({ type: 'send_chat', room: 'lobby', text: 'hi', id: 'x1' });
    const ack = await a.type('ack');
    expect(ack).toMatchObject({ room: 'lobby', seq: 1, id: 'x1' });
    expect(ack!.duplicate).toBeUndefined();
    expect(await b.type('chat')).toMatchObject({ room: 'lobby', seq: 1, id: 'x1', from: 'alice', text: 'hi', ts: ack!.ts });
    a.send({ type: 'send_chat', room: 'lobby', text: 'again', id: 'x1' });
    expect(await a.type('ack')).toEqual({ type: 'ack', room: 'lobby', seq: 1, id: 'x1', ts: ack!.ts, duplicate: true });
    await settle(a);
    await settle(b);
    expect(await b.type('chat', 100)).toBeNull();
    expect(await a.type('chat', 50)).toBeNull(); // echo is off
    a.send({ type: 'history', room: 'lobby' });
    expect(await a.type('history')).toMatchObject({ room: 'lobby', epoch: expect.any(String), recovered: true, messages: [{ seq: 1, text: 'hi' }] });
  });

  it('with echo, sends ack then the own chat, in seq order with other senders', async () => {
    const room = 'echo-order';
    const e = await client('echoer', { echo: true });
    const others = [await client('o1'), await client('o2')];
    await join(e, room);
    for (const o of others) await join(o, room);
    const N = 60;
    for (let i = 0; i < N; i++) {
      e.send({ type: 'send_chat', room, text: `e${i}`, id: `e${i}` });
      for (const o of others) o.send({ type: 'send_chat', room, text: `o${i}`, id: `o${i}` });
    }
    const total = N * 3;
    await until(() => e.inbox.filter((m) => m.type === 'chat').length >= total, 10_000, 'echoer chats');
    for (const c of [e, ...others]) await settle(c);
    const s1 = stream(e, room).filter((m) => m.type !== 'joined');
    const chats = s1.filter((m) => m.type === 'chat').map((m) => m.seq as number);
    // Every message once, in seq order, own ones included (PROTOCOL.md §3).
    expect(chats).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    // The own chat comes after its ack, and the ack is not a duplicate.
    for (const [i, m] of s1.entries()) {
      if (m.type === 'chat' && m.from === 'echoer') {
        const ackAt = s1.findIndex((x) => x.type === 'ack' && x.seq === m.seq);
        expect(ackAt).toBeGreaterThanOrEqual(0);
        expect(ackAt).toBeLessThan(i);
      }
    }
    expect(s1.filter((m) => m.type === 'ack').length).toBe(N);
    for (const o of others) {
      const seqs = o.inbox.filter((m) => m.type === 'chat' && m.room === room).map((m) => m.seq as number);
      expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1).filter((sq) => !o.inbox.some((x) => x.type === 'ack' && x.seq === sq)));
    }
  });

  it('resumes with since_seq and epoch', async () => {
    const room = 'resume';
    const w = await client('writer');
    const r = await client('reader');
    await join(w, room);
    const j0 = await join(r, room);
    for (let i = 0; i < 10; i++) w.send({ type: 'send_chat', room, text: `m${i}` });
    await until(() => r.inbox.filter((m) => m.type === 'chat').length >= 4, 5000, 'four chats');
    r.end();
    const got = r.inbox.filter((m) => m.type === 'chat').map((m) => m.seq as number);
    const last = got[got.length - 1]!;
    for (let i = 10; i < 20; i++) w.send({ type: 'send_chat', room, text: `m${i}` });
    const r2 = await client('reader');
    const j = await join(r2, room, { since_seq: last, epoch: j0.epoch });
    expect(j.recovered).toBe(true);
    expect(j.epoch).toBe(j0.epoch);
    await settle(w);
    await until(() => r2.inbox.filter((m) => m.type === 'chat').length >= 20 - last, 5000, 'resumed chats');
    await settle(r2);
    const after = r2.inbox.filter((m) => m.type === 'chat').map((m) => m.seq as number);
    expect([...got, ...after]).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // A stale epoch replays nothing and is not recovered.
    const r3 = await client('reader');
    const j3 = await join(r3, room, { since_seq: 5, epoch: 'not-the-epoch' });
    expect(j3).toMatchObject({ seq: 20, recovered: false, epoch: j0.epoch });
    await settle(r3);
    expect(r3.inbox.some((m) => m.type === 'chat')).toBe(false);
  });

  it('a join while others are sending misses and repeats nothing, and sends nothing before joined', async () => {
    const room = 'busy';
    const senders = [await client('s1'), await client('s2'), await client('s3')];
    for (const c of senders) await join(c, room);
    let stop = false;
    let sent = 0;
    const pump = (async () => {
      while (!stop) {
        for (const c of senders) c.send({ type: 'send_chat', room, text: `x${sent}`, id: `x${sent}` });
        sent++;
        await tick();
      }
    })();
    await until(() => sent >= 20, 5000, 'traffic');
    const fresh: FrameClient[] = [];
    const resumed: FrameClient[] = [];
    for (let i = 0; i < 4; i++) {
      const f = await client(`fresh${i}`);
      f.send({ type: 'join_room', room });
      fresh.push(f);
      const r = await client(`resumer${i}`);
      r.send({ type: 'join_room', room, since_seq: 3 * i + 1 });
      resumed.push(r);
      await tick();
    }
    await until(() => fresh.every((f) => f.inbox.some((m) => m.type === 'joined')), 5000, 'joins');
    await until(() => sent >= 60, 5000, 'more traffic');
    stop = true;
    await pump;
    for (const c of senders) await settle(c);
    for (const c of [...fresh, ...resumed]) await settle(c);
    const last = await engine.lastSeq(room);
    expect(last).toBe(sent * 3);
    for (const f of fresh) {
      const j = f.inbox.find((m) => m.type === 'joined')!;
      expect(j.recovered).toBeUndefined();
      expectContiguous(f, room, j.seq as number, last);
    }
    for (const [i, r] of resumed.entries()) {
      const j = r.inbox.find((m) => m.type === 'joined')!;
      expect(j.recovered).toBe(true);
      expectContiguous(r, room, 3 * i + 1, last);
    }
  });
});
