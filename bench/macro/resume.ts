/**
 * Macro-benchmark: resume cost, i.e. replaying a room's retained history to
 * clients that rejoin with `since_seq` (PROTOCOL.md §3 "Resume").
 *
 * The real server runs as a child process (bench/macro/server-process.ts,
 * pinned to core 0); this process is the client side (pinned to core 1).
 * One filler connection sends `messages` (default 1000) `send_chat`s with a
 * `textBytes`-byte text (default 64) and an `id` into room `resume`, waits
 * for every ack, and leaves. Then, per round:
 *
 * 1. `clients` fresh binary connections (default 100) connect and say
 *    `hello`; each waits for its `welcome`. None is in the room yet.
 * 2. Timed: all of them are sent `join_room` with `since_seq: 0` in one loop
 *    (one shared encoded frame), and the clock stops when the last client
 *    has received the `chat` with seq `messages`.
 * 3. Checked: every client got `joined` with seq = `messages` and
 *    `recovered: true`, then exactly seqs 1..`messages` in order, and, once
 *    settled, the `member_joined` frames of the clients that joined after it
 *    (clients × (clients − 1) / 2 in all). Then every connection is closed.
 *
 * Clients do not decode chats: a frame is walked by its u32 length prefix
 * (PROTOCOL.md §2) in one shared read buffer, and only its first bytes are
 * looked at, to tell a `chat` (whose JSON starts
 * `{"type":"chat","room":"resume","seq":`) by its bytes and read its seq
 * digits in place. Every other frame (welcome, joined, member_joined, errors)
 * is decoded.
 *
 * The default run has two cases on one server, `rounds` rounds each
 * (default 5): 100 clients × 1000 messages (a reconnect wave after a blip)
 * and 1 client × 1000 messages (the cost of one replay). Reported: the time
 * from the first join written to the last client complete, median / min /
 * max over rounds, and replayed messages/s = clients × messages / time.
 *
 * Server config, environment only (a `.env` in the repo does not apply):
 * the rate limit is lifted for the filler, `history_per_room` is at least
 * `messages`, `room_idle_ms` is an hour (the room is empty between rounds),
 * and the overload check is off (`max_latency_ms=0`): a replay holds the
 * event loop for milliseconds, which would otherwise make the server shed
 * presence part-way through a run.
 *
 * Run: `npm run bench -- --only resume`, or directly
 * `node dist/bench/macro/resume.js [--clients 100] [--messages 1000] [--rounds 5]`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { rowMaker, type Row } from '../lib/row.js';
import { median } from '../lib/stats.js';
import { CLIENT_CORE, pinSelf, SERVER_CORE, waitQuiet } from '../../src/loadgen/pin.js';
import { cpuDelta, frame, freePort, guardServer, machineCpu, parseDuration, ServerProcess, sleep, STOP_TIMEOUT_MS, stopServer, ticksPerSecond, waitFor } from './server-process.js';

/** Options of a resume run. */
export interface ResumeOptions {
  /** Clients rejoining at once in the main case. */
  clients: number;
  /** Messages in the room, all replayed (since_seq 0). */
  messages: number;
  /** Rounds per case, each with fresh connections. */
  rounds: number;
  /** UTF-8 bytes of each chat `text`. */
  textBytes: number;
  /** Also run the 1-client case (per-client cost). */
  single: boolean;
  /**
   * Before each round, wait up to this long for the machine to be under 8%
   * busy (0: do not wait). A round lasts about a second, so one busy spell of
   * another process spoils it; rounds that still saw other CPU are flagged.
   */
  waitQuietMs: number;
  /** Progress lines (default: stderr). */
  log: (line: string) => void;
}

