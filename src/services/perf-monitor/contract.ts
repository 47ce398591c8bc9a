/**
 * The `/stats` document (PROTOCOL.md §6). The first nine fields are the
 * contract's; the rest are additions.
 */
export interface StatsSnapshot {
  /** Accepted chat messages per second over the last 10 s. */
  msg_per_sec: number;
  /** Delivered chat frames per second over the last 10 s. */
  deliveries_per_sec: number;
  /** 99th percentile of frame received → last delivery write issued, ms, last 10 s. */
  latency_p99_ms: number;
  /** Resident set size, MiB. */
  memory_mb: number;
  /** Connections open now, all modes. */
  connections: number;
  /** Error replies ÷ inbound envelopes, last 10 s (0 when there were none). */
  error_rate: number;
  /** Seconds since the server started. */
  uptime_s: number;
  /** Rooms with at least one member now. */
  rooms: number;
  /** Accepted chat messages since start, duplicates excluded. */
  messages_total: number;
  /** Median of the same latency, ms, last 10 s. Addition. */
  latency_p50_ms: number;
  /** Inbound envelopes per second over the last 10 s. Addition. */
  inbound_per_sec: number;
  /** Delivered chat frames since start. Addition. */
  deliveries_total: number;
  /** Error replies since start. Addition. */
  errors_total: number;
  /** Exceptions thrown by plugins since start. Addition. */
  plugin_errors_total: number;
  /** Chat frames dropped for slow consumers (policy `drop`) since start. Addition. */
  dropped_total: number;
  /** Connections closed as slow consumers since start. Addition. */
  slow_consumer_disconnects_total: number;
}

/** Live figures the core owns; the monitor reads them when asked. */
export interface GaugeSource {
  connections(): number;
  rooms(): number;
}

/**
 * Counts and times the server's work; serves `/stats` and `/metrics`.
 *
 * Guarantees: the record* methods are O(1) and never throw; windowed figures
 * cover the last 10 s (PROTOCOL.md §6).
 */
export interface PerformanceMonitor {
  /** One inbound envelope decoded (denominator of `error_rate`). */
  recordInbound(): void;
  /** One chat message accepted into a room log. */
  recordMessage(): void;
  /** `n` chat frames written to recipients. */
  recordDeliveries(n: number): void;
  /** One `error` envelope sent, with its wire code. */
  recordError(code: string): void;
  /** One envelope handled: ms from its frame's arrival to the last write it issued. */
  recordLatency(ms: number): void;
  /** A plugin threw while handling an envelope. */
  recordPluginError(plugin: string): void;
  /** `n` chat frames dropped for a slow consumer (policy `drop`). */
  recordDropped(n: number): void;
  /** One connection closed as a slow consumer. */
  recordSlowConsumer(): void;
  /** The `/stats` document, built on request. */
  snapshot(): StatsSnapshot;
  /** Prometheus text exposition for `/metrics`. */
  metrics(): Promise<string>;
  /** Content-Type of `metrics()`. */
  readonly metricsContentType: string;
}
