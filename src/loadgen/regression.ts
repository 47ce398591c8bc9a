/**
 * The regression suite behind ./test_runner.sh and its judgement, as pure
 * functions: which cases run and which numbers they yield, the median and
 * spread of those numbers over repetitions, and the comparison of two builds
 * against thresholds (docs/performance.md, "Regression runner").
 *
 * No I/O here: src/loadgen/regression-cli.ts runs the processes and reads and
 * writes the files; test/unit/loadgen/regression.test.ts feeds this module
 * crafted results.
 */
import type { RunResult } from './types.js';

/** A regression file or option that cannot be used; the message names the file or key. */
export class RegressionInputError extends Error {
  override name = 'RegressionInputError';
  readonly code = 'ERR_REGRESSION_INPUT';
}

// ------------------------------------------------------------------ the suite

/** One load-generator case of the suite: a built-in scenario of src/loadgen/cli.ts. */
export interface SuiteCase {
  /** Case name in tables and metric ids. */
  name: string;
  /** `--scenario` of the load generator. */
  scenario: string;
  /** More load-generator flags, the same for every build and mode. */
  args: readonly string[];
}

/**
 * The fixed suite, in run order. Changing it invalidates bench/baseline.json.
 * Ramp-up is not measured, so it is faster than the scenarios' own (2 s for
 * 500 clients instead of 5 s).
 */
export const SUITE: readonly SuiteCase[] = Object.freeze([
  { name: 'large-room', scenario: 'large-room', args: ['--ramp', '250/s'] },
  { name: 'multi-room', scenario: 'multi-room', args: ['--ramp', '250/s'] },
  { name: 'max-throughput', scenario: 'max-throughput', args: ['--ramp', '250/s'] },
]);

/** `full` is the default run; `quick` (--quick) keeps the whole runner under 2 minutes. */
export type RunMode = 'full' | 'quick';

/** Measured phase of each load case, ms (`--duration` of the load generator). */
export const CASE_DURATION_MS: Readonly<Record<RunMode, number>> = Object.freeze({ full: 20_000, quick: 5_000 });

/**
 * What a metric measures, and so which threshold and verdict apply:
 * throughput (higher is better) → ROLLBACK, memory and latency (lower is
 * better) → OPTIMIZE and REVIEW.
 */
export type MetricKind = 'throughput' | 'memory' | 'latency';

/** One micro-benchmark row, as `node dist/bench/run.js --only micro --json FILE` writes it in `rows`. */
export interface MicroRow {
  bench: string;
  case: string;
  metric: string;
  value: number;
  unit: string;
  /** Relative margin of error, %. */
  rme?: number;
  note?: string;
}

/** Environment of a repetition, for telling apart comparisons that mean something from ones that do not. */
export interface MachineInfo {
  node: string;
  cpus: number;
  cpu_model: string;
  /** How the server and the load generator were pinned, e.g. `server core 0, loadgen core 1`. */
  pinning: string;
}

/** The build a repetition measured. */
export interface BuildInfo {
  /** Root of the build (holds dist/), absolute. */
  dir: string;
  /** Short commit hash, or `?` without git. */
  commit: string;
  /** src/ or bench/ differ from the commit (changed or untracked files). */
  dirty: boolean;
  /** Which build's load generator judged it: `own` or the path of the one used instead. */
  loadgen: string;
}

/** One repetition of the whole suite against one build: `regression-cli run --json FILE`. */
export interface Repetition {
  kind: 'tcpserver-regression-repetition';
  version: 1;
  /** `A` (baseline build) or `B` (current build), or a free label. */
  label: string;
  build: BuildInfo;
  mode: RunMode;
  machine: MachineInfo;
  /** ISO time the repetition started. */
  started_at: string;
  elapsed_s: number;
  /** Load case name → the load generator's RunResult (src/loadgen/types.ts). */
  cases: Record<string, RunResult>;
  /** Micro-benchmark rows; null when the build has no dist/bench/run.js. */
  micro: MicroRow[] | null;
  /**
   * CPU other processes used during each phase (load case name, `micro`), in
   * % of one core; null without /proc. Near 0 on a quiet machine.
   */
  other_cpu_pct?: Record<string, number | null>;
  /** With --wait-quiet: phases before which the machine was still busy when the wait ran out, busy share in %. */
  busy_after_wait_pct?: Record<string, number>;
  /** Things the reader should know (fallback load generator, forced server stop…). */
  notes: string[];
}

