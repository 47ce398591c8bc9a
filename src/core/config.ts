/**
 * Configuration: one flat schema of snake_case keys, read from `.env` with the
 * process environment on top, validated once at start-up and frozen.
 *
 * Every key is documented here and in the README's table. A bad value throws
 * ConfigError naming the key; `src/main.ts` turns that into exit code 2.
 */
import { readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { ConfigError } from './errors.js';

// An empty value is an error, not 0 (z.coerce.number('') would be 0).
const blankIsNaN = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? Number.NaN : v);
const int = (min: number, max: number) => z.preprocess(blankIsNaN, z.coerce.number().int().min(min).max(max));
const pct = () => z.preprocess(blankIsNaN, z.coerce.number().min(0).max(100));
const csv = () =>
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));
/** A boolean key: true / false (also 1 / 0, yes / no, on / off, any case, as .env writes them). */
const bool = () =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    const t = v.trim().toLowerCase();
    if (t === 'true' || t === '1' || t === 'yes' || t === 'on') return true;
    if (t === 'false' || t === '0' || t === 'no' || t === 'off') return false;
    return v;
  }, z.boolean());
const impl = <const T extends readonly [string, ...string[]]>(...names: T) => z.enum(names);

/**
 * The schema. Keys are the names used in `.env` and in the process environment
 * (lower case; an upper-case variable of the same name is accepted too).
 */
