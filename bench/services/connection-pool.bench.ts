/**
 * Benchmark of the connection-pool service (src/services/connection-pool/):
 * the baseline (the sweep visits every connection every tick) against the
 * timer wheel (the sweep visits the connections whose check is due).
 *
 * (a) sweep cost per tick, in this process, at 10k and 50k registered fake
 *     connections: `pool.due(now)`, then for each yielded connection the
 *     server's check (a copy of ChatServer.sweepOne's reads and arithmetic;
 *     a ping is counted and answered at once) and `pool.schedule`. Cases:
 *     - `0% due`: the same `now` again — no check time falls in this tick;
 *     - `1% due`: time moves one 1-s tick per iteration, heartbeat_ms
 *       100 s, so each connection comes up once per 100 ticks;
 *     - `defaults`: the server's defaults (heartbeat 30 s, 1-s tick): a
 *       ping per connection every 30 s, answered at once (≈3.3% per tick).
 *     Also the heap the pool's own structures take per connection (store
 *     entry and per-address count; the wheel's store holds a node with two
 *     links instead of the connection), from `gc()` + heapUsed.
 * (b) memory per idle connection: the real server (`node dist/src/main.js`,
 *     pinned to core 0, bench/macro/server-process.ts) with max_connections
 *     and max_connections_per_ip 25 000; 10 000 binary connections from two
 *     client processes (this file with `--client`), each sends `hello` and
 *     waits for `welcome` (so its mode is decided), then stays silent.
 *     RSS from GET /stats (`memory_mb`) and /proc/<pid>/status before and
 *     after, each after `--settle` quiet (default 120 s); KiB per connection.
 *     Also the peak while settling: the server's V8 young generation grows
 *     to its maximum (16 → 32 MiB) during the burst of connecting (~1.6 KiB
 *     per connection at 10k) until V8's memory reducer gives it back — seen
 *     20 to 60 s after the burst, hence the long settle (both readings get
 *     it, so the server's own start-up garbage is not counted either).
 * (c) hold: 19 000 idle connections over two client processes, heartbeats on
 *     (heartbeat_ms 30 000, clients answer every ping), the server's CPU from
 *     /proc/<pid>/stat over a 30-s window that starts when the last one is
 *     welcomed (most of the first ping round falls in it), as a share of one
 *     core; pings answered in the window, connections open at its end, RSS.
 *
 * Run: `npx tsc -p . && node dist/bench/services/connection-pool.bench.js`
 * (flags: `--only sweep,memory,hold`, `--impls baseline,wheel`,
 * `--repeat N` runs of (b) and (c) per implementation, alternating,
 * `--memory-conns 10000`, `--hold-conns 19000`, `--hold 30s`,
 * `--heartbeat 30000`, `--settle 120s` before each RSS reading of (b),
 * `--time 500` ms per tinybench task, `--json FILE`).
 * The fd limit applies per process (`ulimit -n`): each client process holds
 * half of the connections, the server all of them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Bench } from 'tinybench';
import type { ConnectionPool, Pooled } from '../../src/services/connection-pool/index.js';
import { SimpleConnectionPool } from '../../src/services/connection-pool/baseline.js';
import { TimerWheelPool, type WheelNode } from '../../src/services/connection-pool/timer-wheel.js';
import { createMapStore } from '../../src/services/sharded-map/baseline.js';
import { CLIENT_CORE, pinSelf } from '../../src/loadgen/pin.js';
import { frame, freePort, getJson, parseDuration, ServerProcess, sleep } from '../macro/server-process.js';
import type { Row } from '../lib/row.js';
import { median } from '../lib/stats.js';

export type { Row };

const BENCH = 'connection-pool';
type Impl = 'baseline' | 'wheel';
type Part = 'sweep' | 'memory' | 'hold';

// ------------------------------------------------------------------ (a) sweep cost per tick

/** The fields of Connection that the sweep reads (same names, same shape for every fake). */
class FakeConn implements Pooled {
  mode: 'binary' | 'text' | 'http' = 'binary';
  detected = true;
  closing = false;
  gaps: Map<string, unknown> | null = null;
  midFrameSinceMs = 0;
  pingSentMs = 0;
  readonly connectedMs: number;
  constructor(
    readonly id: number,
    readonly remoteAddress: string,
    public lastInboundMs: number,
  ) {
    this.connectedMs = lastInboundMs;
  }
}

