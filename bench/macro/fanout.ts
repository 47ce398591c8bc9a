/**
 * Macro-benchmark: fan-out of one room to many binary-frame members.
 *
 * The real server runs as a child process (`node dist/src/main.js`, pinned to
 * core 0 with taskset); this process is the load generator (pinned to core 1).
 * It opens `members` binary connections (default 500) that join one room, and
 * one sender that sends `send_chat` with a `textBytes`-byte text (default 64),
 * keeping `window` messages unacknowledged (default 32) for `durationMs`
 * (default 10 s).
 *
 * Members count delivered frames by walking the u32 length prefixes
 * (PROTOCOL.md §2) in one shared read buffer — no copies, no JSON — so the
 * generator stays cheap; only the sender decodes (its acks). After the timed
 * window the sender stops, and the run waits until every acknowledged message
 * has reached every member: a lost or extra frame fails the integrity check
 * instead of inflating the figure.
 *
 * Reported: deliveries/s and acks/s over the window, ack round-trip p50/p99,
 * the server's RSS (GET /stats `memory_mb` on the same port), server and
 * generator CPU as a share of one core, per-core busy time and other
 * processes' CPU (from /proc), and frames per member read. The generator
 * warns when it is itself near a full core; frames per read well above 1
 * with the server core under ~95% busy means it fell behind and the figure
 * is a lower bound for the server (docs/performance.md).
 *
 * The server gets only environment config (its working directory is a temp
 * dir, so a `.env` in the repo does not apply): `service_*=...` in the
 * environment selects implementations. The per-connection rate limit is
 * lifted (the one sender stands in for many writers). `heartbeat_ms` (and
 * `heartbeat_timeout_ms`) are raised so that silent members are neither
 * pinged (a ping would count as a delivery) nor closed on long runs.
 *
 * Run: `npm run bench -- --only macro [--duration 10s]`, or directly
 * `node dist/bench/macro/fanout.js [--duration 10s] [--members 500] [--window 32]`.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { CLIENT_CORE, pinSelf, SERVER_CORE } from '../../src/loadgen/pin.js';
import { rowMaker, type Row } from '../lib/row.js';
import { percentile } from '../lib/stats.js';
import { cpuDelta, frame, freePort, getJson, guardServer, machineCpu, parseDuration, ServerProcess, sleep, STOP_TIMEOUT_MS, stopServer, waitFor } from './server-process.js';

export { parseDuration };
export type { Row };

/** Options of one fan-out run. */
export interface FanoutOptions {
  /** Length of the timed window, ms. */
  durationMs: number;
  /** Member connections in the room (the sender comes on top). */
  members: number;
  /** Unacknowledged send_chat messages kept in flight by the sender. */
  window: number;
  /** UTF-8 bytes of each chat `text` (ASCII, so also characters). */
  textBytes: number;
  /** Progress lines (default: stderr). */
  log: (line: string) => void;
}

/** Everything one run measured. */
export interface FanoutResult {
  options: Omit<FanoutOptions, 'log'>;
  node: string;
  serverPinning: string;
  generatorPinning: string;
  windowS: number;
  deliveries: number;
  deliveriesPerS: number;
  acks: number;
  acksPerS: number;
  /** Per-second deliveries over the window: min and max of the whole seconds. */
  deliveriesPerSMin: number;
  deliveriesPerSMax: number;
  ackP50Ms: number;
  ackP99Ms: number;
  ackMaxMs: number;
  /** Per-member deliveries in the window, min and max (fairness). */
  memberMin: number;
  memberMax: number;
  serverRssIdleMiB: number;
  serverRssLoadMiB: number;
  /** `/stats` read just after the window (its rates cover the last 10 s). */
  serverStats: Record<string, unknown>;
  serverCpu: number | null;
  /** User share of serverCpu (the rest is system time: write syscalls and the loopback TCP path). */
  serverCpuUser: number | null;
  generatorCpu: number;
  /** Delivered frames per member read in the window: above 1 means the kernel batched frames because the generator lagged. */
  framesPerRead: number;
  /** User share of generatorCpu (the rest is system time: reads, epoll). */
  generatorCpuUser: number;
  /**
   * Interrupt and softirq CPU of the machine during the window, in cores: on
   * loopback this is mostly the TCP stack's receive work, run on the writer's core.
   */
  softirqCpu: number | null;
  /** Busy share of the server's and the generator's core (everything on it, softirq included); null unpinned or without /proc. */
  serverCoreBusy: number | null;
  generatorCoreBusy: number | null;
  /** CPU used by everything else (other processes) during the window, in cores; null without /proc. */
  otherCpu: number | null;
  /** Deliveries after drain vs acknowledged messages × members. */
  delivered: number;
  expected: number;
  membersClosed: number;
  senderErrors: Record<string, number>;
  serverLog: string[];
  warnings: string[];
}

