/**
 * Node entry of ./test_runner.sh (docs/performance.md, "Regression runner").
 *
 *   node dist/src/loadgen/regression-cli.js run --dir DIR --json FILE [--port 0] [--quick] [--label B] [--wait-quiet S]
 *       One repetition of the suite against the build in DIR: for each load
 *       case, a fresh server `taskset -c 0 node DIR/dist/src/main.js` and the
 *       load generator `taskset -c 1 node DIR/dist/src/loadgen/cli.js`
 *       (this build's when DIR has none: the load generator is the judge,
 *       the server is what is compared); then DIR's micro-benchmarks
 *       and the services' quick cases (`node DIR/dist/bench/run.js --only
 *       micro,services`, pinned to core 1 by itself; `--only micro` for a
 *       build older than bench/services/suite.ts). Measures what other processes used meanwhile; with
 *       --wait-quiet S, first waits up to S seconds per phase for a quiet
 *       machine. Writes a Repetition (src/loadgen/regression.ts) to FILE.
 *
 *   node dist/src/loadgen/regression-cli.js compare --a FILE… --b FILE… [--a-label L] [--b-label L]
 *       [--threshold-throughput 5] [--threshold-memory 20] [--threshold-latency 10]
 *       [--out DIR] [--stem NAME] [--update-baseline FILE] [--quiet]
 *       A = baseline, B = current. Each side is one or more repetition files,
 *       or one bench/baseline.json, or one bench/results/*.json (its current
 *       side). Prints the table, writes DIR/NAME.json (every repetition's raw
 *       numbers, the medians, the verdicts) and DIR/NAME.txt (the table).
 *       Without --a, B is only recorded (with --update-baseline) or shown.
 *       --update-baseline FILE writes B as the new baseline and exits 0
 *       whatever the verdict.
 *
 * Exit codes: 0 OK, 3 REVIEW, 4 OPTIMIZE, 5 ROLLBACK (regression.ts
 * EXIT_CODES), 1 a run failed, 2 bad arguments.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLIENT_CORE, SERVER_CORE, pinnedCommand, waitQuiet } from './pin.js';
import {
  CASE_DURATION_MS,
  DEFAULT_THRESHOLDS,
  SUITE,
  compare,
  comparisonWarnings,
  formatValue,
  parseRegressionFile,
  RegressionInputError,
  renderSummary,
  renderTable,
  sideFromFiles,
  summarize,
  toBaselineFile,
  validateThresholds,
  type MachineInfo,
  type MicroRow,
  type Repetition,
  type ResultsFile,
  type RunMode,
  type Thresholds,
} from './regression.js';
import type { RunResult } from './types.js';

/** Root of the build this file belongs to (…/dist/src/loadgen/regression-cli.js → …). */
const OWN_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Exit code for bad arguments (as the load generator's CLI). */
const EXIT_USAGE = 2;
/** Exit code for a failed run. */
const EXIT_FAILED = 1;

class UsageError extends Error {
  override name = 'UsageError';
}

/** Where lines go; tests pass their own. */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIo: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

// ------------------------------------------------------------------ arguments

type Flags = Map<string, string[]>;

/**
 * `--flag value`, `--flag=value` and bare boolean flags, each at most
 * once unless listed in `multi`.
 * @throws UsageError on an unknown flag or a missing value
 */
function parseFlags(argv: string[], valued: readonly string[], booleans: readonly string[], multi: readonly string[] = []): Flags {
  const flags: Flags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : undefined;
    let value: string;
    if (booleans.includes(flag)) {
      if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
      value = 'true';
    } else if (valued.includes(flag)) {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new UsageError(`${flag} needs a value`);
      value = v;
    } else {
      throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
    }
    const prev = flags.get(flag);
    if (prev && !multi.includes(flag)) throw new UsageError(`${flag} given twice`);
    flags.set(flag, [...(prev ?? []), value]);
  }
  return flags;
}

