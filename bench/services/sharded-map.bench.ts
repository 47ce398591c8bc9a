/**
 * Benchmark of the sharded-map service (src/services/sharded-map/): one Map
 * (baseline) against ShardedMap (64 Maps chosen by a hash of the key), side
 * by side, on the key kinds the server uses — numbers like connection ids
 * (sequential integers) and strings like room names (`room:<n>`, 6–12 chars).
 *
 * (a) insert latency: 1M keys inserted one by one into an empty store, each
 *     `set` timed with process.hrtime.bigint() into an HDR histogram
 *     (hdr-histogram-js, ns): p50 / p99 / p99.9 / max, the largest stalls and
 *     the store size they happened at (a Map rehashes its whole table when it
 *     doubles; a shard rehashes 1/64 of it), the max split into inserts that
 *     grew a table (the rehash stall sharding is meant to cut) and the rest
 *     (GC, or another process taking the core), the GC pauses that fell inside
 *     the run (PerformanceObserver 'gc'), and the total time of a second,
 *     untimed pass. Every run is a fresh child process (`--expose-gc`, GC
 *     before the run, JIT warmed on other keys) so one case's garbage never
 *     lands in another's stalls; runs alternate Map / ShardedMap so a busy
 *     neighbour hits both; the row is the median of `repeat` runs, the note
 *     lists every run.
 * (b) lookup throughput (tinybench): `get` of a batch of 4096 keys in random
 *     order, all hits or all misses, at 10k and 1M keys; ops/s = batch ×
 *     iterations/s. Map and ShardedMap run in `rounds` short rounds (default
 *     5 × 250 ms each), taking turns to go first; rows give each one's median
 *     and the median of the per-round ShardedMap / Map ratios, which holds
 *     up better than either figure when other processes share the machine. The lookup keys are the strings inserted, so V8 has
 *     cached their hash: that favours the Map, which reuses it, while
 *     ShardedMap hashes every key in JavaScript (as it must).
 * (c) iteration: a full `values()` loop at 10k and 1M keys (tinybench in
 *     rounds as in (b), entries/s), and a 1M-entry sweep with `forEachSlice` (1024 per slice)
 *     against a synchronous `values()` sweep: total time and the longest the
 *     event loop was held (gap between two ticks of a setImmediate probe);
 *     median of 5 runs after one that warms the JIT.
 *
 * Run: `npx tsc -p . && node dist/bench/services/sharded-map.bench.js`
 * (flags: `--only insert,lookup,iterate`, `--repeat 3` insert runs, `--n 1000000`,
 * `--time 250` ms per tinybench task and round, `--rounds 5`, `--quick`). A shared machine skews
 * single runs; run it a few times and read the spread.
 */
import { spawnSync } from 'node:child_process';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import hdr from 'hdr-histogram-js';
import { Bench } from 'tinybench';
import { forEachSlice, type KeyedStore } from '../../src/services/sharded-map/index.js';
import { ShardedMap, hashKey } from '../../src/services/sharded-map/sharded.js';
import { printRows, type Row } from '../lib/row.js';
import { median, rng } from '../lib/stats.js';

export type { Row };

const BENCH = 'sharded-map';
/** Keys per lookup iteration (tinybench times an iteration; one `get` is too short to time alone). */
const BATCH = 4096;
/** Entries per slice in the sweep case (the contract's default). */
const SLICE = 1024;

type KeyKind = 'number' | 'string';
/** `map` (baseline) or `sharded:<shards>`. */
type ImplName = string;

/** Options of one run of the benchmark. */
export interface ShardedMapBenchOptions {
  /** Which parts to run. */
  only: Set<'insert' | 'lookup' | 'iterate'>;
  /** Keys inserted in (a), largest size in (b) and (c). */
  n: number;
  /** Child-process runs per insert case. */
  repeat: number;
  /** tinybench time budget per task and round, ms. */
  timeMs: number;
  /** tinybench rounds per pair (Map and ShardedMap alternate going first). */
  rounds: number;
  /** Implementations compared in (a). */
  insertImpls: ImplName[];
}