export const configSchema = z.object({
  /** Interface the TCP server binds. */
  tcp_host: z.string().min(1).default('127.0.0.1'),
  /** TCP port for every mode (PROTOCOL.md §1); 0 picks a free port. */
  tcp_port: int(0, 65535).default(4000),
  /**
   * Listen backlog of `tcp_port`: connections the kernel holds until the
   * server accepts them (Linux caps it at net.core.somaxconn). In a
   * connection storm past it, Linux answers with SYN cookies, and a
   * connection made from a cookie can lose the client's first bytes (found
   * by the server fuzz's storm; docs/performance.md). Node's default is 511.
   */
  tcp_backlog: int(1, 65535).default(4096),
  /** Reserved for cluster mode (a later release): Redis host. Not used yet. */
  redis_host: z.string().default('127.0.0.1'),
  /** Reserved for cluster mode (a later release): Redis port. Not used yet. */
  redis_port: int(0, 65535).default(6379),
  /** Name reported in `welcome.server.name`. */
  server_name: z.string().min(1).default('tcpserver'),
  /** pino level: trace, debug, info, warn, error, fatal or silent. */
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** File that receives a copy of the log (created with its folder); empty: stdout only. */
  log_file: z.string().default('logs/tcpserver.log'),
  /** Largest frame body / line in bytes, both directions (PROTOCOL.md §2, §4). Below 2^24-1 so binary detection holds (§1). */
  max_frame_bytes: int(64, 0xfffffd).default(65536),
  /** Largest `text` of a chat in UTF-8 bytes (PROTOCOL.md §3). */
  max_text_bytes: int(1, 0xfffffd).default(4096),
  /** Most open connections, all modes; one more gets fatal `server_busy`. */
  max_connections: int(1, 1_000_000).default(10_000),
  /** Outbound bytes queued for one connection before it is a slow consumer (fatal `slow_consumer`). */
  max_outbound_bytes: int(1024, 1 << 30).default(4 * 1024 * 1024),
  /** Most open connections from one remote address; one more gets fatal `server_busy`. */
  max_connections_per_ip: int(1, 1_000_000).default(1000),
  /** What happens past `max_outbound_bytes`: `disconnect` (fatal `slow_consumer`) or `drop` (chat frames dropped, then a `gap` envelope). */
  slow_consumer_policy: z.enum(['disconnect', 'drop']).default('disconnect'),
  /** Sustained inbound envelopes per second per connection (token bucket refill); over it: `rate_limited`. */
  rate_msgs_per_sec: z.preprocess(blankIsNaN, z.coerce.number().positive().max(1_000_000)).default(200),
  /** Token bucket size: envelopes a connection may send in a burst. */
  rate_burst: int(1, 1_000_000).default(400),
  /** Non-fatal error replies one connection may earn within 10 s before it is closed (`too_many_errors`); PROTOCOL.md §3 asks for at least 10. */
  error_budget: int(10, 1_000_000).default(20),
  /** A frame or line that has started must complete within this many ms, else fatal `idle_timeout`. */
  frame_deadline_ms: int(100, 3600_000).default(10_000),
  /** Deepest nesting of arrays / objects accepted in an envelope; deeper: `bad_request`. */
  max_json_depth: int(2, 1000).default(16),
  /** Most keys (all objects together) accepted in an envelope; more: `bad_request`. */
  max_json_keys: int(8, 1_000_000).default(1000),
  /** Messages each room retains for `history` and resume (PROTOCOL.md §3). */
  history_per_room: int(1, 100_000).default(1000),
  /** How long an empty room keeps its seq, log and dedup window before eviction, ms. */
  room_idle_ms: int(0, 7 * 24 * 3600_000).default(300_000),
  /** Silence after which the server pings a binary / json-lines client, ms. */
  heartbeat_ms: int(100, 3600_000).default(30_000),
  /** Inbound silence after which a binary / json-lines client is closed with `idle_timeout`, ms; default 2 x heartbeat_ms (PROTOCOL.md §3). */
  heartbeat_timeout_ms: int(200, 7200_000).optional(),
  /** Inbound silence after which a text-mode client is closed, ms (text mode has no pings, PROTOCOL.md §5). */
  text_idle_ms: int(1000, 24 * 3600_000).default(600_000),
  /** Longest a graceful shutdown may take before remaining sockets are destroyed, ms. */
  shutdown_timeout_ms: int(0, 600_000).default(5000),
  /** Window over which `shutdown.reconnect_ms` is spread at random, ms (PROTOCOL.md §3). */
  shutdown_jitter_ms: int(0, 600_000).default(5000),
  /** Host the voice UDP relay binds and advertises in `voice_*.udp_host`. */
  voice_udp_host: z.string().min(1).default('127.0.0.1'),
  /** UDP port of the voice relay (PROTOCOL.md §7); 0 picks a free port. */
  voice_udp_port: int(0, 65535).default(4001),
  /** Serve the WebSocket transport (PROTOCOL.md §7) on its own port, through uWebSockets.js. Off by default. */
  ws_enabled: bool().default(false),
  /** Interface the WebSocket listener binds (when ws_enabled). */
  ws_host: z.string().min(1).default('127.0.0.1'),
  /** TCP port of the WebSocket listener (when ws_enabled); 0 picks a free port. */
  ws_port: int(0, 65535).default(4002),
  /**
   * How room broadcasts reach text-mode WebSocket members: `queue` (each
   * recipient's frames are queued and sent once per event-loop turn, as for
   * TCP) or `publish` (one uWebSockets.js topic publish per room broadcast,
   * delivered in native code; every other frame for such a member goes
   * through a topic of its own, so uWS keeps each member's order and writes
   * once per loop iteration). Binary-mode WebSocket members and TCP members
   * get frames as with `queue`. With `publish`, a slow consumer is found by
   * a check of uWS's buffered amount every `ws_publish_check_ms` rather than
   * on every frame, and uWS drops messages (then the server closes the
   * member) only 1 MiB past `max_outbound_bytes`. `publish` needs
   * `slow_consumer_policy=disconnect` (the `drop` policy's `gap` needs
   * per-recipient frames). Default: `publish`, or `queue` under
   * `slow_consumer_policy=drop`. docs/performance.md has the measurements.
   */
  ws_fanout: z.enum(['queue', 'publish']).optional(),
  /** With `ws_fanout=publish`: how often published-to members' uWS buffers are checked against `max_outbound_bytes`, ms. */
  ws_publish_check_ms: int(10, 60_000).default(100),
  /** Rollout percentage 0-100 of the `chat` feature (rooms and chat). */
  feature_chat_pct: pct().default(100),
  /** Rollout percentage 0-100 of the `voice` feature. */
  feature_voice_pct: pct().default(100),
  /** Comma-separated nicks always inside the `chat` feature. */
  feature_chat_beta: csv().default([]),
  /** Comma-separated nicks always inside the `voice` feature. */
  feature_voice_beta: csv().default([]),
  /** Overload threshold: /stats latency_p99_ms above this sheds non-critical features, ms; 0 turns the check off. */
  max_latency_ms: z.preprocess(blankIsNaN, z.coerce.number().min(0)).default(1),
  /** Overload threshold: RSS above this, MiB; 0 turns the check off. */
  max_memory_mb: int(0, 1 << 20).default(2048),
  /** Overload threshold: accepted messages/s below this while clients are connected; 0 (default) turns the check off. */
  min_throughput: z.preprocess(blankIsNaN, z.coerce.number().min(0)).default(0),
  /** Overload threshold: error_rate above this (0..1); 0 turns the check off. */
  max_error_rate: z.preprocess(blankIsNaN, z.coerce.number().min(0).max(1)).default(0.01),
  /** How often the thresholds are checked, ms. */
  overload_check_ms: int(100, 600_000).default(1000),
  /** Healthy checks in a row before shedding ends (hysteresis). */
  overload_recover_checks: int(1, 10_000).default(5),
  /** Features closed while overloaded (comma-separated). `presence` is member_joined / member_left. */
  noncritical_features: csv().default(['voice', 'presence']),
  /** URL that receives each overload / recovery alert as a JSON POST; empty: log only. */
  alert_webhook_url: z.string().default(''),
  /** Comma-separated module paths of third-party plugins, loaded after the built-in ones. */
  plugins: csv().default([]),
  /** Implementation of the sharded-map service. */
  service_maps: impl('baseline', 'sharded').default('baseline'),
  /** Implementation of the async-I/O (outbound write) service. */
  service_io: impl('baseline', 'coalescing').default('coalescing'),
  /** Implementation of the frame-scanning service. */
  service_scan: impl('baseline', 'simd').default('baseline'),
  /** Implementation of the compression service (baseline: no codecs). */
  service_compression: impl('baseline', 'native').default('baseline'),
  /** Outbound binary bodies of at least this many bytes are compressed with the client's first agreed codec (PROTOCOL.md §2). */
  compression_threshold: int(0, 0xfffffd).default(512),
  /** Implementation of the connection-pool service. */
  service_pool: impl('baseline', 'wheel').default('baseline'),
  /** Implementation of the performance-monitor service. */
  service_monitor: impl('baseline', 'batched').default('batched'),
  /** Implementation of the memory-pool service. */
  service_memory: impl('baseline', 'slab').default('baseline'),
  /** Implementation of the broadcast (fan-out) service. */
  service_broadcast: impl('baseline', 'piscina').default('baseline'),
  /** Worker threads of `service_broadcast=piscina`; 0: os.availableParallelism() - 1, at least 1. */
  parallel_workers: int(0, 256).default(0),
  /** `service_broadcast=piscina` compresses on a worker when body bytes × recipients reach this; below it, inline. */
  parallel_threshold: int(0, 2 ** 31 - 1).default(1 << 20),
});

