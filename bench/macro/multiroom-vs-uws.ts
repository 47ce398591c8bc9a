/**
 * Macro-benchmark for issue #5's multi-room bar ("50 rooms × 10 members,
 * each member sending 20 msg/s: zero loss; end-to-end p99 no worse than
 * uWebSockets.js pub/sub measured in the same setup"). It runs our server and
 * the uWebSockets.js reference server (bench/reference/uws-pubsub.ts) in one
 * sitting, alternating: by default ours over TCP, ours over its WebSocket
 * transport, uWS, then again (`--targets` picks and orders them).
 *
 * Every run uses the same plan, through the same load generator:
 * - a fresh server on a free port, pinned to core 0 (ServerProcess). Ours is
 *   `dist/src/main.js` with the settings of docs/performance.md's multi-room
 *   runs: rate limit 100,000/s with a burst of 100,000,
 *   `max_connections_per_ip` 100,000, `max_latency_ms=0`, `log_level=warn`,
 *   no log file, `voice_udp_port=0`, and heartbeat_ms at its default 30 s.
 *   The reference is `dist/bench/reference/uws-pubsub.js`.
 * - the load generator in a child process pinned to core 1 (this file with
 *   `--child`), running runLoad, which is what `src/loadgen/cli.js` runs:
 *   scenario multi-room, 500 clients in 50 rooms, every client a sender
 *   every 50 ms (20 msg/s, jittered ±1/3), 64-byte texts, ramp 100/s,
 *   50 probes (one per room). It uses `--protocol tcp` (binary frames) for
 *   `ours`; `--protocol ws` for `ours-ws` (our server with `ws_enabled`,
 *   loaded on its ws_port, /stats from its tcp_port) and for `uws`; and
 *   `--server-pid` the server.
 *
 * Per run the table has:
 * - end-to-end latency p50/p95/p99/max: send stamp to a probe's receipt,
 *   messages sent in the measured phase;
 * - lost/duplicated/out-of-order: the probes' seq checks;
 * - the server's CPU over the measured phase, from /proc;
 * - the load generator's CPU and its event-loop delay max over the
 *   measured phase;
 * - frames per read;
 * - other CPU: the machine's busy time from /proc/stat over the load
 *   generator's whole life, minus the server, the load generator and this
 *   driver, in % of one core. It is good to a few %.
 *
 * A run whose other CPU is above `--max-other` (default 15 %) was disturbed
 * (the machine is shared). It is listed, always left out of the medians, and
 * run again, up to `--retries` times. Then come the medians per server over
 * the clean runs and the ratio of each of ours to uWS's median p99.
 *
 * Run: `npm run build && node dist/bench/macro/multiroom-vs-uws.js
 *   [--repeat 3] [--duration 30s] [--wait-quiet 60s] [--max-other 15]
 *   [--retries 3] [--targets ours,ours-ws,uws] [--json FILE]`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLIENT_CORE, pinnedCommand, waitQuiet } from '../../src/loadgen/pin.js';
import { runLoad, type RunOutcome } from '../../src/loadgen/run.js';
import { resolveScenario } from '../../src/loadgen/scenarios.js';
import type { LoadProtocol, Scenario } from '../../src/loadgen/types.js';
import { median } from '../lib/stats.js';
import { cpuDelta, freePort, guardServer, machineCpu, parseDuration, ServerProcess, stopServer } from './server-process.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/bench/macro → dist/bench/reference/uws-pubsub.js */
const UWS_ENTRY = path.resolve(here, '../reference/uws-pubsub.js');
/** dist/bench/macro → dist/src */
const SERVER_DIST = path.resolve(here, '../../src');

/**
 * When the server's build was written: the newest .js under dist/src. In a
 * shared working tree someone may rebuild dist/ during a sitting, and then
 * later runs use another build.
 */
function serverBuildTime(): string {
  let newest = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  try {
    walk(SERVER_DIST);
  } catch {
    return '?';
  }
  return new Date(newest).toISOString();
}

/**
 * Which server a run measures: ours over TCP binary frames, ours over its
 * WebSocket transport (PROTOCOL.md §7, on uWebSockets.js: the same
 * transport and the same load client as the reference), or the reference.
 */
export type Target = 'ours' | 'ours-ws' | 'uws';

