/**
 * `npm run loadgen -- …` (also `node dist/src/loadgen/cli.js …`): the load
 * generator's command line. Flags per the CLI contract in types.ts; see
 * HELP below. Exit code: 0 PASS or WARN, 1 FAIL (or a run that could not
 * take place), 2 bad arguments.
 */
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { UnsupportedProtocolError } from './clients/index.js';
import { RunError, runLoad } from './run.js';
import { describeScenarios, isScenarioFile, loadScenarioFile, resolveScenario, ScenarioError, type ScenarioInput } from './scenarios.js';
import type { Scenario } from './types.js';

export const HELP = `Usage: npm run loadgen -- [flags]
       node dist/src/loadgen/cli.js [flags]

Drives a tcpserver with virtual clients, measures throughput, latency and the
delivery guarantees (lost / duplicated / out-of-order per room, from seq), and
writes <out>/<time>-<scenario>.{json,csv,md}.

Scenario
  --scenario NAME|FILE   built-in scenario, or a .json/.yaml/.yml file with the
                         same keys as the flags (snake_case: msg_size, ramp: 10/s,
                         duration: 60s, room_mode, room_name_or_count, slo: {...});
                         flags override the file, the file overrides the built-in
                         named by its "scenario" key (default single-room)
${describeScenarios()}

Target and load
  --protocol tcp|lines|ws   tcp: binary frames; lines: json-lines; ws: WebSocket
                            text messages at ws://host:port/ (PROTOCOL.md §7),
                            for a server that speaks the protocol over WebSocket
                            (this server has no WebSocket gateway yet; see
                            bench/reference/uws-pubsub.ts)             [tcp]
  --host H  --port P        server address                          [127.0.0.1:4000]
  --clients N               virtual clients (connections)
  --ramp R                  clients started per second, e.g. 10/s or 600/m
  --duration D              measured phase after ramp-up, e.g. 60s, 2m, 500ms
  --msg-size B              bytes of text per message (the first ~25 are a
                            sender:counter:send-time stamp)
  --msg-interval I          each sender's interval, e.g. 500ms (jittered ±1/3)
  --room NAME               one room (room_mode single)
  --rooms N                 N rooms room-1..room-N, clients round-robin (multi)
  --senders N               clients that send (the rest only receive)
  --window N                unacked messages each sender keeps in flight; with
                            --msg-interval 0 this is max-throughput mode
  --reconnect-every D       every client drops and resumes with since_seq this
                            often (0 = never)
  --probes N                clients that decode every frame (latency, seq
                            checks); the others count frames without decoding

Verdict (FAIL on a breach, and on any lost, duplicated or out-of-order message)
  --slo-p95-ms X  --slo-p99-ms X  --slo-error-rate X (fraction)  --slo-min-delivered X (msg/s)

Output
  --server-pid PID          server process for CPU/RSS sampling from /proc
  --stats-port N            port of the server's HTTP /stats (default: --port; with
                            --protocol ws against tcpserver, its tcp_port)
                            (found automatically for a local server)
  --out DIR                 result folder                            [bench/results]
  --json FILE               also write the result JSON to FILE
  --quiet                   no live progress line
  --drain-timeout D         longest wait for in-flight messages at the end [10s]
  -h, --help                this text

Server limits: the server's defaults (rate_msgs_per_sec 200, rate_burst 400 per
connection; max_connections_per_ip 1000) suit the built-in fixed-rate scenarios.
High-rate runs (max-throughput, --window, short --msg-interval) need the server
started with raised limits, e.g.
  rate_msgs_per_sec=100000 rate_burst=100000 npm run tcpserver
and more than 1000 clients from one address need max_connections_per_ip raised.
Silent members are kept alive with pings (heartbeat_ms).

Examples
  npm run loadgen -- --scenario smoke
  npm run loadgen -- --scenario single-room --protocol tcp --host 127.0.0.1 --port 4000 \\
      --clients 50 --ramp 10/s --duration 60s --msg-size 64 --room main
  npm run loadgen -- --scenario max-throughput --duration 30s
  npm run loadgen -- --scenario my-scenario.yaml --slo-p99-ms 50

Exit code: 0 PASS or WARN, 1 FAIL, 2 bad arguments.
`;