const DEFAULTS: ShardedMapBenchOptions = {
  only: new Set(['insert', 'lookup', 'iterate']),
  n: 1_000_000,
  repeat: 3,
  timeMs: 250,
  rounds: 5,
  insertImpls: ['map', 'sharded:64'],
};

function makeStore<K, V>(impl: ImplName): KeyedStore<K, V> {
  if (impl === 'map') return new Map<K, V>();
  const m = /^sharded:(\d+)$/.exec(impl);
  if (m) return new ShardedMap<K, V>(Number(m[1]));
  throw new Error(`unknown implementation ${impl} (map or sharded:<shards>)`);
}

const label = (impl: ImplName) => (impl === 'map' ? 'Map (baseline)' : `ShardedMap (${impl.slice(8)} shards)`);

/** `n` keys of one kind; `prefix` keeps the warm-up keys apart from the measured ones. */
function makeKeys(kind: KeyKind, n: number, prefix = 'room:', offset = 0): (string | number)[] {
  const keys = new Array<string | number>(n);
  for (let i = 0; i < n; i++) keys[i] = kind === 'number' ? offset + i : `${prefix}${offset + i}`;
  return keys;
}

const fmtUs = (ns: number) => (ns / 1000).toFixed(ns >= 100_000 ? 0 : ns >= 10_000 ? 1 : 2);

// ------------------------------------------------------------------ (a) insert latency

/** What one child reports for one insert run. */
interface InsertRun {
  impl: ImplName;
  kind: KeyKind;
  n: number;
  /** ns */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Inserts slower than 100 µs. */
  over100us: number;
  /** The 5 slowest inserts: store size before the insert, ns. */
  worst: [number, number][];
  /** Inserts that grew a table (whole Map, or one shard): how many, the slowest and the median, ns. */
  rehashCount: number;
  rehashMax: number;
  rehashMedian: number;
  /** The slowest insert that grew no table (GC, preemption by other processes), ns. */
  otherMax: number;
  /** Table-growing inserts by the size of the table grown (≥ 1024 entries): [size, count, median ns, max ns]. */
  growth: [number, number, number, number][];
  /** GC pauses that started inside the timed run: count, longest and total, ms. */
  gcCount: number;
  gcMaxMs: number;
  gcTotalMs: number;
  /** Total time of the untimed second pass, ms. */
  totalMs: number;
}

