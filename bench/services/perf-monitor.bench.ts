/**
 * Benchmark of the performance-monitor service (src/services/perf-monitor/):
 * WindowedMonitor (baseline: a `Date.now()` and a prom-client call per
 * record) against BatchedMonitor (plain counters per record, buckets rotated
 * by a 1-s timer, prom-client brought up to date at scrape time), side by
 * side in one tinybench suite.
 *
 * Cases (ops/s; one op as named):
 * - `envelope`: the monitor's share of one chat message in a 10-member room,
 *   as the core calls it: recordInbound + recordMessage + recordDeliveries(10)
 *   + recordLatency(ms), the latencies drawn from a log-normal spread
 *   (median ~80 µs, p99 ~1.3 ms, a few over 10 ms), 1000 envelopes per
 *   iteration; op = one envelope.
 * - `error`: recordInbound + recordError(code), codes cycling over 4 wire
 *   codes, 1000 per iteration; op = one error.
 * - `snapshot`: `/stats` on a monitor whose 10-s window is full (10 seconds ×
 *   5000 envelopes, refilled before each round); op = one snapshot.
 * - `metrics`: `/metrics` text on the same monitor (default process / nodejs
 *   metrics included, as served); op = one scrape.
 *
 * Rounds: every case runs `--rounds` times (default 5) for `--time` ms each
 * (default 300), baseline and batched taking turns to go first; rows give
 * each one's median ops/s (note: every round) and the median of the
 * per-round batched / baseline ratios (> 1: batched faster), which holds up
 * better than either figure when other processes share the machine. Each
 * implementation has its own function literals, so neither call site's type
 * feedback is shared with the other's (in the server one monitor class runs
 * per process: monomorphic).
 *
 * Run: `npx tsc -p . && taskset -c 1 node dist/bench/services/perf-monitor.bench.js`
 * (flags: `--only envelope,error,snapshot,metrics`, `--time 300` ms per task
 * and round, `--rounds 5`, `--quick`, `--wait-quiet 60` s for the machine to
 * be under 8% busy first).
 */
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { machineBusy, waitQuiet } from '../../src/loadgen/pin.js';
import type { GaugeSource } from '../../src/services/perf-monitor/contract.js';
import { WindowedMonitor } from '../../src/services/perf-monitor/baseline.js';
import { BatchedMonitor } from '../../src/services/perf-monitor/batched.js';
import { printRows, type Row } from '../lib/row.js';
import { median, rng } from '../lib/stats.js';

export type { Row };

const BENCH = 'perf-monitor';
/** Envelopes (or errors) per tinybench iteration: one record call is too short to time alone. */
const BATCH = 1000;
/** Chat frames written per message: a 10-member room with echo on (the sender gets its copy too). */
const FANOUT = 10;
/** Envelopes recorded per second of the window before `snapshot` / `metrics`. */
const FILL_PER_S = 5000;
const CODES = ['bad_request', 'not_in_room', 'rate_limited', 'bad_json'] as const;
const IMPLS = ['baseline', 'batched'] as const;
type Part = 'envelope' | 'error' | 'snapshot' | 'metrics';

/** Options of one run. */
export interface PerfMonitorBenchOptions {
  only: Set<Part>;
  /** tinybench time budget per task and round, ms. */
  timeMs: number;
  /** Rounds (baseline and batched alternate going first). */
  rounds: number;
}

const DEFAULTS: PerfMonitorBenchOptions = { only: new Set(['envelope', 'error', 'snapshot', 'metrics']), timeMs: 300, rounds: 5 };

const gauges: GaugeSource = { connections: () => 1000, rooms: () => 100 };

/**
 * 4096 handling latencies, ms: log-normal with median 0.08 ms and σ 1.2
 * (p99 ≈ 1.3 ms), capped at 250 ms — a chat server's spread from a few µs
 * (answered inline) to a GC pause.
 */
function latencies(seed: number): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(4096);
  for (let i = 0; i < out.length; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    out[i] = Math.min(250, 0.08 * Math.exp(1.2 * z));
  }
  return out;
}
const LAT = latencies(5);