const TARGETS: readonly Target[] = ['ours', 'ours-ws', 'uws'];
const PROTOCOL: Record<Target, LoadProtocol> = { ours: 'tcp', 'ours-ws': 'ws', uws: 'ws' };
const LABEL: Record<Target, string> = { ours: 'ours (tcp)', 'ours-ws': 'ours (ws)', uws: 'uWS (ws)' };

/** Our server's settings on top of ServerProcess's: those of the multi-room runs in docs/performance.md. */
const OUR_ENV: NodeJS.ProcessEnv = {
  rate_msgs_per_sec: '100000',
  rate_burst: '100000',
  max_connections_per_ip: '100000',
  max_latency_ms: '0',
  // ServerProcess turns heartbeats off; the documented runs used the defaults.
  heartbeat_ms: '30000',
  heartbeat_timeout_ms: '60000',
};

/** The plan: 50 rooms × 10 members, 20 msg/s each, 64-byte texts. */
export function plan(protocol: LoadProtocol, port: number, durationMs: number): Scenario {
  return resolveScenario({
    scenario: 'multi-room',
    protocol,
    host: '127.0.0.1',
    port,
    clients: 500,
    rooms: 50,
    ramp: '100/s',
    duration: `${durationMs}ms`,
    msg_size: 64,
    msg_interval: '50ms',
  });
}

/** Options of one comparison. */
export interface VsOptions {
  /** Runs per server. */
  repeat: number;
  /** Measured phase of each run, ms. */
  durationMs: number;
  /** Before each run, wait up to this long for the machine to be under 8 % busy; 0: do not wait. */
  waitQuietMs: number;
  /** Other CPU above this (% of one core) marks a run disturbed. */
  maxOtherPct: number;
  /** Reruns of disturbed runs, per run. */
  retries: number;
  /** Servers measured in each round, in this order. */
  targets: Target[];
  jsonFile: string | undefined;
}

export const DEFAULTS: VsOptions = { repeat: 3, durationMs: 30_000, waitQuietMs: 60_000, maxOtherPct: 15, retries: 3, targets: [...TARGETS], jsonFile: undefined };

/** One run as measured. */
export interface VsRun {
  target: Target;
  /** 1-based round (one run of each server per round). */
  round: number;
  /** 1 for the first attempt, more for reruns. */
  attempt: number;
  startedAt: string;
  /** Newest .js under dist/src when the run started (see serverBuildTime). */
  serverBuild: string;
  serverPinning: string;
  loadgenPinning: string;
  e2e: { p50: number; p95: number; p99: number; max: number; count: number };
  lost: number;
  duplicated: number;
  outOfOrder: number;
  sentPerS: number;
  deliveredPerS: number;
  /** % of one core, measured phase. */
  serverCpuPct: number | null;
  loadgenCpuPct: number;
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
  framesPerRead: number;
  /** % of one core over the load generator's life; null without /proc. */
  otherCpuPct: number | null;
  /** Busy share of core 0 and core 1 over the load generator's life, % of the core. */
  core0Pct: number | null;
  core1Pct: number | null;
  verdict: string;
  notes: string[];
  /** Why the run is left out of the medians, or null. */
  discarded: string | null;
}

/** What the child writes: the run's outcome and its own CPU time. */
interface ChildReport {
  outcome: RunOutcome;
  cpuS: number;
}

interface ChildSpec {
  protocol: LoadProtocol;
  port: number;
  /** /stats port when it is not `port` (ours over ws). */
  statsPort?: number;
  serverPid: number;
  durationMs: number;
  out: string;
}

// ------------------------------------------------------------------ load generator (child process)

async function child(spec: ChildSpec): Promise<void> {
  const outcome = await runLoad(plan(spec.protocol, spec.port, spec.durationMs), {
    reporter: null,
    serverPid: spec.serverPid,
    statsPort: spec.statsPort,
    log: (line) => process.stderr.write(`[loadgen] ${line}\n`),
  });
  const cpu = process.cpuUsage();
  const report: ChildReport = { outcome, cpuS: (cpu.user + cpu.system) / 1e6 };
  writeFileSync(spec.out, JSON.stringify(report));
}

