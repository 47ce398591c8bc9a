/**
 * Shared shapes of the load generator: the scenario it runs, the client
 * adapters it drives, and the result it writes. bench/results/*.json and
 * ./test_runner.sh read RunResult, so its fields only grow.
 */

/** Wire protocol a load client speaks. */
export type LoadProtocol = 'tcp' | 'lines' | 'ws';

/** One scenario, after defaults, file and flags are merged. Units in the names. */
export interface Scenario {
  /** Name of a built-in scenario or a free label. */
  scenario: string;
  protocol: LoadProtocol;
  host: string;
  port: number;
  /** Number of virtual clients. */
  clients: number;
  /** Clients started per second during ramp-up. */
  ramp_per_s: number;
  /** Length of the measured phase, ms (after ramp-up). */
  duration_ms: number;
  /** Bytes of `text` per message. */
  msg_size: number;
  /** Each sender's interval between messages, ms; 0 with `window` > 0 means max-throughput. */
  msg_interval_ms: number;
  /** `single`: one room; `multi`: `rooms` rooms, clients spread round-robin. */
  room_mode: 'single' | 'multi';
  /** Room name (single) or number of rooms (multi). */
  room_name_or_count: string | number;
  /** How many of the clients send (the rest only receive); default all. */
  senders: number;
  /** Max-throughput: unacked messages each sender keeps in flight; 0 = fixed rate. */
  window: number;
  /** Reconnect scenario: each client drops and resumes with since_seq every this many ms; 0 = never. */
  reconnect_every_ms: number;
  /** Clients that decode every frame (latency, seq checks); the rest count frames by length prefix. */
  probes: number;
  /** SLO thresholds for the verdict; undefined = not checked. */
  slo: { p95_ms?: number; p99_ms?: number; error_rate?: number; min_delivered_per_s?: number };
}

/** What the load generator drives: one connection of one virtual client. */
export interface ProtocolClient {
  /** Opens the connection (and sends `hello` with `nick`). */
  connect(nick: string): Promise<void>;
  /** Joins a room; resolves with `joined` fields. */
  join(room: string, sinceSeq?: number, epoch?: string): Promise<{ seq: number; epoch: string; recovered?: boolean }>;
  /** Sends one chat; `id` is the idempotency key; the ack arrives through the handlers. */
  send(room: string, text: string, id: string): void;
  /** Closes the connection. */
  close(): void;
}

/** Latency summary in ms. */
export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** One run's result, written as JSON (bench/results/<timestamp>-<scenario>.json). */
export interface RunResult {
  /** Format version of this object. */
  version: 1;
  scenario: Scenario;
  /** ISO time the measured phase started. */
  started_at: string;
  /** Length of the measured phase, s. */
  elapsed_s: number;
  /** Chats sent / acked / delivered (all recipients) per second over the measured phase. */
  sent_per_s: number;
  acked_per_s: number;
  delivered_per_s: number;
  totals: {
    sent: number;
    acked: number;
    delivered: number;
    errors: number;
    connect_failures: number;
    disconnects: number;
    reconnects: number;
    /** Per the probes' seq checks, summed over rooms. */
    lost: number;
    duplicated: number;
    out_of_order: number;
  };
  /** errors / sent (0 when nothing was sent). */
  error_rate: number;
  /** End-to-end latency: send timestamp carried in the text → probe receipt. */
  latency_ms: LatencySummary;
  /** send → ack. */
  ack_latency_ms: LatencySummary;
  /** Server resources sampled during the run (from /stats and /proc). */
  server: { rss_mb_max: number; rss_mb_end: number; cpu_pct_avg: number | null; latency_p99_ms_max: number };
  /** The load generator's own CPU use, % of one core, and whether it was near saturation. */
  loadgen: { cpu_pct: number; saturated: boolean };
  /** PASS / WARN / FAIL against the scenario's SLOs (WARN: loadgen saturated or no SLOs were set). */
  verdict: 'PASS' | 'WARN' | 'FAIL';
  /** Human-readable reasons for the verdict. */
  verdict_reasons: string[];
}

/** One line of live progress (printed about once a second on a TTY). */
export interface Progress {
  /** Seconds since the run started (ramp-up included). */
  elapsed_s: number;
  phase: 'ramp' | 'run' | 'drain';
  /** Clients connected now. */
  connected: number;
  /** Rates over the last second. */
  sent_per_s: number;
  acked_per_s: number;
  delivered_per_s: number;
  /** End-to-end p99 over the last second, ms (0 when no probe saw a message). */
  p99_ms: number;
  /** Errors since the start. */
  errors: number;
  /** Load generator CPU over the last second, % of one core. */
  loadgen_cpu_pct: number;
}

/**
 * The reporter (src/loadgen/reporter.ts): `createReporter(options)` returns
 * this. The runner calls `progress` about once a second and `final` once.
 */
export interface Reporter {
  progress(p: Progress): void;
  /**
   * Prints the final table and writes `<outDir>/<stem>.json`, `.csv` and
   * `.md` (Markdown summary with the verdict).
   * @returns the paths written
   */
  final(result: RunResult): Promise<string[]>;
}

/** Options of createReporter. */
export interface ReporterOptions {
  /** Folder for the result files (created if missing); default `bench/results`. */
  outDir: string;
  /** File name stem; default `<ISO time>-<scenario>`. */
  stem?: string;
  /** Live progress line: true on a TTY unless --quiet. */
  live: boolean;
  /** Where lines go (default process.stdout). */
  out?: NodeJS.WritableStream;
}

/*
 * CLI contract (src/loadgen/cli.ts, `npm run loadgen -- …`, also
 * `node dist/src/loadgen/cli.js …`):
 *   --scenario NAME|FILE.json|FILE.yaml   built-in name or scenario file
 *   --protocol tcp|lines|ws  --host H  --port P  --clients N  --ramp 10/s
 *   --duration 60s  --msg-size 64  --msg-interval 500ms  --room NAME
 *   --rooms N (multi)  --senders N  --window N  --reconnect-every 10s  --probes N
 *   --slo-p95-ms X  --slo-p99-ms X  --slo-error-rate X  --slo-min-delivered X
 *   --server-pid PID (for CPU/RSS sampling from /proc)  --out DIR  --json FILE
 *   --quiet (no live line)
 * Exit code: 0 PASS or WARN, 1 FAIL, 2 bad arguments.
 */