const one = (f: Flags, k: string): string | undefined => f.get(k)?.[0];

function percentFlag(f: Flags, k: string, dflt: number): number {
  const v = one(f, k);
  if (v === undefined) return dflt;
  const n = Number(v.replace(/%$/, ''));
  if (!(Number.isFinite(n) && n > 0 && n < 1000)) throw new UsageError(`${k} takes a percentage > 0, e.g. ${dflt}; got ${JSON.stringify(v)}`);
  return n;
}

/** Files of a repeatable flag, each also allowed as a comma-separated list. */
const fileList = (f: Flags, k: string): string[] => (f.get(k) ?? []).flatMap((v) => v.split(',')).filter((x) => x !== '');

// ------------------------------------------------------------------ child processes

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every child this process started and has not seen exit: killed on SIGINT / SIGTERM / exit. */
const live = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

function killAll(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

let handlersInstalled = false;
function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(128 + (os.constants.signals[sig] ?? 1));
    });
  }
}

/** Last lines of a child's output, for error messages. */
class Tail {
  private lines: string[] = [];
  constructor(private readonly max = 40) {}
  push(d: Buffer): void {
    for (const l of d.toString('utf8').split('\n')) {
      if (l.trim() === '') continue;
      this.lines.push(l.length > 300 ? `${l.slice(0, 300)}…` : l);
      if (this.lines.length > this.max) this.lines.shift();
    }
  }
  text(n = 10): string {
    return this.lines.slice(-n).join('\n    ');
  }
}

/** Waits for `child` to exit, or kills it (SIGTERM, then SIGKILL after 3 s) at `timeoutMs`. */
async function waitExit(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }> {
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => res({ code, signal }));
  });
  const first = await Promise.race([exited, sleep(timeoutMs).then(() => null)]);
  if (first) return { ...first, timedOut: false };
  child.kill('SIGTERM');
  const second = await Promise.race([exited, sleep(3000).then(() => null)]);
  if (second) return { ...second, timedOut: true };
  child.kill('SIGKILL');
  return { ...(await exited), timedOut: true };
}

/** A free TCP port on 127.0.0.1 (bound and released; the server binds it right after). */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

/** Server settings of the suite: the load is the measurement, not abuse, so limits that would throttle it are lifted. */
function serverEnv(port: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    tcp_host: '127.0.0.1',
    tcp_port: String(port),
    log_level: 'warn',
    log_file: '',
    voice_udp_port: '0',
    max_connections: '100000',
    max_connections_per_ip: '100000',
    rate_msgs_per_sec: '1000000',
    rate_burst: '1000000',
    heartbeat_ms: '3600000',
    heartbeat_timeout_ms: '7200000',
    shutdown_timeout_ms: '3000',
    shutdown_jitter_ms: '0',
  };
}

/** The server of build `dir`, pinned to SERVER_CORE, listening on `port`. */
async function startServer(dir: string, port: number): Promise<{ child: ChildProcess; tail: Tail; pinning: string }> {
  const entry = join(dir, 'dist', 'src', 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build ${dir} first`);
  const cmd = pinnedCommand(SERVER_CORE, process.execPath, [entry]);
  // cwd outside the repo: its .env must not apply.
  const child = track(spawn(cmd.file, cmd.args, { cwd: os.tmpdir(), env: serverEnv(port), stdio: ['ignore', 'pipe', 'pipe'] }));
  const tail = new Tail();
  child.stderr!.on('data', (d: Buffer) => tail.push(d));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server did not listen within 15 s: ${tail.text()}`)), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      tail.push(d);
      if (/listening on/.test(d.toString('utf8'))) {
        clearTimeout(timer);
        res();
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      rej(new Error(`server exited during start-up (code ${code}, signal ${signal}):\n    ${tail.text()}`));
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await waitExit(child, 3000);
    throw err;
  });
  return { child, tail, pinning: cmd.pinning };
}

