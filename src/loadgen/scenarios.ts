/**
 * Scenarios: the built-in ones, scenario files (JSON or YAML) and the merge
 * of built-in defaults ← file ← flags into one validated Scenario.
 *
 * A scenario file uses the same keys as the flags, in snake_case (dashes are
 * accepted too): scenario, protocol, host, port, clients, ramp (`10/s`),
 * duration (`60s`), msg_size (bytes), msg_interval (`500ms`, or a number of
 * ms), room_mode (single|multi), room_name_or_count, and optionally room,
 * rooms, senders, window, reconnect_every, probes, slo {p95_ms, p99_ms,
 * error_rate, min_delivered_per_s}. A `scenario` key naming a built-in
 * scenario takes that scenario's defaults; another value is just a label.
 * The Scenario fields themselves (ramp_per_s, duration_ms, msg_interval_ms,
 * reconnect_every_ms) are accepted as well.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { LoadProtocol, Scenario } from './types.js';

/** A bad scenario, file or flag value; the CLI exits 2 with its message. */
export class ScenarioError extends Error {
  readonly code = 'bad_argument';
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

/**
 * Raw scenario input, as from flags or a file: strings or numbers, units
 * allowed. Every key is optional; unknown keys in a file are an error.
 */
export interface ScenarioInput {
  scenario?: string;
  protocol?: string;
  host?: string;
  port?: number | string;
  clients?: number | string;
  /** `10/s`, `600/m` or a number per second. */
  ramp?: number | string;
  /** `60s`, `500ms`, `2m`, `1h` or a number of seconds. */
  duration?: number | string;
  msg_size?: number | string;
  /** `500ms`, `1s` or a number of ms. */
  msg_interval?: number | string;
  room_mode?: string;
  room_name_or_count?: number | string;
  /** Room name (single) — sets room_mode single. */
  room?: string;
  /** Number of rooms — sets room_mode multi. */
  rooms?: number | string;
  senders?: number | string;
  window?: number | string;
  /** `10s` or a number of seconds; 0 = never. */
  reconnect_every?: number | string;
  probes?: number | string;
  slo?: { p95_ms?: number | string; p99_ms?: number | string; error_rate?: number | string; min_delivered_per_s?: number | string };
}

/** Defaults of one built-in scenario (on top of COMMON). */
interface Builtin {
  summary: string;
  clients: number;
  ramp_per_s: number;
  duration_ms: number;
  msg_size: number;
  msg_interval_ms: number;
  room_mode: 'single' | 'multi';
  room_name_or_count: string | number;
  /** Senders: a number, or a share of the clients (0..1] when below 1. Default: all. */
  senders?: number;
  window?: number;
  reconnect_every_ms?: number;
  /** Probes: at most this many (default 50); at least one per room when possible. */
  probes?: number;
  slo: Scenario['slo'];
  /** Smallest client count the scenario makes sense with. */
  min_clients?: number;
}

const MAX_PROBES = 50;

/**
 * The standard scenarios. Senders send at a fixed interval, jittered ±1/3
 * per message (so senders do not fall into lockstep; backpressure's 75 ms
 * gives 50–100 ms), except max-throughput, which keeps `window` unacked
 * messages in flight per sender.
 */
export const BUILTIN_SCENARIOS: Readonly<Record<string, Builtin>> = Object.freeze({
  smoke: {
    summary: '5 clients, 1 room, 5 s, 1 message/s each: is everything wired up',
    clients: 5,
    ramp_per_s: 10,
    duration_ms: 5_000,
    msg_size: 64,
    msg_interval_ms: 1000,
    room_mode: 'single',
    room_name_or_count: 'main',
    slo: { p99_ms: 250, error_rate: 0 },
  },
  'single-room': {
    summary: '30 clients in one room, 60 s, 1 message/s each',
    clients: 30,
    ramp_per_s: 10,
    duration_ms: 60_000,
    msg_size: 64,
    msg_interval_ms: 1000,
    room_mode: 'single',
    room_name_or_count: 'main',
    slo: { p95_ms: 100, p99_ms: 250, error_rate: 0.001 },
  },
  'multi-room': {
    summary: '5 rooms × 10 clients, 120 s, a message every 500 ms each',
    clients: 50,
    ramp_per_s: 25,
    duration_ms: 120_000,
    msg_size: 64,
    msg_interval_ms: 500,
    room_mode: 'multi',
    room_name_or_count: 5,
    slo: { p95_ms: 100, p99_ms: 250, error_rate: 0.001 },
  },
  'large-room': {
    summary: '1 room of 500 clients (at least 50), 10% of them sending every 500 ms, 120 s',
    clients: 500,
    ramp_per_s: 100,
    duration_ms: 120_000,
    msg_size: 64,
    msg_interval_ms: 500,
    room_mode: 'single',
    room_name_or_count: 'large',
    senders: 0.1,
    probes: 20,
    slo: { p95_ms: 250, p99_ms: 500, error_rate: 0.001 },
    min_clients: 50,
  },
  reconnect: {
    summary: '30 clients, 120 s, 1 message/s each; every client drops and resumes with since_seq every 10 s',
    clients: 30,
    ramp_per_s: 10,
    duration_ms: 120_000,
    msg_size: 64,
    msg_interval_ms: 1000,
    room_mode: 'single',
    room_name_or_count: 'reconnect',
    reconnect_every_ms: 10_000,
    slo: { p99_ms: 500, error_rate: 0.001 },
  },
  backpressure: {
    summary: '50 clients in one room sending 4000-byte texts every 50–100 ms, 60 s',
    clients: 50,
    ramp_per_s: 25,
    duration_ms: 60_000,
    msg_size: 4000,
    msg_interval_ms: 75,
    room_mode: 'single',
    room_name_or_count: 'backpressure',
    probes: 10,
    slo: { p99_ms: 1000, error_rate: 0.001 },
  },
  'max-throughput': {
    summary: '1 room, 500 members, 10 senders each keeping 32 unacked messages in flight, 64-byte texts, 60 s (raise the server rate limits)',
    clients: 500,
    ramp_per_s: 100,
    duration_ms: 60_000,
    msg_size: 64,
    msg_interval_ms: 0,
    room_mode: 'single',
    room_name_or_count: 'throughput',
    senders: 10,
    window: 32,
    probes: 10,
    slo: { error_rate: 0.001 },
  },
});

/** Names of the built-in scenarios. */
export const SCENARIO_NAMES = Object.keys(BUILTIN_SCENARIOS);

const COMMON = { protocol: 'tcp' as LoadProtocol, host: '127.0.0.1', port: 4000 };

// ------------------------------------------------------------------ value parsers

/**
 * Parses a duration: `500ms`, `10s`, `2m`, `1h`, or a bare number in `bareUnit`.
 * @returns ms
 * @throws ScenarioError
 */
export function parseDuration(v: number | string, key: string, bareUnit: 'ms' | 's' = 's'): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new ScenarioError(`${key} must be a duration ≥ 0, not ${v}`);
    return Math.round(bareUnit === 'ms' ? v : v * 1000);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) throw new ScenarioError(`${key} must be a duration such as 500ms, 10s, 2m or 1h, not ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  const unit = m[2] ?? bareUnit;
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(n * factor);
}

/**
 * Parses a ramp rate: `10/s`, `600/m`, or a bare number per second.
 * @returns clients per second
 * @throws ScenarioError
 */
export function parseRamp(v: number | string): number {
  let perS: number;
  if (typeof v === 'number') perS = v;
  else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|m))?\s*$/.exec(v);
    if (!m) throw new ScenarioError(`ramp must look like 10/s or 600/m, not ${JSON.stringify(v)}`);
    perS = Number(m[1]) / (m[2] === 'm' ? 60 : 1);
  }
  if (!Number.isFinite(perS) || perS <= 0) throw new ScenarioError(`ramp must be above 0 clients per second, not ${String(v)}`);
  return perS;
}

function intValue(v: number | string, key: string, min: number, max: number): number {
  const n = typeof v === 'number' ? v : /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new ScenarioError(`${key} must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}`);
  return n;
}

function numValue(v: number | string, key: string, min: number): number {
  const n = typeof v === 'number' ? v : v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || n < min) throw new ScenarioError(`${key} must be a number ≥ ${min}, not ${JSON.stringify(v)}`);
  return n;
}

const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

// ------------------------------------------------------------------ files

const FILE_KEYS = new Set([
  'scenario', 'protocol', 'host', 'port', 'clients', 'ramp', 'duration', 'msg_size', 'msg_interval', 'room_mode',
  'room_name_or_count', 'room', 'rooms', 'senders', 'window', 'reconnect_every', 'probes', 'slo',
]);
/** Scenario field names accepted in files as aliases (already in their unit). */
const FIELD_ALIASES: Record<string, (v: unknown) => [keyof ScenarioInput, number | string]> = {
  ramp_per_s: (v) => ['ramp', v as number],
  duration_ms: (v) => ['duration', `${String(v)}ms`],
  msg_interval_ms: (v) => ['msg_interval', `${String(v)}ms`],
  reconnect_every_ms: (v) => ['reconnect_every', `${String(v)}ms`],
};
const SLO_KEYS = new Set(['p95_ms', 'p99_ms', 'error_rate', 'min_delivered_per_s']);

/** True when `arg` names a scenario file rather than a built-in scenario. */
export function isScenarioFile(arg: string): boolean {
  return /\.(json|ya?ml)$/i.test(arg);
}

/**
 * Reads a scenario file (`.json`, `.yaml`, `.yml`).
 * @throws ScenarioError when it cannot be read or parsed, or has unknown keys
 */
export function loadScenarioFile(path: string): ScenarioInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ScenarioError(`cannot read scenario file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ScenarioError(`scenario file ${path} is not valid ${extname(path).slice(1).toUpperCase()}: ${(err as Error).message}`);
  }
  return scenarioInputFrom(raw, path);
}

