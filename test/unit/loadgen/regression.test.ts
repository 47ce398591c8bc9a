/**
 * The regression runner's judgement (src/loadgen/regression.ts) and its
 * `compare` command (src/loadgen/regression-cli.ts): crafted result files in,
 * verdicts and exit codes out. No server, no load generator.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/loadgen/regression-cli.js';
import {
  DEFAULT_THRESHOLDS,
  EXIT_CODES,
  changePct,
  compare,
  formatPct,
  formatValue,
  judgeChange,
  measurements,
  median,
  parseRegressionFile,
  renderTable,
  spreadPct,
  summarize,
  validateThresholds,
  type BaselineFile,
  type MicroRow,
  type Repetition,
  type ResultsFile,
  type Thresholds,
} from '../../../src/loadgen/regression.js';
import type { RunResult } from '../../../src/loadgen/types.js';

// ------------------------------------------------------------------ fixtures

interface CaseNumbers {
  /** delivered_per_s */
  tput: number;
  /** server.rss_mb_max */
  rss: number;
  /** latency_ms.p99 */
  p99: number;
}

function runResult(n: CaseNumbers, verdict: RunResult['verdict'] = 'WARN'): RunResult {
  const lat = { count: 1000, p50: n.p99 / 3, p95: n.p99 / 1.5, p99: n.p99, max: n.p99 * 2, mean: n.p99 / 3 };
  return {
    version: 1,
    scenario: {
      scenario: 'large-room', protocol: 'tcp', host: '127.0.0.1', port: 4000, clients: 500, ramp_per_s: 500, duration_ms: 5000,
      msg_size: 64, msg_interval_ms: 0, room_mode: 'single', room_name_or_count: 'r', senders: 1, window: 32,
      reconnect_every_ms: 0, probes: 4, slo: {},
    },
    started_at: '2026-11-21T10:00:00.000Z',
    elapsed_s: 5,
    sent_per_s: n.tput / 500,
    acked_per_s: n.tput / 500,
    delivered_per_s: n.tput,
    totals: { sent: 1, acked: 1, delivered: 1, errors: 0, connect_failures: 0, disconnects: 0, reconnects: 0, lost: 0, duplicated: 0, out_of_order: 0 },
    error_rate: 0,
    latency_ms: lat,
    ack_latency_ms: lat,
    server: { rss_mb_max: n.rss, rss_mb_end: n.rss, cpu_pct_avg: 99, latency_p99_ms_max: 3 },
    loadgen: { cpu_pct: 50, saturated: false },
    verdict,
    verdict_reasons: verdict === 'FAIL' ? ['2 lost messages'] : ['no SLO set'],
  };
}

const MACHINE = { node: 'v20.20.2', cpus: 2, cpu_model: 'AMD EPYC', pinning: 'server core 0, loadgen core 1' };

/** A repetition with the same numbers for every suite case (overridable per case) and one micro row. */
function rep(
  base: CaseNumbers,
  opts: { label?: string; microOps?: number | null; perCase?: Record<string, Partial<CaseNumbers>>; mode?: 'quick' | 'full'; commit?: string } = {},
): Repetition {
  const cases: Record<string, RunResult> = {};
  for (const name of ['large-room', 'multi-room', 'max-throughput']) cases[name] = runResult({ ...base, ...opts.perCase?.[name] });
  const micro: MicroRow[] | null =
    opts.microOps === null ? null : [{ bench: 'frame-parser', case: 'whole (64 KiB chunks)', metric: 'frames/s', value: opts.microOps ?? 9_000_000, unit: 'frames/s', rme: 0.3 }];
  return {
    kind: 'tcpserver-regression-repetition',
    version: 1,
    label: opts.label ?? 'B',
    build: { dir: '/x', commit: opts.commit ?? 'abc1234', dirty: false, loadgen: 'own' },
    mode: opts.mode ?? 'quick',
    machine: MACHINE,
    started_at: '2026-11-21T10:00:00.000Z',
    elapsed_s: 30,
    cases,
    micro,
    notes: [],
  };
}

const BASE: CaseNumbers = { tput: 100_000, rss: 100, p99: 10 };

