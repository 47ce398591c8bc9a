import hdr from 'hdr-histogram-js';
import * as prom from 'prom-client';
import type { GaugeSource, PerformanceMonitor, StatsSnapshot } from './contract.js';
import { bucketOf, HIST, LATENCY_BUCKETS_S, newTotals, newWindow, SERIES, windowSnapshot, type Bucket, type Totals } from './window.js';

/**
 * Baseline monitor: a ring of ten 1-second buckets, each with an HDR
 * histogram (hdr-histogram-js) of latency in µs, plus prom-client counters.
 */
export class WindowedMonitor implements PerformanceMonitor {
  private readonly buckets = newWindow();
  /** Scratch for snapshot(): the window's latencies, merged. */
  private readonly merged = hdr.build(HIST);
  private readonly startedMs = Date.now();
  /** Counts since start that `/stats` reports as they are. */
  private readonly totals: Totals = newTotals();
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
    this.promMessages = new prom.Counter({ ...SERIES.messages, registers });
    this.promDeliveries = new prom.Counter({ ...SERIES.deliveries, registers });
    this.promInbound = new prom.Counter({ ...SERIES.inbound, registers });
    this.promErrors = new prom.Counter({ ...SERIES.errors, labelNames: ['code'], registers });
    this.promPluginErrors = new prom.Counter({ ...SERIES.pluginErrors, labelNames: ['plugin'], registers });
    this.promDropped = new prom.Counter({ ...SERIES.dropped, registers });
    this.promSlow = new prom.Counter({ ...SERIES.slowConsumers, registers });
    this.promLatency = new prom.Histogram({ ...SERIES.latency, buckets: [...LATENCY_BUCKETS_S], registers });
    new prom.Gauge({ ...SERIES.connections, registers, collect() { this.set(gauges.connections()); } });
    new prom.Gauge({ ...SERIES.rooms, registers, collect() { this.set(gauges.rooms()); } });
    this.metricsContentType = this.registry.contentType;
  }

  private bucket(): Bucket {
    return bucketOf(this.buckets, Math.floor(Date.now() / 1000));
  }

  recordInbound(): void {
    this.bucket().inbound++;
    this.promInbound.inc();
  }
  recordMessage(): void {
    this.bucket().messages++;
    this.totals.messages++;
    this.promMessages.inc();
  }
  recordDeliveries(n: number): void {
    if (n <= 0) return;
    this.bucket().deliveries += n;
    this.totals.deliveries += n;
    this.promDeliveries.inc(n);
  }
  recordError(code: string): void {
    this.bucket().errors++;
    this.totals.errors++;
    this.promErrors.inc({ code });
  }
  recordLatency(ms: number): void {
    this.bucket().latencyUs.recordValue(Math.max(1, Math.round(ms * 1000)));
    this.promLatency.observe(ms / 1000);
  }
  recordPluginError(plugin: string): void {
    this.totals.pluginErrors++;
    this.promPluginErrors.inc({ plugin });
  }

  recordDropped(n: number): void {
    this.totals.dropped += n;
    this.promDropped.inc(n);
  }
  recordSlowConsumer(): void {
    this.totals.slowConsumers++;
    this.promSlow.inc();
  }

  snapshot(): StatsSnapshot {
    return windowSnapshot(this.buckets, this.merged, Date.now(), this.startedMs, this.totals, this.gauges);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