export const DEFAULTS: Omit<FanoutOptions, 'log'> = { durationMs: 10_000, members: 500, window: 32, textBytes: 64 };

const ROOM = 'fanout';
const SENDER_NICK = 'bench-sender';
/** Frames the generator accepts (the server's default max_frame_bytes + 1). */
const MAX_LENGTH = 65536 + 1;
const SETUP_TIMEOUT_MS = 60_000;
const DRAIN_TIMEOUT_MS = 20_000;
const CONNECT_BATCH = 100;



// ------------------------------------------------------------------ members

/**
 * One shared read buffer for every member socket: reads are handed to the
 * callback synchronously and counted in place, so one buffer serves all.
 */
const READ_BUF = Buffer.allocUnsafe(256 * 1024);
/** Read callbacks across all members (frames per read shows how much the kernel batched). */
let memberReads = 0;

/** A member connection: joins the room, then only counts frames. */
class Member {
  readonly sock: net.Socket;
  /** Frames received after `joined`. */
  frames = 0;
  /** Bytes of the current frame still to skip. */
  private skip = 0;
  /** Bytes of a length prefix split across reads, and their value so far. */
  private pfill = 0;
  private pacc = 0;
  /** Bytes before `joined` was complete (copied; setup only). */
  private setupBuf: Buffer | null = Buffer.alloc(0);
  closed = false;
  failure: string | null = null;
  readonly joined: Promise<void>;
  private resolveJoined!: () => void;
  private rejectJoined!: (err: Error) => void;

  constructor(port: number) {
    this.joined = new Promise((resolve, reject) => {
      this.resolveJoined = resolve;
      this.rejectJoined = reject;
    });
    this.sock = net.connect({
      port,
      host: '127.0.0.1',
      noDelay: true,
      onread: { buffer: READ_BUF, callback: (n: number) => this.onRead(n) },
    });
    this.sock.once('connect', () => this.sock.write(frame({ type: 'join_room', room: ROOM })));
    this.sock.on('error', (err) => {
      this.failure ??= err.message;
      this.rejectJoined(err);
    });
    this.sock.once('close', () => {
      this.closed = true;
      this.rejectJoined(new Error(`member closed before joined${this.failure ? `: ${this.failure}` : ''}`));
    });
  }

  private onRead(n: number): boolean {
    memberReads++;
    if (this.setupBuf === null) this.count(READ_BUF, 0, n);
    else this.setup(n);
    return true;
  }

  /** Until `joined`: collects bytes, decodes the first frame, then counts the rest. */
  private setup(n: number): void {
    const buf = Buffer.concat([this.setupBuf!, READ_BUF.subarray(0, n)]);
    if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) {
      this.setupBuf = buf;
      return;
    }
    const len = buf.readUInt32BE(0);
    this.setupBuf = null;
    let env: { type?: string; code?: string };
    try {
      env = JSON.parse(buf.subarray(5, 4 + len).toString('utf8')) as typeof env;
    } catch {
      env = {};
    }
    if (env.type !== 'joined') {
      this.failure = `first frame is ${env.type}${env.code ? ` (${env.code})` : ''}, not joined`;
      this.rejectJoined(new Error(this.failure));
      return;
    }
    this.resolveJoined();
    this.count(buf, 4 + len, buf.length);
  }

  /** Counts complete frames in buf[start, end) by their u32 length prefixes; no decoding. */
  private count(buf: Buffer, start: number, end: number): void {
    let off = start;
    while (off < end) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, end - off);
        this.skip -= take;
        off += take;
        if (this.skip === 0) this.frames++;
        continue;
      }
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
      if (len === 0 || len > MAX_LENGTH) {
        this.failure = `bad frame length ${len} from server`;
        this.sock.destroy();
        return;
      }
      if (end - off >= len) {
        off += len;
        this.frames++;
      } else {
        this.skip = len - (end - off);
        off = end;
      }
    }
  }
}

// ------------------------------------------------------------------ sender

interface SenderEnvelope {
  type: string;
  id?: string;
  code?: string;
  fatal?: boolean;
  members?: number;
  message?: string;
  ref?: string;
}