/** Validated, frozen configuration (defaults filled in, derived defaults resolved). */
export type Config = Readonly<
  Omit<z.output<typeof configSchema>, 'heartbeat_timeout_ms' | 'ws_fanout'> & { heartbeat_timeout_ms: number; ws_fanout: 'queue' | 'publish' }
>;
/** Input accepted by `configFrom`: any subset of keys, as strings or typed values. */
export type ConfigInput = Partial<Record<keyof z.input<typeof configSchema>, unknown>>;

/** Every key of the schema. */
export const CONFIG_KEYS = Object.keys(configSchema.shape) as (keyof Config)[];

/**
 * Validates a set of raw values and returns a frozen Config.
 * @param raw key → value (strings as from an env file, or typed values)
 * @throws ConfigError naming the first offending key
 */
export function configFrom(raw: ConfigInput): Config {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? '?'), issue.message);
  }
  const cfg = {
    ...parsed.data,
    heartbeat_timeout_ms: parsed.data.heartbeat_timeout_ms ?? 2 * parsed.data.heartbeat_ms,
    ws_fanout: parsed.data.ws_fanout ?? (parsed.data.slow_consumer_policy === 'drop' ? 'queue' : 'publish'),
  };
  if (cfg.heartbeat_timeout_ms <= cfg.heartbeat_ms) {
    throw new ConfigError('heartbeat_timeout_ms', `must exceed heartbeat_ms (${cfg.heartbeat_ms})`);
  }
  // A chat frame must fit max_frame_bytes in every mode (PROTOCOL.md §2): JSON
  // may escape a control byte as 6 bytes, plus the envelope's other fields.
  if (cfg.max_text_bytes * 6 + 1024 > cfg.max_frame_bytes) {
    throw new ConfigError('max_text_bytes', `must be at most (max_frame_bytes - 1024) / 6 = ${Math.floor((cfg.max_frame_bytes - 1024) / 6)}, so every chat frame fits max_frame_bytes`);
  }
  if (cfg.ws_fanout === 'publish' && cfg.slow_consumer_policy !== 'disconnect') {
    throw new ConfigError('ws_fanout', 'publish needs slow_consumer_policy=disconnect: the drop policy\'s gap envelopes need per-recipient frames');
  }
  return Object.freeze(cfg);
}

/**
 * Loads the configuration the way `npm run tcpserver` does: `.env` (if it
 * exists), then the process environment on top. In both, a key may be
 * written in lower case or upper case (lower case wins). An empty value for a
 * numeric key is an error, not zero.
 * @param envFile path of the dotenv file; a missing file is not an error
 * @param env the process environment
 * @throws ConfigError naming the offending key
 */
export function loadConfig(envFile = '.env', env: NodeJS.ProcessEnv = process.env): Config {
  let fileValues: Record<string, string> = {};
  try {
    fileValues = parseDotenv(readFileSync(envFile));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const v = env[key] ?? env[key.toUpperCase()] ?? fileValues[key] ?? fileValues[key.toUpperCase()];
    if (v !== undefined) raw[key] = v;
  }
  return configFrom(raw);
}
