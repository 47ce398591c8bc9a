/**
 * Benchmark of the memory-pool service: `baseline` (UnpooledBuffers,
 * `Buffer.allocUnsafe`) against `slab` (SlabBuffers, views into 64 KiB slabs
 * up to an 8 KiB cutoff).
 *
 * (a) alloc + fill, in this process (tinybench): each iteration allocates
 *     FRAMES_PER_ITERATION frames of one size and writes every byte (as
 *     encodeFrame does), for 64–512-byte frames (chat-sized) and, to show
 *     where the two differ, 2 KiB and 5000-byte frames.
 * (b) encode cache of a broadcast, in this process: the server builds one
 *     closure per broadcast to cache the frame per wire format; the
 *     candidate for an object pool is that cache. Compared: a fresh closure
 *     per broadcast against a bounded free list of fixed-shape cache objects
 *     with a pre-bound `deliver`, for rooms of 2 and 500.
 * (c) the issue's benchmark: the 500-member fan-out of bench/macro/fanout.ts
 *     (real server as a child process pinned to core 0, this process the load
 *     generator on core 1), with the server started under
 *     `--import bench/services/gc-preload.js`, which observes GC entries and
 *     V8's GC profiler inside the server over the timed window (marked with
 *     SIGUSR2). Reported per run: GC count and pause time (total, per second,
 *     max, p99, per kind), JS-heap and external bytes allocated per second
 *     and per delivery, peak RSS and ArrayBuffer memory, deliveries/s, server
 *     CPU. Runs baseline and slab alternately, under each `service_io`.
 *
 * Run (after `npm run build`):
 *   node dist/bench/services/memory-pool.bench.js                 # all, 60 s macro windows
 *   node dist/bench/services/memory-pool.bench.js --only macro --duration 15s --repeat 2
 *   node dist/bench/services/memory-pool.bench.js --only micro
 * Flags: `--only micro|macro|alloc,cache,macro`, `--duration 60s` (macro
 * window, default 60 s per the issue), `--repeat N` (macro runs per
 * combination), `--io baseline,coalescing`, `--memory baseline,slab`,
 * `--text 64` (chat text bytes, so frame size), `--members 500`,
 * `--wait-quiet 30s` (before each macro run, wait up to that long for the
 * machine to be under 8% busy), `--json FILE`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import type { BufferPool } from '../../src/services/memory-pool/contract.js';
import { UnpooledBuffers } from '../../src/services/memory-pool/baseline.js';
import { SlabBuffers } from '../../src/services/memory-pool/slab.js';
import type { Row } from '../lib/row.js';
import { parseDuration, runFanout, type FanoutResult } from '../macro/fanout.js';
import { waitQuiet } from '../../src/loadgen/pin.js';
import type { GcReport } from './gc-preload.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PRELOAD = pathToFileURL(path.join(here, 'gc-preload.js')).href;

// ------------------------------------------------------------------ (a) alloc + fill

/** Frames allocated per tinybench iteration. */
export const FRAMES_PER_ITERATION = 1000;
export const ALLOC_SIZES = [64, 128, 256, 512, 2048, 5000] as const;

const pools: [string, () => BufferPool][] = [
  ['baseline', () => new UnpooledBuffers()],
  ['slab', () => new SlabBuffers()],
];

/**
 * alloc + fill throughput per implementation and size.
 * @param timeMs tinybench time budget per task, ms
 */
