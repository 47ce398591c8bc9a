/**
 * `npm run bench`: builds, then runs the micro-benchmarks (in this process)
 * and the macro scenarios (server in a child process on core 0, this process
 * as load generator on core 1) and prints one table.
 *
 *   npm run bench                          # everything, fan-out for 10 s
 *   npm run bench -- --only micro          # frame parser and room engine
 *   npm run bench -- --only macro --duration 30s --repeat 3
 *   npm run bench -- --only engine,resume  # one or more benchmarks by name
 *   npm run bench -- --only services       # the eight services' quick cases (bench/services/suite.ts)
 *
 * Flags: `--only LIST` (comma-separated: `micro` = frame-parser + engine,
 * `macro` = fanout + resume, `services` = the services' quick regression
 * cases, or those names; the default runs all but `services`), `--duration 10s` (fan-out window), `--members N`,
 * `--window N`, `--repeat N` (fan-out runs; the table shows each and the
 * median deliveries/s), `--wait-quiet 60s` (before each benchmark, wait up to
 * that long for the machine to be under 8% busy: on a shared machine other
 * processes skew results more than anything), `--json FILE` (rows and run
 * metadata as JSON); for resume `--rounds N` (default 5), `--clients N`
 * (default 100), `--messages N` (default 1000); resume also waits for a
 * quiet machine before each of its rounds with `--wait-quiet`.
 * Env: BENCH_DURATION, BENCH_MEMBERS, BENCH_WINDOW, BENCH_RESUME_ROUNDS as defaults for the flags.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fanoutRows, parseDuration, parseFanoutArgs, runFanout, type FanoutResult } from './macro/fanout.js';
import { CLIENT_CORE, pinSelf, waitQuiet } from '../src/loadgen/pin.js';
import { parseResumeArgs, resumeRows, runResume, type ResumeResult } from './macro/resume.js';
import { cpuDelta, machineCpu } from './macro/server-process.js';
import type { Row } from './lib/row.js';
import { median } from './lib/stats.js';
import { runFrameParserBench } from './micro/frame-parser.bench.js';
import { runRoomEngineBench } from './micro/room-engine.bench.js';
import { runServicesSuite } from './services/suite.js';

/** The benchmarks, in the order they run, and the groups `--only` also takes. */
const BENCHES = ['frame-parser', 'engine', 'fanout', 'resume', 'services'] as const;
type BenchName = (typeof BENCHES)[number];
const GROUPS: Record<string, readonly BenchName[]> = { micro: ['frame-parser', 'engine'], macro: ['fanout', 'resume'] };

interface Args {
  /** Benchmarks to run. */
  only: Set<BenchName>;
  repeat: number;
  json: string | null;
  /** Longest wait for a quiet machine before each benchmark, ms (0: do not wait). */
  waitQuietMs: number;
  fanout: ReturnType<typeof parseFanoutArgs>;
  resume: ReturnType<typeof parseResumeArgs>;
}

/** `micro`, `engine,resume`, … → the benchmarks named. */
function parseOnly(v: string): Set<BenchName> {
  const out = new Set<BenchName>();
  for (const name of v.split(',').map((x) => x.trim())) {
    const group = GROUPS[name];
    if (group) for (const b of group) out.add(b);
    else if ((BENCHES as readonly string[]).includes(name)) out.add(name as BenchName);
    else throw new Error(`--only takes micro, macro or ${BENCHES.join(', ')} (comma-separated), not ${JSON.stringify(name)}`);
  }
  return out;
}

function parseArgs(argv: string[]): Args {
  let only: Args['only'] = new Set(BENCHES.filter((b) => b !== 'services'));
  let repeat = 1;
  let json: string | null = null;
  let waitQuietMs = 0;
  const rest: string[] = [];
  const resumeRest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--only') {
      only = parseOnly(value());
    } else if (flag === '--repeat') {
      repeat = Number(value());
      if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) throw new Error('--repeat takes an integer from 1 to 20');
    } else if (flag === '--wait-quiet') {
      waitQuietMs = parseDuration(value());
    } else if (flag === '--json') {
      json = value();
    } else if (flag === '--help' || flag === '-h') {
      process.stdout.write(
        'usage: node dist/bench/run.js [--only micro|macro|services|frame-parser|engine|fanout|resume[,…]] [--duration 10s] [--members 500] [--window 32] [--repeat 1]\n' +
          '                              [--rounds 5] [--clients 100] [--messages 1000] [--wait-quiet 0s] [--json FILE]\n',
      );
      process.exit(0);
    } else if (['--duration', '--members', '--window', '--text'].includes(flag)) {
      rest.push(flag, value());
    } else if (['--rounds', '--clients', '--messages'].includes(flag)) {
      resumeRest.push(flag, value());
    } else {
      throw new Error(`unknown flag ${a} (try --help)`);
    }
  }
  return { only, repeat, json, waitQuietMs, fanout: parseFanoutArgs(rest), resume: parseResumeArgs(resumeRest) };
}

function fmt(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (unit === 'frames/s' || unit === 'ops/s' || unit === '/s') return Math.round(value).toLocaleString('en-US');
  return value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2);
}

