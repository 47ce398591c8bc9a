/**
 * Slow consumers (PROTOCOL.md §3 `slow_consumer`, `gap`; docs/guarantees.md):
 * a client that stops reading costs the server at most its outbound budget,
 * never the others' delivery.
 *
 * Everything runs in one process (vitest `pool: 'forks'` gives this file its
 * own), so `process.memoryUsage.rss()` is the server's RSS plus the test
 * clients'. The clients keep counters, not messages; kernel socket buffers
 * are not in RSS. Growth is the peak of samples taken while the stream runs,
 * minus a baseline taken after every client is connected, with a full GC
 * every 100 ms so garbage does not count as growth.
 *
 * The many-clients bound is the one that discriminates: with the budget
 * lifted (max_outbound_bytes 1 GiB) the same run grew RSS by 87–118 MiB,
 * with it by about 10 MiB. In the 50-reader run most of the growth is the
 * readers' own traffic (~300 MiB through 50 in-process sockets), so its bound
 * is a sanity check; the slow consumer's closure is asserted directly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/index.js';
import { fullGc as gc } from '../helpers/checks.js';
import { FrameClient, httpRequest, join, sleep, startServer, type TestServer } from '../helpers/clients.js';

const MiB = 1024 * 1024;
const KiB = 1024;
/** Rate limits out of the way: the sender must be able to stream. */
const FAST = { rate_msgs_per_sec: 100_000, rate_burst: 100_000 } as const;

/** One entry of a client's delivery log: a chat's seq, or a `gap` range. */
type LogEntry = number | { from: number; to: number };

/**
 * A binary client that keeps counters for `chat` and `ack` instead of
 * queueing them (50 receivers × thousands of 2 KB chats would otherwise be
 * the test's own memory), and optionally a log of chat seqs and gaps.
 * Other envelopes go to the inbox as usual.
 */
class StreamClient extends FrameClient {
  /** seq of the last chat (or end of the last gap) seen. */
  lastSeq = 0;
  chats = 0;
  acks = 0;
  /** Chats whose seq was not lastSeq + 1. */
  misordered = 0;
  /** Chat seqs and gaps in arrival order, when `keepLog`. */
  readonly log: LogEntry[] = [];
  keepLog = false;
  private conds: { cond: () => boolean; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }[] = [];

  /** Connects, says hello as `nick`, joins `room`; lastSeq starts at joined.seq. */
  static async open(port: number, nick: string, room: string): Promise<StreamClient> {
    const c = new StreamClient();
    await c.dial(port);
    c.sock.on('close', () => c.check());
    c.send({ type: 'hello', nick });
    if (!(await c.type('welcome'))) throw new Error(`no welcome for ${nick}`);
    c.lastSeq = (await join(c, room)).seq as number;
    return c;
  }

  protected override push(m: Envelope): void {
    if (m.type === 'chat') {
      const seq = m.seq as number;
      if (seq !== this.lastSeq + 1) this.misordered++;
      this.lastSeq = seq;
      this.chats++;
      if (this.keepLog) this.log.push(seq);
    } else if (m.type === 'ack') {
      this.acks++;
    } else if (m.type === 'gap' && this.keepLog) {
      const g = { from: m.from_seq as number, to: m.to_seq as number };
      if (g.from !== this.lastSeq + 1) this.misordered++;
      this.lastSeq = g.to;
      this.log.push(g);
    } else {
      super.push(m);
      return;
    }
    this.check();
  }

  private check(): void {
    for (const w of [...this.conds]) {
      if (w.cond() || this.closed) {
        this.conds.splice(this.conds.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(w.cond());
      }
    }
  }

  /** Resolves true once `cond` holds, false after `ms` or on close without it. */
  until(cond: () => boolean, ms = 5000): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = {
        cond,
        resolve,
        timer: setTimeout(() => {
          this.conds.splice(this.conds.indexOf(w), 1);
          resolve(cond());
        }, ms),
      };
      this.conds.push(w);
    });
  }
}