/** The sender: decodes everything it receives (acks), keeps `window` messages in flight. */
class Sender {
  readonly sock: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiters: { type: string; resolve: (e: SenderEnvelope) => void }[] = [];
  running = false;
  inflight = 0;
  sent = 0;
  acks = 0;
  readonly errors: Record<string, number> = {};
  fatal: string | null = null;
  closed = false;
  private readonly sentAt = new Map<string, number>();
  /** Ack round trips in ms, during the timed window. */
  readonly rtt: number[] = [];
  recordRtt = false;
  private readonly textPad: string;

  constructor(
    port: number,
    private readonly window: number,
    textBytes: number,
  ) {
    this.textPad = 'fan-out benchmark message '.repeat(Math.ceil(textBytes / 26) + 1);
    this.textPad = this.textPad.slice(0, textBytes);
    this.sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.sock.on('data', (d: Buffer) => this.onData(d));
    this.sock.on('error', (err) => (this.fatal ??= err.message));
    this.sock.once('close', () => {
      this.closed = true;
      for (const w of this.waiters) w.resolve({ type: 'closed' });
      this.waiters = [];
    });
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sock.once('connect', () => resolve());
      this.sock.once('error', reject);
    });
  }

  /** The next envelope of `type` (an `error` or a close resolves too). */
  next(type: string, timeoutMs = 10_000): Promise<SenderEnvelope> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sender: no ${type} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        type,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  send(obj: unknown): void {
    this.sock.write(frame(obj));
  }

  private onData(d: Buffer): void {
    let buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let off = 0;
    this.sock.cork();
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (buf.length - off < 4 + len) break;
      const env = JSON.parse(buf.subarray(off + 5, off + 4 + len).toString('utf8')) as SenderEnvelope;
      off += 4 + len;
      this.onEnvelope(env);
    }
    this.sock.uncork();
    buf = buf.subarray(off);
    this.buf = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }

  private onEnvelope(env: SenderEnvelope): void {
    if (env.type === 'ack') {
      this.acks++;
      this.inflight--;
      const t = this.sentAt.get(env.id!);
      if (t !== undefined) {
        this.sentAt.delete(env.id!);
        if (this.recordRtt) this.rtt.push(performance.now() - t);
      }
      this.pump();
      return;
    }
    if (env.type === 'error') {
      const code = env.code ?? '?';
      this.errors[code] = (this.errors[code] ?? 0) + 1;
      if (env.fatal) this.fatal = `${code}: ${env.message}`;
      else if (env.ref !== undefined && this.sentAt.delete(env.ref)) {
        // A refused send_chat (error.ref is its id) frees its slot in the window, after a pause so
        // that a refusing server does not turn the sender into a busy loop.
        this.inflight--;
        setTimeout(() => this.pump(), 10).unref();
      }
    }
    const i = this.waiters.findIndex((w) => w.type === env.type || env.type === 'error');
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(env);
  }

  /** Keeps `window` messages in flight while running. */
  pump(): void {
    while (this.running && this.inflight < this.window && !this.closed) {
      const id = `m${++this.sent}`;
      this.sentAt.set(id, performance.now());
      this.inflight++;
      this.sock.write(frame({ type: 'send_chat', room: ROOM, id, text: this.textPad }));
    }
  }
}

// ------------------------------------------------------------------ the run

/**
 * One fan-out run. Starts and stops its own server; every socket and the
 * child are gone when it settles, and it settles within setup + duration +
 * drain + stop timeouts (a watchdog kills everything past that).
 */