/** Verdict of one metric id in a comparison. */
const verdictOf = (cmp: ReturnType<typeof compare>, id: string) => cmp.metrics.find((m) => m.id === id)?.verdict;

/** Compares one repetition each, the current one with `b` for every case. */
function judge(b: Partial<CaseNumbers>, t: Thresholds = DEFAULT_THRESHOLDS) {
  return compare(summarize([rep(BASE)]), summarize([rep({ ...BASE, ...b })]), t);
}

// ------------------------------------------------------------------ medians and spread

describe('median and spread', () => {
  it('median of odd and even counts, ignoring non-finite values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, Number.NaN, 1])).toBe(3);
    expect(median([])).toBeNaN();
  });
  it('spread is (max − min) / median in %, null for fewer than two values', () => {
    expect(spreadPct([90, 100, 110])).toBe(20);
    expect(spreadPct([100, 100])).toBe(0);
    expect(spreadPct([100])).toBeNull();
    expect(spreadPct([100, Number.NaN])).toBeNull();
    expect(spreadPct([-1, 0, 1])).toBeNull();
  });
  it('summarize keeps every repetition value in order, NaN where a repetition lacked the metric', () => {
    const s = summarize([rep({ ...BASE, tput: 90 }), rep({ ...BASE, tput: 110 }, { microOps: null }), rep({ ...BASE, tput: 100 })]);
    const t = s.metrics.find((m) => m.id === 'large-room.delivered_per_s')!;
    expect(t.values).toEqual([90, 110, 100]);
    expect(t.median).toBe(100);
    expect(t.min).toBe(90);
    expect(t.max).toBe(110);
    expect(t.spread_pct).toBe(20);
    const micro = s.metrics.find((m) => m.case === 'micro')!;
    expect(micro.values[0]).toBe(9_000_000);
    expect(micro.values[1]).toBeNaN();
    expect(micro.median).toBe(9_000_000);
  });
  it('maps load cases to throughput / memory / latency and micro rows to throughput', () => {
    const ms = measurements(rep(BASE));
    expect(ms.filter((m) => m.case === 'large-room').map((m) => [m.id, m.kind, m.value])).toEqual([
      ['large-room.delivered_per_s', 'throughput', 100_000],
      ['large-room.server_rss_mb_max', 'memory', 100],
      ['large-room.latency_p99_ms', 'latency', 10],
    ]);
    expect(ms.filter((m) => m.case === 'micro').map((m) => [m.id, m.kind, m.name])).toEqual([
      ['micro.frame-parser/whole (64 KiB chunks)', 'throughput', 'frame-parser whole'],
    ]);
  });
});

// ------------------------------------------------------------------ thresholds