/**
 * Checks a parsed scenario object (file contents) and normalises its keys.
 * @throws ScenarioError naming an unknown key or a value of the wrong type
 */
export function scenarioInputFrom(raw: unknown, source = 'scenario'): ScenarioInput {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ScenarioError(`${source}: must be an object of scenario keys`);
  const out: Record<string, unknown> = {};
  for (const [k0, v] of Object.entries(raw as Record<string, unknown>)) {
    const k = k0.replace(/-/g, '_');
    if (v === null || v === undefined) continue;
    if (k in FIELD_ALIASES) {
      const [key, value] = FIELD_ALIASES[k]!(v);
      out[key] = value;
      continue;
    }
    if (!FILE_KEYS.has(k)) throw new ScenarioError(`${source}: unknown key ${JSON.stringify(k0)} (known: ${[...FILE_KEYS].join(', ')})`);
    if (k === 'slo') {
      if (typeof v !== 'object' || Array.isArray(v)) throw new ScenarioError(`${source}: slo must be an object`);
      for (const sk of Object.keys(v)) {
        if (!SLO_KEYS.has(sk)) throw new ScenarioError(`${source}: unknown slo key ${JSON.stringify(sk)} (known: ${[...SLO_KEYS].join(', ')})`);
      }
      out.slo = v;
      continue;
    }
    if (typeof v !== 'string' && typeof v !== 'number') throw new ScenarioError(`${source}: ${k0} must be a string or a number`);
    out[k] = v;
  }
  return out as ScenarioInput;
}

