/**
 * Samples the server's resources during a run: `GET /stats` on the chat port
 * (PROTOCOL.md §6: `memory_mb`, `latency_p99_ms`, …) about once a second, and,
 * when the server's process is known, its CPU time and RSS from /proc.
 *
 * The process is the one given (`--server-pid`), else — for a server on this
 * machine — the one listening on the port, found through /proc/net/tcp{,6}
 * and the processes' fds. A server inside the load generator's own process
 * (tests) is not sampled from /proc: its CPU would include the generator's.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import type { RunResult } from './types.js';

/** One GET over a raw socket (one request per connection, PROTOCOL.md §6); resolves the JSON body. */
export function getJson(host: string, port: number, path: string, timeoutMs = 2000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port }, () => sock.write(`GET ${path} HTTP/1.1\r\nHost: loadgen\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`GET ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const i = text.indexOf('\r\n\r\n');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      if (status !== '200' || i < 0) return reject(new Error(`GET ${path}: unexpected answer ${JSON.stringify(text.slice(0, 120))}`));
      try {
        resolve(JSON.parse(text.slice(i + 4)) as Record<string, unknown>);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

/** CPU seconds (user + system) of a process from /proc/<pid>/stat; null when unreadable. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // proc(5) fields 14 and 15 (utime, stime) are 11 and 12 after the command name.
    return (Number(f[11]) + Number(f[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** RSS of a process in MiB from /proc/<pid>/status; null when unreadable. */
export function processRssMb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '0.0.0.0', '::']);

/**
 * The pid of the process listening on TCP `port` on this machine, from
 * /proc/net/tcp{,6} (state 0A = LISTEN) and /proc/<pid>/fd; null when not
 * found or not readable (another user's process, no /proc).
 */
export function findListeningPid(port: number): number | null {
  const inodes = new Set<string>();
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      if (f[1]!.split(':')[1] === portHex) inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return null;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return Number(pid);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return null;
}

/** Options of a ServerSampler. */
export interface SamplerOptions {
  host: string;
  port: number;
  /** Server pid for /proc sampling; undefined: find it when the host is local; null: do not sample /proc. */
  pid?: number | null;
  /** Interval between samples, ms (default 1000). */
  everyMs?: number;
}

/** Samples /stats and /proc while a run lasts. */
export class ServerSampler {
  readonly pid: number | null;
  /** Why /proc is not sampled (for the report), when it is not. */
  readonly pidNote: string | null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private rssMax = Number.NaN;
  private rssEnd = Number.NaN;
  private p99Max = Number.NaN;
  private statsOk = 0;
  private statsFailed = 0;
  private lastStatsError = '';
  private cpuStart: { cpu: number; at: number } | null = null;
  private cpuEnd: { cpu: number; at: number } | null = null;
  /** The last /stats answer. */
  lastStats: Record<string, unknown> | null = null;

  constructor(private readonly options: SamplerOptions) {
    let pid = options.pid;
    let note: string | null = null;
    if (pid === undefined) {
      pid = LOCAL_HOSTS.has(options.host) ? findListeningPid(options.port) : null;
      if (pid === null) note = LOCAL_HOSTS.has(options.host) ? 'server process not found (give --server-pid)' : 'remote server (give --server-pid to sample a local one)';
    }
    if (pid === process.pid) {
      pid = null;
      note = 'server runs inside the load generator process: its CPU is not separable';
    }
    if (pid !== null && pid !== undefined && processCpuSeconds(pid) === null) {
      note = `cannot read /proc/${pid}`;
      pid = null;
    }
    this.pid = pid ?? null;
    this.pidNote = note;
  }

  /** Starts sampling (one sample at once). */
  start(): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.options.everyMs ?? 1000);
    this.timer.unref();
  }

  /** Marks the start of the measured phase (for the CPU average). */
  markStart(): void {
    const cpu = this.pid === null ? null : processCpuSeconds(this.pid);
    this.cpuStart = cpu === null ? null : { cpu, at: performance.now() };
  }

  /** Marks the end of the measured phase. */
  markEnd(): void {
    const cpu = this.pid === null ? null : processCpuSeconds(this.pid);
    this.cpuEnd = cpu === null ? null : { cpu, at: performance.now() };
  }

  /** Takes one more sample (the end of the run), then stops. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.inFlight) await this.inFlight;
    await this.sample();
  }

  private sample(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const p = (async () => {
      if (this.pid !== null) {
        const rss = processRssMb(this.pid);
        if (rss !== null) this.noteRss(rss);
      }
      // A server without /stats (or not this one): stop asking after 3 failures in a row.
      if (this.statsOk === 0 && this.statsFailed >= 3) return;
      try {
        const stats = await getJson(this.options.host, this.options.port, '/stats', 5000);
        this.statsOk++;
        this.lastStats = stats;
        if (typeof stats.memory_mb === 'number') this.noteRss(stats.memory_mb);
        if (typeof stats.latency_p99_ms === 'number' && !(stats.latency_p99_ms <= this.p99Max)) this.p99Max = stats.latency_p99_ms;
      } catch (err) {
        this.statsFailed++;
        this.lastStatsError = (err as Error).message;
      }
    })().finally(() => {
      this.inFlight = null;
    });
    this.inFlight = p;
    return p;
  }

  private noteRss(mb: number): void {
    this.rssEnd = mb;
    if (!(mb <= this.rssMax)) this.rssMax = mb;
  }

  /** What the report needs; NaN where nothing was sampled. */
  summary(): RunResult['server'] {
    const cpu =
      this.cpuStart && this.cpuEnd && this.cpuEnd.at > this.cpuStart.at
        ? ((this.cpuEnd.cpu - this.cpuStart.cpu) / ((this.cpuEnd.at - this.cpuStart.at) / 1000)) * 100
        : null;
    return { rss_mb_max: this.rssMax, rss_mb_end: this.rssEnd, cpu_pct_avg: cpu, latency_p99_ms_max: this.p99Max };
  }

  /** Notes for the log: what could not be sampled. */
  notes(): string[] {
    const out: string[] = [];
    if (this.pidNote) out.push(`server CPU not sampled: ${this.pidNote}`);
    if (this.statsOk === 0) out.push(`server /stats never answered${this.lastStatsError ? ` (${this.lastStatsError})` : ''}`);
    else if (this.statsFailed > 0) out.push(`server /stats failed ${this.statsFailed} of ${this.statsOk + this.statsFailed} times (last: ${this.lastStatsError})`);
    return out;
  }
}
