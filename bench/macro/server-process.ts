/**
 * What the macro-benchmarks share: the real server as a child process
 * (`node dist/src/main.js`, pinned to core 0 with taskset, environment-only
 * config, working directory a temp dir so a repo `.env` does not apply), its
 * CPU time from /proc, the machine's per-core CPU from /proc/stat, and small
 * client helpers (binary frame encoding, GET on the chat port).
 *
 * Used by bench/macro/fanout.ts, bench/macro/resume.ts and
 * bench/macro/multiroom-vs-uws.ts (which also starts the uWebSockets.js
 * reference server through it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinnedCommand, SERVER_CORE } from '../../src/loadgen/pin.js';
import { getJson as loadgenGetJson } from '../../src/loadgen/server-sampler.js';

/** How long a server gets to exit after SIGTERM before it is killed, ms. */
export const STOP_TIMEOUT_MS = 8_000;

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/bench/macro → dist/src/main.js */
const SERVER_ENTRY = path.resolve(here, '../../src/main.js');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Parses `10s`, `500ms`, `2m` or a bare number of seconds into ms. */
export function parseDuration(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(s);
  if (!m) throw new Error(`bad duration ${JSON.stringify(s)} (use e.g. 10s, 500ms, 2m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000);
}

/** Encodes one binary frame (PROTOCOL.md §2), no codec. */
export function frame(obj: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(obj));
  const out = Buffer.allocUnsafe(5 + body.length);
  out.writeUInt32BE(body.length + 1, 0);
  out[4] = 0;
  body.copy(out, 5);
  return out;
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * One HTTP GET on the chat port of the local server (PROTOCOL.md §6); the
 * load generator's own helper, so both speak HTTP to the server one way.
 * @param timeoutMs ms before it rejects
 */
export function getJson(port: number, pathname: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
  return loadgenGetJson('127.0.0.1', port, pathname, timeoutMs);
}

// ------------------------------------------------------------------ server child

let clkTck: number | undefined;
export function ticksPerSecond(): number {
  if (clkTck === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

/** The server as a child process. */
export class ServerProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitedNow = false;

  private constructor(
    readonly child: ChildProcess,
    readonly pinning: string,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitedNow = true;
        resolve({ code, signal });
      }),
    );
    const keep = (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        this.lines.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
        if (this.lines.length > 200) this.lines.shift();
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  }

  /**
   * Spawns `node dist/src/main.js` on `port` and waits for its listening line.
   * @param extraEnv config keys the benchmark sets on top of the inherited
   *   environment and the settings every benchmark needs (host and port, logs
   *   at warn to stdout, no voice UDP, no heartbeats, quick shutdown)
   * @param entry another script to run the same way instead (same pinning,
   *   environment and working directory), with its arguments; it must print
   *   a line containing `listening on` once it accepts connections and exit
   *   on SIGTERM (bench/reference/uws-pubsub.ts)
   */
  static async start(port: number, extraEnv: NodeJS.ProcessEnv = {}, entry?: { script: string; args: string[] }): Promise<ServerProcess> {
    const script = entry?.script ?? SERVER_ENTRY;
    if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
    const cmd = pinnedCommand(SERVER_CORE, process.execPath, [script, ...(entry?.args ?? [])]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      tcp_host: '127.0.0.1',
      tcp_port: String(port),
      log_level: 'warn',
      log_file: '',
      voice_udp_port: '0',
      heartbeat_ms: '3600000',
      heartbeat_timeout_ms: '7200000',
      shutdown_timeout_ms: '3000',
      shutdown_jitter_ms: '0',
      // Overload shedding off: it closes presence events, which the benchmarks wait for; they measure throughput.
      max_latency_ms: '0',
      ...extraEnv,
    };
    const child = spawn(cmd.file, cmd.args, { cwd: os.tmpdir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new ServerProcess(child, cmd.pinning);
    const listening = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server did not start listening within 15 s')), 15_000);
      const onData = (d: Buffer) => {
        if (/listening on/.test(d.toString('utf8'))) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      void server.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`server exited during start-up (code ${code}, signal ${signal}): ${server.lines.slice(-5).join(' | ')}`));
      });
    });
    try {
      await listening;
    } catch (err) {
      server.kill();
      throw err;
    }
    return server;
  }

  /** CPU seconds used so far (user, system), from /proc; null where /proc is missing. */
  cpuSeconds(): { user: number; system: number } | null {
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 14 and 15 of proc(5) (utime, stime) are 11 and 12 after the command name.
      return { user: Number(f[11]) / ticksPerSecond(), system: Number(f[12]) / ticksPerSecond() };
    } catch {
      return null;
    }
  }

  /** SIGKILL, no wait (for the exit handler). */
  kill(): void {
    if (!this.exitedNow) this.child.kill('SIGKILL');
  }

  /** SIGTERM (graceful drain), then SIGKILL after STOP_TIMEOUT_MS. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; forced: boolean }> {
    if (this.exitedNow) return { ...(await this.exited), forced: false };
    this.child.kill('SIGTERM');
    const t = await Promise.race([this.exited, sleep(STOP_TIMEOUT_MS).then(() => null)]);
    if (t) return { ...t, forced: false };
    this.child.kill('SIGKILL');
    return { ...(await this.exited), forced: true };
  }
}

export interface CpuTimes {
  busy: number;
  softirq: number;
}

/**
 * Busy and interrupt/softirq CPU seconds from /proc/stat: `all` for the
 * machine, `cpu<N>` per core; null where /proc is missing.
 */
export function machineCpu(): Map<string, CpuTimes> | null {
  try {
    const out = new Map<string, CpuTimes>();
    const tps = ticksPerSecond();
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      if (!line.startsWith('cpu')) continue;
      const [name = '', ...rest] = line.trim().split(/\s+/);
      // user nice system idle iowait irq softirq steal (guest time is already in user).
      const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = rest.map(Number);
      out.set(name === 'cpu' ? 'all' : name, { busy: (user + nice + system + irq + softirq + steal) / tps, softirq: (irq + softirq) / tps });
    }
    return out;
  } catch {
    return null;
  }
}

/** Cores used per second between two machineCpu() readings, per key. */
export function cpuDelta(a: Map<string, CpuTimes> | null, b: Map<string, CpuTimes> | null, key: string, seconds: number): CpuTimes | null {
  const x = a?.get(key), y = b?.get(key);
  return x && y ? { busy: (y.busy - x.busy) / seconds, softirq: (y.softirq - x.softirq) / seconds } : null;
}

/** Polls `cond` every `stepMs` until it holds (true) or `timeoutMs` passed (false). */
export async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(stepMs);
  }
  return true;
}

/**
 * Kills the server that `current()` returns when this process exits, and on
 * SIGINT / SIGTERM (then exits 130 / 143). Returns the function that removes
 * these handlers again.
 */
export function guardServer(current: () => ServerProcess | null): () => void {
  const killOnExit = () => current()?.kill();
  process.once('exit', killOnExit);
  const onSignal = (sig: NodeJS.Signals) => {
    current()?.kill();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('exit', killOnExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/**
 * Stops `srv` (ServerProcess.stop), adding a warning when it had to be killed
 * or exited badly; returns what it logged, without its listening line.
 */
export async function stopServer(srv: ServerProcess, warnings: string[]): Promise<string[]> {
  const stopped = await srv.stop();
  if (stopped.forced) warnings.push(`server did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM; killed`);
  else if (stopped.code !== 0) warnings.push(`server exited with code ${stopped.code}, signal ${stopped.signal}`);
  return srv.lines.filter((l) => !/listening on/.test(l));
}