// ------------------------------------------------------------------ merge

/**
 * Merges built-in defaults ← `file` ← `flags` into a validated Scenario.
 * The built-in is the one named by flags.scenario, else file.scenario, else
 * `single-room`; a name that is not built in is kept as a label on
 * single-room's defaults. Senders and probes that are not given follow the
 * client count (built-in share or all senders; up to 50 probes, at least
 * one per room when there are enough clients).
 * @throws ScenarioError naming the offending key
 */
export function resolveScenario(flags: ScenarioInput = {}, file: ScenarioInput = {}): Scenario {
  const label = flags.scenario ?? file.scenario ?? 'single-room';
  const base = BUILTIN_SCENARIOS[label] ?? BUILTIN_SCENARIOS['single-room']!;
  const pick = <K extends keyof ScenarioInput>(k: K): ScenarioInput[K] => (flags[k] !== undefined ? flags[k] : file[k]);

  const protocol = String(pick('protocol') ?? COMMON.protocol);
  if (protocol !== 'tcp' && protocol !== 'lines' && protocol !== 'ws') throw new ScenarioError(`protocol must be tcp, lines or ws, not ${JSON.stringify(protocol)}`);
  const host = String(pick('host') ?? COMMON.host);
  if (host.trim() === '') throw new ScenarioError('host must not be empty');
  const port = intValue(pick('port') ?? COMMON.port, 'port', 1, 65535);
  const clients = intValue(pick('clients') ?? base.clients, 'clients', 1, 1_000_000);
  if (base.min_clients !== undefined && BUILTIN_SCENARIOS[label] && clients < base.min_clients) {
    throw new ScenarioError(`${label} needs at least ${base.min_clients} clients, not ${clients}`);
  }
  const rampIn = pick('ramp');
  const ramp_per_s = rampIn === undefined ? base.ramp_per_s : parseRamp(rampIn);
  const durIn = pick('duration');
  const duration_ms = durIn === undefined ? base.duration_ms : parseDuration(durIn, 'duration', 's');
  if (duration_ms < 100) throw new ScenarioError('duration must be at least 100ms');
  const msg_size = intValue(pick('msg_size') ?? base.msg_size, 'msg_size', 1, 16 * 1024 * 1024);
  const ivIn = pick('msg_interval');
  const msg_interval_ms = ivIn === undefined ? base.msg_interval_ms : parseDuration(ivIn, 'msg_interval', 'ms');
  const window = intValue(pick('window') ?? base.window ?? 0, 'window', 0, 100_000);
  if (msg_interval_ms === 0 && window === 0) throw new ScenarioError('msg_interval 0 needs a window > 0 (max-throughput); give --msg-interval or --window');
  const reIn = pick('reconnect_every');
  const reconnect_every_ms = reIn === undefined ? (base.reconnect_every_ms ?? 0) : parseDuration(reIn, 'reconnect_every', 's');
  if (reconnect_every_ms !== 0 && reconnect_every_ms < 200) throw new ScenarioError('reconnect_every must be 0 (never) or at least 200ms');

  // Rooms: --room NAME means single, --rooms N means multi; room_mode + room_name_or_count as in types.ts.
  let room_mode: 'single' | 'multi' = base.room_mode;
  let room_name_or_count: string | number = base.room_name_or_count;
  const fromLayer = (layer: ScenarioInput): void => {
    if (layer.room_mode !== undefined) {
      if (layer.room_mode !== 'single' && layer.room_mode !== 'multi') throw new ScenarioError(`room_mode must be single or multi, not ${JSON.stringify(layer.room_mode)}`);
      if (layer.room_mode !== room_mode) room_name_or_count = layer.room_mode === 'single' ? 'main' : 5;
      room_mode = layer.room_mode;
    }
    if (layer.room_name_or_count !== undefined) room_name_or_count = layer.room_name_or_count;
    if (layer.rooms !== undefined) {
      room_mode = 'multi';
      room_name_or_count = layer.rooms;
    }
    if (layer.room !== undefined) {
      room_mode = 'single';
      room_name_or_count = layer.room;
    }
  };
  fromLayer(file);
  fromLayer(flags);
  if (room_mode === 'single') {
    room_name_or_count = String(room_name_or_count);
    if (!ROOM_RE.test(room_name_or_count)) throw new ScenarioError(`room name must match ${ROOM_RE.source}, not ${JSON.stringify(room_name_or_count)}`);
  } else {
    room_name_or_count = intValue(room_name_or_count, 'rooms', 1, 100_000);
    if (room_name_or_count > clients) throw new ScenarioError(`rooms (${room_name_or_count}) must not exceed clients (${clients})`);
  }
  const roomCount = room_mode === 'single' ? 1 : (room_name_or_count as number);

  const sendersIn = pick('senders');
  const senders =
    sendersIn !== undefined
      ? intValue(sendersIn, 'senders', 0, clients)
      : base.senders === undefined
        ? clients
        : base.senders < 1
          ? Math.max(1, Math.ceil(clients * base.senders))
          : Math.min(clients, base.senders);
  const probesIn = pick('probes');
  const probes =
    probesIn !== undefined
      ? intValue(probesIn, 'probes', 0, clients)
      : Math.min(clients, Math.max(Math.min(base.probes ?? MAX_PROBES, clients), roomCount));

  const sloIn = { ...(base.slo ?? {}), ...(file.slo ?? {}), ...(flags.slo ?? {}) } as Record<string, number | string | undefined>;
  const slo: Scenario['slo'] = {};
  for (const k of ['p95_ms', 'p99_ms', 'error_rate', 'min_delivered_per_s'] as const) {
    const v = sloIn[k];
    if (v === undefined) continue;
    slo[k] = numValue(v, `slo ${k}`, 0);
  }
  if (slo.error_rate !== undefined && slo.error_rate > 1) throw new ScenarioError('slo error_rate is a fraction from 0 to 1');

  return {
    scenario: label,
    protocol: protocol as LoadProtocol,
    host,
    port,
    clients,
    ramp_per_s,
    duration_ms,
    msg_size,
    msg_interval_ms,
    room_mode,
    room_name_or_count,
    senders,
    window,
    reconnect_every_ms,
    probes,
    slo,
  };
}

/** Room names of a scenario: the one room, or `<prefix>-1` … `<prefix>-N` for multi (prefix `room`). */
export function roomNames(s: Scenario): string[] {
  if (s.room_mode === 'single') return [String(s.room_name_or_count)];
  const n = Number(s.room_name_or_count);
  return Array.from({ length: n }, (_, i) => `room-${i + 1}`);
}

/** One line per built-in scenario, for --help. */
export function describeScenarios(): string {
  const w = Math.max(...SCENARIO_NAMES.map((n) => n.length));
  return SCENARIO_NAMES.map((n) => `  ${n.padEnd(w)}  ${BUILTIN_SCENARIOS[n]!.summary}`).join('\n');
}