const OPTIONS = {
  scenario: { type: 'string' },
  protocol: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  clients: { type: 'string' },
  ramp: { type: 'string' },
  duration: { type: 'string' },
  'msg-size': { type: 'string' },
  'msg-interval': { type: 'string' },
  room: { type: 'string' },
  rooms: { type: 'string' },
  'room-mode': { type: 'string' },
  senders: { type: 'string' },
  window: { type: 'string' },
  'reconnect-every': { type: 'string' },
  probes: { type: 'string' },
  'slo-p95-ms': { type: 'string' },
  'slo-p99-ms': { type: 'string' },
  'slo-error-rate': { type: 'string' },
  'slo-min-delivered': { type: 'string' },
  'server-pid': { type: 'string' },
  'stats-port': { type: 'string' },
  out: { type: 'string' },
  json: { type: 'string' },
  quiet: { type: 'boolean' },
  'drain-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What the command line asks for. */
export interface CliArgs {
  help: boolean;
  scenario: Scenario;
  serverPid: number | undefined;
  /** Port of /stats when it is not the load's port. */
  statsPort: number | undefined;
  outDir: string;
  jsonFile: string | undefined;
  quiet: boolean;
  drainTimeoutMs: number;
}

/**
 * Parses argv (without node and the script) into a scenario and options.
 * @throws ScenarioError for unknown flags, bad values, an unreadable scenario file
 */
export function parseCli(argv: string[]): CliArgs {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: false; strict: true }>>['values'];
  try {
    values = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new ScenarioError(`${(err as Error).message} (try --help)`);
  }
  const help = values.help === true;
  const flags: ScenarioInput = {};
  let file: ScenarioInput = {};
  if (values.scenario !== undefined) {
    if (isScenarioFile(values.scenario)) file = loadScenarioFile(values.scenario);
    else flags.scenario = values.scenario;
  }
  const map: [keyof typeof values, keyof ScenarioInput][] = [
    ['protocol', 'protocol'],
    ['host', 'host'],
    ['port', 'port'],
    ['clients', 'clients'],
    ['ramp', 'ramp'],
    ['duration', 'duration'],
    ['msg-size', 'msg_size'],
    ['msg-interval', 'msg_interval'],
    ['room-mode', 'room_mode'],
    ['room', 'room'],
    ['rooms', 'rooms'],
    ['senders', 'senders'],
    ['window', 'window'],
    ['reconnect-every', 'reconnect_every'],
    ['probes', 'probes'],
  ];
  for (const [flag, key] of map) {
    const v = values[flag];
    if (typeof v === 'string') (flags as Record<string, unknown>)[key] = v;
  }
  const slo: NonNullable<ScenarioInput['slo']> = {};
  if (values['slo-p95-ms'] !== undefined) slo.p95_ms = values['slo-p95-ms'];
  if (values['slo-p99-ms'] !== undefined) slo.p99_ms = values['slo-p99-ms'];
  if (values['slo-error-rate'] !== undefined) slo.error_rate = values['slo-error-rate'];
  if (values['slo-min-delivered'] !== undefined) slo.min_delivered_per_s = values['slo-min-delivered'];
  if (Object.keys(slo).length > 0) flags.slo = slo;
  if (values.room !== undefined && values.rooms !== undefined) throw new ScenarioError('give --room (one room) or --rooms (several), not both');

  const scenario = resolveScenario(flags, file);
  let serverPid: number | undefined;
  if (values['server-pid'] !== undefined) {
    serverPid = Number(values['server-pid']);
    if (!Number.isInteger(serverPid) || serverPid < 1) throw new ScenarioError(`--server-pid must be a process id, not ${JSON.stringify(values['server-pid'])}`);
  }
  let statsPort: number | undefined;
  if (values['stats-port'] !== undefined) {
    statsPort = Number(values['stats-port']);
    if (!Number.isInteger(statsPort) || statsPort < 1 || statsPort > 65535) throw new ScenarioError(`--stats-port must be a port 1-65535, not ${JSON.stringify(values['stats-port'])}`);
  }
  let drainTimeoutMs = 10_000;
  if (values['drain-timeout'] !== undefined) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(values['drain-timeout']);
    if (!m) throw new ScenarioError(`--drain-timeout must be a duration such as 10s, not ${JSON.stringify(values['drain-timeout'])}`);
    drainTimeoutMs = Math.round(Number(m[1]) * (m[2] === 'ms' ? 1 : 1000));
  }
  return {
    help,
    scenario,
    serverPid,
    statsPort,
    outDir: values.out ?? 'bench/results',
    jsonFile: values.json,
    quiet: values.quiet === true,
    drainTimeoutMs,
  };
}