function printTable(rows: Row[]): void {
  const head = ['bench', 'case', 'metric', 'value', 'unit', '±%', 'note'];
  const cells = rows.map((r) => [r.bench, r.case, r.metric, fmt(r.value, r.unit), r.unit, r.rme === undefined ? '' : r.rme.toFixed(2), r.note ?? '']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (i === 6 ? 0 : c[i]!.length))));
  const line = (c: string[]) =>
    c.map((x, i) => (i === 6 ? x : i === 3 || i === 5 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ').trimEnd();
  process.stdout.write(`${line(head)}\n${widths.map((w, i) => '-'.repeat(i === 6 ? 4 : w)).join('  ')}\n`);
  for (const c of cells) process.stdout.write(`${line(c)}\n`);
}

/** The checked-out commit and whether tracked src/ files have uncommitted changes (read-only git calls; '?' without git). */
function sourceState(): string {
  const git = (...a: string[]) => spawnSync('git', a, { encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return 'commit ?';
  const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src').stdout.trim() !== '';
  return `commit ${head.stdout.trim()}${dirty ? ' + uncommitted changes in src/' : ''}`;
}

/**
 * Runs a micro-benchmark and measures what other processes used meanwhile
 * (machine busy time minus this process), in cores; null without /proc.
 */
async function withOtherCpu<T>(f: () => Promise<T>): Promise<{ value: T; otherCpu: number | null }> {
  const m0 = machineCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const seconds = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(c0);
  const all = cpuDelta(m0, machineCpu(), 'all', seconds);
  return { value, otherCpu: all ? Math.max(0, all.busy - (own.user + own.system) / 1e6 / seconds) : null };
}


async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const pinning = pinSelf(CLIENT_CORE);
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '?',
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    benchProcess: pinning,
    source: sourceState(),
  };
  process.stderr.write(
    `tcpserver benchmarks — ${meta.date}, Node ${meta.node}, ${meta.cpus} × ${meta.cpuModel}, load average ${meta.loadavg.join(' ')}; ${meta.source}; this process: ${pinning}\n`,
  );
  const rows: Row[] = [];
  const fanouts: FanoutResult[] = [];
  const resumes: ResumeResult[] = [];
  /** Other processes' CPU (cores) while each micro-benchmark ran. */
  const microOtherCpu: Record<string, number | null> = {};
  const microWarnings: string[] = [];
  const micro = async (name: string, f: () => Promise<Row[]>) => {
    const { value, otherCpu } = await withOtherCpu(f);
    microOtherCpu[name] = otherCpu;
    if (otherCpu !== null) {
      process.stderr.write(`[micro] ${name}: other processes used ${(otherCpu * 100).toFixed(0)}% of a core while it ran\n`);
      if (otherCpu > 0.15) microWarnings.push(`${name}: other processes used ${(otherCpu * 100).toFixed(0)}% of a core while it ran: the machine was not quiet, expect noise`);
    }
    rows.push(...value);
  };
  const quiet = async () => {
    if (args.waitQuietMs <= 0) return;
    const busy = await waitQuiet(args.waitQuietMs, 0.08, (l) => process.stderr.write(`[bench] ${l}\n`));
    if (busy !== null && busy >= 0.08) process.stderr.write(`[bench] machine still ${(busy * 100).toFixed(0)}% busy; running anyway\n`);
  };
  if (args.only.has('frame-parser')) {
    await quiet();
    process.stderr.write('[micro] frame parser: 3 chunkings, ~2.5 s each\n');
    await micro('frame-parser', () => runFrameParserBench());
  }
  if (args.only.has('engine')) {
    await quiet();
    process.stderr.write('[micro] room engine: 6 cases, ~2.5 s each\n');
    await micro('room-engine', () => runRoomEngineBench());
  }
  if (args.only.has('services')) {
    await quiet();
    process.stderr.write('[micro] services: the eight services, baseline and optimized, about 90 s\n');
    await micro('services', () => runServicesSuite((l) => process.stderr.write(`[services] ${l}\n`)));
  }
  if (args.only.has('fanout')) {
    for (let i = 0; i < args.repeat; i++) {
      if (args.repeat > 1) process.stderr.write(`[fanout] run ${i + 1} of ${args.repeat}\n`);
      await quiet();
      const r = await runFanout(args.fanout);
      fanouts.push(r);
      const rs = fanoutRows(r);
      if (args.repeat > 1) for (const row of rs) row.case += ` (run ${i + 1})`;
      rows.push(...rs);
    }
    if (fanouts.length > 1) {
      const o = fanouts[0]!.options;
      const per = fanouts.map((f) => f.deliveriesPerS);
      rows.push({
        bench: 'fanout',
        case: `${o.members} members, window ${o.window}, ${o.textBytes}-byte text (median of ${per.length})`,
        metric: 'deliveries/s',
        value: median(per),
        unit: '/s',
        note: `runs: ${per.map((x) => Math.round(x)).join(', ')}`,
      });
    }
  }
  if (args.only.has('resume')) {
    await quiet();
    const r = await runResume({ waitQuietMs: args.waitQuietMs, ...args.resume });
    resumes.push(r);
    rows.push(...resumeRows(r));
  }
  process.stdout.write('\n');
  printTable(rows);
  const warnings = [
    ...microWarnings,
    ...fanouts.flatMap((f, i) => f.warnings.map((w) => (fanouts.length > 1 ? `run ${i + 1}: ${w}` : w))),
    ...resumes.flatMap((r) => r.warnings.map((w) => `resume: ${w}`)),
  ];
  if (warnings.length > 0) process.stdout.write(`\nwarnings:\n${warnings.map((w) => `  - ${w}`).join('\n')}\n`);
  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify({ meta, rows, microOtherCpu, fanout: fanouts, resume: resumes }, null, 2)}\n`);
    process.stderr.write(`results written to ${args.json}\n`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);