interface Limits {
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  textIdleMs: number;
  frameDeadlineMs: number;
}

/** Head timeout of an HTTP request, ms (src/core/http.ts HEAD_TIMEOUT_MS). */
const HEAD_TIMEOUT_MS = 5000;

/** Counters of what a sweep did. */
const acted = { pings: 0, closed: 0, checked: 0 };

/**
 * ChatServer.sweepOne on a fake: the same reads, comparisons and next-time
 * arithmetic; a ping is counted and the client answers it at once (its bytes
 * arrive, as in onData), closes are counted.
 */
function sweepOne(conn: FakeConn, now: number, cfg: Limits): number {
  acted.checked++;
  if (conn.closing) return 0;
  const silent = now - conn.lastInboundMs;
  if (conn.midFrameSinceMs !== 0 && now - conn.midFrameSinceMs > cfg.frameDeadlineMs) {
    acted.closed++;
    return 0;
  }
  let next = conn.midFrameSinceMs !== 0 ? conn.midFrameSinceMs + cfg.frameDeadlineMs + 1 : Infinity;
  if (conn.gaps) next = now;
  if (!conn.detected || conn.mode === 'text') {
    if (silent > cfg.textIdleMs) {
      acted.closed++;
      return 0;
    }
    next = Math.min(next, conn.lastInboundMs + cfg.textIdleMs + 1);
    if (!conn.detected) next = Math.min(next, conn.connectedMs + HEAD_TIMEOUT_MS + 1, now + cfg.heartbeatMs);
  } else if (conn.mode === 'http') {
    if (now - conn.connectedMs > HEAD_TIMEOUT_MS) {
      acted.closed++;
      return 0;
    }
    next = Math.min(next, conn.connectedMs + HEAD_TIMEOUT_MS + 1);
  } else if (silent >= cfg.heartbeatTimeoutMs) {
    acted.closed++;
    return 0;
  } else {
    if (silent >= cfg.heartbeatMs && conn.pingSentMs === 0) {
      acted.pings++;
      // The pong is back at once: onData moves lastInboundMs and clears pingSentMs.
      conn.lastInboundMs = now;
    }
    next = Math.min(next, conn.lastInboundMs + (conn.pingSentMs === 0 ? cfg.heartbeatMs : cfg.heartbeatTimeoutMs));
  }
  return next;
}

/** ChatServer.sweep: one tick. */
function sweepTick(pool: ConnectionPool<FakeConn>, now: number, cfg: Limits): void {
  for (const conn of pool.due(now)) {
    const next = sweepOne(conn, now, cfg);
    if (next !== 0) pool.schedule(conn, next);
  }
}

const T0 = 1_700_000_000_000;
const TICK_MS = 1000;

function makePool(impl: Impl, n: number): ConnectionPool<FakeConn> {
  return impl === 'baseline' ? new SimpleConnectionPool<FakeConn>(n, createMapStore<number, FakeConn>(), n) : new TimerWheelPool<FakeConn>(n, createMapStore<number, WheelNode<FakeConn>>(), n, 250, 1024, T0);
}

interface SweepCase {
  name: string;
  cfg: Limits;
  /** Whether time moves one tick per iteration. */
  advance: boolean;
  /** Spread of lastInboundMs behind T0, ms (uniform). */
  spreadMs: number;
}

const SWEEP_CASES: SweepCase[] = [
  { name: '0% due', cfg: { heartbeatMs: 30_000, heartbeatTimeoutMs: 60_000, textIdleMs: 600_000, frameDeadlineMs: 10_000 }, advance: false, spreadMs: 20_000 },
  { name: '1% due', cfg: { heartbeatMs: 100_000, heartbeatTimeoutMs: 200_000, textIdleMs: 600_000, frameDeadlineMs: 100_000 }, advance: true, spreadMs: 100_000 },
  { name: 'defaults', cfg: { heartbeatMs: 30_000, heartbeatTimeoutMs: 60_000, textIdleMs: 600_000, frameDeadlineMs: 10_000 }, advance: true, spreadMs: 30_000 },
];