describe('thresholds at their boundaries (defaults: throughput −5 %, memory +20 %, latency +10 %)', () => {
  it('throughput: −5 % exactly is ROLLBACK, −4.99 % is OK, a gain is OK', () => {
    expect(verdictOf(judge({ tput: 95_000 }), 'large-room.delivered_per_s')).toBe('ROLLBACK');
    expect(verdictOf(judge({ tput: 95_010 }), 'large-room.delivered_per_s')).toBe('OK');
    expect(verdictOf(judge({ tput: 200_000 }), 'large-room.delivered_per_s')).toBe('OK');
  });
  it('memory: +20 % exactly is OPTIMIZE, +19.99 % is OK, less memory is OK', () => {
    expect(verdictOf(judge({ rss: 120 }), 'large-room.server_rss_mb_max')).toBe('OPTIMIZE');
    expect(verdictOf(judge({ rss: 119.99 }), 'large-room.server_rss_mb_max')).toBe('OK');
    expect(verdictOf(judge({ rss: 50 }), 'large-room.server_rss_mb_max')).toBe('OK');
  });
  it('latency: +10 % exactly is REVIEW, +9.99 % is OK, lower latency is OK', () => {
    expect(verdictOf(judge({ p99: 11 }), 'large-room.latency_p99_ms')).toBe('REVIEW');
    expect(verdictOf(judge({ p99: 10.999 }), 'large-room.latency_p99_ms')).toBe('OK');
    expect(verdictOf(judge({ p99: 1 }), 'large-room.latency_p99_ms')).toBe('OK');
  });
  it('a boundary is not lost to floating point (3 → 3.3 is +10 %, 0.3 → 0.285 is −5 %)', () => {
    expect(changePct(3, 3.3)).toBe(10);
    expect(judgeChange('latency', changePct(3, 3.3), DEFAULT_THRESHOLDS)).toBe('REVIEW');
    expect(changePct(0.3, 0.285)).toBe(-5);
    expect(judgeChange('throughput', changePct(0.3, 0.285), DEFAULT_THRESHOLDS)).toBe('ROLLBACK');
  });
  it('services rows: ns / µs per operation are judged as latency, MB/s as throughput, other units are left out', () => {
    const withRows = (nsPerFrame: number, compressMBs: number): Repetition => {
      const r = rep(BASE);
      r.micro = [
        ...r.micro!,
        { bench: 'memory-pool alloc+fill', case: 'slab 64 B', metric: 'ns/frame', value: nsPerFrame, unit: 'ns' },
        { bench: 'compression-codec', case: 'lz4, 1–4 KiB (mean 2135 B)', metric: 'compress', value: compressMBs, unit: 'MB/s' },
        { bench: 'compression-codec', case: 'lz4, 1–4 KiB (mean 2135 B)', metric: 'decompress', value: 800, unit: 'MB/s' },
        { bench: 'compression-codec', case: 'lz4, 1–4 KiB (mean 2135 B)', metric: 'compressed / original', value: 0.7, unit: 'ratio' },
      ];
      return r;
    };
    const ms = measurements(withRows(80, 300)).filter((m) => m.case === 'micro');
    expect(ms.map((m) => [m.id, m.kind])).toEqual([
      ['micro.frame-parser/whole (64 KiB chunks)', 'throughput'],
      ['micro.memory-pool alloc+fill/slab 64 B/ns/frame', 'latency'],
      ['micro.compression-codec/lz4, 1–4 KiB (mean 2135 B)/compress', 'throughput'],
      ['micro.compression-codec/lz4, 1–4 KiB (mean 2135 B)/decompress', 'throughput'],
    ]);
    const cmp = compare(summarize([withRows(80, 300)]), summarize([withRows(88, 270)]));
    expect(verdictOf(cmp, 'micro.memory-pool alloc+fill/slab 64 B/ns/frame')).toBe('REVIEW');
    expect(verdictOf(cmp, 'micro.compression-codec/lz4, 1–4 KiB (mean 2135 B)/compress')).toBe('ROLLBACK');
    expect(verdictOf(cmp, 'micro.compression-codec/lz4, 1–4 KiB (mean 2135 B)/decompress')).toBe('OK');
  });
  it('a micro-benchmark row is judged as throughput', () => {
    const cmp = compare(summarize([rep(BASE, { microOps: 1_000_000 })]), summarize([rep(BASE, { microOps: 940_000 })]));
    expect(verdictOf(cmp, 'micro.frame-parser/whole (64 KiB chunks)')).toBe('ROLLBACK');
  });
  it('change from 0: equal is 0 %, growth is +inf (a latency of 0 that becomes positive is REVIEW)', () => {
    expect(changePct(0, 0)).toBe(0);
    expect(changePct(0, 1)).toBe(Number.POSITIVE_INFINITY);
    expect(judgeChange('latency', changePct(0, 1), DEFAULT_THRESHOLDS)).toBe('REVIEW');
    expect(changePct(Number.NaN, 1)).toBeNull();
  });
});