/** One number of one repetition. */
export interface Measurement {
  /** Stable key, matched between builds: `<case>.<field>` or `micro.<bench>/<case>`. */
  id: string;
  /** Load case name, or `micro`. */
  case: string;
  /** Short label for tables. */
  name: string;
  kind: MetricKind;
  unit: string;
  value: number;
}

/** Units of a micro row that is a time per operation (lower is better). */
const COST_UNITS = new Set(['ns', 'µs']);

/**
 * The numbers of one repetition: for every load case, throughput =
 * `delivered_per_s`, memory = `server.rss_mb_max`, latency =
 * `latency_ms.p99`; for every micro row with a per-second unit (ops/s,
 * MB/s, …) its value as throughput, and for every micro row in ns or µs
 * (a time per operation, bench/services/suite.ts) its value as latency.
 */
export function measurements(rep: Pick<Repetition, 'cases' | 'micro'>): Measurement[] {
  const out: Measurement[] = [];
  for (const [name, r] of Object.entries(rep.cases)) {
    out.push(
      { id: `${name}.delivered_per_s`, case: name, name: 'delivered/s', kind: 'throughput', unit: 'msg/s', value: r.delivered_per_s },
      { id: `${name}.server_rss_mb_max`, case: name, name: 'server RSS max', kind: 'memory', unit: 'MB', value: r.server.rss_mb_max },
      { id: `${name}.latency_p99_ms`, case: name, name: 'latency p99', kind: 'latency', unit: 'ms', value: r.latency_ms.p99 },
    );
  }
  const kindOf = (row: MicroRow): Measurement['kind'] | null =>
    row.unit.endsWith('/s') ? 'throughput' : COST_UNITS.has(row.unit) ? 'latency' : null;
  // A case with several per-second rows (compression: compress and decompress) is told apart by its metric.
  const perSecondRows = new Map<string, number>();
  for (const row of rep.micro ?? []) {
    if (kindOf(row) === 'throughput') perSecondRows.set(`${row.bench}/${row.case}`, (perSecondRows.get(`${row.bench}/${row.case}`) ?? 0) + 1);
  }
  for (const row of rep.micro ?? []) {
    // Per-second units are throughput; time per operation (the services' cost rows) counts as latency.
    const kind = kindOf(row);
    if (kind === null) continue;
    // The id keeps the whole case, and the metric where it is needed to tell rows apart (always for a cost row); the table name drops the case's parenthesized detail.
    const withMetric = kind === 'latency' || perSecondRows.get(`${row.bench}/${row.case}`)! > 1;
    const id = `micro.${row.bench}/${row.case}${withMetric ? `/${row.metric}` : ''}`;
    const name = `${row.bench} ${row.case.replace(/\s*\(.*\)\s*$/, '')}${withMetric ? ` ${row.metric}` : ''}`;
    out.push({ id, case: 'micro', name, kind, unit: row.unit === '/s' ? row.metric : row.unit, value: row.value });
  }
  return out;
}

// ------------------------------------------------------------------ medians and spread

/** Median of finite numbers (mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Spread of repetitions: (max − min) / median, in %, over the finite values.
 * null when it is undefined: fewer than two values, or a median of 0 with
 * values apart.
 */
export function spreadPct(xs: readonly number[]): number | null {
  const s = xs.filter(Number.isFinite);
  if (s.length < 2) return null;
  const lo = Math.min(...s);
  const hi = Math.max(...s);
  if (hi === lo) return 0;
  const m = median(s);
  return m === 0 ? null : round6(((hi - lo) / Math.abs(m)) * 100);
}