export async function runAllocBench(timeMs = 1000): Promise<Row[]> {
  const bench = new Bench({ name: 'memory-pool alloc', time: timeMs, warmupTime: 300, throws: true });
  for (const size of ALLOC_SIZES) {
    for (const [name, make] of pools) {
      const pool = make();
      bench.add(`${name} ${size} B`, () => {
        let sum = 0;
        for (let i = 0; i < FRAMES_PER_ITERATION; i++) {
          const b = pool.alloc(size);
          b.fill(i & 0xff);
          sum += b[size - 1]!;
        }
        return sum;
      });
    }
  }
  await bench.run();
  return bench.tasks.map((task) => {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}`);
    const perFrameNs = (r.period * 1e6) / FRAMES_PER_ITERATION;
    return {
      bench: 'memory-pool alloc+fill',
      case: task.name,
      metric: 'ns/frame',
      value: perFrameNs,
      unit: 'ns',
      rme: r.latency.rme,
      note: `${((1e9 / perFrameNs) / 1e6).toFixed(2)} M frames/s`,
    } satisfies Row;
  });
}

// ------------------------------------------------------------------ (b) encode cache of a broadcast

interface Member {
  mode: 'binary' | 'json';
  written: number;
}

const encodeBin = (json: string, pool: BufferPool) => {
  const n = Buffer.byteLength(json);
  const b = pool.alloc(5 + n);
  b.writeUInt32BE(n + 1, 0);
  b[4] = 0;
  b.write(json, 5);
  return b;
};
const encodeLn = (json: string, pool: BufferPool) => {
  const n = Buffer.byteLength(json);
  const b = pool.alloc(n + 1);
  b.write(json, 0);
  b[n] = 0x0a;
  return b;
};

/** What server.ts does today: a closure per broadcast holds the per-format frames. */
function broadcastClosure(members: Member[], json: string, pool: BufferPool): number {
  let bin: Buffer | undefined, line: Buffer | undefined;
  const deliver = (m: Member): boolean => {
    const buf = m.mode === 'binary' ? (bin ??= encodeBin(json, pool)) : (line ??= encodeLn(json, pool));
    m.written += buf.length;
    return true;
  };
  let n = 0;
  for (const m of members) if (deliver(m)) n++;
  return n;
}

/** The candidate: fixed-shape cache objects with a pre-bound deliver, from a bounded free list. */
class EncodeCache {
  json = '';
  pool: BufferPool | null = null;
  bin: Buffer | null = null;
  line: Buffer | null = null;
  readonly deliver = (m: Member): boolean => {
    const buf = m.mode === 'binary' ? (this.bin ??= encodeBin(this.json, this.pool!)) : (this.line ??= encodeLn(this.json, this.pool!));
    m.written += buf.length;
    return true;
  };
}
class CacheFreeList {
  private readonly free: EncodeCache[] = [];
  constructor(private readonly max: number) {}
  acquire(): EncodeCache {
    return this.free.pop() ?? new EncodeCache();
  }
  release(c: EncodeCache): void {
    c.json = '';
    c.pool = null;
    c.bin = null; // must not keep a frame (and its slab) alive
    c.line = null;
    if (this.free.length < this.max) this.free.push(c);
  }
}
function broadcastPooled(members: Member[], json: string, pool: BufferPool, caches: CacheFreeList): number {
  const c = caches.acquire();
  c.json = json;
  c.pool = pool;
  let n = 0;
  for (const m of members) if (c.deliver(m)) n++;
  caches.release(c);
  return n;
}

/**
 * Closure per broadcast vs pooled cache object, rooms of 2 and 500.
 * @param timeMs tinybench time budget per task, ms
 */
export async function runCacheBench(timeMs = 1000): Promise<Row[]> {
  const bench = new Bench({ name: 'memory-pool encode cache', time: timeMs, warmupTime: 300, throws: true });
  const json = JSON.stringify({ type: 'chat', room: 'fanout', seq: 123456, from: 'bench-sender', text: 'x'.repeat(64), ts: 1_700_000_000_000 });
  const BROADCASTS = 1000;
  const sizes = [2, 500];
  for (const size of sizes) {
    const members: Member[] = Array.from({ length: size }, (_, i) => ({ mode: i % 10 === 9 ? 'json' : 'binary', written: 0 }));
    const pool = new UnpooledBuffers();
    const caches = new CacheFreeList(16);
    bench.add(`closure, room of ${size}`, () => {
      let n = 0;
      for (let i = 0; i < BROADCASTS; i++) n += broadcastClosure(members, json, pool);
      return n;
    });
    bench.add(`pooled cache, room of ${size}`, () => {
      let n = 0;
      for (let i = 0; i < BROADCASTS; i++) n += broadcastPooled(members, json, pool, caches);
      return n;
    });
  }
  await bench.run();
  return bench.tasks.map((task) => {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}`);
    return {
      bench: 'memory-pool encode cache',
      case: task.name,
      metric: 'ns/broadcast',
      value: (r.period * 1e6) / BROADCASTS,
      unit: 'ns',
      rme: r.latency.rme,
    } satisfies Row;
  });
}