describe('configurable thresholds', () => {
  const loose: Thresholds = { throughput: 10, memory: 50, latency: 25 };
  it('each threshold moves its own boundary', () => {
    let cmp = judge({ tput: 95_000, rss: 120, p99: 11 }, loose);
    expect(cmp.verdict).toBe('OK');
    expect(cmp.exit_code).toBe(0);
    cmp = judge({ tput: 90_000 }, loose);
    expect(verdictOf(cmp, 'large-room.delivered_per_s')).toBe('ROLLBACK');
    cmp = judge({ rss: 150 }, loose);
    expect(verdictOf(cmp, 'large-room.server_rss_mb_max')).toBe('OPTIMIZE');
    cmp = judge({ p99: 12.5 }, loose);
    expect(verdictOf(cmp, 'large-room.latency_p99_ms')).toBe('REVIEW');
  });
  it('tight thresholds trip on small changes', () => {
    const tight: Thresholds = { throughput: 0.5, memory: 1, latency: 1 };
    const cmp = judge({ tput: 99_500, rss: 101, p99: 10.1 }, tight);
    expect(cmp.counts).toEqual({ OK: 1, ROLLBACK: 3, OPTIMIZE: 3, REVIEW: 3 }); // the micro row is unchanged
  });
  it('rejects thresholds that are not > 0, naming the key', () => {
    expect(() => validateThresholds({ throughput: 0, memory: 20, latency: 10 })).toThrow(/threshold throughput/);
    expect(() => validateThresholds({ throughput: 5, memory: -1, latency: 10 })).toThrow(/threshold memory/);
    expect(() => validateThresholds({ throughput: 5, memory: 20, latency: Number.NaN })).toThrow(/threshold latency/);
  });
});

// ------------------------------------------------------------------ overall verdict

describe('overall verdict and exit code', () => {
  it('OK → 0; REVIEW → 3; OPTIMIZE → 4; ROLLBACK → 5; the most severe wins', () => {
    expect(EXIT_CODES).toEqual({ OK: 0, REVIEW: 3, OPTIMIZE: 4, ROLLBACK: 5 });
    expect(judge({}).verdict).toBe('OK');
    expect(judge({ p99: 20 })).toMatchObject({ verdict: 'REVIEW', exit_code: 3 });
    expect(judge({ rss: 200, p99: 20 })).toMatchObject({ verdict: 'OPTIMIZE', exit_code: 4 });
    expect(judge({ tput: 1, rss: 200, p99: 20 })).toMatchObject({ verdict: 'ROLLBACK', exit_code: 5 });
  });
  it('one regressed case among good ones decides', () => {
    const b = rep(BASE, { perCase: { 'multi-room': { tput: 50_000 } } });
    const cmp = compare(summarize([rep(BASE)]), summarize([b]));
    expect(cmp.verdict).toBe('ROLLBACK');
    expect(cmp.counts.ROLLBACK).toBe(1);
    expect(verdictOf(cmp, 'large-room.delivered_per_s')).toBe('OK');
  });
  it('compares medians, so one outlier repetition does not decide', () => {
    const a = summarize([rep(BASE), rep(BASE), rep(BASE)]);
    const b = summarize([rep(BASE), rep({ ...BASE, tput: 10_000 }), rep(BASE)]);
    expect(compare(a, b).verdict).toBe('OK');
  });
  it('a metric the current build no longer yields gets its kind\'s verdict; a new one is OK', () => {
    const cmp = compare(summarize([rep(BASE)]), summarize([rep(BASE, { microOps: null })]));
    const gone = cmp.metrics.find((m) => m.case === 'micro')!;
    expect(gone).toMatchObject({ verdict: 'ROLLBACK', b: null, note: 'not measured in the current build' });
    const added = compare(summarize([rep(BASE, { microOps: null })]), summarize([rep(BASE)]));
    expect(added.metrics.find((m) => m.case === 'micro')).toMatchObject({ verdict: 'OK', a: null, note: 'new: not in the baseline' });
    expect(added.verdict).toBe('OK');
  });
});

// ------------------------------------------------------------------ spread reporting