/** Runs in the child: one timed pass with per-insert latencies, one untimed pass for the total. */
async function insertChild(impl: ImplName, kind: KeyKind, n: number): Promise<InsertRun> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const keys = makeKeys(kind, n);
  // Warm the JIT on the same code path with other keys (their hashes are not the measured keys').
  {
    const warm = makeStore<string | number, number>(impl);
    const wk = makeKeys(kind, Math.min(n, 200_000), 'warm:', n);
    for (let r = 0; r < 3; r++) {
      warm.clear();
      for (let i = 0; i < wk.length; i++) {
        const t0 = process.hrtime.bigint();
        warm.set(wk[i]!, i);
        if (process.hrtime.bigint() - t0 < 0n) throw new Error('clock went back');
      }
    }
  }
  gc();
  const gcs: { start: number; ms: number }[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration });
  });
  obs.observe({ entryTypes: ['gc'] });

  const lat = new Float64Array(n);
  let store = makeStore<string | number, number>(impl);
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    store.set(keys[i]!, i);
    lat[i] = Number(process.hrtime.bigint() - t0);
  }
  const end = performance.now();
  if (store.size !== n) throw new Error(`${impl}: size ${store.size}, want ${n}`);
  await new Promise((r) => setTimeout(r, 50)); // let the observer deliver
  obs.disconnect();
  const inRun = gcs.filter((g) => g.start >= start && g.start <= end);

  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: 3 });
  const worst: [number, number][] = [];
  let over100us = 0;
  for (let i = 0; i < n; i++) {
    const v = lat[i]!;
    h.recordValue(Math.max(1, v));
    if (v > 100_000) over100us++;
    if (worst.length < 5 || v > worst[worst.length - 1]![1]) {
      worst.push([i, v]);
      worst.sort((a, b) => b[1] - a[1]);
      if (worst.length > 5) worst.pop();
    }
  }

  // Which inserts grew a table: V8's Map doubles its table on the insert
  // that finds it full, i.e. when its size before the insert is a power of two
  // (≥ 4, the first capacity). For ShardedMap, the size of the key's shard.
  const shards = impl === 'map' ? 1 : Number(impl.slice(8));
  const perShard = new Int32Array(shards);
  const rehash: number[] = [];
  const bySize = new Map<number, number[]>();
  let otherMax = 0;
  for (let i = 0; i < n; i++) {
    const c = perShard[shards === 1 ? 0 : hashKey(keys[i]) & (shards - 1)]++;
    if (c >= 4 && (c & (c - 1)) === 0) {
      rehash.push(lat[i]!);
      if (c >= 1024) (bySize.get(c) ?? bySize.set(c, []).get(c)!).push(lat[i]!);
    } else if (lat[i]! > otherMax) otherMax = lat[i]!;
  }
  const growth: [number, number, number, number][] = [...bySize].map(([c, v]) => [c, v.length, median(v), Math.max(...v)]);

  store = makeStore<string | number, number>('map'); // drop the timed store
  gc();
  const again = makeStore<string | number, number>(impl);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) again.set(keys[i]!, i);
  const totalMs = performance.now() - t0;
  if (again.size !== n) throw new Error(`${impl}: size ${again.size}, want ${n}`);

  return {
    impl,
    kind,
    n,
    p50: h.getValueAtPercentile(50),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    over100us,
    worst,
    rehashCount: rehash.length,
    rehashMax: Math.max(...rehash),
    rehashMedian: median(rehash),
    otherMax,
    growth,
    gcCount: inRun.length,
    gcMaxMs: inRun.reduce((m, g) => Math.max(m, g.ms), 0),
    gcTotalMs: inRun.reduce((s, g) => s + g.ms, 0),
    totalMs,
  };
}

/** One insert run in a fresh child process. */
function spawnInsert(impl: ImplName, kind: KeyKind, n: number): InsertRun {
  const file = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--expose-gc', file, '--insert-child', impl, kind, String(n)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`insert child ${impl} ${kind} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as InsertRun;
}

function insertRows(runs: InsertRun[], impls: ImplName[]): Row[] {
  const rows: Row[] = [];
  for (const kind of ['number', 'string'] as const) {
    for (const impl of impls) {
      const rs = runs.filter((r) => r.impl === impl && r.kind === kind);
      if (rs.length === 0) continue;
      const c = `insert ${rs[0]!.n.toLocaleString('en-US')} ${kind} keys, ${label(impl)}`;
      const pct = (metric: string, f: (r: InsertRun) => number) =>
        rows.push({
          bench: BENCH,
          case: c,
          metric,
          value: median(rs.map(f)) / 1000,
          unit: 'µs',
          note: `runs: ${rs.map((r) => fmtUs(f(r))).join(', ')}`,
        });
      pct('p50', (r) => r.p50);
      pct('p99', (r) => r.p99);
      pct('p99.9', (r) => r.p999);
      pct('max', (r) => r.max);
      pct('max, table-growing inserts', (r) => r.rehashMax);
      rows[rows.length - 1]!.note += `; ${rs[0]!.rehashCount} such inserts, median ${rs.map((r) => fmtUs(r.rehashMedian)).join(', ')} µs`;
      pct('max, other inserts', (r) => r.otherMax);
      // Growth of the largest tables, size class by size class: one insert per class for a Map,
      // one per shard (64) for ShardedMap, so its median shrugs off a preempted insert.
      const largest = rs[0]!.growth.at(-1)!;
      rows.push({
        bench: BENCH,
        case: c,
        metric: `growth of a ${largest[0]}-entry table`,
        value: median(rs.map((r) => r.growth.at(-1)![2])) / 1000,
        unit: 'µs',
        note:
          `median of ${largest[1]} per run; runs: ${rs.map((r) => fmtUs(r.growth.at(-1)![2])).join(', ')}; by table size (run 1, median/max µs): ` +
          rs[0]!.growth.map(([size, , med, max]) => `${size}: ${fmtUs(med)}/${fmtUs(max)}`).join(', '),
      });
      rows.push({
        bench: BENCH,
        case: c,
        metric: 'inserts > 100 µs',
        value: median(rs.map((r) => r.over100us)),
        unit: 'count',
        note:
          `runs: ${rs.map((r) => r.over100us).join(', ')}; slowest (size@µs) of run 1: ` +
          rs[0]!.worst.map(([i, v]) => `${i}@${fmtUs(v)}`).join(' ') +
          `; GC in run (count / longest ms): ${rs.map((r) => `${r.gcCount}/${r.gcMaxMs.toFixed(1)}`).join(', ')}`,
      });
      rows.push({
        bench: BENCH,
        case: c,
        metric: 'total (untimed pass)',
        value: median(rs.map((r) => r.totalMs)),
        unit: 'ms',
        note: `runs: ${rs.map((r) => r.totalMs.toFixed(0)).join(', ')}`,
      });
    }
  }
  return rows;
}