/** Short commit of `dir` and whether src/ or bench/ differ from it, untracked files included (read-only git calls). */
function commitOf(dir: string): { commit: string; dirty: boolean } {
  const git = (...a: string[]) => spawnSync('git', ['-C', dir, ...a], { encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return { commit: '?', dirty: false };
  const dirty = git('status', '--porcelain', '--', 'src', 'bench').stdout.trim() !== '';
  return { commit: head.stdout.trim(), dirty };
}

/** `20000` → `20s`, `500` → `500ms`. */
const durationArg = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    const n = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
    clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

/** Busy CPU ticks of the whole machine, and of this process plus its reaped children; null without /proc. */
function cpuTicks(): { machine: number; ours: number } | null {
  try {
    const v = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = v;
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // utime, stime, cutime, cstime: fields 14–17 of proc(5), 11–14 after the command name.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number);
    return { machine: user + nice + system + irq + softirq + steal, ours: f.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}

/**
 * CPU that other processes used while a phase ran, in % of one core: the
 * machine's busy time minus this process's and its children's (server, load
 * generator, benchmarks; counted once reaped, so read it after they exit).
 * Far above 0 means the numbers of that phase are not clean.
 */
function otherCpuMeter(): () => number | null {
  const t0 = Date.now();
  const a = cpuTicks();
  return () => {
    const b = cpuTicks();
    const s = (Date.now() - t0) / 1000;
    if (!a || !b || s <= 0) return null;
    return Math.round((Math.max(0, b.machine - a.machine - (b.ours - a.ours)) / ticksPerSecond() / s) * 1000) / 10;
  };
}

// ------------------------------------------------------------------ run

async function runCommand(argv: string[], io: Io): Promise<number> {
  const f = parseFlags(argv, ['--dir', '--port', '--json', '--label', '--work', '--wait-quiet'], ['--quick', '--no-micro']);
  const dirArg = one(f, '--dir');
  const json = one(f, '--json');
  if (!dirArg || !json) throw new UsageError('run needs --dir DIR and --json FILE');
  const dir = resolve(dirArg);
  const portArg = Number(one(f, '--port') ?? '0');
  if (!Number.isInteger(portArg) || portArg < 0 || portArg > 65535) throw new UsageError('--port takes 0..65535 (0: a free port per case)');
  const mode: RunMode = f.has('--quick') ? 'quick' : 'full';
  const label = one(f, '--label') ?? 'B';
  const waitQuietS = Number(one(f, '--wait-quiet') ?? '0');
  if (!(Number.isFinite(waitQuietS) && waitQuietS >= 0 && waitQuietS <= 3600)) throw new UsageError('--wait-quiet takes seconds, 0..3600');
  const workArg = one(f, '--work');
  const work = workArg ? resolve(workArg) : mkdtempSync(join(os.tmpdir(), 'tcpserver-regression-'));
  mkdirSync(work, { recursive: true });
  installSignalHandlers();
  try {
    return await runRepetition({ dir, json, portArg, mode, label, work, micro: !f.has('--no-micro'), waitQuietMs: waitQuietS * 1000 }, io);
  } finally {
    if (!workArg) rmSync(work, { recursive: true, force: true });
  }
}

interface RunOptions {
  dir: string;
  json: string;
  /** 0: a free port per case. */
  portArg: number;
  mode: RunMode;
  label: string;
  /** Folder for the load generator's and micro-benchmarks' own files. */
  work: string;
  micro: boolean;
  /** Before each phase, wait up to this long for a quiet machine (0: do not wait). */
  waitQuietMs: number;
}

async function runRepetition({ dir, json, portArg, mode, label, work, micro: withMicro, waitQuietMs }: RunOptions, io: Io): Promise<number> {
  const notes: string[] = [];
  let loadgen = join(dir, 'dist', 'src', 'loadgen', 'cli.js');
  let loadgenFrom = 'own';
  if (!existsSync(loadgen)) {
    const fallback = join(OWN_ROOT, 'dist', 'src', 'loadgen', 'cli.js');
    if (!existsSync(fallback)) throw new Error(`no load generator: neither ${loadgen} nor ${fallback} exists (build first)`);
    loadgen = fallback;
    loadgenFrom = OWN_ROOT;
    notes.push(`build ${dir} has no load generator; the current build's judged its server`);
  }
  const started = Date.now();
  const duration = durationArg(CASE_DURATION_MS[mode]);
  const cases: Record<string, RunResult> = {};
  let pinning = '';
  const prefix = `[${label}]`;
  const otherCpu: Record<string, number | null> = {};
  const stillBusy: Record<string, number> = {};
  const quiet = async (phase: string) => {
    if (waitQuietMs <= 0) return;
    const busy = await waitQuiet(waitQuietMs, 0.08, (l) => io.err(`${prefix} ${l}\n`));
    if (busy !== null && busy >= 0.08) stillBusy[phase] = Math.round(busy * 100);
  };
  for (const c of SUITE) {
    await quiet(c.name);
    const meter = otherCpuMeter();
    const port = portArg || (await freePort());
    const server = await startServer(dir, port);
    const out = join(work, `${label}-${c.name}-${process.pid}-${Date.now()}.json`);
    const lgCmd = pinnedCommand(CLIENT_CORE, process.execPath, [
      loadgen,
      '--scenario', c.scenario,
      '--host', '127.0.0.1',
      '--port', String(port),
      '--duration', duration,
      '--server-pid', String(server.child.pid),
      '--quiet',
      '--out', join(work, 'loadgen'),
      '--json', out,
      ...c.args,
    ]);
    pinning = `server ${server.pinning}, loadgen ${lgCmd.pinning}`;
    io.err(`${prefix} ${c.name}: ${duration} on port ${port}…\n`);
    const lgTail = new Tail();
    const lg = track(spawn(lgCmd.file, lgCmd.args, { cwd: OWN_ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    lg.stdout!.on('data', (d: Buffer) => lgTail.push(d));
    lg.stderr!.on('data', (d: Buffer) => lgTail.push(d));
    // Ramp-up and drain come on top of the measured phase; a hung run must still end.
    const lgExit = await waitExit(lg, CASE_DURATION_MS[mode] * 3 + 90_000);
    const serverDiedEarly = server.child.exitCode !== null || server.child.signalCode !== null;
    server.child.kill('SIGTERM');
    const stop = await waitExit(server.child, 6000);
    if (stop.timedOut) notes.push(`${c.name}: the server of ${label} did not exit within 6 s of SIGTERM and was killed`);
    if (serverDiedEarly) throw new Error(`${prefix} ${c.name}: the server exited during the run (code ${stop.code}, signal ${stop.signal}):\n    ${server.tail.text()}`);
    if (lgExit.timedOut || (lgExit.code !== 0 && lgExit.code !== 1) || !existsSync(out)) {
      const why = lgExit.timedOut ? 'timed out' : `exit code ${lgExit.code}${lgExit.signal ? `, signal ${lgExit.signal}` : ''}`;
      throw new Error(`${prefix} ${c.name}: load generator failed (${why}${existsSync(out) ? '' : ', no result file'}):\n    ${lgTail.text()}`);
    }
    const r = JSON.parse(readFileSync(out, 'utf8')) as RunResult;
    cases[c.name] = r;
    otherCpu[c.name] = meter();
    io.err(
      `${prefix} ${c.name}: ${formatValue(r.delivered_per_s)} delivered/s, p99 ${formatValue(r.latency_ms.p99)} ms, ` +
        `server RSS max ${formatValue(r.server.rss_mb_max)} MB; load generator ${r.verdict}${r.loadgen?.saturated ? ' (saturated)' : ''}; ` +
        `other processes ${otherCpu[c.name] ?? '?'}% of a core\n`,
    );
  }

  let micro: MicroRow[] | null = null;
  const bench = join(dir, 'dist', 'bench', 'run.js');
  if (!withMicro) {
    notes.push('micro-benchmarks skipped (--no-micro)');
  } else if (!existsSync(bench)) {
    notes.push(`build ${dir} has no dist/bench/run.js: no micro-benchmarks`);
  } else {
    await quiet('micro');
    const meter = otherCpuMeter();
    io.err(`${prefix} micro-benchmarks…\n`);
    const out = join(work, `${label}-micro-${process.pid}-${Date.now()}.json`);
    const tail = new Tail();
    // A build from before the services' suite has no `services` bench: its micro rows only.
    const only = existsSync(join(dir, 'dist', 'bench', 'services', 'suite.js')) ? 'micro,services' : 'micro';
    if (only === 'micro') notes.push(`build ${dir} has no bench/services/suite.ts: no services rows`);
    const child = track(spawn(process.execPath, [bench, '--only', only, '--json', out], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
    child.stdout!.on('data', (d: Buffer) => tail.push(d));
    child.stderr!.on('data', (d: Buffer) => tail.push(d));
    const r = await waitExit(child, 360_000);
    if (r.code !== 0 || !existsSync(out)) throw new Error(`${prefix} micro-benchmarks failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}):\n    ${tail.text()}`);
    micro = (JSON.parse(readFileSync(out, 'utf8')) as { rows: MicroRow[] }).rows;
    otherCpu.micro = meter();
    io.err(`${prefix} micro-benchmarks: ${micro.length} rows; other processes ${otherCpu.micro ?? '?'}% of a core\n`);
  }

  const machine: MachineInfo = { node: process.version, cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? '?', pinning };
  const rep: Repetition = {
    kind: 'tcpserver-regression-repetition',
    version: 1,
    label,
    build: { dir, ...commitOf(dir), loadgen: loadgenFrom },
    mode,
    machine,
    started_at: new Date(started).toISOString(),
    elapsed_s: (Date.now() - started) / 1000,
    cases,
    micro,
    other_cpu_pct: otherCpu,
    ...(waitQuietMs > 0 ? { busy_after_wait_pct: stillBusy } : {}),
    notes,
  };
  mkdirSync(dirname(resolve(json)), { recursive: true });
  writeFileSync(json, `${JSON.stringify(rep, null, 2)}\n`);
  io.err(`${prefix} repetition done in ${rep.elapsed_s.toFixed(1)} s\n`);
  return 0;
}

// ------------------------------------------------------------------ compare

function readSide(paths: string[], label: string) {
  return sideFromFiles(
    paths.map((p) => {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(p, 'utf8'));
      } catch (err) {
        throw new UsageError(`${p}: ${(err as Error).message}`);
      }
      return { path: p, file: parseRegressionFile(json, p) };
    }),
    label,
  );
}

/** `2026-11-21T10-34-20Z`: an ISO time usable in a file name. */
export function timestampStem(d = new Date()): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

/**
 * `compare`: see the file comment.
 * @returns the exit code
 */
export function compareCommand(argv: string[], io: Io = defaultIo): number {
  const f = parseFlags(
    argv,
    ['--a', '--b', '--a-label', '--b-label', '--threshold-throughput', '--threshold-memory', '--threshold-latency', '--out', '--stem', '--update-baseline'],
    ['--quiet'],
    ['--a', '--b'],
  );
  const aFiles = fileList(f, '--a');
  const bFiles = fileList(f, '--b');
  if (bFiles.length === 0) throw new UsageError('compare needs --b FILE (the current build)');
  const thresholds: Thresholds = validateThresholds({
    throughput: percentFlag(f, '--threshold-throughput', DEFAULT_THRESHOLDS.throughput),
    memory: percentFlag(f, '--threshold-memory', DEFAULT_THRESHOLDS.memory),
    latency: percentFlag(f, '--threshold-latency', DEFAULT_THRESHOLDS.latency),
  });
  const b = readSide(bFiles, one(f, '--b-label') ?? 'current');
  const a = aFiles.length ? readSide(aFiles, one(f, '--a-label') ?? (aFiles.length === 1 ? relative(process.cwd(), aFiles[0]!) : 'baseline')) : null;
  const update = one(f, '--update-baseline');
  const quiet = f.has('--quiet');

  const cmp = a === null ? null : compare(a.summary, b.summary, thresholds);
  const warnings = a === null ? [] : comparisonWarnings(a, b);
  const table = cmp === null ? renderSummary(b) : renderTable(cmp, a!, b, warnings);
  if (!quiet) io.out(table);
  const outDir = one(f, '--out');
  if (outDir) {
    const stem = one(f, '--stem') ?? timestampStem();
    const results: ResultsFile = { kind: 'tcpserver-regression-result', version: 1, created_at: new Date().toISOString(), baseline: a, current: b, comparison: cmp, warnings };
    mkdirSync(outDir, { recursive: true });
    const jsonPath = join(outDir, `${stem}.json`);
    const txtPath = join(outDir, `${stem}.txt`);
    writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(txtPath, table);
    io.err(`results written to ${jsonPath} and ${txtPath}\n`);
  }
  let code = cmp === null ? EXIT_FAILED : cmp.exit_code;
  if (cmp === null && !update) io.err('no baseline to compare with: record one with --update-baseline, or give --baseline <git-ref>\n');
  if (update) {
    mkdirSync(dirname(resolve(update)), { recursive: true });
    writeFileSync(update, `${JSON.stringify(toBaselineFile(b, new Date().toISOString()), null, 2)}\n`);
    io.err(`baseline written to ${update} (${b.label}, commit ${b.commit}${b.dirty ? ' + uncommitted changes' : ''}, ${b.mode} mode, ${b.summary.reps} reps)${cmp?.exit_code ? `; the verdict against the old baseline (${cmp.verdict}, exit ${cmp.exit_code}) does not fail this run` : ''}\n`);
    code = 0;
  }
  return code;
}

// ------------------------------------------------------------------ main

const USAGE = `usage:
  regression-cli run --dir DIR --json FILE [--port 0] [--quick] [--label B] [--work DIR] [--no-micro] [--wait-quiet S]
  regression-cli compare --b FILE... [--a FILE...] [--a-label L] [--b-label L]
      [--threshold-throughput ${DEFAULT_THRESHOLDS.throughput}] [--threshold-memory ${DEFAULT_THRESHOLDS.memory}] [--threshold-latency ${DEFAULT_THRESHOLDS.latency}]
      [--out DIR] [--stem NAME] [--update-baseline FILE] [--quiet]
exit: 0 OK, 3 REVIEW, 4 OPTIMIZE, 5 ROLLBACK, 1 failed, 2 bad arguments
`;

/** Runs a command line (without `node script`) and resolves with the exit code. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'run') return await runCommand(rest, io);
    if (cmd === 'compare') return compareCommand(rest, io);
    if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
      io.out(USAGE);
      return 0;
    }
    throw new UsageError(cmd === undefined ? 'missing command' : `unknown command ${JSON.stringify(cmd)}`);
  } catch (err) {
    if (err instanceof UsageError || err instanceof RegressionInputError) {
      io.err(`regression-cli: ${err.message}\n${err instanceof UsageError ? USAGE : ''}`);
      return EXIT_USAGE;
    }
    io.err(`regression-cli: ${(err as Error)?.message ?? err}\n`);
    return EXIT_FAILED;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      killAll();
      process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(`regression-cli: ${(err as Error)?.stack ?? err}\n`);
      killAll();
      process.exit(EXIT_FAILED);
    },
  );
}
