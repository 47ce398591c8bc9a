/**
 * One load run, start to end — the load generator's programmatic API
 * (`runLoad`), used by the CLI and by tests.
 *
 * Phases (each bounded in time; a watchdog destroys everything past the
 * sum of their budgets):
 * 1. ramp — clients connect and join at `ramp_per_s`; senders start as soon
 *    as they have joined. Ends when every client joined or failed.
 * 2. run — the measured phase, `duration_ms` long (shortened by an abort
 *    signal). Rates and latency percentiles cover this phase: latency
 *    samples are those of messages first sent in it.
 * 3. drain — senders stop, planned drops stop; waits until every message is
 *    acknowledged and every member has reached its room's last acked seq
 *    (`drainTimeoutMs`, default 10 s). Then every socket is closed.
 *
 * Totals (`totals.*`) cover the whole run. `errors` counts error envelopes,
 * connect failures, unexpected disconnects and messages still unacknowledged
 * after the drain; `error_rate` = errors / sent. Lost / duplicated /
 * out-of-order come from the probes' SeqTrackers, per room, summed.
 * Counting clients are checked too (their count must reach the room's last
 * seq); a mismatch there is reported as a note and turns a PASS into WARN.
 */
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createReporter } from './reporter.js';
import { roomNames } from './scenarios.js';
import { ServerSampler } from './server-sampler.js';
import { addCounts, CpuMeter, emptyCounts, MetricsCollector, SATURATION_PCT, type RoomReport } from './metrics.js';
import { SUPPORTED_PROTOCOLS, UnsupportedProtocolError } from './clients/index.js';
import { WorkerPool } from './worker-pool.js';
import { judge } from './verdict.js';
import type { Progress, Reporter, ReporterOptions, RunResult, Scenario } from './types.js';

/** Options of runLoad. */
export interface RunOptions {
  /** Progress and final report. Omitted: one made by createReporter(`report`) when `report` is given, else none. */
  reporter?: Reporter | null;
  /** Options of the reporter to create when `reporter` is omitted. */
  report?: ReporterOptions;
  /** Server pid for /proc sampling; undefined: found when the server is local; null: none. */
  serverPid?: number | null;
  /** Port of the server's HTTP `/stats` on `scenario.host`; default `scenario.port` (tcpserver's WebSocket port has no /stats). */
  statsPort?: number;
  /** Warnings and notes, one line each (default: stderr with a `[loadgen]` prefix). */
  log?: (line: string) => void;
  /** Aborting ends the measured phase at once; drain and report still happen. */
  signal?: AbortSignal;
  /** Longest drain, ms (default 10 000). */
  drainTimeoutMs?: number;
  /** Connect / join timeout per attempt, ms (default 10 000). */
  connectTimeoutMs?: number;
  /** Interval of /stats samples and progress, ms (default 1000). */
  sampleEveryMs?: number;
}

/** What runLoad returns: the result (judged) and the detail behind it. */
export interface RunOutcome {
  result: RunResult;
  /** Per-room delivery checks. */
  rooms: RoomReport[];
  /** Notes and warnings raised during the run (also logged). */
  notes: string[];
  /** Error envelopes by code. */
  error_codes: Record<string, number>;
  /** Acks with duplicate: true (resends the server had already accepted). */
  ack_duplicates: number;
  /** Messages refused by the server (an error naming their id). */
  refused: number;
  /** Messages unacknowledged after the drain. */
  unacked: number;
  /** Whether the drain completed before its timeout. */
  drained: boolean;
  /** Delivered chat frames per socket read in the measured phase (above 1: the kernel batched, the generator lagged or the server coalesced). */
  frames_per_read: number;
  /** The load generator's event-loop delay in the measured phase, p99 and max, ms: high values mean its timestamps and reads ran late. */
  loop_delay_ms: { p99: number; max: number };
  /** Paths the reporter wrote. */
  files: string[];
}

/** A run that could not take place (no client could connect). */
export class RunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
}