/** One round of one case. */
export interface ResumeRound {
  /** First join written → last client has seq `messages`, ms. */
  ms: number;
  /** First join written → first client complete, ms. */
  firstMs: number;
  /** Median client's completion, ms. */
  medianClientMs: number;
  /** CPU over the round (snapshot to snapshot), ms; server from /proc (10 ms ticks); null without /proc. */
  serverCpuMs: number | null;
  serverCpuUserMs: number | null;
  generatorCpuMs: number;
  /**
   * CPU of the kernel's softirq threads (ksoftirqd/N) over the round, ms. On
   * loopback the TCP receive path runs there when the kernel defers it under
   * load: this is the benchmark's own traffic, not another process.
   */
  ksoftirqdCpuMs: number | null;
  /** Other processes' CPU during the round, ms (machine busy − server − generator − ksoftirqd); null without /proc. */
  otherCpuMs: number | null;
  /** Wall time between the CPU snapshots, ms. */
  wallMs: number;
  /** Frames received per read callback (above 1: the kernel batched). */
  framesPerRead: number;
  /** Busy share of the server's core over the round (everything on it); null unpinned or without /proc. */
  serverCoreBusy: number | null;
}

/** One case: `clients` × `messages`. */
export interface ResumeCase {
  clients: number;
  messages: number;
  rounds: ResumeRound[];
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** clients × messages / medianMs, per second. */
  messagesPerS: number;
}

/** Everything one run measured. */
export interface ResumeResult {
  options: Omit<ResumeOptions, 'log'>;
  node: string;
  serverPinning: string;
  generatorPinning: string;
  /** Wire bytes of the last replayed chat frame (seq `messages`), length prefix included. */
  chatFrameBytes: number;
  cases: ResumeCase[];
  serverLog: string[];
  warnings: string[];
}

export const RESUME_DEFAULTS: Omit<ResumeOptions, 'log'> = { clients: 100, messages: 1000, rounds: 5, textBytes: 64, single: true, waitQuietMs: 0 };

const ROOM = 'resume';
const FILLER_WINDOW = 32;
/** Frames the client accepts (the server's default max_frame_bytes + 1). */
const MAX_LENGTH = 65536 + 1;
/** Bytes of a frame (flags byte included) looked at to classify it. */
const HEAD_BYTES = 64;
/** How a replayed chat's JSON starts: type, room, then seq (key order of the room log's envelope). */
const CHAT_PREFIX = Buffer.from(`{"type":"chat","room":"${ROOM}","seq":`);
const ROUND_TIMEOUT_MS = 60_000;
const CONNECT_BATCH = 100;

/** One shared read buffer for every client socket: reads are handled synchronously in place. */
const READ_BUF = Buffer.allocUnsafe(256 * 1024);
let reads = 0;
let framesIn = 0;

interface Env {
  type: string;
  [k: string]: unknown;
}

/** A binary connection that decodes everything but replayed chats, which it only counts and seq-checks. */
class Client {
  readonly sock: net.Socket;
  closed = false;
  failure: string | null = null;
  /** Chats counted since the last `expectFrom`, and the next seq expected. */
  chats = 0;
  nextSeq = 1;
  seqErrors = 0;
  /** Seq whose arrival completes the round, and when it arrived (performance.now()). */
  target = Infinity;
  doneAt = 0;
  onDone: (() => void) | null = null;
  memberJoined = 0;
  /** Wire bytes of the last chat frame seen (length prefix included). */
  lastChatBytes = 0;
  joined: Env | null = null;
  readonly errors: string[] = [];
  private waiters: { type: string; resolve: (e: Env) => void }[] = [];
  onEnvelope: ((e: Env) => void) | null = null;
  // Frame walking state.
  private pfill = 0;
  private pacc = 0;
  /** Body bytes (flags byte included) of the current frame, and how many are still to come; need 0: between frames. */
  private len = 0;
  private need = 0;
  private readonly head = Buffer.allocUnsafe(HEAD_BYTES);
  private hfill = 0;
  private skipping = false;
  private full: Buffer | null = null;
  private ffill = 0;