/** Peak RSS over a run: sampled every 5 ms when the event loop lets it, with a full GC every 100 ms. */
function rssSampler(): { baseline: number; peak: () => number; stop: () => void } {
  gc();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  let ticks = 0;
  const t = setInterval(() => {
    if (++ticks % 20 === 0) gc();
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  return { baseline, peak: () => Math.max(peak, process.memoryUsage.rss()), stop: () => clearInterval(t) };
}

/** A chat text of exactly `bytes` bytes that names its index in the stream. */
const textOf = (i: number, bytes: number) => `${i}:`.padEnd(bytes, 'x');

/** Resolves true once `cond` holds (polled every 10 ms), false after `ms`. */
async function eventually(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

let s: TestServer | null = null;
let clients: FrameClient[] = [];
afterEach(async () => {
  for (const c of clients) c.end();
  clients = [];
  await s?.close();
  s = null;
});

describe('policy disconnect (default)', () => {
  it('closes the one client that never reads with slow_consumer; 50 readers get every seq in order; RSS growth < 128 MiB', async () => {
    const maxOut = 256 * KiB;
    s = await startServer({ ...FAST, max_outbound_bytes: maxOut });
    const room = 'stream';
    const sender = await StreamClient.open(s.port, 'sender', room);
    const readers: StreamClient[] = [];
    for (let i = 0; i < 50; i++) readers.push(await StreamClient.open(s.port, `reader${i}`, room));
    const slow = await StreamClient.open(s.port, 'slow', room);
    slow.sock.pause(); // never reads again
    clients = [sender, ...readers, slow];
    const base = sender.lastSeq;
    const connections = s.server.stats().connections;
    expect(connections).toBe(52);

    const mem = rssSampler();
    // Stream 2 KB chats in batches; each batch waits for every reader, so the
    // readers never build a backlog and only `slow` does.
    const batch = 50;
    const extraAfterClose = 1000;
    const cap = 20_000;
    let sent = 0;
    let sentAtClose = 0;
    while (sent < cap && (sentAtClose === 0 || sent < sentAtClose + extraAfterClose)) {
      for (let i = 0; i < batch; i++) sender.send({ type: 'send_chat', room, text: textOf(++sent, 2048) });
      const target = base + sent;
      const ok = await Promise.all(readers.map((r) => r.until(() => r.lastSeq >= target)));
      expect(ok.every(Boolean), `all readers got seq ${target}`).toBe(true);
      expect(await sender.until(() => sender.acks >= sent)).toBe(true);
      if (sentAtClose === 0 && s.server.stats().slow_consumer_disconnects_total >= 1) sentAtClose = sent;
    }
    mem.stop();
    const growth = mem.peak() - mem.baseline;
    console.log(`[slow-consumer disconnect] sent ${sent} x 2 KiB to 51 clients; slow closed after ${sentAtClose} (~${((sentAtClose * 2) / 1024).toFixed(1)} MiB); RSS baseline ${(mem.baseline / MiB).toFixed(1)} MiB, peak growth ${(growth / MiB).toFixed(1)} MiB`);

    expect(sentAtClose, 'slow consumer detected').toBeGreaterThan(0);
    const stats = s.server.stats();
    expect(stats.slow_consumer_disconnects_total).toBeGreaterThanOrEqual(1);
    expect(stats.plugin_errors_total).toBe(0);
    expect(sender.acks).toBe(sent);
    expect(sender.inbox.filter((m) => m.type === 'error')).toEqual([]);
    for (const r of readers) {
      expect(r.closed).toBe(false);
      expect(r.misordered).toBe(0);
      expect(r.chats).toBe(sent);
      expect(r.lastSeq).toBe(base + sent);
    }
    // The server's side of `slow` is gone (FIN, then destroyed within 1 s) ...
    expect(await eventually(() => s!.server.stats().connections === connections - 1, 3000)).toBe(true);
    // ... and once it reads again it sees the close after an in-order prefix.
    slow.sock.resume();
    expect(await slow.waitClose(3000)).toBe(true);
    expect(slow.misordered).toBe(0);
    expect(slow.lastSeq).toBeLessThan(base + sent);
    expect(growth).toBeLessThan(128 * MiB);
  });
});

describe('policy drop', () => {
  it('drops chats for a paused client, then sends one gap for exactly the dropped range; history fills it', async () => {
    const maxOut = 64 * KiB;
    s = await startServer({ ...FAST, max_outbound_bytes: maxOut, slow_consumer_policy: 'drop', history_per_room: 100_000, max_frame_bytes: 4 * MiB });
    const room = 'dropping';
    const sender = await StreamClient.open(s.port, 'sender', room);
    const readers: StreamClient[] = [];
    for (let i = 0; i < 10; i++) readers.push(await StreamClient.open(s.port, `reader${i}`, room));
    const slow = await StreamClient.open(s.port, 'slow', room);
    slow.keepLog = true;
    slow.sock.pause();
    clients = [sender, ...readers, slow];
    const base = sender.lastSeq;
    const connections = s.server.stats().connections;
    const text = 1024;

    let sent = 0;
    const streamBatch = async (n: number) => {
      for (let i = 0; i < n; i++) sender.send({ type: 'send_chat', room, text: textOf(++sent, text) });
      const target = base + sent;
      const ok = await Promise.all(readers.map((r) => r.until(() => r.lastSeq >= target)));
      expect(ok.every(Boolean), `all readers got seq ${target}`).toBe(true);
    };

    // 1. slow is paused: the stream goes on until a good number of its chats were dropped.
    while (s.server.stats().dropped_total < 100 && sent < 20_000) await streamBatch(20);
    const droppedWhilePaused = s.server.stats().dropped_total;
    expect(droppedWhilePaused).toBeGreaterThanOrEqual(100);
    expect(s.server.stats().slow_consumer_disconnects_total).toBe(0);
    expect(s.server.stats().connections).toBe(connections);
    expect(slow.closed).toBe(false);
    const sentWhilePaused = sent;

    // 2. slow reads again while the stream goes on: it gets its gap once drained.
    slow.sock.resume();
    const hasGap = () => slow.log.some((e) => typeof e === 'object');
    while (!hasGap() && sent < sentWhilePaused + 5000) await streamBatch(5);
    expect(hasGap(), 'gap arrived').toBe(true);
    // 3. later live chats come after the gap.
    await streamBatch(100);
    const last = base + sent;
    expect(await slow.until(() => slow.lastSeq >= last)).toBe(true);
    console.log(`[slow-consumer drop] sent ${sent}; dropped ${s.server.stats().dropped_total} (${droppedWhilePaused} while paused); log: ${slow.log.filter((e) => typeof e === 'number').length} chats, gap ${JSON.stringify(slow.log.find((e) => typeof e === 'object'))}`);

    // Every seq exactly once, in order: chats 1..a, gap a+1..b, chats b+1..last.
    const gaps = slow.log.filter((e): e is { from: number; to: number } => typeof e === 'object');
    expect(gaps).toHaveLength(1);
    const gap = gaps[0]!;
    const covered: number[] = [];
    for (const e of slow.log) {
      if (typeof e === 'number') covered.push(e);
      else for (let q = e.from; q <= e.to; q++) covered.push(q);
    }
    expect(covered).toEqual(Array.from({ length: sent }, (_, i) => base + 1 + i));
    expect(slow.misordered).toBe(0);
    const gapAt = slow.log.indexOf(gap);
    expect(gapAt).toBeGreaterThan(0); // chats up to the drop point first
    expect(gapAt).toBeLessThan(slow.log.length - 1); // live chats after it
    expect(gap.to - gap.from + 1).toBeGreaterThanOrEqual(droppedWhilePaused);
    // Only slow dropped anything, and nothing but chats.
    expect(s.server.stats().dropped_total).toBe(gap.to - gap.from + 1);
    expect(s.server.stats().slow_consumer_disconnects_total).toBe(0);
    expect(slow.closed).toBe(false);
    for (const r of readers) {
      expect(r.misordered).toBe(0);
      expect(r.chats).toBe(sent);
    }

    // history fills the gap with exactly the dropped messages.
    slow.send({ type: 'history', room, since_seq: gap.from - 1, limit: gap.to - gap.from + 1 });
    const h = await slow.type('history', 5000);
    expect(h).not.toBeNull();
    expect(h!.more).toBeUndefined();
    const msgs = h!.messages as Envelope[];
    expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: gap.to - gap.from + 1 }, (_, i) => gap.from + i));
    for (const m of msgs) expect(m).toMatchObject({ room, from: 'sender', text: textOf((m.seq as number) - base, text) });

    const metrics = await httpRequest(s.port, '/metrics');
    const dropped = Number(/^tcpserver_dropped_frames_total (\d+)/m.exec(metrics.body)?.[1] ?? 0);
    expect(dropped).toBe(gap.to - gap.from + 1);
  });
});