describe('spread reporting', () => {
  const a = summarize([rep({ ...BASE, tput: 95_000 }), rep({ ...BASE, tput: 100_000 }), rep({ ...BASE, tput: 105_000 })]);
  const b = summarize([rep({ ...BASE, tput: 88_000 }), rep({ ...BASE, tput: 94_000 }), rep({ ...BASE, tput: 100_000 })]);
  const cmp = compare(a, b);
  const row = cmp.metrics.find((m) => m.id === 'large-room.delivered_per_s')!;

  it('keeps each side\'s values and spread next to the verdict', () => {
    expect(row.a!.values).toEqual([95_000, 100_000, 105_000]);
    expect(row.a!.spread_pct).toBe(10);
    expect(row.b!.spread_pct).toBeCloseTo((12_000 / 94_000) * 100, 4);
    expect(row.change_pct).toBe(-6);
    expect(row.verdict).toBe('ROLLBACK');
  });
  it('flags a verdict whose change is within the spread as possibly noise', () => {
    expect(row.within_spread).toBe(true);
    const quiet = compare(summarize([rep(BASE), rep(BASE)]), summarize([rep({ ...BASE, tput: 90_000 }), rep({ ...BASE, tput: 90_000 })]));
    expect(quiet.metrics.find((m) => m.id === 'large-room.delivered_per_s')!.within_spread).toBe(false);
  });
  it('the table shows both spreads, the change, the limit and the noise note', () => {
    const text = renderTable(cmp, { label: 'main', summary: a, commit: 'aaa', dirty: false, mode: 'full' }, { label: 'tree', summary: b, commit: 'bbb', dirty: true, mode: 'full' });
    const line = text.split('\n').find((l) => l.startsWith('large-room') && l.includes('delivered/s'))!;
    expect(line).toMatch(/100,000\s+10\.0%\s+94,000\s+12\.8%\s+-6\.00%\s+-5%\s+ROLLBACK\s+within spread: may be noise/);
    expect(text).toContain('A (baseline) = main: commit aaa, full mode, 3 reps');
    expect(text).toContain('B (current)  = tree: commit bbb + uncommitted changes, full mode, 3 reps');
    expect(text).toMatch(/verdict: ROLLBACK \(exit 5\)/);
  });
  it('formats numbers and changes for the table', () => {
    expect([formatValue(999.4), formatValue(999.6), formatValue(1_234_567.8), formatValue(12.345), formatValue(Number.NaN)]).toEqual(['999', '1,000', '1,234,568', '12.3', 'n/a']);
    expect([formatPct(-5), formatPct(12.345), formatPct(null), formatPct(Number.POSITIVE_INFINITY)]).toEqual(['-5.00%', '+12.3%', 'n/a', '+inf%']);
  });
    it('a single repetition shows no spread (—), not 0 %', () => {
    const one = compare(summarize([rep(BASE)]), summarize([rep(BASE)]));
    const text = renderTable(one, { label: 'a', summary: summarize([rep(BASE)]), commit: 'x', dirty: false, mode: 'quick' }, { label: 'b', summary: summarize([rep(BASE)]), commit: 'y', dirty: false, mode: 'quick' });
    expect(text.split('\n').find((l) => l.startsWith('large-room'))).toMatch(/100,000\s+—\s+100,000\s+—/);
  });
});

// ------------------------------------------------------------------ the compare command on files