// ------------------------------------------------------------------ (b) lookups, (c) iteration

/** Separate function literals per implementation, so neither call site's feedback is shared with the other's. */
function mapLookup(store: Map<unknown, number>, batch: unknown[], want: number): () => number {
  return () => {
    let found = 0;
    for (let i = 0; i < batch.length; i++) if (store.get(batch[i]) !== undefined) found++;
    if (found !== want) throw new Error(`Map: ${found} hits, want ${want}`);
    return found;
  };
}
function shardedLookup(store: ShardedMap<unknown, number>, batch: unknown[], want: number): () => number {
  return () => {
    let found = 0;
    for (let i = 0; i < batch.length; i++) if (store.get(batch[i]) !== undefined) found++;
    if (found !== want) throw new Error(`ShardedMap: ${found} hits, want ${want}`);
    return found;
  };
}
function mapSum(store: Map<unknown, number>, want: number): () => number {
  return () => {
    let n = 0, sum = 0;
    for (const v of store.values()) {
      sum += v;
      n++;
    }
    if (n !== want) throw new Error(`Map: visited ${n}, want ${want}`);
    return sum;
  };
}
function shardedSum(store: ShardedMap<unknown, number>, want: number): () => number {
  return () => {
    let n = 0, sum = 0;
    for (const v of store.values()) {
      sum += v;
      n++;
    }
    if (n !== want) throw new Error(`ShardedMap: visited ${n}, want ${want}`);
    return sum;
  };
}

/** One pair of tinybench tasks measured side by side: baseline first, optimized second. */
interface Pair {
  /** Case name without the implementation. */
  name: string;
  /** Operations per iteration (lookups, entries). */
  ops: number;
  metric: string;
  baseline: () => unknown;
  sharded: () => unknown;
}

/**
 * Runs every pair in `rounds` short tinybench rounds, alternating which
 * implementation goes first, so load from other processes on a shared
 * machine falls on both. Rows: the median ops/s of each implementation
 * (note: every round, in millions) and the median of the per-round ratios.
 */