/** One metric over all repetitions of one build. */
export interface MetricSummary extends Omit<Measurement, 'value'> {
  /** Every repetition's value, in run order (NaN where a repetition lacked it). */
  values: number[];
  median: number;
  min: number;
  max: number;
  /** (max − min) / median, %; null for a single repetition (see spreadPct). */
  spread_pct: number | null;
}

/** All metrics of one build. */
export interface Summary {
  reps: number;
  metrics: MetricSummary[];
}

/** Medians and spread per metric over `reps` (metrics in first-seen order). */
export function summarize(reps: ReadonlyArray<Pick<Repetition, 'cases' | 'micro'>>): Summary {
  const byId = new Map<string, { m: Measurement; values: number[] }>();
  reps.forEach((rep, i) => {
    for (const m of measurements(rep)) {
      let e = byId.get(m.id);
      if (!e) byId.set(m.id, (e = { m, values: new Array<number>(i).fill(Number.NaN) }));
      e.values[i] = m.value; // a duplicate id in one repetition: the last one counts
    }
    for (const e of byId.values()) if (e.values.length < i + 1) e.values.push(Number.NaN);
  });
  const metrics: MetricSummary[] = [];
  for (const { m, values } of byId.values()) {
    const finite = values.filter(Number.isFinite);
    metrics.push({
      id: m.id,
      case: m.case,
      name: m.name,
      kind: m.kind,
      unit: m.unit,
      values,
      median: median(values),
      min: finite.length ? Math.min(...finite) : Number.NaN,
      max: finite.length ? Math.max(...finite) : Number.NaN,
      spread_pct: spreadPct(values),
    });
  }
  return { reps: reps.length, metrics };
}

// ------------------------------------------------------------------ thresholds and verdicts

/**
 * Per-metric verdict. OK: within thresholds. ROLLBACK: throughput fell by
 * the throughput threshold or more. OPTIMIZE: memory grew by the memory
 * threshold or more. REVIEW: latency grew by the latency threshold or more.
 */
export type RegressionVerdict = 'OK' | 'ROLLBACK' | 'OPTIMIZE' | 'REVIEW';

/** Thresholds in % of the baseline's median, all > 0. A change of exactly the threshold trips it. */
export interface Thresholds {
  /** Largest tolerated throughput drop, % (default 5). */
  throughput: number;
  /** Largest tolerated memory growth, % (default 20). */
  memory: number;
  /** Largest tolerated p99 latency growth, % (default 10). */
  latency: number;
}

export const DEFAULT_THRESHOLDS: Readonly<Thresholds> = Object.freeze({ throughput: 5, memory: 20, latency: 10 });

/** Verdict a metric of each kind gets when it trips its threshold. */
export const VERDICT_OF_KIND: Readonly<Record<MetricKind, Exclude<RegressionVerdict, 'OK'>>> = Object.freeze({
  throughput: 'ROLLBACK',
  memory: 'OPTIMIZE',
  latency: 'REVIEW',
});

/**
 * Exit codes of the runner. The most severe verdict wins: ROLLBACK over
 * OPTIMIZE over REVIEW. 1 is a failed run (build, server, load generator),
 * 2 bad arguments.
 */
export const EXIT_CODES: Readonly<Record<RegressionVerdict, number>> = Object.freeze({ OK: 0, REVIEW: 3, OPTIMIZE: 4, ROLLBACK: 5 });

const SEVERITY: Readonly<Record<RegressionVerdict, number>> = { OK: 0, REVIEW: 1, OPTIMIZE: 2, ROLLBACK: 3 };

/** Rounds to 6 decimals, so that e.g. 3 → 3.3 is +10 %, not +9.999999999999993 %. */
function round6(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
}

/**
 * Change from `a` (baseline) to `b` (current), in % of `a`, rounded to 6
 * decimals; +Infinity when `a` is 0 and `b` is above it; null when either is
 * not finite.
 */