// ------------------------------------------------------------------ driver

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs the load generator child against `port` and waits for its report. */
async function runChild(spec: ChildSpec): Promise<{ report: ChildReport; pinning: string }> {
  const self = fileURLToPath(import.meta.url);
  const cmd = pinnedCommand(CLIENT_CORE, process.execPath, [self, '--child', JSON.stringify(spec)]);
  const proc = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const killChild = () => proc.kill('SIGKILL');
  process.once('exit', killChild);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('exit', (c) => resolve(c));
    });
    if (code !== 0) throw new Error(`load generator exited with code ${code}`);
    return { report: JSON.parse(readFileSync(spec.out, 'utf8')) as ChildReport, pinning: cmd.pinning };
  } finally {
    process.off('exit', killChild);
  }
}

/** One run: a fresh server, the load generator against it, the server stopped. */
async function runOnce(target: Target, round: number, attempt: number, o: VsOptions, tmp: string, setCurrent: (s: ServerProcess | null) => void, log: (l: string) => void): Promise<VsRun> {
  const port = await freePort();
  // ours-ws: the TCP port still serves /stats; the load goes to the WebSocket port.
  const wsPort = target === 'ours-ws' ? await freePort() : port;
  const srv =
    target === 'uws'
      ? await ServerProcess.start(port, {}, { script: UWS_ENTRY, args: ['--port', String(port), '--host', '127.0.0.1'] })
      : await ServerProcess.start(port, target === 'ours' ? OUR_ENV : { ...OUR_ENV, ws_enabled: 'true', ws_host: '127.0.0.1', ws_port: String(wsPort) });
  setCurrent(srv);
  const warnings: string[] = [];
  try {
    await sleep(500);
    const startedAt = new Date().toISOString();
    const serverBuild = serverBuildTime();
    const s0 = srv.cpuSeconds();
    const d0 = process.cpuUsage();
    const m0 = machineCpu();
    const t0 = performance.now();
    const { report, pinning } = await runChild({ protocol: PROTOCOL[target], port: wsPort, statsPort: port, serverPid: srv.child.pid!, durationMs: o.durationMs, out: path.join(tmp, `${target}-${round}-${attempt}.json`) });
    const wallS = (performance.now() - t0) / 1000;
    const m1 = machineCpu();
    const d1 = process.cpuUsage(d0);
    const s1 = srv.cpuSeconds();
    const all = cpuDelta(m0, m1, 'all', wallS);
    const serverS = s0 && s1 ? s1.user + s1.system - s0.user - s0.system : null;
    const otherCpuPct = all && serverS !== null ? (all.busy - (serverS + report.cpuS + (d1.user + d1.system) / 1e6) / wallS) * 100 : null;
    const core = (n: string) => {
      const c = cpuDelta(m0, m1, `cpu${n}`, wallS);
      return c ? c.busy * 100 : null;
    };
    const { outcome } = report;
    const r = outcome.result;
    return {
      target,
      round,
      attempt,
      startedAt,
      serverBuild,
      serverPinning: srv.pinning,
      loadgenPinning: pinning,
      e2e: { p50: r.latency_ms.p50, p95: r.latency_ms.p95, p99: r.latency_ms.p99, max: r.latency_ms.max, count: r.latency_ms.count },
      lost: r.totals.lost,
      duplicated: r.totals.duplicated,
      outOfOrder: r.totals.out_of_order,
      sentPerS: r.sent_per_s,
      deliveredPerS: r.delivered_per_s,
      serverCpuPct: r.server.cpu_pct_avg,
      loadgenCpuPct: r.loadgen.cpu_pct,
      loopDelayMaxMs: outcome.loop_delay_ms.max,
      loopDelayP99Ms: outcome.loop_delay_ms.p99,
      framesPerRead: outcome.frames_per_read,
      otherCpuPct,
      core0Pct: core('0'),
      core1Pct: core('1'),
      verdict: r.verdict,
      // /stats is ours only; the reference has none, which is not news.
      notes: [...outcome.notes.filter((n) => !(target === 'uws' && /\/stats never answered/.test(n))), ...warnings],
      discarded: null,
    };
  } finally {
    const lines = await stopServer(srv, warnings);
    setCurrent(null);
    if (lines.length > 0) log(`${LABEL[target]} server said: ${lines.slice(-5).join(' | ')}`);
  }
}