async function runPairs(pairs: Pair[], o: ShardedMapBenchOptions): Promise<Row[]> {
  const per = new Map<string, { ops: number[]; rme: number[] }>();
  const ratios = new Map<string, number[]>();
  const key = (p: Pair, impl: string) => `${p.name}, ${impl}`;
  for (let round = 0; round < o.rounds; round++) {
    const bench = new Bench({ name: BENCH, time: o.timeMs, warmupTime: round === 0 ? 300 : 50, throws: true });
    for (const p of pairs) {
      const a: [string, () => unknown] = [key(p, 'Map (baseline)'), p.baseline];
      const b: [string, () => unknown] = [key(p, 'ShardedMap (64 shards)'), p.sharded];
      for (const [n, f] of round % 2 ? [b, a] : [a, b]) bench.add(n, f);
    }
    await bench.run();
    for (const p of pairs) {
      const got: number[] = [];
      for (const impl of ['Map (baseline)', 'ShardedMap (64 shards)']) {
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
  for (const p of pairs) {
    for (const impl of ['Map (baseline)', 'ShardedMap (64 shards)']) {
      const e = per.get(key(p, impl))!;
      rows.push({
        bench: BENCH,
        case: key(p, impl),
        metric: p.metric,
        value: median(e.ops),
        unit: 'ops/s',
        rme: median(e.rme),
        note: `${o.rounds} rounds (M/s): ${e.ops.map((x) => (x / 1e6).toFixed(1)).join(', ')}`,
      });
    }
    const r = ratios.get(p.name)!;
    rows.push({
      bench: BENCH,
      case: `${p.name}, ShardedMap / Map`,
      metric: 'ratio',
      value: median(r),
      unit: '×',
      note: `per round: ${r.map((x) => x.toFixed(2)).join(', ')}`,
    });
  }
  return rows;
}

async function runLookups(o: ShardedMapBenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  for (const size of [10_000, o.n]) {
    for (const kind of ['number', 'string'] as const) {
      const keys = makeKeys(kind, size);
      const map = new Map<unknown, number>();
      const sharded = new ShardedMap<unknown, number>();
      for (let i = 0; i < size; i++) {
        map.set(keys[i], i);
        sharded.set(keys[i], i);
      }
      const r = rng(size + kind.length);
      const hits = Array.from({ length: BATCH }, () => keys[Math.floor(r() * size)]);
      const misses = makeKeys(kind, BATCH, 'nope:', size * 2);
      const sz = size.toLocaleString('en-US');
      const pairs: Pair[] = (
        [
          ['hit', hits, BATCH],
          ['miss', misses, 0],
        ] as const
      ).map(([what, batch, want]) => ({
        name: `get ${what}, ${sz} ${kind} keys`,
        ops: BATCH,
        metric: 'lookups/s',
        baseline: mapLookup(map, batch as unknown[], want),
        sharded: shardedLookup(sharded, batch as unknown[], want),
      }));
      rows.push(...(await runPairs(pairs, o)));
    }
  }
  return rows;
}

/** Longest gap between two ticks of a setImmediate probe while `work` runs, and its total time, ms. */
async function loopHold(work: () => Promise<unknown> | unknown): Promise<{ totalMs: number; maxGapMs: number }> {
  let last = performance.now();
  let maxGap = 0;
  let stop = false;
  const probe = () => {
    const t = performance.now();
    if (t - last > maxGap) maxGap = t - last;
    last = t;
    if (!stop) setImmediate(probe);
  };
  await new Promise((r) => setImmediate(r));
  last = performance.now();
  setImmediate(probe);
  const t0 = performance.now();
  await work();
  const totalMs = performance.now() - t0;
  stop = true;
  probe();
  return { totalMs, maxGapMs: maxGap };
}

async function runIteration(o: ShardedMapBenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  for (const size of [10_000, o.n]) {
    const map = new Map<unknown, number>();
    const sharded = new ShardedMap<unknown, number>();
    for (let i = 0; i < size; i++) {
      map.set(i, i);
      sharded.set(i, i);
    }
    const sz = size.toLocaleString('en-US');
    rows.push(
      ...(await runPairs(
        [{ name: `values() loop, ${sz} entries`, ops: size, metric: 'entries/s', baseline: mapSum(map, size), sharded: shardedSum(sharded, size) }],
        o,
      )),
    );

    if (size !== o.n) continue;
    // Sweep of every entry: synchronous loop vs forEachSlice, 5 runs each, alternated.
    const runs = new Map<string, { totalMs: number; maxGapMs: number }[]>();
    const add = (k: string, v: { totalMs: number; maxGapMs: number }) => (runs.get(k) ?? runs.set(k, []).get(k)!).push(v);
    for (let rep = 0; rep < 6; rep++) {
      const both = [['Map (baseline)', map], ['ShardedMap (64 shards)', sharded]] as const;
      for (const [name, store] of rep % 2 ? [both[1], both[0]] : both) {
        add(`sweep ${sz} entries, sync values(), ${name}`, await loopHold(() => {
          let s = 0;
          for (const v of store.values()) s ^= v;
          return s;
        }));
        add(`sweep ${sz} entries, forEachSlice(${SLICE}), ${name}`, await loopHold(async () => {
          let s = 0;
          const n = await forEachSlice(store as KeyedStore<unknown, number>, (v) => {
            s ^= v; // stays a small integer: no heap number per call
          }, SLICE);
          if (n !== size) throw new Error(`${name}: swept ${n}, want ${size}`);
          return s;
        }));
      }
    }
    for (const [c, all] of runs) {
      const rs = all.slice(1); // the first run of each also compiles the loop
      rows.push({ bench: BENCH, case: c, metric: 'total', value: median(rs.map((r) => r.totalMs)), unit: 'ms', note: `runs: ${rs.map((r) => r.totalMs.toFixed(1)).join(', ')}` });
      rows.push({ bench: BENCH, case: c, metric: 'longest loop hold', value: median(rs.map((r) => r.maxGapMs)), unit: 'ms', note: `runs: ${rs.map((r) => r.maxGapMs.toFixed(2)).join(', ')}` });
    }
  }
  return rows;
}

// ------------------------------------------------------------------ driver

/**
 * Runs the sharded-map benchmark.
 * @param options parts, sizes and repeats (defaults: everything, 1M keys, 3 insert runs per case, 1 s per tinybench task)
 * @returns rows: insert latency percentiles (µs), lookups/s, entries/s, sweep times (ms)
 */
export async function runShardedMapBench(options: Partial<ShardedMapBenchOptions> = {}): Promise<Row[]> {
  const o = { ...DEFAULTS, ...options };
  const rows: Row[] = [];
  if (o.only.has('insert')) {
    const runs: InsertRun[] = [];
    for (let rep = 0; rep < o.repeat; rep++) {
      for (const kind of ['number', 'string'] as const) {
        for (const impl of rep % 2 ? [...o.insertImpls].reverse() : o.insertImpls) {
          process.stderr.write(`[${BENCH}] insert ${kind} ${impl} run ${rep + 1}/${o.repeat}\n`);
          runs.push(spawnInsert(impl, kind, o.n));
        }
      }
    }
    rows.push(...insertRows(runs, o.insertImpls));
  }
  if (o.only.has('lookup')) {
    process.stderr.write(`[${BENCH}] lookups\n`);
    rows.push(...(await runLookups(o)));
  }
  if (o.only.has('iterate')) {
    process.stderr.write(`[${BENCH}] iteration\n`);
    rows.push(...(await runIteration(o)));
  }
  return rows;
}

function parseArgs(argv: string[]): Partial<ShardedMapBenchOptions> {
  const o: Partial<ShardedMapBenchOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i] ?? '';
    if (a === '--only') o.only = new Set(v().split(',') as ('insert' | 'lookup' | 'iterate')[]);
    else if (a === '--repeat') o.repeat = Number(v());
    else if (a === '--n') o.n = Number(v());
    else if (a === '--time') o.timeMs = Number(v());
    else if (a === '--rounds') o.rounds = Number(v());
    else if (a === '--impls') o.insertImpls = v().split(',');
    else if (a === '--quick') Object.assign(o, { n: 200_000, repeat: 1, timeMs: 100, rounds: 3 });
    else throw new Error(`unknown flag ${a}: --only insert,lookup,iterate | --repeat N | --n N | --time ms | --rounds N | --impls map,sharded:64 | --quick`);
  }
  return o;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  if (args[0] === '--insert-child') {
    const run = await insertChild(args[1]!, args[2] as KeyKind, Number(args[3]));
    process.stdout.write(`${JSON.stringify(run)}\n`);
  } else {
    printRows(await runShardedMapBench(parseArgs(args)), 28);
  }
}