// One literal per implementation (see the header).
function baselineEnvelopes(m: WindowedMonitor): () => number {
  let k = 0;
  return () => {
    for (let i = 0; i < BATCH; i++) {
      m.recordInbound();
      m.recordMessage();
      m.recordDeliveries(FANOUT);
      m.recordLatency(LAT[k++ & 4095]!);
    }
    return k;
  };
}
function batchedEnvelopes(m: BatchedMonitor): () => number {
  let k = 0;
  return () => {
    for (let i = 0; i < BATCH; i++) {
      m.recordInbound();
      m.recordMessage();
      m.recordDeliveries(FANOUT);
      m.recordLatency(LAT[k++ & 4095]!);
    }
    return k;
  };
}
function baselineErrors(m: WindowedMonitor): () => number {
  let k = 0;
  return () => {
    for (let i = 0; i < BATCH; i++) {
      m.recordInbound();
      m.recordError(CODES[k++ & 3]!);
    }
    return k;
  };
}
function batchedErrors(m: BatchedMonitor): () => number {
  let k = 0;
  return () => {
    for (let i = 0; i < BATCH; i++) {
      m.recordInbound();
      m.recordError(CODES[k++ & 3]!);
    }
    return k;
  };
}

/**
 * Fills the last 10 seconds of `ms` with FILL_PER_S envelopes each (and a
 * few errors), by moving `Date.now` back meanwhile; `snapshot()` between
 * seconds moves a BatchedMonitor's current bucket, as its tick would.
 */
function fillWindow(ms: (WindowedMonitor | BatchedMonitor)[]): void {
  const realNow = Date.now;
  const now = realNow();
  try {
    for (let s = 9; s >= 0; s--) {
      const t = now - s * 1000;
      Date.now = () => t;
      for (const m of ms) {
        m.snapshot();
        for (let i = 0; i < FILL_PER_S; i++) {
          m.recordInbound();
          m.recordMessage();
          m.recordDeliveries(FANOUT);
          m.recordLatency(LAT[(i + s * 7) & 4095]!);
          if (i % 100 === 0) m.recordError(CODES[i & 3]!);
        }
      }
    }
  } finally {
    Date.now = realNow;
  }
}

/** One pair of tasks measured side by side. */
interface Pair {
  name: Part;
  /** What one op is, for the case name. */
  what: string;
  /** Ops per iteration. */
  ops: number;
  /** Row metric, e.g. `envelopes/s`. */
  metric: string;
  baseline: () => unknown;
  batched: () => unknown;
  /** Run before each round (both implementations). */
  setup?: () => void;
}

function pairs(o: PerfMonitorBenchOptions): Pair[] {
  const out: Pair[] = [];
  if (o.only.has('envelope')) {
    out.push({
      name: 'envelope',
      what: `chat envelope, ${FANOUT}-member room (inbound + message + deliveries + latency)`,
      ops: BATCH,
      metric: 'envelopes/s',
      baseline: baselineEnvelopes(new WindowedMonitor(gauges)),
      batched: batchedEnvelopes(new BatchedMonitor(gauges)),
    });
  }
  if (o.only.has('error')) {
    out.push({
      name: 'error',
      what: `error envelope (inbound + error, ${CODES.length} codes)`,
      ops: BATCH,
      metric: 'errors/s',
      baseline: baselineErrors(new WindowedMonitor(gauges)),
      batched: batchedErrors(new BatchedMonitor(gauges)),
    });
  }
  if (o.only.has('snapshot') || o.only.has('metrics')) {
    const a = new WindowedMonitor(gauges);
    const b = new BatchedMonitor(gauges);
    const setup = () => fillWindow([a, b]);
    if (o.only.has('snapshot')) {
      out.push({ name: 'snapshot', what: `snapshot() (/stats), full 10-s window`, ops: 1, metric: 'snapshots/s', baseline: () => a.snapshot(), batched: () => b.snapshot(), setup });
    }
    if (o.only.has('metrics')) {
      out.push({ name: 'metrics', what: `metrics() (/metrics text)`, ops: 1, metric: 'scrapes/s', baseline: () => a.metrics(), batched: () => b.metrics(), setup });
    }
  }
  return out;
}