/** The whole comparison. */
export async function runVs(opts: Partial<VsOptions> = {}, log: (l: string) => void = (l) => process.stderr.write(`[vs-uws] ${l}\n`)): Promise<VsRun[]> {
  const o: VsOptions = { ...DEFAULTS, ...opts };
  let current: ServerProcess | null = null;
  const unguard = guardServer(() => current);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vs-uws-'));
  const runs: VsRun[] = [];
  try {
    for (let round = 1; round <= o.repeat; round++) {
      for (const target of o.targets) {
        for (let attempt = 1; ; attempt++) {
          if (o.waitQuietMs > 0) {
            const busy = await waitQuiet(o.waitQuietMs, 0.08, log);
            if (busy !== null && busy >= 0.08) log(`machine still ${(busy * 100).toFixed(0)}% busy after ${o.waitQuietMs / 1000} s; running anyway`);
          }
          log(`round ${round}/${o.repeat}: ${LABEL[target]}${attempt > 1 ? `, attempt ${attempt}` : ''}`);
          const run = await runOnce(target, round, attempt, o, tmp, (s) => (current = s), log);
          runs.push(run);
          log(`  e2e p99 ${run.e2e.p99.toFixed(2)} ms, lost/dup/ooo ${run.lost}/${run.duplicated}/${run.outOfOrder}, other CPU ${fmtPct(run.otherCpuPct)}`);
          if (run.otherCpuPct === null || run.otherCpuPct <= o.maxOtherPct) break;
          run.discarded = `other CPU ${fmtPct(run.otherCpuPct)} > ${o.maxOtherPct}%`;
          if (attempt > o.retries) {
            log(`  disturbed (${run.discarded}) and no retries left: round ${round} has no clean ${LABEL[target]} run`);
            break;
          }
          log(`  disturbed (${run.discarded}): running it again`);
        }
      }
    }
  } finally {
    unguard();
    rmSync(tmp, { recursive: true, force: true });
  }
  return runs;
}

// ------------------------------------------------------------------ report

function fmtPct(x: number | null): string {
  return x === null ? '?' : `${x.toFixed(0)}%`;
}

const f2 = (x: number) => x.toFixed(2);
const f1 = (x: number) => x.toFixed(1);

/** The per-run table and the medians, as Markdown. */
export function table(runs: VsRun[]): string {
  const out: string[] = [];
  out.push('| run | server | e2e p50 / p95 / p99 / max (ms) | lost / dup / ooo | sent/s | delivered/s | server CPU | loadgen CPU | loadgen loop delay max (ms) | frames/read | other CPU | verdict |');
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of runs) {
    const id = `${r.round}${r.attempt > 1 ? `.${r.attempt}` : ''}${r.discarded ? ' (discarded)' : ''}`;
    out.push(
      `| ${id} | ${LABEL[r.target]} | ${f2(r.e2e.p50)} / ${f2(r.e2e.p95)} / ${f2(r.e2e.p99)} / ${f2(r.e2e.max)} | ${r.lost} / ${r.duplicated} / ${r.outOfOrder} | ` +
        `${Math.round(r.sentPerS).toLocaleString('en-US')} | ${Math.round(r.deliveredPerS).toLocaleString('en-US')} | ${fmtPct(r.serverCpuPct)} | ${fmtPct(r.loadgenCpuPct)} | ` +
        `${f1(r.loopDelayMaxMs)} | ${f2(r.framesPerRead)} | ${fmtPct(r.otherCpuPct)} | ${r.verdict} |`,
    );
  }
  out.push('');
  out.push('| medians (clean runs) | runs | e2e p50 / p95 / p99 / max (ms) | lost / dup / ooo (sum) | server CPU | loadgen CPU | loadgen loop delay max (ms) |');
  out.push('| --- | --- | --- | --- | --- | --- | --- |');
  const med: Partial<Record<Target, number>> = {};
  for (const target of TARGETS) {
    const rs = runs.filter((r) => r.target === target && !r.discarded);
    if (rs.length === 0) continue;
    const m = (g: (r: VsRun) => number | null) => median(rs.map(g).filter((x): x is number => x !== null));
    med[target] = m((r) => r.e2e.p99);
    out.push(
      `| ${LABEL[target]} | ${rs.length} | ${f2(m((r) => r.e2e.p50))} / ${f2(m((r) => r.e2e.p95))} / ${f2(m((r) => r.e2e.p99))} / ${f2(m((r) => r.e2e.max))} | ` +
        `${rs.reduce((a, r) => a + r.lost, 0)} / ${rs.reduce((a, r) => a + r.duplicated, 0)} / ${rs.reduce((a, r) => a + r.outOfOrder, 0)} | ` +
        `${fmtPct(m((r) => r.serverCpuPct))} | ${fmtPct(m((r) => r.loadgenCpuPct))} | ${f1(m((r) => r.loopDelayMaxMs))} |`,
    );
  }
  out.push('');
  for (const target of ['ours', 'ours-ws'] as const) {
    const a = med[target];
    if (a === undefined || med.uws === undefined) continue;
    const ratio = a / med.uws;
    out.push(`p99 ratio ${LABEL[target]} / uWS (medians): ${f2(a)} / ${f2(med.uws)} = ${ratio.toFixed(2)}${ratio <= 1 ? ' (ours no worse)' : ' (ours worse)'}`);
  }
  const builds = [...new Set(runs.map((r) => r.serverBuild))];
  if (builds.length > 1) out.push(`dist/src was rebuilt during the sitting: builds of ${builds.join(', ')} (per run in --json)`);
  const noted = runs.filter((r) => r.notes.length > 0);
  for (const r of noted) out.push(`notes, run ${r.round}${r.attempt > 1 ? `.${r.attempt}` : ''} ${LABEL[r.target]}: ${r.notes.join('; ')}`);
  return out.join('\n');
}