/** `n` fake binary connections, last heard from spread evenly over `spreadMs` before T0, all swept once (so the wheel holds them at their check times). */
function populate(impl: Impl, n: number, c: SweepCase): { pool: ConnectionPool<FakeConn>; now: number } {
  const pool = makePool(impl, n);
  for (let i = 0; i < n; i++) pool.add(new FakeConn(i + 1, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, T0 - Math.floor(((i * 7919) % n) * (c.spreadMs / n))));
  let now = T0;
  sweepTick(pool, now, c.cfg);
  // Into the steady state: one full period of ticks.
  if (c.advance) for (let t = 0; t < c.spreadMs / TICK_MS; t++) sweepTick(pool, (now += TICK_MS), c.cfg);
  return { pool, now };
}

/**
 * (a) Mean time of one sweep tick per implementation, case and size.
 * @param timeMs tinybench time budget per task, ms
 */
export async function runSweepBench(impls: Impl[], sizes: number[], timeMs: number, log: (l: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of SWEEP_CASES) {
    for (const n of sizes) {
      const bench = new Bench({ name: `${BENCH} sweep ${c.name} ${n}`, time: timeMs, warmupTime: 200, throws: true });
      const counts = new Map<string, { ticks: number; checked: number; pings: number }>();
      for (const impl of impls) {
        const { pool, now: start } = populate(impl, n, c);
        let now = start;
        const name = `${impl} ${n / 1000}k ${c.name}`;
        const k = { ticks: 0, checked: 0, pings: 0 };
        counts.set(name, k);
        bench.add(name, () => {
          if (c.advance) now += TICK_MS;
          const before = acted.checked, pings = acted.pings;
          sweepTick(pool, now, c.cfg);
          k.ticks++;
          k.checked += acted.checked - before;
          k.pings += acted.pings - pings;
        });
      }
      await bench.run();
      for (const task of bench.tasks) {
        const r = task.result;
        if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}`);
        const k = counts.get(task.name)!;
        const us = r.period * 1000;
        rows.push({
          bench: `${BENCH} sweep`,
          case: task.name,
          metric: 'µs/tick',
          value: us,
          unit: 'µs',
          rme: r.latency.rme,
          note: `p99 ${(r.latency.p99 * 1000).toFixed(1)} µs; ${(k.checked / k.ticks).toFixed(0)} checked/tick, ${(k.pings / k.ticks).toFixed(1)} pings/tick; ${((us / 1e6) * 100).toFixed(3)}% of a core at 1 tick/s`,
        });
        log(`sweep ${task.name}: ${us.toFixed(1)} µs/tick ±${r.latency.rme.toFixed(1)}% (${(k.checked / k.ticks).toFixed(0)} checked/tick)`);
      }
    }
  }
  return rows;
}

/** `gc()` without --expose-gc on the command line. */
function getGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** One reading: heap bytes per connection taken by a pool holding `n` fake connections (allocated before the first reading). */
function poolHeapOnce(impl: Impl, n: number, gc: () => void): number {
  const c = SWEEP_CASES[2]!;
  const conns = Array.from({ length: n }, (_, i) => new FakeConn(i + 1, `10.0.${(i >> 8) & 255}.${i & 255}`, T0 - ((i * 7919) % c.spreadMs)));
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const pool = makePool(impl, n);
  for (const conn of conns) pool.add(conn);
  sweepTick(pool, T0, c.cfg);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  if (pool.size !== n) throw new Error('pool lost connections');
  return (after - before) / n;
}

/**
 * Heap bytes per connection of the pool's own structures (store, per-address
 * counts, and for the wheel its nodes and id → node map), each reading in
 * its own call so nothing of the previous one is still reachable.
 */
export function runPoolHeap(impls: Impl[], n: number): Row[] {
  const gc = getGc();
  const rows: Row[] = [];
  for (const impl of impls) {
    const samples = [0, 1, 2, 3].map(() => poolHeapOnce(impl, n, gc)).slice(1); // the first warms the code up
    samples.sort((a, b) => a - b);
    rows.push({ bench: `${BENCH} heap`, case: `${impl} ${n / 1000}k`, metric: 'pool bytes/conn', value: samples[1]!, unit: 'B', note: `runs ${samples.map((s) => s.toFixed(0)).join(', ')} (256 addresses)` });
  }
  return rows;
}

// ------------------------------------------------------------------ client processes for (b) and (c)

/** Parent → client. */
type ToClient = { cmd: 'open'; port: number; count: number; concurrency: number } | { cmd: 'stats' } | { cmd: 'close' };
/** Client → parent. */
interface ClientReport {
  kind: 'opened' | 'stats';
  welcomed: number;
  failed: number;
  closed: number;
  pings: number;
  ms: number;
}

/** Frames of one socket's inbound bytes: answers `ping` with `pong`, counts `welcome`. */
class IdleClient {
  private pending: Buffer | null = null;
  welcomed = false;
  constructor(
    readonly sock: net.Socket,
    private readonly stats: { welcomed: number; pings: number },
    private readonly onWelcome: () => void,
  ) {}

  onData(chunk: Buffer): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) break;
      const body = buf.subarray(5, 4 + len);
      buf = buf.subarray(4 + len);
      const env = JSON.parse(body.toString('utf8')) as { type: string; t?: unknown };
      if (env.type === 'ping') {
        this.stats.pings++;
        this.sock.write(frame({ type: 'pong', t: env.t }));
      } else if (env.type === 'welcome' && !this.welcomed) {
        this.welcomed = true;
        this.stats.welcomed++;
        this.onWelcome();
      }
    }
    if (buf.length > 0) this.pending = Buffer.from(buf);
  }
}

/** Body of a client process: opens connections on request, answers pings, reports. */
function clientMain(): void {
  const send = (m: ClientReport) => process.send!(m);
  const stats = { welcomed: 0, pings: 0, failed: 0, closed: 0 };
  const socks: net.Socket[] = [];
  const hello = frame({ type: 'hello' });
  process.on('message', (m: ToClient) => {
    if (m.cmd === 'stats') {
      send({ kind: 'stats', ...stats, ms: 0 });
    } else if (m.cmd === 'close') {
      for (const s of socks) s.destroy();
      setTimeout(() => process.exit(0), 200);
    } else {
      const t0 = Date.now();
      let started = 0, settled = 0;
      const done = () => {
        if (++settled === m.count) send({ kind: 'opened', ...stats, ms: Date.now() - t0 });
        else more();
      };
      const more = () => {
        while (started < m.count && started - settled < m.concurrency) {
          started++;
          const sock = net.connect({ port: m.port, host: '127.0.0.1' });
          let fin = false;
          const once = () => {
            if (!fin) {
              fin = true;
              done();
            }
          };
          const client = new IdleClient(sock, stats, once);
          sock.on('connect', () => sock.write(hello));
          sock.on('data', (d: Buffer) => client.onData(d));
          sock.on('error', () => {});
          sock.on('close', () => {
            stats.closed++;
            if (!client.welcomed) {
              stats.failed++;
              once();
            }
          });
          socks.push(sock);
        }
      };
      more();
    }
  });
}

/** A client process (this file with `--client`), pinned to the client core. */
class ClientProcess {
  private waiters: ((r: ClientReport) => void)[] = [];
  private constructor(readonly child: ChildProcess) {
    child.on('message', (r: ClientReport) => this.waiters.shift()?.(r));
  }
  static start(): ClientProcess {
    const child = fork(fileURLToPath(import.meta.url), ['--client'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new ClientProcess(child);
  }
  private ask(m: ToClient): Promise<ClientReport> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.child.send(m);
    });
  }
  open(port: number, count: number): Promise<ClientReport> {
    return this.ask({ cmd: 'open', port, count, concurrency: 128 });
  }
  stats(): Promise<ClientReport> {
    return this.ask({ cmd: 'stats' });
  }
  async close(): Promise<void> {
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.send({ cmd: 'close' } satisfies ToClient);
    await Promise.race([exited, sleep(3000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** VmRSS of `pid`, KiB. */
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

/** RSS of the server by both readings: /stats memory_mb (0.1 MiB steps) and /proc. */
async function serverRss(server: ServerProcess, port: number): Promise<{ statsKiB: number; procKiB: number }> {
  const s = await getJson(port, '/stats');
  return { statsKiB: Number(s.memory_mb) * 1024, procKiB: rssKiB(server.child.pid!) };
}

/** Opens `total` connections split over two client processes. */
async function openIdle(clients: ClientProcess[], port: number, total: number): Promise<{ welcomed: number; failed: number; ms: number }> {
  const per = Math.ceil(total / clients.length);
  const reps = await Promise.all(clients.map((c, i) => c.open(port, Math.min(per, total - i * per))));
  return { welcomed: reps.reduce((a, r) => a + r.welcomed, 0), failed: reps.reduce((a, r) => a + r.failed, 0), ms: Math.max(...reps.map((r) => r.ms)) };
}

const SERVER_ENV = { max_connections: '25000', max_connections_per_ip: '25000', max_latency_ms: '0', max_error_rate: '0' };

export interface MemoryRun {
  impl: Impl;
  conns: number;
  welcomed: number;
  openMs: number;
  before: { statsKiB: number; procKiB: number };
  after: { statsKiB: number; procKiB: number };
  kibPerConn: number;
  kibPerConnStats: number;
  /** Highest RSS while settling (the young generation grown by the burst of connecting), per connection. */
  peakKibPerConn: number;
}

/** (b) One run: RSS per idle, welcomed binary connection. */
export async function runMemory(impl: Impl, conns: number, settleMs: number, log: (l: string) => void): Promise<MemoryRun> {
  const port = await freePort();
  const server = await ServerProcess.start(port, { ...SERVER_ENV, service_pool: impl });
  const clients = [ClientProcess.start(), ClientProcess.start()];
  try {
    await getJson(port, '/stats'); // the HTTP path warmed up before the first reading
    // Both readings after the same quiet time: V8's memory reducer gives memory back some seconds after a burst.
    await sleep(settleMs);
    const before = await serverRss(server, port);
    const o = await openIdle(clients, port, conns);
    if (o.welcomed !== conns) throw new Error(`only ${o.welcomed} of ${conns} connections welcomed (${o.failed} failed): ${server.lines.slice(-3).join(' | ')}`);
    // RSS once the burst of connecting has settled (sampled each second: V8 may give memory back meanwhile).
    const samples: number[] = [rssKiB(server.child.pid!)];
    for (let t = 0; t < settleMs; t += 1000) {
      await sleep(Math.min(1000, settleMs - t));
      samples.push(rssKiB(server.child.pid!));
    }
    const after = await serverRss(server, port);
    log(`memory ${impl}: RSS each second after the last welcome, MiB: ${samples.map((k) => (k / 1024).toFixed(1)).join(' ')}`);
    const run: MemoryRun = {
      impl,
      conns,
      welcomed: o.welcomed,
      openMs: o.ms,
      before,
      after,
      kibPerConn: (after.procKiB - before.procKiB) / conns,
      kibPerConnStats: (after.statsKiB - before.statsKiB) / conns,
      peakKibPerConn: (Math.max(...samples) - before.procKiB) / conns,
    };
    log(`memory ${impl}: ${conns} welcomed in ${o.ms} ms; RSS ${(before.procKiB / 1024).toFixed(1)} → ${(after.procKiB / 1024).toFixed(1)} MiB: ${run.kibPerConn.toFixed(2)} KiB/conn (/stats: ${run.kibPerConnStats.toFixed(2)}; peak while settling ${run.peakKibPerConn.toFixed(2)})`);
    return run;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
  }
}

export interface HoldRun {
  impl: Impl;
  conns: number;
  welcomed: number;
  openMs: number;
  windowS: number;
  cpuPct: number;
  userPct: number;
  sysPct: number;
  pingsAnswered: number;
  openAtEnd: number;
  rssMiB: number;
}

/** (c) One run: `conns` idle connections held for `holdMs` with heartbeats on; the server's CPU over that window. */
export async function runHold(impl: Impl, conns: number, holdMs: number, heartbeatMs: number, log: (l: string) => void): Promise<HoldRun> {
  const port = await freePort();
  const server = await ServerProcess.start(port, { ...SERVER_ENV, service_pool: impl, heartbeat_ms: String(heartbeatMs), heartbeat_timeout_ms: String(2 * heartbeatMs) });
  const clients = [ClientProcess.start(), ClientProcess.start()];
  try {
    await sleep(1000);
    const o = await openIdle(clients, port, conns);
    if (o.welcomed !== conns) throw new Error(`only ${o.welcomed} of ${conns} connections welcomed (${o.failed} failed): ${server.lines.slice(-3).join(' | ')}`);
    const p0 = (await Promise.all(clients.map((c) => c.stats()))).reduce((a, r) => a + r.pings, 0);
    const c0 = server.cpuSeconds()!;
    const t0 = performance.now();
    await sleep(holdMs);
    const c1 = server.cpuSeconds()!;
    const windowS = (performance.now() - t0) / 1000;
    const reps = await Promise.all(clients.map((c) => c.stats()));
    const stats = await getJson(port, '/stats');
    const run: HoldRun = {
      impl,
      conns,
      welcomed: o.welcomed,
      openMs: o.ms,
      windowS,
      userPct: ((c1.user - c0.user) / windowS) * 100,
      sysPct: ((c1.system - c0.system) / windowS) * 100,
      cpuPct: ((c1.user + c1.system - c0.user - c0.system) / windowS) * 100,
      pingsAnswered: reps.reduce((a, r) => a + r.pings, 0) - p0,
      openAtEnd: Number(stats.connections),
      rssMiB: Number(stats.memory_mb),
    };
    log(
      `hold ${impl}: ${conns} conns (open ${o.ms} ms), ${windowS.toFixed(1)} s: server CPU ${run.cpuPct.toFixed(2)}% (user ${run.userPct.toFixed(2)}, sys ${run.sysPct.toFixed(2)}), ${run.pingsAnswered} pings answered, ${run.openAtEnd} open, RSS ${run.rssMiB} MiB`,
    );
    return run;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
  }
}

// ------------------------------------------------------------------ driver

export interface ConnectionPoolBenchOptions {
  only: Set<Part>;
  impls: Impl[];
  repeat: number;
  memoryConns: number;
  holdConns: number;
  holdMs: number;
  heartbeatMs: number;
  /** Wait after the last connection of (b) before the RSS reading, ms. */
  settleMs: number;
  timeMs: number;
  json: string | null;
}

const DEFAULTS: ConnectionPoolBenchOptions = {
  only: new Set(['sweep', 'memory', 'hold']),
  impls: ['baseline', 'wheel'],
  repeat: 1,
  memoryConns: 10_000,
  holdConns: 19_000,
  holdMs: 30_000,
  heartbeatMs: 30_000,
  settleMs: 120_000,
  timeMs: 500,
  json: null,
};

export function parseArgs(argv: string[]): ConnectionPoolBenchOptions {
  const o = { ...DEFAULTS, only: new Set(DEFAULTS.only) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    const int = (min: number, max: number) => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} takes an integer from ${min} to ${max}`);
      return n;
    };
    switch (flag) {
      case '--only':
        o.only = new Set(value().split(',').map((x) => x.trim()) as Part[]);
        for (const p of o.only) if (!['sweep', 'memory', 'hold'].includes(p)) throw new Error(`--only takes sweep, memory, hold, not ${p}`);
        break;
      case '--impls':
        o.impls = value().split(',').map((x) => x.trim()) as Impl[];
        for (const p of o.impls) if (p !== 'baseline' && p !== 'wheel') throw new Error(`--impls takes baseline, wheel, not ${p}`);
        break;
      case '--repeat':
        o.repeat = int(1, 20);
        break;
      case '--memory-conns':
        o.memoryConns = int(1, 100_000);
        break;
      case '--hold-conns':
        o.holdConns = int(1, 100_000);
        break;
      case '--hold':
        o.holdMs = parseDuration(value());
        break;
      case '--settle':
        o.settleMs = parseDuration(value());
        break;
      case '--heartbeat':
        o.heartbeatMs = int(100, 3_600_000);
        break;
      case '--time':
        o.timeMs = int(10, 60_000);
        break;
      case '--json':
        o.json = value();
        break;
      default:
        throw new Error(`unknown flag ${a}`);
    }
  }
  return o;
}

