/**
 * What both performance monitors share: the 10-second window of 1-second
 * buckets behind `/stats` (PROTOCOL.md §6), the `/stats` document built from
 * it, and the names and help texts of the `/metrics` series, so the two
 * implementations serve the same figures under the same names.
 */
import hdr, { type Histogram } from 'hdr-histogram-js';
import type { GaugeSource, StatsSnapshot } from './contract.js';

/** Window of the rates and percentiles, in 1-second buckets (PROTOCOL.md §6: last 10 s). */
export const WINDOW_S = 10;
/** Latency histogram range: 1 µs to 1 h, 3 significant digits. */
export const HIST = { lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 } as const;

/** One second of counts. Fields fixed in the constructor (one hidden class). */
export class Bucket {
  /** Whole seconds since the epoch this bucket counts; -1: never used. */
  second = -1;
  inbound = 0;
  messages = 0;
  deliveries = 0;
  errors = 0;
  /** Latencies of the second, µs (hdr-histogram-js). */
  readonly latencyUs = hdr.build(HIST);
  /** Empties the bucket for `second` (whole seconds since the epoch). */
  reset(second: number): void {
    this.second = second;
    this.inbound = 0;
    this.messages = 0;
    this.deliveries = 0;
    this.errors = 0;
    this.latencyUs.reset();
  }
}

/** A ring of WINDOW_S buckets. */
export const newWindow = (): Bucket[] => Array.from({ length: WINDOW_S }, () => new Bucket());

/** The bucket of `second` (whole seconds since the epoch) in `ring`, emptied first if it held an older second. */
export function bucketOf(ring: Bucket[], second: number): Bucket {
  const b = ring[((second % WINDOW_S) + WINDOW_S) % WINDOW_S]!;
  if (b.second !== second) b.reset(second);
  return b;
}

/** Counts since start that `/stats` reports as they are. */
export interface Totals {
  messages: number;
  deliveries: number;
  errors: number;
  pluginErrors: number;
  dropped: number;
  slowConsumers: number;
}

/** All-zero totals. */
export const newTotals = (): Totals => ({ messages: 0, deliveries: 0, errors: 0, pluginErrors: 0, dropped: 0, slowConsumers: 0 });

/**
 * The `/stats` document at `nowMs`: sums of the buckets whose second is one
 * of the last WINDOW_S (so stale buckets never count), rates over the
 * window (or the uptime while it is shorter), p50 / p99 of the merged
 * latency histograms in ms.
 * @param merged scratch histogram (HIST range), reset here
 * @param startedMs when the monitor started, ms since the epoch
 */
export function windowSnapshot(ring: readonly Bucket[], merged: Histogram, nowMs: number, startedMs: number, totals: Totals, gauges: GaugeSource): StatsSnapshot {
  const second = Math.floor(nowMs / 1000);
  merged.reset();
  let inbound = 0, messages = 0, deliveries = 0, errors = 0;
  for (const b of ring) {
    if (b.second > second - WINDOW_S && b.second <= second) {
      inbound += b.inbound;
      messages += b.messages;
      deliveries += b.deliveries;
      errors += b.errors;
      if (b.latencyUs.totalCount > 0) merged.add(b.latencyUs);
    }
  }
  const windowS = Math.min(WINDOW_S, Math.max(1, (nowMs - startedMs) / 1000));
  const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
  const pctMs = (p: number) => (merged.totalCount ? merged.getValueAtPercentile(p) / 1000 : 0);
  return {
    msg_per_sec: round(messages / windowS, 2),
    deliveries_per_sec: round(deliveries / windowS, 2),
    latency_p99_ms: round(pctMs(99)),
    memory_mb: round(process.memoryUsage.rss() / (1024 * 1024), 1),
    connections: gauges.connections(),
    error_rate: round(inbound ? errors / inbound : 0, 4),
    uptime_s: Math.floor((nowMs - startedMs) / 1000),
    rooms: gauges.rooms(),
    messages_total: totals.messages,
    latency_p50_ms: round(pctMs(50)),
    inbound_per_sec: round(inbound / windowS, 2),
    deliveries_total: totals.deliveries,
    errors_total: totals.errors,
    plugin_errors_total: totals.pluginErrors,
    dropped_total: totals.dropped,
    slow_consumer_disconnects_total: totals.slowConsumers,
  };
}

/** Names and help texts of the `/metrics` series (Prometheus), one place for both monitors. */
export const SERIES = {
  messages: { name: 'tcpserver_messages_total', help: 'Accepted chat messages (duplicates excluded)' },
  deliveries: { name: 'tcpserver_deliveries_total', help: 'Chat frames written to recipients' },
  inbound: { name: 'tcpserver_inbound_envelopes_total', help: 'Envelopes decoded from clients' },
  errors: { name: 'tcpserver_errors_total', help: 'Error envelopes sent, by wire code' },
  pluginErrors: { name: 'tcpserver_plugin_errors_total', help: 'Exceptions thrown by plugins' },
  dropped: { name: 'tcpserver_dropped_frames_total', help: 'Chat frames dropped for slow consumers (policy drop)' },
  slowConsumers: { name: 'tcpserver_slow_consumer_disconnects_total', help: 'Connections closed as slow consumers' },
  latency: { name: 'tcpserver_handle_latency_seconds', help: 'Frame received to last write issued' },
  connections: { name: 'tcpserver_connections', help: 'Open connections, all modes' },
  rooms: { name: 'tcpserver_rooms', help: 'Rooms that exist now' },
} as const;

/** Upper bounds of `tcpserver_handle_latency_seconds`, seconds. */
export const LATENCY_BUCKETS_S: readonly number[] = Object.freeze([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1]);