/**
 * Runs every pair in `rounds` short tinybench rounds, alternating which
 * implementation goes first. Rows: each implementation's median ops/s and
 * the median of the per-round batched / baseline ratios.
 */
export async function runPerfMonitorBench(options: Partial<PerfMonitorBenchOptions> = {}): Promise<Row[]> {
  const o = { ...DEFAULTS, ...options };
  const ps = pairs(o);
  const key = (p: Pair, impl: string) => `${p.what}, ${impl}`;
  const per = new Map<string, { ops: number[]; rme: number[] }>();
  const ratios = new Map<string, number[]>();
  for (let round = 0; round < o.rounds; round++) {
    process.stderr.write(`[${BENCH}] round ${round + 1}/${o.rounds}\n`);
    const bench = new Bench({ name: BENCH, time: o.timeMs, warmupTime: round === 0 ? 300 : 50, throws: true });
    const setups = new Set(ps.map((p) => p.setup).filter((f) => f !== undefined));
    for (const f of setups) f();
    for (const p of ps) {
      const a: [string, () => unknown] = [key(p, 'baseline'), p.baseline];
      const b: [string, () => unknown] = [key(p, 'batched'), p.batched];
      for (const [n, f] of round % 2 ? [b, a] : [a, b]) bench.add(n, f);
    }
    await bench.run();
    for (const p of ps) {
      const got: number[] = [];
      for (const impl of IMPLS) {
        const t = bench.getTask(key(p, impl))!;
        const r = t.result;
        if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state}${'error' in r ? `: ${r.error.message}` : ''}`);
        const v = (p.ops * 1000) / r.period;
        const e = per.get(t.name) ?? per.set(t.name, { ops: [], rme: [] }).get(t.name)!;
        e.ops.push(v);
        e.rme.push(r.latency.rme);
        got.push(v);
      }
      (ratios.get(p.name) ?? ratios.set(p.name, []).get(p.name)!).push(got[1]! / got[0]!);
    }
  }
  const rows: Row[] = [];
  const fmtM = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));
  for (const p of ps) {
    for (const impl of IMPLS) {
      const e = per.get(key(p, impl))!;
      rows.push({
        bench: BENCH,
        case: key(p, impl),
        metric: p.metric,
        value: median(e.ops),
        unit: 'ops/s',
        rme: median(e.rme),
        note: `${o.rounds} rounds: ${e.ops.map(fmtM).join(', ')}`,
      });
    }
    const r = ratios.get(p.name)!;
    rows.push({
      bench: BENCH,
      case: `${p.what}, batched / baseline`,
      metric: 'ratio',
      value: median(r),
      unit: '×',
      note: `per round: ${r.map((x) => x.toFixed(2)).join(', ')}`,
    });
  }
  return rows;
}

function parseArgs(argv: string[]): Partial<PerfMonitorBenchOptions> & { waitQuietS: number } {
  const o: Partial<PerfMonitorBenchOptions> & { waitQuietS: number } = { waitQuietS: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i] ?? '';
    if (a === '--only') o.only = new Set(v().split(',') as Part[]);
    else if (a === '--time') o.timeMs = Number(v());
    else if (a === '--rounds') o.rounds = Number(v());
    else if (a === '--wait-quiet') o.waitQuietS = Number(v());
    else if (a === '--quick') Object.assign(o, { timeMs: 100, rounds: 3 });
    else throw new Error(`unknown flag ${a}: --only envelope,error,snapshot,metrics | --time ms | --rounds N | --wait-quiet s | --quick`);
  }
  return o;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { waitQuietS, ...o } = parseArgs(process.argv.slice(2));
  const busy = waitQuietS > 0 ? await waitQuiet(waitQuietS * 1000, 0.08, (l) => console.error(l)) : await machineBusy(1000);
  const rows = await runPerfMonitorBench(o);
  const opts = { ...DEFAULTS, ...o };
  console.log(
    `node ${process.version}, ${process.arch}; median of ${opts.rounds} rounds × ${opts.timeMs} ms per task; ` +
      `machine ${busy === null ? '?' : `${(busy * 100).toFixed(0)}%`} busy at start\n`,
  );
  printRows(rows);
}