export function changePct(a: number, b: number): number | null {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return null;
  if (a === 0) return b === 0 ? 0 : b > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  return round6(((b - a) / Math.abs(a)) * 100);
}

/**
 * The verdict of one metric: throughput trips at change ≤ −threshold,
 * memory and latency at change ≥ +threshold.
 * @param change change in %, as from changePct; null → OK (nothing to judge)
 */
export function judgeChange(kind: MetricKind, change: number | null, thresholds: Thresholds): RegressionVerdict {
  if (change === null) return 'OK';
  const t = thresholds[kind];
  const tripped = kind === 'throughput' ? change <= -t : change >= t;
  return tripped ? VERDICT_OF_KIND[kind] : 'OK';
}

/** One line of a comparison. */
export interface ComparedMetric {
  id: string;
  case: string;
  name: string;
  kind: MetricKind;
  unit: string;
  /** Baseline (A) and current (B) summaries; null where that build lacks the metric. */
  a: MetricSummary | null;
  b: MetricSummary | null;
  /** Median change from A to B, %; null when not comparable. */
  change_pct: number | null;
  /** The limit applied, signed as it trips: −5 for throughput, +20 for memory. */
  limit_pct: number;
  verdict: RegressionVerdict;
  /** |change| is no larger than the larger spread of A and B: the verdict may be noise. */
  within_spread: boolean;
  /** Why a metric was not compared normally; empty otherwise. */
  note: string;
}

/** The judgement of a current build against a baseline. */
export interface Comparison {
  thresholds: Thresholds;
  metrics: ComparedMetric[];
  /** Most severe per-metric verdict. */
  verdict: RegressionVerdict;
  /** EXIT_CODES[verdict]. */
  exit_code: number;
  /** Metrics per verdict. */
  counts: Record<RegressionVerdict, number>;
}

/** Checks that every threshold is a finite number > 0 (names the bad key). */
export function validateThresholds(t: Thresholds): Thresholds {
  for (const k of ['throughput', 'memory', 'latency'] as const) {
    if (!(typeof t[k] === 'number' && Number.isFinite(t[k]) && t[k] > 0)) {
      throw new RegressionInputError(`threshold ${k} must be a number > 0 (percent), got ${JSON.stringify(t[k])}`);
    }
  }
  return t;
}

/**
 * Compares the current build `b` with the baseline `a`, metric by metric,
 * on medians.
 *
 * - Both have the metric: changePct of the medians, judged by judgeChange.
 * - Only B has it (a new benchmark): OK, noted `new`.
 * - A has it and B has no finite median (a case that no longer yields the
 *   number): the kind's verdict, noted — a gate must not pass what it could
 *   not measure.
 */
export function compare(a: Summary, b: Summary, thresholds: Thresholds = DEFAULT_THRESHOLDS): Comparison {
  validateThresholds(thresholds);
  const aById = new Map(a.metrics.map((m) => [m.id, m]));
  const bIds = new Set(b.metrics.map((m) => m.id));
  const out: ComparedMetric[] = [];
  const push = (am: MetricSummary | null, bm: MetricSummary | null) => {
    const ref = (bm ?? am)!;
    const limit = ref.kind === 'throughput' ? -thresholds.throughput : thresholds[ref.kind];
    const base = { id: ref.id, case: ref.case, name: ref.name, kind: ref.kind, unit: ref.unit, a: am, b: bm, limit_pct: limit };
    if (am === null || !Number.isFinite(am.median)) {
      out.push({ ...base, change_pct: null, verdict: 'OK', within_spread: false, note: am === null ? 'new: not in the baseline' : 'no baseline value' });
      return;
    }
    if (bm === null || !Number.isFinite(bm.median)) {
      out.push({ ...base, change_pct: null, verdict: VERDICT_OF_KIND[ref.kind], within_spread: false, note: 'not measured in the current build' });
      return;
    }
    const change = changePct(am.median, bm.median);
    const spread = Math.max(am.spread_pct ?? 0, bm.spread_pct ?? 0);
    out.push({
      ...base,
      change_pct: change,
      verdict: judgeChange(ref.kind, change, thresholds),
      within_spread: change !== null && spread > 0 && Math.abs(change) <= spread,
      note: '',
    });
  };
  for (const bm of b.metrics) push(aById.get(bm.id) ?? null, bm);
  for (const am of a.metrics) if (!bIds.has(am.id)) push(am, null);

  const counts: Record<RegressionVerdict, number> = { OK: 0, REVIEW: 0, OPTIMIZE: 0, ROLLBACK: 0 };
  let verdict: RegressionVerdict = 'OK';
  for (const m of out) {
    counts[m.verdict]++;
    if (SEVERITY[m.verdict] > SEVERITY[verdict]) verdict = m.verdict;
  }
  return { thresholds: { ...thresholds }, metrics: out, verdict, exit_code: EXIT_CODES[verdict], counts };
}