/** Runs the CLI; resolves the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  let args: CliArgs;
  try {
    args = parseCli(argv);
  } catch (err) {
    if (err instanceof ScenarioError) {
      process.stderr.write(`loadgen: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const s = args.scenario;
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts === 1) {
      process.stderr.write('\nloadgen: interrupted: ending the measured phase, draining and reporting (Ctrl-C again to quit at once)\n');
      abort.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', onSigint);
  process.stderr.write(
    `loadgen: ${s.scenario} over ${s.protocol} to ${s.host}:${s.port}: ${s.clients} clients (${s.senders} senders, ${s.probes} probes) ` +
      `at ${s.ramp_per_s}/s, ${s.duration_ms / 1000} s measured, ${s.msg_size} B ` +
      `${s.window > 0 && s.msg_interval_ms === 0 ? `window ${s.window}` : `every ${s.msg_interval_ms} ms`}` +
      `${s.reconnect_every_ms > 0 ? `, drop + resume every ${s.reconnect_every_ms / 1000} s` : ''}\n`,
  );
  try {
    const outcome = await runLoad(s, {
      report: { outDir: args.outDir, live: Boolean(process.stdout.isTTY) && !args.quiet },
      serverPid: args.serverPid,
      statsPort: args.statsPort,
      signal: abort.signal,
      drainTimeoutMs: args.drainTimeoutMs,
    });
    const rooms = outcome.rooms
      .map((r) => `${r.room} seq ${r.final_seq} (${r.probes} probes: ${r.seq.lost}/${r.seq.duplicated}/${r.seq.outOfOrder} lost/dup/ooo; counters short ${r.counters_short}, over ${r.counters_over})`)
      .slice(0, 10);
    process.stderr.write(
      `loadgen: ${outcome.frames_per_read.toFixed(2)} chat frames per read; event-loop delay p99 ${outcome.loop_delay_ms.p99.toFixed(1)} ms, max ${outcome.loop_delay_ms.max.toFixed(1)} ms; ` +
        `${outcome.ack_duplicates} duplicate acks, ${outcome.refused} refused, ${outcome.unacked} unacked\n` +
        `loadgen: rooms: ${rooms.join('; ')}${outcome.rooms.length > 10 ? `; … ${outcome.rooms.length - 10} more` : ''}\n`,
    );
    if (args.jsonFile) {
      mkdirSync(dirname(args.jsonFile), { recursive: true });
      writeFileSync(args.jsonFile, `${JSON.stringify(outcome.result, null, 2)}\n`);
    }
    return outcome.result.verdict === 'FAIL' ? 1 : 0;
  } catch (err) {
    if (err instanceof UnsupportedProtocolError) {
      process.stderr.write(`loadgen: ${err.message}\n`);
      return 2;
    }
    if (err instanceof RunError) {
      process.stderr.write(`loadgen: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`loadgen: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