function print(rows: Row[]): void {
  let last = '';
  for (const r of rows) {
    if (r.bench !== last) console.log(`\n${(last = r.bench)}`);
    const v = r.value >= 100 ? r.value.toFixed(0) : r.value.toFixed(2);
    console.log(`  ${r.case.padEnd(26)} ${r.metric.padEnd(16)} ${v.padStart(9)} ${r.unit.padEnd(4)}${r.rme !== undefined ? ` ±${r.rme.toFixed(1)}%` : ''}${r.note ? `  ${r.note}` : ''}`);
  }
}

/**
 * Runs the chosen parts and prints them.
 * @returns every row, and the raw runs of (b) and (c)
 */
export async function run(argv: string[] = process.argv.slice(2)): Promise<{ rows: Row[]; memory: MemoryRun[]; hold: HoldRun[] }> {
  const o = parseArgs(argv);
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const rows: Row[] = [];
  const memory: MemoryRun[] = [];
  const hold: HoldRun[] = [];
  if (o.only.has('sweep')) {
    rows.push(...runPoolHeap(o.impls, 50_000));
    rows.push(...(await runSweepBench(o.impls, [10_000, 50_000], o.timeMs, log)));
  }
  if (o.only.has('memory') || o.only.has('hold')) log(`load generator: ${pinSelf(CLIENT_CORE)} (client processes fork from it)`);
  // Runs alternate implementations so a busy neighbour hits both.
  for (let rep = 0; rep < o.repeat; rep++) {
    for (const impl of o.impls) {
      if (o.only.has('memory')) memory.push(await runMemory(impl, o.memoryConns, o.settleMs, log));
      if (o.only.has('hold')) hold.push(await runHold(impl, o.holdConns, o.holdMs, o.heartbeatMs, log));
    }
  }
  for (const impl of o.impls) {
    const m = memory.filter((r) => r.impl === impl);
    if (m.length) {
      rows.push({
        bench: `${BENCH} memory`,
        case: `${impl} ${o.memoryConns / 1000}k idle`,
        metric: 'KiB/conn (RSS)',
        value: median(m.map((r) => r.kibPerConn)),
        unit: 'KiB',
        note: `median of ${m.length}: ${m.map((r) => r.kibPerConn.toFixed(2)).join(', ')}; /stats ${m.map((r) => r.kibPerConnStats.toFixed(2)).join(', ')}; peak ${m.map((r) => r.peakKibPerConn.toFixed(2)).join(', ')}`,
      });
    }
    const h = hold.filter((r) => r.impl === impl);
    if (h.length) {
      rows.push({
        bench: `${BENCH} hold`,
        case: `${impl} ${o.holdConns / 1000}k hb ${o.heartbeatMs / 1000}s`,
        metric: 'server CPU %',
        value: median(h.map((r) => r.cpuPct)),
        unit: '%',
        note: `median of ${h.length}: ${h.map((r) => r.cpuPct.toFixed(2)).join(', ')}; pings ${h.map((r) => r.pingsAnswered).join(', ')}; open ${h.map((r) => r.openAtEnd).join(', ')}; RSS ${h.map((r) => r.rssMiB).join(', ')} MiB`,
      });
    }
  }
  print(rows);
  if (o.json) writeFileSync(o.json, JSON.stringify({ node: process.version, date: new Date().toISOString(), argv, rows, memory, hold }, null, 2));
  return { rows, memory, hold };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--client')) clientMain();
  else await run();
}
