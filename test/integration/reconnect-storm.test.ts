/**
 * Reconnect storm (PROTOCOL.md §3 "Join, resume, dedup"): 500 binary
 * clients in one room lose their connections at the same moment and all come
 * back at once, resuming with `since_seq` and `epoch`, while a writer keeps
 * sending. Every client must end with seqs 1..300 exactly once, in order.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, helloClient, join, sleep, startServer, type FrameClient, type TestServer } from '../helpers/clients.js';

const CLIENTS = 500;
const BEFORE = 200;
const DURING = 100;
const BATCH = 50;
const ROOM = 'storm';

/**
 * A lean binary client for hundreds of sockets: keeps the chat seqs of one
 * room and the `joined` envelopes, counts presence frames without parsing
 * them, and remembers anything else (errors) to fail on. It stops reading
 * (pauses its socket, leaving later frames unread) once it holds `stopAt`
 * chats, so a drop finds clients at different points of the stream.
 */
class StormClient {
  sock!: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  stopAt = Number.POSITIVE_INFINITY;
  readonly seqs: number[] = [];
  readonly joined: Record<string, unknown>[] = [];
  readonly other: string[] = [];
  presence = 0;

  constructor(readonly nick: string) {}

  /** Connects and sends hello, then join_room with `extra`. */
  open(port: number, extra: Record<string, unknown>): Promise<void> {
    this.buf = Buffer.alloc(0);
    this.stopAt = Number.POSITIVE_INFINITY;
    const sock = net.connect({ port, host: '127.0.0.1' });
    this.sock = sock;
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => {});
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        sock.write(Buffer.concat([frame({ type: 'hello', nick: this.nick }), frame({ type: 'join_room', room: ROOM, ...extra })]));
        resolve();
      });
    });
  }

  private onData(d: Buffer): void {
    let buf = this.buf.length > 0 ? Buffer.concat([this.buf, d]) : d;
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) break;
      const body = buf.subarray(5, 4 + len);
      if (this.seqs.length >= this.stopAt && body.subarray(0, 24).toString('latin1').startsWith('{"type":"chat"')) {
        this.sock.pause(); // the rest stays unread: lost when the connection drops
        break;
      }
      buf = buf.subarray(4 + len);
      // Presence frames are most of the traffic of a storm; skip their JSON.
      if (body.subarray(0, 24).toString('latin1').startsWith('{"type":"member_')) {
        this.presence++;
        continue;
      }
      const env = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (env.type === 'chat' && env.room === ROOM) this.seqs.push(env.seq as number);
      else if (env.type === 'joined') this.joined.push(env);
      else if (env.type !== 'welcome') this.other.push(JSON.stringify(env));
    }
    this.buf = buf.length > 0 ? Buffer.from(buf) : Buffer.alloc(0);
  }

  get last(): number {
    return this.seqs.length > 0 ? this.seqs[this.seqs.length - 1]! : 0;
  }
}

/** Polls `pred` every few ms; fails with `what` after `ms`. */
async function until(pred: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await sleep(10);
  }
}

/** Runs `f` over `items` in batches of BATCH connections, so the listen backlog never overflows. */
async function inBatches<T>(items: T[], f: (t: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += BATCH) await Promise.all(items.slice(i, i + BATCH).map(f));
}

