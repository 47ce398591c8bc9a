import hdr from 'hdr-histogram-js';
import * as prom from 'prom-client';
import type { GaugeSource, PerformanceMonitor, StatsSnapshot } from './contract.js';

/** Window of the rates and percentiles, in 1-second buckets (PROTOCOL.md §6: last 10 s). */
const WINDOW_S = 10;
/** Histogram range: 1 µs to 1 h, 3 significant digits. */
const HIST = { lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 } as const;

/** One second of counts. Fields fixed in the constructor (one hidden class). */
class Bucket {
  second = -1;
  inbound = 0;
  messages = 0;
  deliveries = 0;
  errors = 0;
  readonly latencyUs = hdr.build(HIST);
  reset(second: number): void {
    this.second = second;
    this.inbound = 0;
    this.messages = 0;
    this.deliveries = 0;
    this.errors = 0;
    this.latencyUs.reset();
  }
}

/**
 * Baseline monitor: a ring of ten 1-second buckets, each with an HDR
 * histogram (hdr-histogram-js) of latency in µs, plus prom-client counters.
 */
export class WindowedMonitor implements PerformanceMonitor {
  private readonly buckets = Array.from({ length: WINDOW_S }, () => new Bucket());
  private readonly startedMs = Date.now();
  private messagesTotal = 0;
  private deliveriesTotal = 0;
  private errorsTotal = 0;
  private pluginErrorsTotal = 0;
  private droppedTotal = 0;
  private slowConsumersTotal = 0;
  private readonly registry = new prom.Registry();
  private readonly promMessages: prom.Counter;
  private readonly promDeliveries: prom.Counter;
  private readonly promInbound: prom.Counter;
  private readonly promErrors: prom.Counter<'code'>;
  private readonly promPluginErrors: prom.Counter<'plugin'>;
  private readonly promLatency: prom.Histogram;
  private readonly promDropped: prom.Counter;
  private readonly promSlow: prom.Counter;
  readonly metricsContentType: string;

  /** @param gauges live connection and room counts, read on each snapshot / scrape */
  constructor(private readonly gauges: GaugeSource) {
    const registers = [this.registry];
    prom.collectDefaultMetrics({ register: this.registry, prefix: 'tcpserver_' });
    this.promMessages = new prom.Counter({ name: 'tcpserver_messages_total', help: 'Accepted chat messages (duplicates excluded)', registers });
    this.promDeliveries = new prom.Counter({ name: 'tcpserver_deliveries_total', help: 'Chat frames written to recipients', registers });
    this.promInbound = new prom.Counter({ name: 'tcpserver_inbound_envelopes_total', help: 'Envelopes decoded from clients', registers });
    this.promErrors = new prom.Counter({ name: 'tcpserver_errors_total', help: 'Error envelopes sent, by wire code', labelNames: ['code'], registers });
    this.promPluginErrors = new prom.Counter({ name: 'tcpserver_plugin_errors_total', help: 'Exceptions thrown by plugins', labelNames: ['plugin'], registers });
    this.promDropped = new prom.Counter({ name: 'tcpserver_dropped_frames_total', help: 'Chat frames dropped for slow consumers (policy drop)', registers });
    this.promSlow = new prom.Counter({ name: 'tcpserver_slow_consumer_disconnects_total', help: 'Connections closed as slow consumers', registers });
    this.promLatency = new prom.Histogram({
      name: 'tcpserver_handle_latency_seconds',
      help: 'Frame received to last write issued',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers,
    });
    new prom.Gauge({ name: 'tcpserver_connections', help: 'Open connections, all modes', registers, collect() { this.set(gauges.connections()); } });
    new prom.Gauge({ name: 'tcpserver_rooms', help: 'Rooms that exist now', registers, collect() { this.set(gauges.rooms()); } });
    this.metricsContentType = this.registry.contentType;
  }

  private bucket(): Bucket {
    const second = Math.floor(Date.now() / 1000);
    const b = this.buckets[second % WINDOW_S]!;
    if (b.second !== second) b.reset(second);
    return b;
  }

  recordInbound(): void {
    this.bucket().inbound++;
    this.promInbound.inc();
  }
  recordMessage(): void {
    this.bucket().messages++;
    this.messagesTotal++;
    this.promMessages.inc();
  }
  recordDeliveries(n: number): void {
    if (n <= 0) return;
    this.bucket().deliveries += n;
    this.deliveriesTotal += n;
    this.promDeliveries.inc(n);
  }
  recordError(code: string): void {
    this.bucket().errors++;
    this.errorsTotal++;
    this.promErrors.inc({ code });
  }
  recordLatency(ms: number): void {
    this.bucket().latencyUs.recordValue(Math.max(1, Math.round(ms * 1000)));
    this.promLatency.observe(ms / 1000);
  }
  recordPluginError(plugin: string): void {
    this.pluginErrorsTotal++;
    this.promPluginErrors.inc({ plugin });
  }

  recordDropped(n: number): void {
    this.droppedTotal += n;
    this.promDropped.inc(n);
  }
  recordSlowConsumer(): void {
    this.slowConsumersTotal++;
    this.promSlow.inc();
  }

  snapshot(): StatsSnapshot {
    const nowMs = Date.now();
    const second = Math.floor(nowMs / 1000);
    const merged = hdr.build(HIST);
    let inbound = 0, messages = 0, deliveries = 0, errors = 0;
    for (const b of this.buckets) {
      if (b.second > second - WINDOW_S && b.second <= second) {
        inbound += b.inbound;
        messages += b.messages;
        deliveries += b.deliveries;
        errors += b.errors;
        merged.add(b.latencyUs);
      }
    }
    // The window is the last 10 s, or the whole uptime while it is shorter.
    const windowS = Math.min(WINDOW_S, Math.max(1, (nowMs - this.startedMs) / 1000));
    const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
    return {
      msg_per_sec: round(messages / windowS, 2),
      deliveries_per_sec: round(deliveries / windowS, 2),
      latency_p99_ms: round(merged.totalCount ? merged.getValueAtPercentile(99) / 1000 : 0),
      memory_mb: round(process.memoryUsage.rss() / (1024 * 1024), 1),
      connections: this.gauges.connections(),
      error_rate: round(inbound ? errors / inbound : 0, 4),
      uptime_s: Math.floor((nowMs - this.startedMs) / 1000),
      rooms: this.gauges.rooms(),
      messages_total: this.messagesTotal,
      latency_p50_ms: round(merged.totalCount ? merged.getValueAtPercentile(50) / 1000 : 0),
      inbound_per_sec: round(inbound / windowS, 2),
      deliveries_total: this.deliveriesTotal,
      errors_total: this.errorsTotal,
      plugin_errors_total: this.pluginErrorsTotal,
      dropped_total: this.droppedTotal,
      slow_consumer_disconnects_total: this.slowConsumersTotal,
    };
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