// ------------------------------------------------------------------ files

/** bench/baseline.json: a build's summary and where it was measured. */
export interface BaselineFile {
  kind: 'tcpserver-regression-baseline';
  version: 1;
  recorded_at: string;
  /** Build that was measured. */
  commit: string;
  dirty: boolean;
  mode: RunMode;
  machine: MachineInfo;
  /** repetitionNotes of the recorded repetitions: what made it noisy. */
  notes: string[];
  summary: Summary;
}

/** One side of a results file. */
export interface ResultSide {
  /** `worktree <ref>`, `bench/baseline.json`, `current`… */
  label: string;
  commit: string;
  dirty: boolean;
  mode: RunMode;
  machine: MachineInfo | null;
  summary: Summary;
  /** Every repetition's raw results (empty for a side read from a baseline file). */
  repetitions: Repetition[];
  /** repetitionNotes of the repetitions (kept in a baseline file, which has no repetitions). */
  notes: string[];
}

/** bench/results/<timestamp>.json. */
export interface ResultsFile {
  kind: 'tcpserver-regression-result';
  version: 1;
  created_at: string;
  /** null when there was nothing to compare with (first --update-baseline). */
  baseline: ResultSide | null;
  current: ResultSide;
  comparison: Comparison | null;
  warnings: string[];
}

/** What a file given to `regression-cli compare` holds. */
export type RegressionFile = Repetition | BaselineFile | ResultsFile;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Checks the shape of a parsed regression file enough to use it.
 * @param where file name for error messages
 * @throws RegressionInputError naming the file and the missing field
 */
export function parseRegressionFile(json: unknown, where: string): RegressionFile {
  const fail = (what: string): never => {
    throw new RegressionInputError(`${where}: ${what}`);
  };
  if (!isObject(json)) return fail('not a JSON object');
  if (json.version !== 1) fail(`unsupported version ${JSON.stringify(json.version)} (want 1)`);
  const checkSummary = (s: unknown, at: string) => {
    if (!isObject(s) || typeof s.reps !== 'number' || !Array.isArray(s.metrics)) return fail(`${at} is not a summary ({reps, metrics[]})`);
    for (const m of s.metrics) {
      if (!isObject(m) || typeof m.id !== 'string' || !(m.kind === 'throughput' || m.kind === 'memory' || m.kind === 'latency')) {
        fail(`${at}.metrics has an entry without id or kind`);
      }
      const mm = m as Record<string, unknown>;
      // JSON has no NaN: a missing median was written as null.
      if (mm.median === null) mm.median = Number.NaN;
      if (typeof mm.median !== 'number') fail(`${at}.metrics["${String(mm.id)}"].median is not a number`);
      if (Array.isArray(mm.values)) mm.values = mm.values.map((v) => (typeof v === 'number' ? v : Number.NaN));
    }
  };
  switch (json.kind) {
    case 'tcpserver-regression-repetition': {
      if (!isObject(json.cases)) fail('cases is missing');
      for (const [name, r] of Object.entries(json.cases as Record<string, unknown>)) {
        if (!isObject(r) || typeof r.delivered_per_s !== 'number' || !isObject(r.server) || !isObject(r.latency_ms)) {
          fail(`cases["${name}"] is not a load generator RunResult`);
        }
      }
      if (json.micro !== null && !Array.isArray(json.micro)) fail('micro is neither null nor an array');
      return json as unknown as Repetition;
    }
    case 'tcpserver-regression-baseline':
      checkSummary(json.summary, 'summary');
      return json as unknown as BaselineFile;
    case 'tcpserver-regression-result':
      if (!isObject(json.current)) fail('current is missing');
      checkSummary((json.current as Record<string, unknown>).summary, 'current.summary');
      return json as unknown as ResultsFile;
    default:
      return fail(`unknown kind ${JSON.stringify(json.kind)} (a repetition, bench/baseline.json or a bench/results file)`);
  }
}