export async function runFanout(opts: Partial<FanoutOptions> = {}): Promise<FanoutResult> {
  const o: FanoutOptions = { ...DEFAULTS, log: (l) => process.stderr.write(`[fanout] ${l}\n`), ...opts };
  const { log } = o;
  const generatorPinning = pinSelf(CLIENT_CORE);
  const warnings: string[] = [];
  let server: ServerProcess | null = null;
  const members: Member[] = [];
  let sender: Sender | null = null;
  const unguard = guardServer(() => server);

  const closeSockets = async () => {
    const socks = [...members.map((m) => m.sock), ...(sender ? [sender.sock] : [])];
    for (const s of socks) s.destroy();
    const ok = await waitFor(() => socks.every((s) => s.closed), 5000);
    if (!ok) warnings.push('some generator sockets did not report close within 5 s');
  };

  const budgetMs = SETUP_TIMEOUT_MS + o.durationMs + DRAIN_TIMEOUT_MS + 2 * STOP_TIMEOUT_MS + 10_000;
  let watchdog: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    watchdog = setTimeout(() => {
      server?.kill();
      for (const m of members) m.sock.destroy();
      sender?.sock.destroy();
      reject(new Error(`fan-out run exceeded its ${Math.round(budgetMs / 1000)} s budget; everything was killed`));
    }, budgetMs);
  });

  const body = async (): Promise<FanoutResult> => {
    const port = await freePort();
    server = await ServerProcess.start(port, {
      max_connections: String(Math.max(10_000, o.members * 2 + 100)),
      max_connections_per_ip: String(Math.max(1000, o.members * 2 + 100)),
      // One sender stands in for a room's many writers: its rate is the load, not abuse.
      rate_msgs_per_sec: '1000000',
      rate_burst: '1000000',
    });
    log(`server pid ${server.child.pid} on 127.0.0.1:${port} (${server.pinning}); generator pid ${process.pid} (${generatorPinning})`);

    // Members join in batches (the accept backlog is finite); each waits for its own `joined`.
    const tSetup = performance.now();
    for (let i = 0; i < o.members; i += CONNECT_BATCH) {
      const batch: Member[] = [];
      for (let j = i; j < Math.min(o.members, i + CONNECT_BATCH); j++) batch.push(new Member(port));
      members.push(...batch);
      await Promise.all(batch.map((m) => m.joined));
    }
    sender = new Sender(port, o.window, o.textBytes);
    await sender.connected();
    sender.send({ type: 'hello', nick: SENDER_NICK, echo: false });
    const welcome = await sender.next('welcome');
    if (welcome.type !== 'welcome') throw new Error(`sender: expected welcome, got ${JSON.stringify(welcome)}`);
    sender.send({ type: 'join_room', room: ROOM });
    const joined = await sender.next('joined');
    if (joined.type !== 'joined' || joined.members !== o.members + 1) {
      throw new Error(`sender: expected joined with ${o.members + 1} members, got ${JSON.stringify(joined)}`);
    }
    // Every join told the members already there: 0 + 1 + … + (members-1), plus the sender's join.
    const presence = (o.members * (o.members - 1)) / 2 + o.members;
    const total = () => members.reduce((s, m) => s + m.frames, 0);
    if (!(await waitFor(() => total() >= presence, 30_000))) throw new Error(`members got ${total()} of ${presence} member_joined frames`);
    await sleep(200);
    if (total() !== presence) warnings.push(`members got ${total()} presence frames, expected ${presence}`);
    log(`${o.members} members + sender joined in ${((performance.now() - tSetup) / 1000).toFixed(1)} s`);
    const idle = await getJson(port, '/stats');

    // The timed window.
    const base = members.map((m) => m.frames);
    const reads0 = memberReads;
    const baseTotal = total();
    const perSecond: number[] = [];
    let lastTotal = baseTotal;
    const cpu0 = process.cpuUsage();
    const scpu0 = server.cpuSeconds();
    const m0 = machineCpu();
    const t0 = performance.now();
    sender.running = true;
    sender.recordRtt = true;
    sender.pump();
    const ticker = setInterval(() => {
      const t = total();
      perSecond.push(t - lastTotal);
      lastTotal = t;
    }, 1000);
    await sleep(o.durationMs);
    sender.running = false;
    sender.recordRtt = false;
    const t1 = performance.now();
    const deliveries = total() - baseTotal;
    const reads = memberReads - reads0;
    const acks = sender.acks;
    const cpu = process.cpuUsage(cpu0);
    const scpu1 = server.cpuSeconds();
    const m1 = machineCpu();
    clearInterval(ticker);
    const windowS = (t1 - t0) / 1000;
    const memberDeliveries = members.map((m, i) => m.frames - base[i]!);
    const loaded = await getJson(port, '/stats').catch((err: Error) => {
      warnings.push(`GET /stats after the window failed: ${err.message}`);
      return {} as Record<string, unknown>;
    });

    // Drain: every acknowledged message must reach every member exactly once.
    if (!(await waitFor(() => sender!.inflight <= 0 || sender!.closed, DRAIN_TIMEOUT_MS / 2))) {
      warnings.push(`${sender.inflight} messages still unacknowledged ${DRAIN_TIMEOUT_MS / 2000} s after the window`);
    }
    const expected = sender.acks * o.members + presence;
    await waitFor(() => total() >= expected || members.some((m) => m.closed), DRAIN_TIMEOUT_MS / 2);
    await sleep(100);
    const delivered = total() - presence;
    const membersClosed = members.filter((m) => m.closed).length;
    if (delivered !== expected - presence) {
      warnings.push(`integrity: members received ${delivered} chat frames for ${sender.acks} acknowledged messages × ${o.members} = ${expected - presence}`);
    }
    if (membersClosed > 0) {
      const why = [...new Set(members.filter((m) => m.failure).map((m) => m.failure))].slice(0, 3).join('; ');
      warnings.push(`${membersClosed} member connections were closed by the server during the run${why ? ` (${why})` : ''}`);
    }
    if (sender.fatal) warnings.push(`sender got a fatal error: ${sender.fatal}`);
    if (Object.keys(sender.errors).length > 0) warnings.push(`sender got error envelopes: ${JSON.stringify(sender.errors)}`);

    const generatorCpu = (cpu.user + cpu.system) / 1e6 / windowS;
    const serverCpu = scpu0 !== null && scpu1 !== null ? (scpu1.user + scpu1.system - scpu0.user - scpu0.system) / windowS : null;
    const serverCpuUser = scpu0 !== null && scpu1 !== null ? (scpu1.user - scpu0.user) / windowS : null;
    const all = cpuDelta(m0, m1, 'all', windowS);
    const softirqCpu = all ? all.softirq : null;
    // Softirq run in a process's context is charged to that process here (no IRQ time accounting on
    // typical VM kernels), so "other" is the machine's busy time minus the two processes.
    const otherCpu = all && serverCpu !== null ? Math.max(0, all.busy - serverCpu - generatorCpu) : null;
    const pinned = server.pinning.startsWith('core') && generatorPinning.startsWith('core');
    const serverCoreBusy = pinned ? (cpuDelta(m0, m1, `cpu${SERVER_CORE}`, windowS)?.busy ?? null) : null;
    const generatorCoreBusy = pinned ? (cpuDelta(m0, m1, `cpu${CLIENT_CORE}`, windowS)?.busy ?? null) : null;
    if (generatorCpu > 0.85) {
      const pct = (x: number | null) => (x === null ? '?' : `${(x * 100).toFixed(0)}%`);
      warnings.push(
        `the load generator used ${pct(generatorCpu)} of a core: near saturation, so deliveries/s may be limited by the generator ` +
          `as well as by the server (server ${pct(serverCpu)} of a core, server core ${pct(serverCoreBusy)} busy)`,
      );
    }
    if (otherCpu !== null && otherCpu > 0.15) {
      warnings.push(
        `other processes used ${(otherCpu * 100).toFixed(0)}% of a core during the window: the machine was not quiet, expect noise`,
      );
    }
    const rtt = sender.rtt.sort((a, b) => a - b);
    const whole = perSecond.length > 0 ? perSecond : [deliveries / windowS];
    const num = (v: unknown) => (typeof v === 'number' ? v : NaN);

    const { log: _log, ...options } = o;
    return {
      options,
      node: process.version,
      serverPinning: server.pinning,
      generatorPinning,
      windowS,
      deliveries,
      deliveriesPerS: deliveries / windowS,
      acks,
      acksPerS: acks / windowS,
      deliveriesPerSMin: Math.min(...whole),
      deliveriesPerSMax: Math.max(...whole),
      ackP50Ms: percentile(rtt, 50),
      ackP99Ms: percentile(rtt, 99),
      ackMaxMs: rtt.length > 0 ? rtt[rtt.length - 1]! : NaN,
      memberMin: Math.min(...memberDeliveries),
      memberMax: Math.max(...memberDeliveries),
      serverRssIdleMiB: num(idle.memory_mb),
      serverRssLoadMiB: num(loaded.memory_mb),
      serverStats: loaded,
      serverCpu,
      serverCpuUser,
      generatorCpu,
      generatorCpuUser: cpu.user / 1e6 / windowS,
      framesPerRead: reads > 0 ? deliveries / reads : NaN,
      softirqCpu,
      serverCoreBusy,
      generatorCoreBusy,
      otherCpu,
      delivered,
      expected: expected - presence,
      membersClosed,
      senderErrors: { ...sender.errors },
      serverLog: [],
      warnings,
    };
  };

  let result: FanoutResult | undefined;
  try {
    result = await Promise.race([body(), timeout]);
  } finally {
    clearTimeout(watchdog);
    await closeSockets();
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
export function fanoutRows(r: FanoutResult): Row[] {
  const c = `${r.options.members} members, window ${r.options.window}, ${r.options.textBytes}-byte text`;
  const row = rowMaker('fanout', c);
  return [
    row('deliveries/s', r.deliveriesPerS, '/s', `${r.deliveries} in ${r.windowS.toFixed(2)} s; per second ${Math.round(r.deliveriesPerSMin)}–${Math.round(r.deliveriesPerSMax)}; per member ${r.memberMin}–${r.memberMax}`),
    row('acks/s', r.acksPerS, '/s', `${r.acks} messages acknowledged`),
    row('ack round trip p50', r.ackP50Ms, 'ms'),
    row('ack round trip p99', r.ackP99Ms, 'ms', `max ${r.ackMaxMs.toFixed(1)} ms`),
    row('server RSS after setup', r.serverRssIdleMiB, 'MiB', `${r.options.members + 1} connections, idle`),
    row('server RSS after load', r.serverRssLoadMiB, 'MiB'),
    row(
      'server CPU',
      r.serverCpu === null ? NaN : r.serverCpu * 100,
      '% of a core',
      r.serverCpu === null || r.serverCpuUser === null
        ? r.serverPinning
        : `${r.serverPinning}; user ${(r.serverCpuUser * 100).toFixed(0)}%, system ${((r.serverCpu - r.serverCpuUser) * 100).toFixed(0)}%`,
    ),
    row('generator CPU', r.generatorCpu * 100, '% of a core', `${r.generatorPinning}; user ${(r.generatorCpuUser * 100).toFixed(0)}%, system ${((r.generatorCpu - r.generatorCpuUser) * 100).toFixed(0)}%`),
    row('frames per member read', r.framesPerRead, 'frames', 'above 1: the kernel batched frames while the generator lagged'),
    row(`server core busy`, r.serverCoreBusy === null ? NaN : r.serverCoreBusy * 100, '%', 'everything on that core, softirq included'),
    row(`generator core busy`, r.generatorCoreBusy === null ? NaN : r.generatorCoreBusy * 100, '%', 'everything on that core, softirq included'),
    row('softirq CPU (TCP stack)', r.softirqCpu === null ? NaN : r.softirqCpu * 100, '% of a core', 'all cores; here charged to the process it ran in'),
    row('other CPU on the machine', r.otherCpu === null ? NaN : r.otherCpu * 100, '% of a core', 'should be near 0 for a clean run'),
    row('integrity', r.expected === 0 ? NaN : (100 * r.delivered) / r.expected, '%', `${r.delivered} of ${r.expected} delivered after drain; ${r.membersClosed} members closed`),
  ];
}

/** Runs the fan-out benchmark and returns table rows. */
export async function runFanoutBench(opts: Partial<FanoutOptions> = {}): Promise<Row[]> {
  return fanoutRows(await runFanout(opts));
}

/** `--duration 10s --members 500 --window 32 --text 64` (env BENCH_DURATION etc. as defaults). */
export function parseFanoutArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Partial<FanoutOptions> {
  const out: Partial<FanoutOptions> = {};
  if (env.BENCH_DURATION) out.durationMs = parseDuration(env.BENCH_DURATION);
  if (env.BENCH_MEMBERS) out.members = Number(env.BENCH_MEMBERS);
  if (env.BENCH_WINDOW) out.window = Number(env.BENCH_WINDOW);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--duration') out.durationMs = parseDuration(value());
    else if (flag === '--members') out.members = Number(value());
    else if (flag === '--window') out.window = Number(value());
    else if (flag === '--text') out.textBytes = Number(value());
  }
  for (const k of ['members', 'window', 'textBytes'] as const) {
    const v = out[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new Error(`--${k} must be a positive integer`);
  }
  if (out.durationMs !== undefined && out.durationMs < 1000) throw new Error('--duration must be at least 1s');
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runFanout(parseFanoutArgs(process.argv.slice(2)));
  for (const row of fanoutRows(r)) {
    console.log(`${row.metric.padEnd(24)} ${Number.isFinite(row.value) ? row.value.toFixed(row.unit === '/s' ? 0 : row.value < 10 ? 2 : 1) : 'n/a'} ${row.unit}${row.note ? `  (${row.note})` : ''}`);
  }
  console.log(`server /stats after the window: ${JSON.stringify(r.serverStats)}`);
}
