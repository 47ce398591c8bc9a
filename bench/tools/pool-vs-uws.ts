/**
 * Pools several sittings of bench/macro/multiroom-vs-uws.ts, for
 * docs/performance.md: reads the `--json` files those sittings wrote and
 * prints, per file and over all of them,
 *
 * - the median e2e p99 of ours and of uWS over the clean runs (runs the
 *   driver did not discard), their ratio, and the rounds where ours was at
 *   or below uWS's (the round's last clean attempt of each server);
 * - the median server CPU of each;
 * - per server, the least-squares line of p99 (ms) against server CPU (% of
 *   one core) over the pooled runs: its slope in ms per CPU point and the
 *   correlation r. With the slopes, a CPU gap between the servers can be
 *   read as a p99 gap.
 *
 * Usage: `npm run build && node dist/bench/tools/pool-vs-uws.js SITTING.json...
 *   [--ours ours-ws]`
 *   --ours: which of our targets to compare with uWS (default ours-ws).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { median } from '../lib/stats.js';

/** One clean run of a sitting. */
interface Run {
  sitting: string;
  target: string;
  round: number;
  /** e2e p99, ms */
  p99: number;
  /** server CPU, % of one core */
  cpu: number;
}

/** The part of a run in multiroom-vs-uws's `--json` output that is read here. */
interface JsonRun {
  target: string;
  round: number;
  discarded: string | null;
  e2e?: { p99: number };
  serverCpuPct: number;
}

let ours = 'ours-ws';
const files: string[] = [];
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--ours') ours = process.argv[++i] ?? ours;
  else files.push(process.argv[i]);
}
if (files.length === 0) {
  console.error('usage: node dist/bench/tools/pool-vs-uws.js SITTING.json... [--ours ours-ws]');
  process.exit(2);
}

/** Least-squares slope of y on x and the correlation r. */
function fit(points: { x: number; y: number }[]): { slope: number; r: number } {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
    syy += (p.y - my) ** 2;
  }
  return { slope: sxy / sxx, r: sxy / Math.sqrt(sxx * syy) };
}

/**
 * Clean runs of one sitting: `{ sitting, target, round, p99, cpu }`.
 * @throws Error when the file is missing, not JSON, or not a sitting's output
 */
function cleanRuns(file: string): Run[] {
  let doc: { runs?: JsonRun[] };
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as { runs?: JsonRun[] };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  if (!Array.isArray(doc.runs)) throw new Error(`${file}: no runs array (not a multiroom-vs-uws --json file?)`);
  const sitting = path.basename(file, '.json');
  return doc.runs
    .filter((r) => r.discarded === null && r.e2e !== undefined && Number.isFinite(r.e2e.p99))
    .map((r) => ({ sitting, target: r.target, round: r.round, p99: r.e2e!.p99, cpu: r.serverCpuPct }));
}

/** One summary line for a set of runs. */
function summary(label: string, runs: Run[]): void {
  const a = runs.filter((r) => r.target === ours);
  const b = runs.filter((r) => r.target === 'uws');
  const pa = median(a.map((r) => r.p99));
  const pb = median(b.map((r) => r.p99));
  // Pair by sitting and round; a round's last clean attempt counts.
  const last = new Map<string, Run>();
  for (const r of runs) last.set(`${r.sitting}/${r.round}/${r.target}`, r);
  let rounds = 0, won = 0;
  for (const r of a) {
    const u = last.get(`${r.sitting}/${r.round}/uws`);
    if (last.get(`${r.sitting}/${r.round}/${ours}`) !== r || u === undefined) continue;
    rounds++;
    if (r.p99 <= u.p99) won++;
  }
  const cpu = (xs: Run[]) => median(xs.map((r) => r.cpu)).toFixed(0);
  console.log(
    `${label}: ${a.length} + ${b.length} runs; median p99 ${pa.toFixed(2)} / ${pb.toFixed(2)} ms = x${(pa / pb).toFixed(2)}; ` +
      `ours <= uWS in ${won} of ${rounds} rounds; median server CPU ${cpu(a)} / ${cpu(b)} %`,
  );
}

let all: Run[] = [];
try {
  all = files.flatMap(cleanRuns);
} catch (err) {
  console.error(`pool-vs-uws: ${(err as Error).message}`);
  process.exit(2);
}
for (const f of files) summary(path.basename(f, '.json'), all.filter((r) => r.sitting === path.basename(f, '.json')));
if (files.length > 1) summary('pooled', all);
for (const target of [ours, 'uws']) {
  const pts = all.filter((r) => r.target === target).map((r) => ({ x: r.cpu, y: r.p99 }));
  if (pts.length < 3) continue;
  const { slope, r } = fit(pts);
  console.log(`${target}: p99 against server CPU over ${pts.length} runs: ${slope.toFixed(2)} ms per CPU point, r = ${r.toFixed(2)}`);
}