describe('regression-cli compare on result files', async () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'regression-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const file = (content: unknown) => {
    const p = join(dir, `f${n++}.json`);
    writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
    return p;
  };
  /** `regression-cli compare …` in-process: exit code and output. */
  const run = async (argv: string[]) => {
    let out = '';
    let err = '';
    const code = await main(['compare', ...argv], { out: (s) => (out += s), err: (s) => (err += s) });
    return { code, out, err };
  };

  it('two repetition files: the verdict, the exit code and the results file', async () => {
    const a = file(rep(BASE, { label: 'A' }));
    const b = file(rep({ ...BASE, tput: 94_000, p99: 11 }));
    const r = await run(['--a', a, '--b', b, '--out', dir, '--stem', 'res']);
    expect(r.code).toBe(5);
    expect(r.out).toMatch(/verdict: ROLLBACK \(exit 5\) — 3 ROLLBACK, 3 REVIEW/);
    const res = JSON.parse(readFileSync(join(dir, 'res.json'), 'utf8')) as ResultsFile;
    expect(res.comparison!.verdict).toBe('ROLLBACK');
    expect(res.comparison!.exit_code).toBe(5);
    expect(res.current.repetitions).toHaveLength(1);
    expect(res.current.repetitions[0]!.cases['large-room']!.delivered_per_s).toBe(94_000);
    expect(res.current.summary.metrics.find((m) => m.id === 'large-room.delivered_per_s')!.median).toBe(94_000);
    expect(readFileSync(join(dir, 'res.txt'), 'utf8')).toBe(r.out);
  });

  it('each exit code from crafted files: OK 0, REVIEW 3, OPTIMIZE 4, ROLLBACK 5', async () => {
    const a = file(rep(BASE));
    expect((await run(['--a', a, '--b', file(rep({ ...BASE, tput: 96_000, rss: 110, p99: 10.5 })), '--quiet'])).code).toBe(0);
    expect((await run(['--a', a, '--b', file(rep({ ...BASE, p99: 11 })), '--quiet'])).code).toBe(3);
    expect((await run(['--a', a, '--b', file(rep({ ...BASE, rss: 120, p99: 11 })), '--quiet'])).code).toBe(4);
    expect((await run(['--a', a, '--b', file(rep({ ...BASE, tput: 95_000, rss: 120, p99: 11 })), '--quiet'])).code).toBe(5);
  });

  it('threshold flags change the verdict', async () => {
    const a = file(rep(BASE));
    const b = file(rep({ ...BASE, tput: 94_000 }));
    expect((await run(['--a', a, '--b', b, '--quiet'])).code).toBe(5);
    expect((await run(['--a', a, '--b', b, '--quiet', '--threshold-throughput', '7'])).code).toBe(0);
    expect((await run(['--a', a, '--b', b, '--quiet', '--threshold-throughput=6%'])).code).toBe(5);
    expect((await run(['--a', a, '--b', file(rep({ ...BASE, rss: 130 })), '--quiet', '--threshold-memory', '30'])).code).toBe(4);
    expect((await run(['--a', a, '--b', file(rep({ ...BASE, rss: 130 })), '--quiet', '--threshold-memory', '31'])).code).toBe(0);
    expect((await run(['--a', a, '--b', file(rep({ ...BASE, p99: 10.2 })), '--quiet', '--threshold-latency', '2'])).code).toBe(3);
  });

  it('medians over several repetition files per side, spread in the output', async () => {
    const as = [95_000, 100_000, 105_000].map((t) => file(rep({ ...BASE, tput: t })));
    const bs = [97_000, 98_000, 99_000].map((t) => file(rep({ ...BASE, tput: t })));
    const r = await run([...as.flatMap((p) => ['--a', p]), '--b', bs.join(',')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/large-room\s+delivered\/s\s+msg\/s\s+100,000\s+10\.0%\s+98,000\s+2\.0%\s+-2\.00%\s+-5%\s+OK\s+within spread/);
  });

  it('--update-baseline writes a baseline that the next comparison reads, and exits 0 whatever the verdict', async () => {
    const out = join(dir, 'baseline.json');
    const b1 = file(rep(BASE));
    const b2 = file(rep({ ...BASE, tput: 110_000 }));
    const r = await run(['--b', b1, '--b', b2, '--update-baseline', out, '--quiet']);
    expect(r.code).toBe(0);
    const base = JSON.parse(readFileSync(out, 'utf8')) as BaselineFile;
    expect(base.kind).toBe('tcpserver-regression-baseline');
    expect(base.summary.reps).toBe(2);
    expect(base.summary.metrics.find((m) => m.id === 'large-room.delivered_per_s')).toMatchObject({ median: 105_000, values: [100_000, 110_000] });
    // Against that baseline (median 105,000): 99,750 is exactly −5 %.
    expect((await run(['--a', out, '--b', file(rep({ ...BASE, tput: 99_750 })), '--quiet'])).code).toBe(5);
    expect((await run(['--a', out, '--b', file(rep({ ...BASE, tput: 99_800 })), '--quiet'])).code).toBe(0);
    // A regressed run may still record itself as the new baseline.
    expect((await run(['--a', out, '--b', file(rep({ ...BASE, tput: 1 })), '--update-baseline', out, '--quiet'])).code).toBe(0);
  });

  it('a results file can serve as either side (its current build)', async () => {
    const res = join(dir, 'prev.json');
    await run(['--a', file(rep(BASE)), '--b', file(rep({ ...BASE, rss: 150 })), '--out', dir, '--stem', 'prev', '--quiet']);
    expect((await run(['--a', res, '--b', file(rep(BASE)), '--quiet'])).code).toBe(0); // 150 → 100 MB: less memory
    expect((await run(['--a', file(rep(BASE)), '--b', res, '--quiet'])).code).toBe(4);
  });

  it('warns when modes or machines differ, or a load run failed its checks', async () => {
    const a = file(rep(BASE, { mode: 'full' }));
    const failing = rep(BASE);
    failing.cases['large-room'] = runResult(BASE, 'FAIL');
    failing.machine = { ...MACHINE, cpu_model: 'Other CPU' };
    const r = await run(['--a', a, '--b', file(failing)]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('baseline was measured in full mode, current in quick mode');
    expect(r.out).toContain('cpu_model: AMD EPYC vs Other CPU');
    expect(r.out).toContain('large-room: load generator verdict FAIL: 2 lost messages');
  });

  it('a noisy repetition stays visible: busy phases become warnings, and a recorded baseline keeps them', async () => {
    const noisy = rep(BASE);
    noisy.other_cpu_pct = { 'large-room': 3, 'multi-room': null, micro: 80 };
    noisy.busy_after_wait_pct = { micro: 97 };
    noisy.notes.push('build /x has no load generator; the current build\'s judged its server');
    const r = await run(['--a', file(rep(BASE)), '--b', file(rep(BASE)), '--b', file(noisy)]);
    expect(r.out).toContain('current: rep 2, other processes used more than 15% of a core in 1 of 3 phases (micro 80%): expect noise');
    expect(r.out).toContain('current: rep 2, --wait-quiet ran out with the machine still busy before micro (97%)');
    expect(r.out).toContain('current: rep 2, build /x has no load generator');
    expect(r.out).not.toContain('rep 1, other processes');
    const out = join(dir, 'noisy-baseline.json');
    await run(['--b', file(noisy), '--update-baseline', out, '--quiet']);
    expect((JSON.parse(readFileSync(out, 'utf8')) as BaselineFile).notes).toEqual([
      'other processes used more than 15% of a core in 1 of 3 phases (micro 80%): expect noise',
      '--wait-quiet ran out with the machine still busy before micro (97%)',
      "build /x has no load generator; the current build's judged its server",
    ]);
    expect((await run(['--a', out, '--b', file(rep(BASE))])).out).toContain('baseline: other processes used more than 15% of a core in 1 of 3 phases');
  });

  it('no baseline: shows the numbers and exits 1 (unless recording one)', async () => {
    const r = await run(['--b', file(rep(BASE))]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/large-room\s+delivered\/s\s+msg\/s\s+100,000\s+—\s+100,000/);
    expect(r.err).toContain('no baseline to compare with');
  });

  it('bad input exits 2 with a message naming the file or flag', async () => {
    const good = file(rep(BASE));
    expect((await run(['--b', good, '--bogus'])).code).toBe(2);
    expect((await run(['--a', good])).code).toBe(2);
    expect(await run(['--a', good, '--b', good, '--threshold-latency', '0'])).toMatchObject({ code: 2, err: expect.stringContaining('--threshold-latency') });
    const broken = file('{"kind":"tcpserver-regression-repetition","version":1}');
    expect(await run(['--a', broken, '--b', good])).toMatchObject({ code: 2, err: expect.stringContaining(`${broken}: cases is missing`) });
    const notJson = file('not json');
    expect(await run(['--a', notJson, '--b', good])).toMatchObject({ code: 2, err: expect.stringContaining(notJson) });
    const base = file({ kind: 'tcpserver-regression-baseline', version: 1, summary: { reps: 1, metrics: [] } });
    expect((await run(['--a', base, '--a', good, '--b', good])).err).toContain('either repetition files or exactly one');
  });

  it('a median written as null (JSON has no NaN) reads back as not measured', async () => {
    const parsed = parseRegressionFile(
      { kind: 'tcpserver-regression-baseline', version: 1, summary: { reps: 1, metrics: [{ id: 'x', kind: 'latency', median: null, values: [null] }] } },
      'mem',
    ) as BaselineFile;
    expect(parsed.summary.metrics[0]!.median).toBeNaN();
    expect(parsed.summary.metrics[0]!.values[0]).toBeNaN();
  });
});