describe('many clients that never read', () => {
  for (const policy of ['drop', 'disconnect'] as const) {
    it(`policy ${policy}: 100 paused clients, 64 MiB streamed: RSS growth < 100 x 2 x max_outbound_bytes (64 KiB) + 32 MiB`, async () => {
      const maxOut = 64 * KiB;
      s = await startServer({ ...FAST, max_outbound_bytes: maxOut, slow_consumer_policy: policy });
      const room = `idle-${policy}`;
      const sender = await StreamClient.open(s.port, 'sender', room);
      const idle: StreamClient[] = [];
      for (let i = 0; i < 100; i++) {
        const c = await StreamClient.open(s.port, `idle${i}`, room);
        c.sock.pause();
        idle.push(c);
      }
      clients = [sender, ...idle];

      const mem = rssSampler();
      const total = 16_000;
      const text = textOf(0, 4096);
      for (let sent = 0; sent < total; ) {
        for (let i = 0; i < 100; i++, sent++) sender.send({ type: 'send_chat', room, text });
        expect(await sender.until(() => sender.acks >= sent, 5000)).toBe(true);
      }
      mem.stop();
      const growth = mem.peak() - mem.baseline;
      const stats = s.server.stats();
      const bound = 100 * 2 * maxOut + 32 * MiB;
      console.log(`[slow-consumer many/${policy}] streamed ${total} x 4 KiB to 100 paused clients; dropped ${stats.dropped_total}, disconnected ${stats.slow_consumer_disconnects_total}; RSS baseline ${(mem.baseline / MiB).toFixed(1)} MiB, peak growth ${(growth / MiB).toFixed(1)} MiB (bound ${(bound / MiB).toFixed(1)} MiB)`);

      expect(sender.acks).toBe(total);
      expect(stats.plugin_errors_total).toBe(0);
      if (policy === 'drop') {
        expect(stats.slow_consumer_disconnects_total).toBe(0);
        expect(stats.dropped_total).toBeGreaterThan(total * 50);
      } else {
        expect(stats.slow_consumer_disconnects_total).toBe(100);
        expect(await eventually(() => s!.server.stats().connections === 1, 3000)).toBe(true);
      }
      expect(growth).toBeLessThan(bound);
    });
  }
});