/**
 * One side of a comparison from the files given for it: one or more
 * repetitions (summarized together), or exactly one baseline file, or
 * exactly one results file (its current side).
 * @throws RegressionInputError when kinds are mixed or there is no file
 */
export function sideFromFiles(files: ReadonlyArray<{ path: string; file: RegressionFile }>, label: string): ResultSide {
  if (files.length === 0) throw new RegressionInputError(`${label}: no file given`);
  const reps = files.filter((f): f is { path: string; file: Repetition } => f.file.kind === 'tcpserver-regression-repetition');
  if (reps.length === files.length) {
    const first = reps[0]!.file;
    const modes = new Set(reps.map((r) => r.file.mode));
    if (modes.size > 1) throw new RegressionInputError(`${label}: repetitions mix quick and full mode`);
    return {
      label,
      commit: first.build.commit,
      dirty: first.build.dirty,
      mode: first.mode,
      machine: first.machine,
      summary: summarize(reps.map((r) => r.file)),
      repetitions: reps.map((r) => r.file),
      notes: repetitionNotes(reps.map((r) => r.file)),
    };
  }
  if (files.length > 1) throw new RegressionInputError(`${label}: give either repetition files or exactly one baseline or results file`);
  const f = files[0]!.file;
  if (f.kind === 'tcpserver-regression-baseline') {
    return { label, commit: f.commit, dirty: f.dirty, mode: f.mode, machine: f.machine, summary: f.summary, repetitions: [], notes: f.notes ?? [] };
  }
  if (f.kind === 'tcpserver-regression-result') {
    const repetitions = f.current.repetitions ?? [];
    return { ...f.current, label, repetitions, notes: f.current.notes ?? repetitionNotes(repetitions) };
  }
  throw new RegressionInputError(`${label}: unexpected file kind`);
}

/** The baseline file recorded from a side (usually the current build's repetitions). */
export function toBaselineFile(side: ResultSide, recordedAt: string): BaselineFile {
  return {
    kind: 'tcpserver-regression-baseline',
    version: 1,
    recorded_at: recordedAt,
    commit: side.commit,
    dirty: side.dirty,
    mode: side.mode,
    machine: side.machine ?? { node: '?', cpus: 0, cpu_model: '?', pinning: '?' },
    notes: side.notes,
    summary: side.summary,
  };
}

/** Other processes using more than this (% of one core) during a phase make the table warn. */
export const OTHER_CPU_WARN_PCT = 15;

/**
 * What the reader of a comparison should know about a build's repetitions:
 * per repetition, load runs whose own verdict was FAIL or whose load
 * generator was saturated, phases during which other processes used more
 * than OTHER_CPU_WARN_PCT of a core or that --wait-quiet could not make
 * quiet, and the repetition's notes (fallback load generator…).
 */