/** Sampling interval of the event-loop delay monitor, ms. */
const LOOP_RESOLUTION_MS = 10;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Runs one scenario against a server.
 * @throws UnsupportedProtocolError for a protocol without an adapter
 * @throws RunError when no client could connect and join
 */
export async function runLoad(scenario: Scenario, options: RunOptions = {}): Promise<RunOutcome> {
  if (!SUPPORTED_PROTOCOLS.includes(scenario.protocol)) throw new UnsupportedProtocolError(scenario.protocol);
  const log = options.log ?? ((line: string) => process.stderr.write(`[loadgen] ${line}\n`));
  const notes: string[] = [];
  const note = (line: string) => {
    notes.push(line);
    log(line);
  };
  const reporter = options.reporter !== undefined ? options.reporter : options.report ? createReporter(options.report) : null;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  const everyMs = options.sampleEveryMs ?? 1000;
  const rooms = roomNames(scenario);
  const metrics = new MetricsCollector();
  const pool = new WorkerPool({ scenario, rooms, metrics, tag: randomBytes(4).toString('hex'), timeoutMs, log });
  const sampler = new ServerSampler({ host: scenario.host, port: options.statsPort ?? scenario.port, pid: options.serverPid, everyMs });
  const stopSignal = options.signal;

  // ---- progress, keep-alive and CPU watch, once a second
  const tStart = performance.now();
  let phase: Progress['phase'] = 'ramp';
  const cpuTick = new CpuMeter();
  let last = { sent: 0, acked: 0, delivered: 0, at: tStart };
  let hotSeconds = 0;
  let warnedHot = false;
  const ticker = setInterval(() => {
    const now = performance.now();
    const delivered = pool.delivered();
    const dt = (now - last.at) / 1000;
    const cpu = cpuTick.sample();
    const p: Progress = {
      elapsed_s: (now - tStart) / 1000,
      phase,
      connected: pool.connectedCount(),
      sent_per_s: dt > 0 ? (metrics.sent - last.sent) / dt : 0,
      acked_per_s: dt > 0 ? (metrics.acked - last.acked) / dt : 0,
      delivered_per_s: dt > 0 ? (delivered - last.delivered) / dt : 0,
      p99_ms: metrics.recent.percentile(99),
      errors: metrics.failures,
      loadgen_cpu_pct: cpu,
    };
    metrics.recent.reset();
    last = { sent: metrics.sent, acked: metrics.acked, delivered, at: now };
    hotSeconds = cpu >= SATURATION_PCT ? hotSeconds + 1 : 0;
    if (hotSeconds >= 3 && !warnedHot) {
      warnedHot = true;
      note(`load generator near a full core (${cpu.toFixed(0)}% CPU for 3 s): rates may be limited by the generator; use fewer probes or more load processes`);
    }
    pool.keepAlive();
    reporter?.progress(p);
  }, everyMs);

  // ---- the watchdog: every phase has a budget, the whole run is bounded.
  const rampBudget = (scenario.clients / scenario.ramp_per_s) * 1000 + timeoutMs * 2 + 5000;
  const budgetMs = rampBudget + scenario.duration_ms + drainTimeoutMs + 30_000;
  let watchdog: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    watchdog = setTimeout(() => {
      void pool.closeAll(0);
      reject(new RunError(`run exceeded its ${Math.round(budgetMs / 1000)} s budget; every connection was closed`));
    }, budgetMs);
    watchdog.unref();
  });

  const body = async (): Promise<RunOutcome> => {
    sampler.start();

    // 1. ramp
    await pool.ramp(() => stopSignal?.aborted === true);
    const joined = pool.clients.filter((c) => c.joinedOnce).length;
    if (joined === 0) {
      const why = [...pool.failures.keys()].slice(0, 3).join('; ');
      throw new RunError(`no client could connect and join ${scenario.host}:${scenario.port}${why ? ` (${why})` : ''}`);
    }
    if (metrics.connectFailures > 0) {
      note(`${metrics.connectFailures} of ${scenario.clients} clients failed to connect or join: ${[...pool.failures].map(([k, n]) => `${k} ×${n}`).slice(0, 3).join('; ')}`);
    }

    // 2. measured phase
    phase = 'run';
    const startedAt = new Date();
    const t0 = performance.now();
    metrics.measureFrom = t0;
    const s0 = { sent: metrics.sent, acked: metrics.acked, delivered: pool.delivered(), reads: pool.reads() };
    const cpu0 = process.cpuUsage();
    const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    loop.enable();
    sampler.markStart();
    if (scenario.reconnect_every_ms > 0) pool.startDrops(scenario.reconnect_every_ms);
    await sleep(scenario.duration_ms, stopSignal);
    const t1 = performance.now();
    metrics.measureTo = t1;
    const cpu1 = process.cpuUsage(cpu0);
    loop.disable();
    // The histogram holds timer intervals (resolution + delay); keep the delay.
    const lag = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
    const loopDelay = { p99: lag(loop.percentile(99)), max: lag(loop.max) };
    sampler.markEnd();
    const s1 = { sent: metrics.sent, acked: metrics.acked, delivered: pool.delivered(), reads: pool.reads() };
    const elapsedS = (t1 - t0) / 1000;
    // An abort during ramp-up leaves no measured phase: rates are 0, not Infinity.
    const perS = (n: number) => (elapsedS > 0.001 ? n / elapsedS : 0);

    // 3. drain
    phase = 'drain';
    pool.stopDrops();
    pool.stopSending();
    const drained = await pool.drain(drainTimeoutMs);
    metrics.unacked = pool.pendingCount();
    if (!drained) note(`drain did not complete within ${drainTimeoutMs} ms (${metrics.unacked} messages unacknowledged)`);
    const roomReports = integrity(pool, rooms, metrics);
    await sampler.stop();
    const closedAll = await pool.closeAll();
    if (!closedAll) note('some sockets did not report close within 5 s');
    clearInterval(ticker);
    for (const n of sampler.notes()) note(n);

    // Result
    const seq = roomReports.reduce((a, r) => addCounts(a, r.seq), emptyCounts());
    const cpuPct = elapsedS > 0.001 ? ((cpu1.user + cpu1.system) / 1000 / (t1 - t0)) * 100 : 0;
    const totalsDelivered = pool.delivered();
    const unjudged: Omit<RunResult, 'verdict' | 'verdict_reasons'> = {
      version: 1,
      scenario,
      started_at: startedAt.toISOString(),
      elapsed_s: elapsedS,
      sent_per_s: perS(s1.sent - s0.sent),
      acked_per_s: perS(s1.acked - s0.acked),
      delivered_per_s: perS(s1.delivered - s0.delivered),
      totals: {
        sent: metrics.sent,
        acked: metrics.acked,
        delivered: totalsDelivered,
        errors: metrics.failures,
        connect_failures: metrics.connectFailures,
        disconnects: metrics.disconnects,
        reconnects: metrics.reconnects,
        lost: seq.lost,
        duplicated: seq.duplicated,
        out_of_order: seq.outOfOrder,
      },
      error_rate: metrics.sent > 0 ? metrics.failures / metrics.sent : 0,
      latency_ms: metrics.e2e.summary(),
      ack_latency_ms: metrics.ack.summary(),
      server: sampler.summary(),
      loadgen: { cpu_pct: cpuPct, saturated: cpuPct >= SATURATION_PCT },
    };

    // Notes beyond what judge() checks.
    if (metrics.errorEnvelopes > 0) note(`error envelopes: ${[...metrics.errorCodes].map(([c, n]) => `${c} ×${n}`).join(', ')}`);
    if (metrics.disconnects > 0) note(`unexpected disconnects: ${[...metrics.disconnectReasons].map(([r, n]) => `${r} ×${n}`).join('; ')}`);
    if (metrics.unrecovered > 0) note(`${metrics.unrecovered} resumes were answered recovered: false`);
    if (metrics.gaps > 0) note(`${metrics.gaps} gap envelopes (slow-consumer policy drop)`);
    if (loopDelay.p99 > 50) {
      note(`load generator event loop delayed up to ${loopDelay.p99.toFixed(0)} ms (p99; max ${loopDelay.max.toFixed(0)} ms): latencies include the generator's own lag (busy machine or generator)`);
    }
    // Beyond judge(): counting clients that fell short of their room's last
    // acked seq missed messages for certain (FAIL); counting past it, connect
    // failures and unacked messages are worth a look (PASS becomes WARN).
    const integrityFailures: string[] = [];
    const integrityNotes: string[] = [];
    for (const r of roomReports) {
      const s = r.seq;
      if (s.lost + s.duplicated + s.outOfOrder > 0) {
        note(`room ${r.room}: probes saw ${s.lost} lost, ${s.duplicated} duplicated, ${s.outOfOrder} out of order (final seq ${r.final_seq})`);
      }
      if (r.counters_short > 0) {
        integrityFailures.push(`room ${r.room}: ${r.counters_short} counting ${r.counters_short === 1 ? 'client' : 'clients'} did not receive every message up to seq ${r.final_seq}`);
      }
      if (r.counters_over > 0) {
        integrityNotes.push(`room ${r.room}: ${r.counters_over} counting ${r.counters_over === 1 ? 'client' : 'clients'} counted more chats than the room's last acked seq ${r.final_seq} (duplicates, or chats from outside the run)`);
      }
    }
    if (metrics.connectFailures > 0) integrityNotes.push(`${metrics.connectFailures} connect or join failures`);
    if (metrics.unacked > 0) integrityNotes.push(`${metrics.unacked} messages never acknowledged`);
    for (const n of [...integrityFailures, ...integrityNotes]) if (!notes.includes(n)) note(n);

    const judged = judge(unjudged);
    let verdict = judged.verdict;
    if (integrityFailures.length > 0) verdict = 'FAIL';
    else if (integrityNotes.length > 0 && verdict === 'PASS') verdict = 'WARN';
    const reasons = [...integrityFailures, ...judged.reasons, ...integrityNotes.map((n) => `note: ${n}`)];
    const result: RunResult = { ...unjudged, verdict, verdict_reasons: reasons };
    const files = reporter ? await reporter.final(result) : [];
    const reads = s1.reads - s0.reads;
    return {
      result,
      rooms: roomReports,
      notes,
      error_codes: Object.fromEntries(metrics.errorCodes),
      ack_duplicates: metrics.ackDuplicates,
      refused: metrics.refused,
      unacked: metrics.unacked,
      drained,
      frames_per_read: reads > 0 ? (s1.delivered - s0.delivered) / reads : 0,
      loop_delay_ms: loopDelay,
      files,
    };
  };

  const running = body();
  // After a watchdog timeout the body still winds down; its late failure is not news.
  running.catch(() => {});
  try {
    return await Promise.race([running, timedOut]);
  } finally {
    clearTimeout(watchdog);
    clearInterval(ticker);
    if (!pool.closing) await pool.closeAll();
    await sampler.stop().catch(() => {});
  }
}

/** Per-room checks: the probes' trackers against the room's final seq, and the counting clients' counts. */
function integrity(pool: WorkerPool, rooms: string[], metrics: MetricsCollector): RoomReport[] {
  const byRoom = new Map<string, RoomReport>(
    rooms.map((room) => [
      room,
      { room, clients: 0, probes: 0, final_seq: metrics.finalSeq(room), seq: emptyCounts(), counters_short: 0, counters_over: 0, counters_unchecked: 0 },
    ]),
  );
  for (const c of pool.clients) {
    if (!c.joinedOnce) continue;
    const r = byRoom.get(c.plan.room)!;
    r.clients++;
    const connected = c.state === 'joined';
    if (c.tracker) {
      r.probes++;
      addCounts(r.seq, c.tracker.finish(connected ? r.final_seq : undefined));
      continue;
    }
    if (!connected || !c.countable) {
      r.counters_unchecked++;
      continue;
    }
    // Chats from outside the run can push a counter past the last acked seq; only short counts are certain losses.
    if (c.lastSeq < r.final_seq) r.counters_short++;
    else if (c.lastSeq > r.final_seq && r.final_seq > 0) r.counters_over++;
  }
  return [...byRoom.values()];
}