/** The checked-out commit and whether tracked files have uncommitted changes (read-only git calls). */
function sourceState(): string {
  const git = (...a: string[]) => spawnSync('git', a, { encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return 'commit ?';
  const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'bench').stdout.trim() !== '';
  return `commit ${head.stdout.trim()}${dirty ? ' + uncommitted changes in src/ or bench/' : ''}`;
}

function parseVsArgs(argv: string[]): Partial<VsOptions> {
  const out: Partial<VsOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    const int = (x: string, min: number) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < min) throw new Error(`${a} must be an integer ≥ ${min}, not ${JSON.stringify(x)}`);
      return n;
    };
    if (a === '--repeat') out.repeat = int(v(), 1);
    else if (a === '--duration') out.durationMs = parseDuration(v());
    else if (a === '--wait-quiet') out.waitQuietMs = parseDuration(v());
    else if (a === '--max-other') out.maxOtherPct = Number(v());
    else if (a === '--retries') out.retries = int(v(), 0);
    else if (a === '--json') out.jsonFile = v();
    else if (a === '--targets') {
      const ts = v().split(',').map((t) => t.trim());
      const bad = ts.find((t) => !TARGETS.includes(t as Target));
      if (bad !== undefined || ts.length === 0) throw new Error(`--targets takes a comma-separated list of ${TARGETS.join(', ')}, not ${JSON.stringify(bad ?? '')}`);
      out.targets = ts as Target[];
    } else throw new Error(`unknown flag ${a} (flags: --repeat N --duration 30s --wait-quiet 60s --max-other 15 --retries 3 --targets ${TARGETS.join(',')} --json FILE)`);
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    await child(JSON.parse(argv[1]!) as ChildSpec);
  } else {
    const o: VsOptions = { ...DEFAULTS, ...parseVsArgs(argv) };
    const conditions = `${new Date().toISOString()}; Node ${process.version}; ${sourceState()}; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}); load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
    process.stderr.write(`[vs-uws] ${conditions}\n[vs-uws] ${o.repeat} rounds × (${o.targets.map((t) => LABEL[t]).join(', ')}), ${o.durationMs / 1000} s measured each\n`);
    const runs = await runVs(o);
    console.log(`multi-room 50 × 10, 20 msg/s per member, 64 B: ours vs uWebSockets.js pub/sub (${conditions})\n`);
    console.log(table(runs));
    if (o.jsonFile) writeFileSync(o.jsonFile, `${JSON.stringify({ conditions, options: o, runs }, null, 2)}\n`);
  }
}