describe('reconnect storm', () => {
  let s: TestServer;
  let writer: FrameClient;
  const clients = Array.from({ length: CLIENTS }, (_, i) => new StormClient(`storm${i}`));

  beforeAll(async () => {
    s = await startServer({
      rate_msgs_per_sec: 100_000,
      rate_burst: 100_000,
      // Old and new connections of all 500 can overlap for a moment.
      max_connections_per_ip: 4 * CLIENTS,
    });
  });
  afterAll(async () => {
    for (const c of clients) c.sock?.destroy();
    writer?.end();
    await s.close();
  });

  it(`${CLIENTS} clients drop at once and resume while the writer goes on: seqs 1..${BEFORE + DURING} each, once, in order`, async () => {
    const t0 = Date.now();
    writer = await helloClient(s.port, 'writer');
    const wj = await join(writer, ROOM);
    let acks = 0;
    const writerErrors: unknown[] = [];
    /** Acks the writer has got so far. */
    const acked = () => {
      for (const m of writer.inbox.splice(0)) {
        if (m.type === 'ack') acks++;
        else if (m.type === 'error') writerErrors.push(m);
      }
      return acks;
    };

    await inBatches(clients, (c) => c.open(s.port, {}));
    await until(() => clients.every((c) => c.joined.length === 1), 20_000, () => `${clients.filter((c) => c.joined.length === 1).length} joined`);
    const epoch = wj.epoch as string;
    for (const c of clients) expect(c.joined[0]).toMatchObject({ room: ROOM, seq: 0, epoch });

    // Client i stops reading after i * BEFORE / CLIENTS chats; every fifth reads all.
    for (const [i, c] of clients.entries()) if (i % 5 !== 0) c.stopAt = Math.floor((i * BEFORE) / CLIENTS);
    for (let i = 1; i <= BEFORE; i++) writer.send({ type: 'send_chat', room: ROOM, text: `before ${i}`, id: `b${i}` });
    await until(() => acked() >= BEFORE, 10_000, () => `${acks} acks`);
    await until(
      () => clients.every((c) => c.seqs.length === Math.min(c.stopAt, BEFORE)),
      10_000,
      () => `${clients.filter((c) => c.seqs.length === Math.min(c.stopAt, BEFORE)).length}/${CLIENTS} at their stop point`,
    );

    // All drop at once, wherever their delivery has got to.
    const seenBefore = clients.map((c) => {
      c.sock.destroy();
      return [...c.seqs];
    });
    const spread = new Set(seenBefore.map((q) => q.length));

    // ...and come straight back, batch by batch, while the writer sends
    // DURING more: some with every batch, so joins and chats cross.
    let sent = BEFORE;
    const batches = Math.ceil(CLIENTS / BATCH);
    const writeSome = (n: number) => {
      for (let k = 0; k < n && sent < BEFORE + DURING; k++) {
        sent++;
        writer.send({ type: 'send_chat', room: ROOM, text: `during ${sent}`, id: `d${sent}` });
      }
    };
    for (let b = 0; b < batches; b++) {
      const batch = clients.slice(b * BATCH, (b + 1) * BATCH);
      const opening = Promise.all(batch.map((c) => {
        const last = c.last;
        c.seqs.length = 0;
        c.joined.length = 0;
        return c.open(s.port, { since_seq: last, epoch });
      }));
      writeSome(Math.ceil(DURING / batches / 2));
      await opening;
      writeSome(Math.ceil(DURING / batches / 2));
    }
    writeSome(DURING);
    await until(() => acked() >= BEFORE + DURING, 10_000, () => `${acks} acks`);
    const total = BEFORE + DURING;
    await until(
      () => clients.every((c) => c.last === total),
      20_000,
      () => `${clients.filter((c) => c.last === total).length}/${CLIENTS} complete`,
    );
    await sleep(50); // anything repeated after the last seq would show up here

    const expected = Array.from({ length: total }, (_, i) => i + 1);
    const bad: string[] = [];
    for (const [i, c] of clients.entries()) {
      const all = [...seenBefore[i]!, ...c.seqs];
      if (all.length !== total || all.some((q, k) => q !== expected[k])) bad.push(`${c.nick}: ${all.length} seqs, first out of place at ${all.findIndex((q, k) => q !== expected[k])}`);
      const j = c.joined[0];
      if (c.joined.length !== 1 || j?.recovered !== true || j.epoch !== epoch || (j.seq as number) < seenBefore[i]!.length) {
        bad.push(`${c.nick}: joined ${JSON.stringify(c.joined)}`);
      }
      if (c.other.length > 0) bad.push(`${c.nick}: unexpected ${c.other.slice(0, 3).join(' ')}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
    expect(writerErrors).toEqual([]);
    // Diagnostics: how far delivery had got when the storm hit, and how long it all took.
    const joinedAt = new Set(clients.map((c) => c.joined[0]!.seq as number));
    console.log(
      `reconnect storm: ${CLIENTS} clients, ${spread.size} distinct resume points (${Math.min(...spread)}..${Math.max(...spread)}), ` +
        `rejoined at ${joinedAt.size} distinct seqs (${Math.min(...joinedAt)}..${Math.max(...joinedAt)}), ${Date.now() - t0} ms`,
    );
  }, 60_000);
});