  constructor(port: number, hello: Env | null) {
    this.sock = net.connect({
      port,
      host: '127.0.0.1',
      noDelay: true,
      onread: { buffer: READ_BUF, callback: (n: number) => this.onRead(n) },
    });
    if (hello) this.sock.once('connect', () => this.sock.write(frame(hello)));
    this.sock.on('error', (err) => (this.failure ??= err.message));
    this.sock.once('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w.resolve({ type: 'closed' });
    });
  }

  /** The next envelope of `type`; an `error` or the close resolves too. */
  next(type: string, timeoutMs = 15_000): Promise<Env> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} within ${timeoutMs} ms${this.failure ? ` (${this.failure})` : ''}`)), timeoutMs);
      this.waiters.push({
        type,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  /** Arms the completion check: chats from seq `from` are expected, done at seq `target`. */
  expect(from: number, target: number, onDone: () => void): void {
    this.chats = 0;
    this.nextSeq = from;
    this.target = target;
    this.doneAt = 0;
    this.onDone = onDone;
  }

  private onRead(n: number): boolean {
    reads++;
    this.walk(READ_BUF, 0, n);
    return true;
  }

  /** Walks buf[off, end) frame by frame; only a frame's first HEAD_BYTES are looked at unless it is not a chat. */
  private walk(buf: Buffer, off: number, end: number): void {
    while (off < end) {
      if (this.need === 0) {
        let len: number;
        if (this.pfill === 0 && end - off >= 4) {
          len = buf.readUInt32BE(off);
          off += 4;
        } else {
          this.pacc = this.pacc * 256 + buf[off++]!;
          if (++this.pfill < 4) continue;
          len = this.pacc;
          this.pacc = 0;
          this.pfill = 0;
        }
        if (len === 0 || len > MAX_LENGTH) return this.fail(`bad frame length ${len} from server`);
        this.len = this.need = len;
        this.hfill = 0;
        this.skipping = false;
        this.full = null;
        continue;
      }
      const avail = Math.min(this.need, end - off);
      if (this.skipping) {
        off += avail;
        if ((this.need -= avail) === 0) this.endFrame();
        continue;
      }
      if (this.full !== null) {
        buf.copy(this.full, this.ffill, off, off + avail);
        this.ffill += avail;
        off += avail;
        if ((this.need -= avail) === 0) this.endFrame();
        continue;
      }
      // Looking at the head: in place when it is all here, else gathered across reads.
      const headLen = Math.min(HEAD_BYTES, this.len);
      let hb: Buffer, hs: number;
      if (this.hfill === 0 && avail >= headLen) {
        hb = buf;
        hs = off;
      } else {
        const take = Math.min(headLen - this.hfill, avail);
        buf.copy(this.head, this.hfill, off, off + take);
        this.hfill += take;
        off += take;
        this.need -= take;
        if (this.hfill < headLen) continue;
        hb = this.head;
        hs = 0;
      }
      if (hb[hs] !== 0) return this.fail(`frame flags ${hb[hs]}: no codec was agreed`);
      const seq = chatSeq(hb, hs + 1, hs + headLen);
      if (seq >= 0) {
        this.skipping = true;
        this.lastChatBytes = 4 + this.len;
        this.onChat(seq);
      } else {
        this.full = Buffer.allocUnsafe(this.len);
        if (hb === this.head) {
          this.head.copy(this.full, 0, 0, this.hfill);
          this.ffill = this.hfill;
        } else this.ffill = 0;
      }
      if (this.need === 0) this.endFrame();
    }
  }

  private endFrame(): void {
    framesIn++;
    const full = this.full;
    this.full = null;
    if (full === null) return;
    let env: Env;
    try {
      env = JSON.parse(full.subarray(1).toString('utf8')) as Env;
    } catch {
      return this.fail('undecodable frame from server');
    }
    this.onEnv(env);
  }

  private onChat(seq: number): void {
    this.chats++;
    if (seq !== this.nextSeq) this.seqErrors++;
    this.nextSeq = seq + 1;
    if (seq === this.target && this.doneAt === 0) {
      this.doneAt = performance.now();
      this.onDone?.();
    }
  }

  private onEnv(env: Env): void {
    if (env.type === 'member_joined') this.memberJoined++;
    else if (env.type === 'joined') this.joined = env;
    else if (env.type === 'error') this.errors.push(`${String(env.code)}: ${String(env.message)}`);
    this.onEnvelope?.(env);
    const i = this.waiters.findIndex((w) => w.type === env.type || env.type === 'error');
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(env);
  }

  private fail(why: string): void {
    this.failure ??= why;
    this.sock.destroy();
  }
}

/** The seq of a chat of room ROOM whose JSON (without the flags byte) is at b[s, e); −1 when it is not such a chat. */
function chatSeq(b: Buffer, s: number, e: number): number {
  const p = CHAT_PREFIX;
  if (e - s <= p.length) return -1;
  for (let i = 0; i < p.length; i++) if (b[s + i] !== p[i]) return -1;
  let seq = 0, i = s + p.length;
  for (; i < e; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x39) break;
    seq = seq * 10 + (c - 0x30);
  }
  return i === s + p.length || i === e ? -1 : seq;
}

/** `p`, or a rejection with `why()` after `ms`; the timer is cleared either way. */
async function withTimeout<T>(p: Promise<T>, ms: number, why: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(why())), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Pids of the kernel's ksoftirqd/N threads; empty without /proc. */
function ksoftirqdPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return readFileSync(`/proc/${d}/comm`, 'utf8').startsWith('ksoftirqd/');
        } catch {
          return false;
        }
      })
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds (user + system) used so far by `pids`; null when one cannot be read. */
function pidsCpuSeconds(pids: number[]): number | null {
  if (pids.length === 0) return null;
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += (Number(f[11]) + Number(f[12])) / ticksPerSecond();
    } catch {
      return null;
    }
  }
  return sum;
}

/** Fills ROOM with `messages` chats from one connection (window FILLER_WINDOW), then leaves. */
async function fill(port: number, messages: number, textBytes: number): Promise<void> {
  const c = new Client(port, { type: 'hello', nick: 'bench-filler', echo: false });
  try {
    const w = await c.next('welcome');
    if (w.type !== 'welcome') throw new Error(`filler: expected welcome, got ${JSON.stringify(w)}`);
    c.sock.write(frame({ type: 'join_room', room: ROOM }));
    const j = await c.next('joined');
    if (j.type !== 'joined' || j.seq !== 0) throw new Error(`filler: expected joined at seq 0 (a fresh room), got ${JSON.stringify(j)}`);
    const text = 'resume benchmark message '.repeat(Math.ceil(textBytes / 25) + 1).slice(0, textBytes);
    let sent = 0, acked = 0, lastSeq = 0;
    const done = new Promise<void>((resolve, reject) => {
      const pump = () => {
        while (sent < messages && sent - acked < FILLER_WINDOW) c.sock.write(frame({ type: 'send_chat', room: ROOM, id: `f${++sent}`, text }));
      };
      c.onEnvelope = (e) => {
        if (e.type === 'error') return reject(new Error(`filler got error ${String(e.code)}: ${String(e.message)}`));
        if (e.type !== 'ack') return;
        acked++;
        lastSeq = e.seq as number;
        if (acked === messages) resolve();
        else pump();
      };
      pump();
    });
    await withTimeout(done, ROUND_TIMEOUT_MS, () => `filler: ${acked} of ${messages} acks within ${ROUND_TIMEOUT_MS / 1000} s`);
    if (lastSeq !== messages) throw new Error(`filler: last ack has seq ${lastSeq}, want ${messages}`);
    c.onEnvelope = null;
    c.sock.write(frame({ type: 'leave_room', room: ROOM }));
    const left = await c.next('left');
    if (left.type !== 'left') throw new Error(`filler: expected left, got ${JSON.stringify(left)}`);
  } finally {
    c.sock.destroy();
  }
}

/** Closes `clients` and waits for every close (the server then sends member_left to those still open). */
async function closeAll(clients: Client[]): Promise<boolean> {
  for (const c of clients) c.sock.destroy();
  return waitFor(() => clients.every((c) => c.closed), 5000);
}

/** One round: `n` fresh hello'd clients rejoin with since_seq 0 at once; timed until the last has seq `messages`. */
async function round(server: ServerProcess, port: number, n: number, messages: number, tag: string, warnings: string[], softirqPids: number[]): Promise<ResumeRound & { chatFrameBytes: number }> {
  const clients: Client[] = [];
  try {
    for (let i = 0; i < n; i += CONNECT_BATCH) {
      const batch: Client[] = [];
      for (let j = i; j < Math.min(n, i + CONNECT_BATCH); j++) batch.push(new Client(port, { type: 'hello', nick: `${tag}-${j}`, echo: false }));
      clients.push(...batch);
      const ws = await Promise.all(batch.map((c) => c.next('welcome')));
      const bad = ws.find((w) => w.type !== 'welcome');
      if (bad) throw new Error(`client setup: expected welcome, got ${JSON.stringify(bad)}`);
    }
    await sleep(100);
    let pending = n;
    let allDone!: () => void;
    const finished = new Promise<void>((r) => (allDone = r));
    for (const c of clients) c.expect(1, messages, () => --pending === 0 && allDone());
    const join = frame({ type: 'join_room', room: ROOM, since_seq: 0 });

    const reads0 = reads, frames0 = framesIn;
    const cpu0 = process.cpuUsage();
    const s0 = server.cpuSeconds();
    const m0 = machineCpu();
    const k0 = pidsCpuSeconds(softirqPids);
    const w0 = performance.now();
    const t0 = performance.now();
    for (const c of clients) c.sock.write(join);
    await withTimeout(finished, ROUND_TIMEOUT_MS, () => {
      const ex = clients.find((c) => c.doneAt === 0);
      return `${pending} of ${n} clients incomplete after ${ROUND_TIMEOUT_MS / 1000} s (one at ${ex?.chats} chats, ${ex?.failure ?? ex?.errors[0] ?? 'no error'})`;
    });
    const w1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const s1 = server.cpuSeconds();
    const m1 = machineCpu();
    const k1 = pidsCpuSeconds(softirqPids);
    const frames = framesIn - frames0, rds = reads - reads0;
    const done = clients.map((c) => c.doneAt - t0).sort((a, b) => a - b);

    // Integrity: joined, every seq once in order, then presence of later joiners.
    for (const c of clients) {
      const j = c.joined;
      if (!j || j.seq !== messages || j.recovered !== true) throw new Error(`client ${tag}: joined was ${JSON.stringify(j)}, want seq ${messages} recovered true`);
      if (c.chats !== messages || c.seqErrors !== 0) throw new Error(`client ${tag}: ${c.chats} chats with ${c.seqErrors} out of order, want seqs 1..${messages}`);
    }
    const presence = (n * (n - 1)) / 2;
    const mj = () => clients.reduce((s, c) => s + c.memberJoined, 0);
    if (!(await waitFor(() => mj() >= presence, 5000))) warnings.push(`${tag}: clients got ${mj()} member_joined frames, expected ${presence}`);
    await sleep(50);
    const extra = clients.reduce((s, c) => s + c.chats, 0) - n * messages;
    if (extra !== 0) warnings.push(`${tag}: ${extra} chat frames beyond the replay`);
    const errs = clients.flatMap((c) => c.errors);
    if (errs.length > 0) warnings.push(`${tag}: ${errs.length} error envelopes, first: ${errs[0]}`);

    const wallS = (w1 - w0) / 1000;
    const serverCpu = s0 && s1 ? s1.user + s1.system - s0.user - s0.system : null;
    const genCpu = (cpu.user + cpu.system) / 1e6;
    const all = cpuDelta(m0, m1, 'all', 1);
    const ksoftirqd = k0 !== null && k1 !== null ? k1 - k0 : null;
    const pinned = server.pinning.startsWith('core');
    const core = pinned ? cpuDelta(m0, m1, `cpu${SERVER_CORE}`, wallS) : null;
    return {
      chatFrameBytes: clients[0]!.lastChatBytes,
      ms: done[done.length - 1]!,
      firstMs: done[0]!,
      medianClientMs: median(done),
      serverCpuMs: serverCpu === null ? null : serverCpu * 1000,
      serverCpuUserMs: s0 && s1 ? (s1.user - s0.user) * 1000 : null,
      generatorCpuMs: genCpu * 1000,
      ksoftirqdCpuMs: ksoftirqd === null ? null : ksoftirqd * 1000,
      otherCpuMs: all && serverCpu !== null ? Math.max(0, all.busy - serverCpu - genCpu - (ksoftirqd ?? 0)) * 1000 : null,
      wallMs: w1 - w0,
      framesPerRead: rds > 0 ? frames / rds : NaN,
      serverCoreBusy: core ? core.busy : null,
    };
  } finally {
    if (!(await closeAll(clients))) warnings.push(`${tag}: some client sockets did not report close within 5 s`);
  }
}

/**
 * One resume run: starts its own server, fills the room, runs the cases and
 * stops the server; every socket and the child are gone when it settles.
 */
export async function runResume(opts: Partial<ResumeOptions> = {}): Promise<ResumeResult> {
  const o: ResumeOptions = { ...RESUME_DEFAULTS, log: (l) => process.stderr.write(`[resume] ${l}\n`), ...opts };
  for (const k of ['clients', 'messages', 'rounds', 'textBytes'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`resume: ${k} must be a positive integer`);
  }
  const { log } = o;
  const generatorPinning = pinSelf(CLIENT_CORE);
  const warnings: string[] = [];
  let server: ServerProcess | null = null;
  const unguard = guardServer(() => server);

  const body = async (): Promise<ResumeResult> => {
    const port = await freePort();
    server = await ServerProcess.start(port, {
      max_connections: String(Math.max(10_000, o.clients * 2 + 100)),
      max_connections_per_ip: String(Math.max(1000, o.clients * 2 + 100)),
      // The filler writes the room's history as fast as acks come back: its rate is set-up, not abuse.
      rate_msgs_per_sec: '1000000',
      rate_burst: '1000000',
      history_per_room: String(Math.max(1000, o.messages)),
      // The room is empty between rounds; it must keep its log.
      room_idle_ms: '3600000',
      // Each join's replay holds the event loop for milliseconds, above the default 1 ms p99 overload
      // threshold: the server would start shedding presence (member_joined) part-way through a run, and
      // rounds would stop being alike. Servers without the overload check ignore the key.
      max_latency_ms: '0',
    });
    log(`server pid ${server.child.pid} on 127.0.0.1:${port} (${server.pinning}); generator pid ${process.pid} (${generatorPinning})`);
    const tFill = performance.now();
    await fill(port, o.messages, o.textBytes);
    log(`room filled with ${o.messages} messages in ${((performance.now() - tFill) / 1000).toFixed(1)} s`);

    const cases: ResumeCase[] = [];
    let chatFrameBytes = 0;
    const softirqPids = ksoftirqdPids();
    const sizes = o.single && o.clients !== 1 ? [o.clients, 1] : [o.clients];
    for (const n of sizes) {
      const rounds: ResumeRound[] = [];
      for (let r = 0; r < o.rounds; r++) {
        if (o.waitQuietMs > 0) {
          const busy = await waitQuiet(o.waitQuietMs, 0.08);
          if (busy !== null && busy >= 0.08) log(`machine still ${(busy * 100).toFixed(0)}% busy before round ${r + 1}; running anyway`);
        }
        const { chatFrameBytes: bytes, ...rr } = await round(server, port, n, o.messages, `c${n}r${r + 1}`, warnings, softirqPids);
        chatFrameBytes = bytes;
        rounds.push(rr);
        log(
          `${n} client(s) × ${o.messages}: round ${r + 1}/${o.rounds}: last complete ${rr.ms.toFixed(1)} ms (first ${rr.firstMs.toFixed(1)} ms), ` +
            `server CPU ${rr.serverCpuMs === null ? '?' : rr.serverCpuMs.toFixed(0)} ms, generator CPU ${rr.generatorCpuMs.toFixed(0)} ms, ` +
            `ksoftirqd ${rr.ksoftirqdCpuMs === null ? '?' : rr.ksoftirqdCpuMs.toFixed(0)} ms, other ${rr.otherCpuMs === null ? '?' : rr.otherCpuMs.toFixed(0)} ms`,
        );
        // Let the server finish the disconnects (member_left to the rest) before the next round.
        await sleep(300);
      }
      const times = rounds.map((x) => x.ms);
      const med = median(times);
      cases.push({ clients: n, messages: o.messages, rounds, medianMs: med, minMs: Math.min(...times), maxMs: Math.max(...times), messagesPerS: (n * o.messages) / (med / 1000) });
    }
    const gen = cases.flatMap((c) => c.rounds.filter((r) => r.generatorCpuMs > 0.85 * r.wallMs));
    if (gen.length > 0) warnings.push(`the client process used over 85% of a core in ${gen.length} round(s): completion times may include its lag`);
    const noisy = cases.flatMap((c) => c.rounds.filter((r) => r.otherCpuMs !== null && r.otherCpuMs > 0.15 * r.wallMs && r.wallMs >= 100));
    if (noisy.length > 0) warnings.push(`other processes used over 15% of a core in ${noisy.length} round(s): the machine was not quiet, expect noise`);
    const { log: _log, ...options } = o;
    return { options, node: process.version, serverPinning: server.pinning, generatorPinning, chatFrameBytes, cases, serverLog: [], warnings };
  };

  // Per round: its own timeout, set-up and close, and the wait for a quiet machine (2 s samples).
  const budgetMs = 30_000 + 2 * o.rounds * (ROUND_TIMEOUT_MS + 10_000 + o.waitQuietMs + 2_000) + 2 * STOP_TIMEOUT_MS;
  let watchdog: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    watchdog = setTimeout(() => {
      server?.kill();
      reject(new Error(`resume run exceeded its ${Math.round(budgetMs / 1000)} s budget; the server was killed`));
    }, budgetMs);
  });
  let result: ResumeResult | undefined;
  try {
    result = await Promise.race([body(), timeout]);
  } finally {
    clearTimeout(watchdog);
    const srv = server as ServerProcess | null;
    if (srv) {
      const serverLog = await stopServer(srv, warnings);
      if (result) result.serverLog = serverLog;
    }
    unguard();
  }
  result = result!;
  if (result.serverLog.length > 0) warnings.push(`server logged ${result.serverLog.length} line(s) at warn or above; first: ${result.serverLog[0]}`);
  for (const w of warnings) log(`WARNING: ${w}`);
  return result;
}

/** Rows for bench/run.ts. */
export function resumeRows(r: ResumeResult): Row[] {
  const rows: Row[] = [];
  for (const c of r.cases) {
    const cs = `${c.clients} client${c.clients === 1 ? '' : 's'} × ${c.messages} messages (${c.rounds.length} rounds)`;
    const row = rowMaker('resume', cs);
    const list = (f: (x: ResumeRound) => number | null, d = 1) => c.rounds.map((x) => { const v = f(x); return v === null ? '?' : v.toFixed(d); }).join(', ');
    const med = (f: (x: ResumeRound) => number | null) => {
      const v = c.rounds.map(f);
      return v.some((x) => x === null) ? NaN : median(v as number[]);
    };
    rows.push(row('time to last client complete', c.medianMs, 'ms', `median; min ${c.minMs.toFixed(1)}, max ${c.maxMs.toFixed(1)}; rounds: ${list((x) => x.ms)}`));
    rows.push(row('replayed messages/s', c.messagesPerS, '/s', `${c.clients} × ${c.messages} / median time; rounds: ${c.rounds.map((x) => Math.round((c.clients * c.messages) / (x.ms / 1000))).join(', ')}`));
    if (c.clients > 1) {
      rows.push(row('time to first client complete', med((x) => x.firstMs), 'ms', `median; rounds: ${list((x) => x.firstMs)}`));
      rows.push(row('time to median client complete', med((x) => x.medianClientMs), 'ms', `median; rounds: ${list((x) => x.medianClientMs)}`));
    }
    // /proc counts CPU in 10 ms ticks: rounds much shorter than that say nothing about CPU.
    if (median(c.rounds.map((x) => x.wallMs)) < 100) {
      rows.push(row('generator CPU per round', med((x) => x.generatorCpuMs), 'ms', `median; ${r.generatorPinning}; server CPU not shown: rounds under 100 ms are below /proc's 10 ms resolution`));
      continue;
    }
    rows.push(row('server CPU per round', med((x) => x.serverCpuMs), 'ms', `median; ${r.serverPinning}; /proc ticks of 10 ms; rounds: ${list((x) => x.serverCpuMs, 0)}; user ${list((x) => x.serverCpuUserMs, 0)}`));
    rows.push(row('generator CPU per round', med((x) => x.generatorCpuMs), 'ms', `median; ${r.generatorPinning}; rounds: ${list((x) => x.generatorCpuMs, 0)}`));
    rows.push(row('server core busy', med((x) => (x.serverCoreBusy === null ? null : x.serverCoreBusy * 100)), '%', `median over the rounds' wall time; rounds: ${list((x) => (x.serverCoreBusy === null ? null : x.serverCoreBusy * 100), 0)}`));
    rows.push(row('ksoftirqd CPU per round', med((x) => x.ksoftirqdCpuMs), 'ms', `median; the kernel's deferred TCP receive work (this run's traffic); rounds: ${list((x) => x.ksoftirqdCpuMs, 0)}`));
    rows.push(row('other CPU on the machine', med((x) => x.otherCpuMs), 'ms', `median per round; should be near 0; rounds: ${list((x) => x.otherCpuMs, 0)}`));
    rows.push(row('frames per client read', med((x) => x.framesPerRead), 'frames', `median; rounds: ${list((x) => x.framesPerRead, 1)}`));
  }
  return rows;
}