export function repetitionNotes(reps: readonly Repetition[]): string[] {
  const out: string[] = [];
  reps.forEach((rep, i) => {
    const who = reps.length > 1 ? `rep ${i + 1}, ` : '';
    for (const [name, r] of Object.entries(rep.cases)) {
      if (r.verdict === 'FAIL') out.push(`${who}${name}: load generator verdict FAIL: ${r.verdict_reasons.slice(0, 3).join('; ')}`);
      if (r.loadgen?.saturated) out.push(`${who}${name}: load generator saturated (${Math.round(r.loadgen.cpu_pct)} % CPU): throughput is a lower bound`);
    }
    const phases = Object.entries(rep.other_cpu_pct ?? {});
    const busy = phases.filter(([, pct]) => pct !== null && pct > OTHER_CPU_WARN_PCT);
    if (busy.length) {
      out.push(
        `${who}other processes used more than ${OTHER_CPU_WARN_PCT}% of a core in ${busy.length} of ${phases.length} phases ` +
          `(${busy.map(([ph, pct]) => `${ph} ${pct}%`).join(', ')}): expect noise`,
      );
    }
    const waited = Object.entries(rep.busy_after_wait_pct ?? {});
    if (waited.length) out.push(`${who}--wait-quiet ran out with the machine still busy before ${waited.map(([ph, pct]) => `${ph} (${pct}%)`).join(', ')}`);
    for (const n of rep.notes) out.push(`${who}${n}`);
  });
  return [...new Set(out)];
}

/**
 * Warnings about a comparison that may not mean what it says: different
 * modes or machines, a single repetition (no spread), a dirty baseline, and
 * each side's notes (repetitionNotes).
 */
export function comparisonWarnings(a: ResultSide, b: ResultSide): string[] {
  const w: string[] = [];
  if (a.mode !== b.mode) w.push(`baseline was measured in ${a.mode} mode, current in ${b.mode} mode: load durations differ`);
  if (a.machine && b.machine) {
    const diff = (['node', 'cpus', 'cpu_model', 'pinning'] as const).filter((k) => a.machine![k] !== b.machine![k]);
    if (diff.length) {
      w.push(`baseline and current ran in different environments (${diff.map((k) => `${k}: ${a.machine![k]} vs ${b.machine![k]}`).join('; ')}): compare on one machine in one sitting (--baseline <ref>)`);
    }
  }
  if (a.summary.reps < 2 || b.summary.reps < 2) {
    w.push(`${Math.min(a.summary.reps, b.summary.reps)} repetition(s) on one side: no spread, so noise is invisible (use --reps 3 or more)`);
  }
  if (a.dirty) w.push(`baseline ${a.commit} had uncommitted changes in src/ or bench/`);
  for (const n of a.notes ?? []) w.push(`baseline: ${n}`);
  for (const n of b.notes ?? []) w.push(`current: ${n}`);
  return [...new Set(w)];
}

// ------------------------------------------------------------------ table

/** A number for a table: thousands separators from 1000 up, else 3 significant digits at most 2 decimals. */
export function formatValue(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  if (a >= 999.5) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2);
}

/** A signed percentage: `+12.3%`, `-4.99%`, `+inf%`. */
export function formatPct(x: number | null): string {
  if (x === null) return 'n/a';
  if (!Number.isFinite(x)) return x > 0 ? '+inf%' : '-inf%';
  const s = Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
  return `${x >= 0 ? '+' : ''}${s}%`;
}

/** What each verdict asks of the reader (the footer of the table). */
export const VERDICT_MEANING: Readonly<Record<RegressionVerdict, string>> = Object.freeze({
  OK: 'no metric crossed its threshold',
  ROLLBACK: 'throughput dropped past its threshold: revert or fix before merging',
  OPTIMIZE: 'server memory grew past its threshold: find the allocation before merging',
  REVIEW: 'p99 latency grew past its threshold: look at it and decide',
});

/** What a table says about one side. */
export type SideHeader = Pick<ResultSide, 'label' | 'summary' | 'commit' | 'dirty' | 'mode'>;