// ------------------------------------------------------------------ (c) GC in the server during a large-room run

/** Options of the macro part. */
export interface GcRunOptions {
  durationMs: number;
  repeat: number;
  io: string[];
  memory: string[];
  members: number;
  textBytes: number;
  waitQuietMs: number;
  log: (line: string) => void;
}

/** One macro run: the fan-out result and the server's GC report. */
export interface GcRun {
  io: string;
  memory: string;
  fanout: FanoutResult;
  gc: GcReport;
}

/**
 * One fan-out run with the GC preload in the server.
 * @throws Error when the server wrote no report
 */
async function runOne(io: string, memory: string, o: GcRunOptions): Promise<GcRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mempool-bench-'));
  const reportFile = path.join(dir, 'gc.json');
  const keys = ['service_io', 'service_memory', 'max_latency_ms', 'NODE_OPTIONS', 'GC_REPORT_FILE'] as const;
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]])) as Record<(typeof keys)[number], string | undefined>;
  // ServerProcess.start passes this process's environment on to the server.
  process.env.service_io = io;
  process.env.service_memory = memory;
  // Overload shedding (perf-monitor, p99 over 1 ms by default) would drop the
  // presence frames the fan-out setup counts, and change the work mid-run.
  process.env.max_latency_ms = '0';
  process.env.NODE_OPTIONS = `${saved.NODE_OPTIONS ?? ''} --import=${PRELOAD}`.trim();
  process.env.GC_REPORT_FILE = reportFile;
  let pid = 0;
  let endTimer: NodeJS.Timeout | undefined;
  const signal = () => {
    try {
      if (pid) process.kill(pid, 'SIGUSR2');
    } catch {
      // the server is gone; runFanout reports why
    }
  };
  try {
    const fanout = await runFanout({
      durationMs: o.durationMs,
      members: o.members,
      textBytes: o.textBytes,
      log: (line) => {
        o.log(`  ${line}`);
        const m = /server pid (\d+)/.exec(line);
        if (m) pid = Number(m[1]);
        // Logged just before the timed window starts: mark it in the server.
        if (/members \+ sender joined/.test(line)) {
          signal();
          endTimer = setTimeout(signal, o.durationMs);
        }
      },
    });
    let gc: GcReport;
    try {
      gc = JSON.parse(readFileSync(reportFile, 'utf8')) as GcReport;
    } catch (err) {
      throw new Error(`the server wrote no GC report (${(err as Error).message})`, { cause: err });
    }
    if (!gc.complete) fanout.warnings.push('GC window was not closed by the second signal (report written at exit)');
    return { io, memory, fanout, gc };
  } finally {
    clearTimeout(endTimer);
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs every io × memory combination `repeat` times, baseline and slab alternating. */
export async function runGcBench(opts: Partial<GcRunOptions> = {}): Promise<GcRun[]> {
  const o: GcRunOptions = {
    durationMs: 60_000,
    repeat: 1,
    io: ['baseline', 'coalescing'],
    memory: ['baseline', 'slab'],
    members: 500,
    textBytes: 64,
    waitQuietMs: 0,
    log: (l) => process.stderr.write(`[memory-pool] ${l}\n`),
    ...opts,
  };
  const runs: GcRun[] = [];
  for (let r = 0; r < o.repeat; r++) {
    for (const io of o.io) {
      // Alternate which goes first, so drift over time does not favour one.
      const order = r % 2 === 0 ? o.memory : [...o.memory].reverse();
      for (const memory of order) {
        if (o.waitQuietMs > 0) {
          const busy = await waitQuiet(o.waitQuietMs, 0.08, o.log);
          if (busy !== null && busy > 0.08) o.log(`machine still ${(busy * 100).toFixed(0)}% busy after waiting; running anyway`);
        }
        o.log(`run ${r + 1}/${o.repeat}: service_io=${io} service_memory=${memory}, ${o.durationMs / 1000} s window`);
        const run = await runOne(io, memory, o);
        o.log(`  ${summary(run)}`);
        runs.push(run);
      }
    }
  }
  return runs;
}

const MiB = 1024 * 1024;

function summary(r: GcRun): string {
  const s = r.gc.windowMs / 1000;
  return (
    `${Math.round(r.fanout.deliveriesPerS)} deliveries/s, GC ${r.gc.gc.count} (${(r.gc.gc.count / s).toFixed(1)}/s) ` +
    `${r.gc.gc.totalMs.toFixed(0)} ms (${((r.gc.gc.totalMs / r.gc.windowMs) * 100).toFixed(2)}% of wall), max ${r.gc.gc.maxMs.toFixed(2)} ms, ` +
    `heap alloc ${(r.gc.heapAllocatedBytes / MiB / s).toFixed(1)} MiB/s`
  );
}

/** Table rows of the macro runs. */
export function gcRows(runs: GcRun[]): Row[] {
  const rows: Row[] = [];
  for (const r of runs) {
    const s = r.gc.windowMs / 1000;
    const perDelivery = (x: number) => (r.fanout.deliveries > 0 ? x / r.fanout.deliveries : NaN);
    const c = `io=${r.io} memory=${r.memory}, ${r.fanout.options.members} members, ${r.fanout.options.textBytes}-byte text, ${s.toFixed(0)} s`;
    const row = (metric: string, value: number, unit: string, note?: string): Row => ({ bench: 'memory-pool gc', case: c, metric, value, unit, ...(note ? { note } : {}) });
    const kinds = Object.entries(r.gc.gc.byKind)
      .map(([k, v]) => `${k} ${v.count}× ${v.totalMs.toFixed(0)} ms (max ${v.maxMs.toFixed(1)})`)
      .join(', ');
    rows.push(
      row('deliveries/s', r.fanout.deliveriesPerS, '/s', `server CPU ${r.fanout.serverCpu === null ? '?' : (r.fanout.serverCpu * 100).toFixed(0)}% of a core`),
      row('GC count', r.gc.gc.count / s, '/s', `${r.gc.gc.count} in the window; ${kinds}`),
      row('GC pause total', (r.gc.gc.totalMs / r.gc.windowMs) * 1000, 'ms/s', `${r.gc.gc.totalMs.toFixed(0)} ms; ${(perDelivery(r.gc.gc.totalMs) * 1e6).toFixed(1)} ms per 1M deliveries`),
      row('GC pause max', r.gc.gc.maxMs, 'ms', `p99 ${r.gc.gc.p99Ms.toFixed(2)} ms`),
      row('JS heap allocated', r.gc.heapAllocatedBytes / MiB / s, 'MiB/s', `${perDelivery(r.gc.heapAllocatedBytes).toFixed(0)} B per delivery`),
      row('external allocated (≥)', r.gc.externalAllocatedBytesLowerBound / MiB / s, 'MiB/s', 'ArrayBuffer memory, lower bound'),
      row('peak RSS', r.gc.peakRss / MiB, 'MiB', `arrayBuffers peak ${(r.gc.peakArrayBuffers / MiB).toFixed(1)} MiB`),
    );
    for (const w of r.fanout.warnings) rows.push(row('warning', NaN, '', w));
  }
  return rows;
}

/** The medians per io × memory of the main figures (for the summary). */
export function gcMedians(runs: GcRun[]): Row[] {
  const groups = new Map<string, GcRun[]>();
  for (const r of runs) {
    const k = `io=${r.io} memory=${r.memory}`;
    (groups.get(k) ?? groups.set(k, []).get(k)!).push(r);
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const rows: Row[] = [];
  for (const [k, rs] of groups) {
    const m = (f: (r: GcRun) => number) => median(rs.map(f));
    const note = `median of ${rs.length}`;
    const row = (metric: string, value: number, unit: string): Row => ({ bench: 'memory-pool gc (median)', case: k, metric, value, unit, note });
    rows.push(
      row('deliveries/s', m((r) => r.fanout.deliveriesPerS), '/s'),
      row('GC count', m((r) => r.gc.gc.count / (r.gc.windowMs / 1000)), '/s'),
      row('GC pause total', m((r) => (r.gc.gc.totalMs / r.gc.windowMs) * 1000), 'ms/s'),
      row('GC pause per 1M deliveries', m((r) => (r.gc.gc.totalMs / r.fanout.deliveries) * 1e6), 'ms'),
      row('GC pause max', m((r) => r.gc.gc.maxMs), 'ms'),
      row('JS heap allocated', m((r) => r.gc.heapAllocatedBytes / MiB / (r.gc.windowMs / 1000)), 'MiB/s'),
      row('JS heap per delivery', m((r) => r.gc.heapAllocatedBytes / r.fanout.deliveries), 'B'),
      row('external allocated (≥)', m((r) => r.gc.externalAllocatedBytesLowerBound / MiB / (r.gc.windowMs / 1000)), 'MiB/s'),
      row('peak RSS', m((r) => r.gc.peakRss / MiB), 'MiB'),
    );
  }
  return rows;
}

// ------------------------------------------------------------------ CLI

interface Args {
  only: Set<'alloc' | 'cache' | 'macro'>;
  json: string | null;
  gc: Partial<GcRunOptions>;
}

/** Parses the flags listed in the header comment. */
export function parseArgs(argv: string[]): Args {
  const out: Args = { only: new Set(['alloc', 'cache', 'macro']), json: null, gc: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    const list = () => value().split(',').map((x) => x.trim()).filter((x) => x.length > 0);
    const posInt = (name: string) => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${name} takes a positive integer`);
      return n;
    };
    if (flag === '--only') {
      out.only = new Set();
      for (const x of list()) {
        if (x === 'micro') out.only.add('alloc').add('cache');
        else if (x === 'alloc' || x === 'cache' || x === 'macro') out.only.add(x);
        else throw new Error(`--only takes micro, macro, alloc, cache (comma-separated), not ${JSON.stringify(x)}`);
      }
    } else if (flag === '--duration') out.gc.durationMs = parseDuration(value());
    else if (flag === '--repeat') out.gc.repeat = posInt('--repeat');
    else if (flag === '--io') out.gc.io = list();
    else if (flag === '--memory') out.gc.memory = list();
    else if (flag === '--members') out.gc.members = posInt('--members');
    else if (flag === '--text') out.gc.textBytes = posInt('--text');
    else if (flag === '--wait-quiet') out.gc.waitQuietMs = parseDuration(value());
    else if (flag === '--json') out.json = value();
    else throw new Error(`unknown flag ${a}`);
  }
  return out;
}

function print(rows: Row[]): void {
  let last = '';
  for (const r of rows) {
    const head = `${r.bench} — ${r.case}`;
    if (head !== last) console.log(`\n${head}`);
    last = head;
    const v = Number.isFinite(r.value) ? r.value.toFixed(r.value >= 100 ? 0 : 2) : '';
    console.log(`  ${r.metric.padEnd(28)} ${v.padStart(10)} ${r.unit.padEnd(6)}${r.rme !== undefined ? ` ±${r.rme.toFixed(1)}%` : ''}${r.note ? `  ${r.note}` : ''}`);
  }
}

/**
 * Runs the chosen parts and prints them.
 * @returns every row, and the raw macro runs
 */
export async function run(argv: string[] = process.argv.slice(2)): Promise<{ rows: Row[]; runs: GcRun[] }> {
  const args = parseArgs(argv);
  const rows: Row[] = [];
  let runs: GcRun[] = [];
  if (args.only.has('alloc')) rows.push(...(await runAllocBench()));
  if (args.only.has('cache')) rows.push(...(await runCacheBench()));
  if (args.only.has('macro')) {
    runs = await runGcBench(args.gc);
    rows.push(...gcRows(runs), ...gcMedians(runs));
  }
  print(rows);
  if (args.json) writeFileSync(args.json, JSON.stringify({ node: process.version, date: new Date().toISOString(), argv, rows, runs }, null, 2));
  return { rows, runs };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run();
}