/** Runs the resume benchmark and returns table rows. */
export async function runResumeBench(opts: Partial<ResumeOptions> = {}): Promise<Row[]> {
  return resumeRows(await runResume(opts));
}

/** `--clients 100 --messages 1000 --rounds 5 --text 64 --no-single --wait-quiet 60s` (env BENCH_RESUME_ROUNDS as a default for --rounds). */
export function parseResumeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Partial<ResumeOptions> {
  const out: Partial<ResumeOptions> = {};
  if (env.BENCH_RESUME_ROUNDS) out.rounds = Number(env.BENCH_RESUME_ROUNDS);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--clients') out.clients = Number(value());
    else if (flag === '--messages') out.messages = Number(value());
    else if (flag === '--rounds') out.rounds = Number(value());
    else if (flag === '--text') out.textBytes = Number(value());
    else if (flag === '--no-single') out.single = false;
    else if (flag === '--wait-quiet') out.waitQuietMs = parseDuration(value());
    else throw new Error(`resume: unknown flag ${a}`);
  }
  for (const k of ['clients', 'messages', 'rounds', 'textBytes'] as const) {
    const v = out[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new Error(`--${k === 'textBytes' ? 'text' : k} must be a positive integer`);
  }
  if (out.messages !== undefined && out.messages > 100_000) throw new Error('--messages is at most 100000 (history_per_room)');
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runResume(parseResumeArgs(process.argv.slice(2)));
  for (const row of resumeRows(r)) {
    console.log(`${row.case.padEnd(40)} ${row.metric.padEnd(30)} ${Number.isFinite(row.value) ? row.value.toFixed(row.unit === '/s' ? 0 : 1) : 'n/a'} ${row.unit}${row.note ? `  (${row.note})` : ''}`);
  }
}