/** `bench/baseline.json: commit 2d86f10, quick mode, 3 reps`. */
function sideHeader(s: SideHeader): string {
  const reps = s.summary.reps;
  return `${s.label}: commit ${s.commit}${s.dirty ? ' + uncommitted changes' : ''}, ${s.mode} mode, ${reps} rep${reps === 1 ? '' : 's'}`;
}

/**
 * The comparison as an aligned plain-text table, one line per metric, then
 * the warnings and the overall verdict with its exit code.
 */
export function renderTable(cmp: Comparison, a: SideHeader, b: SideHeader, warnings: readonly string[] = []): string {
  const spread = (m: MetricSummary | null) => (m === null ? '' : m.spread_pct === null ? '—' : `${m.spread_pct.toFixed(1)}%`);
  const head = ['case', 'metric', 'unit', 'A median', 'A spread', 'B median', 'B spread', 'change', 'limit', 'verdict', 'note'];
  const right = new Set([3, 4, 5, 6, 7, 8]);
  const cells = cmp.metrics.map((m) => [
    m.case,
    m.name,
    m.unit,
    m.a ? formatValue(m.a.median) : '—',
    spread(m.a),
    m.b ? formatValue(m.b.median) : '—',
    spread(m.b),
    formatPct(m.change_pct),
    `${m.limit_pct > 0 ? '+' : ''}${m.limit_pct}%`,
    m.verdict,
    [m.note, m.within_spread && m.verdict !== 'OK' ? 'within spread: may be noise' : m.within_spread ? 'within spread' : ''].filter(Boolean).join('; '),
  ]);
  const last = head.length - 1;
  const widths = head.map((h, i) => (i === last ? 0 : Math.max(h.length, ...cells.map((c) => c[i]!.length))));
  const line = (c: string[]) => c.map((x, i) => (i === last ? x : right.has(i) ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ').trimEnd();
  const lines = [
    `A (baseline) = ${sideHeader(a)}`,
    `B (current)  = ${sideHeader(b)}`,
    `medians of the repetitions; spread = (max − min) / median; thresholds: throughput −${cmp.thresholds.throughput}%, memory +${cmp.thresholds.memory}%, latency +${cmp.thresholds.latency}%`,
    '',
    line(head),
    widths.map((w, i) => '-'.repeat(i === last ? 4 : w)).join('  '),
    ...cells.map(line),
  ];
  if (warnings.length) lines.push('', 'warnings:', ...warnings.map((x) => `  - ${x}`));
  const flagged = (['ROLLBACK', 'OPTIMIZE', 'REVIEW'] as const).filter((v) => cmp.counts[v] > 0).map((v) => `${cmp.counts[v]} ${v}`);
  lines.push(
    '',
    `verdict: ${cmp.verdict} (exit ${cmp.exit_code})${flagged.length ? ` — ${flagged.join(', ')}` : ''}: ${VERDICT_MEANING[cmp.verdict]}`,
  );
  return `${lines.join('\n')}\n`;
}

/** One build's medians and spread alone (no baseline to compare with), with every repetition's value. */
export function renderSummary(side: SideHeader): string {
  const head = ['case', 'metric', 'unit', 'median', 'spread', 'values'];
  const cells = side.summary.metrics.map((m) => [
    m.case,
    m.name,
    m.unit,
    formatValue(m.median),
    m.spread_pct === null ? '—' : `${m.spread_pct.toFixed(1)}%`,
    m.values.map(formatValue).join(', '),
  ]);
  const last = head.length - 1;
  const widths = head.map((h, i) => (i === last ? 0 : Math.max(h.length, ...cells.map((c) => c[i]!.length))));
  const line = (c: string[]) => c.map((x, i) => (i === last ? x : i === 3 || i === 4 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ').trimEnd();
  return [`${sideHeader(side)}; spread = (max − min) / median`, '', line(head), widths.map((w, i) => '-'.repeat(i === last ? 6 : w)).join('  '), ...cells.map(line)].join('\n') + '\n';
}
