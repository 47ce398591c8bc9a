import hdr from 'hdr-histogram-js';
import * as prom from 'prom-client';
import type { GaugeSource, PerformanceMonitor, StatsSnapshot } from './contract.js';
import { bucketOf, HIST, LATENCY_BUCKETS_S, newTotals, newWindow, SERIES, windowSnapshot, type Bucket, type Totals } from './window.js';

/** A `/metrics` series: name and help text (window.ts SERIES). */
type Series = { readonly name: string; readonly help: string };

/** Bucket width and tick period, ms. */
const TICK_MS = 1000;

/**
 * Latencies buffered before they go into the current second's histogram, in
 * one tight loop (a full buffer, a tick or a snapshot flushes). The HDR
 * `recordValue` call is most of a record's cost when made per envelope from
 * a polymorphic site; batched, the same call runs monomorphic and the
 * envelope's path only stores a number.
 */
const PENDING_MAX = 1024;

/** Count of one label value (error code, plugin name) and how much of it the counter has seen. */
class Tally {
  /** Occurrences since start. */
  n = 1;
  /** `n` at the last scrape that folded it into the prom-client counter. */
  scraped = 0;
}

/** Adds one occurrence of `key` to `counts`: one Map lookup when the key is known. */
function tally(counts: Map<string, Tally>, key: string): void {
  const t = counts.get(key);
  if (t === undefined) counts.set(key, new Tally());
  else t.n++;
}

/**
 * A prom-client counter with no labels that is brought up to date at scrape
 * time: `collect()` (run by the registry before each scrape) adds what
 * `read()` gained since the last scrape. `read()` must not decrease.
 */
function scrapedCounter(registers: prom.Registry[], { name, help }: Series, read: () => number): prom.Counter {
  let scraped = 0;
  return new prom.Counter({
    name,
    help,
    registers,
    collect() {
      const total = read();
      const delta = total - scraped;
      if (delta > 0 && delta < Infinity) {
        this.inc(delta);
        scraped = total;
      }
    },
  });
}

/** Like scrapedCounter, with one label whose values are the keys of `counts` (first-seen order, as prom-client's own). */
function scrapedLabelledCounter<L extends string>(registers: prom.Registry[], { name, help }: Series, label: L, counts: Map<string, Tally>): prom.Counter<L> {
  return new prom.Counter<L>({
    name,
    help,
    labelNames: [label],
    registers,
    collect() {
      for (const [value, t] of counts) {
        const delta = t.n - t.scraped;
        if (delta > 0) {
          this.inc({ [label]: value } as prom.LabelValues<L>, delta);
          t.scraped = t.n;
        }
      }
    },
  });
}

/** One sample of a metric as the prom-client Registry formats it. */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * `tcpserver_handle_latency_seconds` exposed from counts kept by the monitor.
 *
 * prom-client has no public way to load aggregated counts into a Histogram
 * (only `observe()`, one value per call), so this is a collector of its own
 * that the Registry serves like any metric: the Registry reads a metric only
 * through `name`, `help`, `type`, `aggregator` and `get()` (registry.js
 * `getMetricsAsString` falls back to `get()`; `getMetricsAsJSON` and the
 * cluster aggregator call `get()`), and `reset()` on `resetMetrics()`.
 * `get()` returns the samples prom-client's Histogram would for the same
 * observations: cumulative `_bucket{le}` per bound, `_bucket{le="+Inf"}` =
 * `_count`, `_sum`, `_count` (the contract suite compares the two texts).
 */
class LatencyCollector {
  readonly name = SERIES.latency.name;
  readonly help = SERIES.latency.help;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /**
   * @param counts observations per bucket, not cumulative: index i ≤ bound i
   *   and > bound i-1; the last index is above the highest bound
   * @param sum sum and count of the observations, seconds (read at each scrape)
   */
  constructor(
    private readonly counts: Float64Array,
    private readonly sum: () => number,
    private readonly count: () => number,
  ) {}

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const bucket = `${SERIES.latency.name}_bucket`;
    const values: Sample[] = [];
    let acc = 0;
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
      acc += this.counts[i]!;
      values.push({ labels: { le: LATENCY_BUCKETS_S[i]! }, value: acc, metricName: bucket });
    }
    const count = this.count();
    values.push(
      { labels: { le: '+Inf' }, value: count, metricName: bucket },
      { labels: {}, value: this.sum(), metricName: `${SERIES.latency.name}_sum` },
      { labels: {}, value: count, metricName: `${SERIES.latency.name}_count` },
    );
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** Called by `Registry.resetMetrics()`; the counts belong to the monitor, so nothing to do. */
  reset(): void {}
}

/**
 * Performance monitor with a cheap hot path: the same `/stats` figures
 * (PROTOCOL.md §6) and the same `/metrics` series as WindowedMonitor
 * (baseline.ts), but a `record*` call only bumps plain number fields and
 * (for latency) stores the value in a buffer and bumps its Prometheus bucket
 * count: no `Date.now()`, no prom-client call, no histogram call per
 * envelope (bench/services/perf-monitor.bench.ts, docs/performance.md). The
 * buffer goes into the current second's hdr-histogram-js histogram (the
 * baseline's, same layout and range) in one loop when it is full, at each
 * tick and at each snapshot. prom-client sees the totals at scrape
 * time: each counter's `collect()` adds the delta since the last scrape;
 * error codes and plugin names are counted in Maps and folded in the same
 * way; the latency histogram is served from the monitor's own bucket counts.
 *
 * Time: records go to `cur`, the bucket of the current second, which a
 * 1-second timer moves on at each second boundary (a chain of `setTimeout`s
 * aimed at the next whole second, `unref()`ed so the monitor never keeps the
 * process alive, holding the monitor only through a WeakRef so a dropped
 * monitor is collected and its chain ends at the next tick). When the tick
 * is late (a busy event loop; timers run once per loop turn), records made
 * between the second boundary and the tick count in the previous second:
 * the error is at most the event-loop lag, the same order as the error of
 * `recordLatency`'s own figures. `snapshot()` does not rely on the tick: it
 * reads `Date.now()`, moves `cur` on itself, and sums only buckets whose
 * second lies in the last 10, so a late or missing tick (a suspended
 * process, or a clock moved without timers firing) never counts stale
 * buckets: after more than 10 s with no records every rate is 0. One
 * case a late tick gets wrong: after a stall of over 10 s (a suspended
 * process), records made before the first tick or snapshot after it land in
 * the last ticked second, already out of the window; the totals count them,
 * the rates do not.
 *
 * Non-finite latencies and non-positive counts are ignored (the baseline's
 * prom-client calls would throw on them; the contract says record* never
 * throws).
 */
export class BatchedMonitor implements PerformanceMonitor {
  private readonly buckets = newWindow();
  /** Bucket the record* methods write to: the current second's, as of the last tick or snapshot. */
  private cur: Bucket;
  /** Latencies (µs, integers ≥ 1) recorded since the last flush into `cur.latencyUs`. */
  private readonly pendingUs = new Float64Array(PENDING_MAX);
  private pendingN = 0;
  /** Reused by snapshot(): the window's latencies, merged. */
  private readonly merged = hdr.build(HIST);
  /** ms since the epoch. */
  private readonly startedMs = Date.now();
  private inboundTotal = 0;
  /** Counts since start that `/stats` reports as they are. */
  private readonly totals: Totals = newTotals();
  /** `error` envelopes sent since start, by wire code. */
  private readonly errorCounts = new Map<string, Tally>();
  /** Plugin exceptions since start, by plugin name. */
  private readonly pluginErrorCounts = new Map<string, Tally>();
  /** Latency observations per Prometheus bucket (see LatencyCollector), since start. */
  private readonly latencyCounts = new Float64Array(LATENCY_BUCKETS_S.length + 1);
  /** Sum of the observed latencies, seconds (added in record order, as prom-client does). */
  private latencySumS = 0;
  private latencyCount = 0;
  private readonly registry = new prom.Registry();
  /** Content-Type of metrics(): Prometheus text 0.0.4. */
  readonly metricsContentType: string;

  /** @param gauges live connection and room counts, read on each snapshot / scrape */
  constructor(private readonly gauges: GaugeSource) {
    const registers = [this.registry];
    // Same registration order as the baseline, so the exposition lists the metrics in the same order.
    prom.collectDefaultMetrics({ register: this.registry, prefix: 'tcpserver_' });
    scrapedCounter(registers, SERIES.messages, () => this.totals.messages);
    scrapedCounter(registers, SERIES.deliveries, () => this.totals.deliveries);
    scrapedCounter(registers, SERIES.inbound, () => this.inboundTotal);
    scrapedLabelledCounter(registers, SERIES.errors, 'code', this.errorCounts);
    scrapedLabelledCounter(registers, SERIES.pluginErrors, 'plugin', this.pluginErrorCounts);
    scrapedCounter(registers, SERIES.dropped, () => this.totals.dropped);
    scrapedCounter(registers, SERIES.slowConsumers, () => this.totals.slowConsumers);
    const latency = new LatencyCollector(this.latencyCounts, () => this.latencySumS, () => this.latencyCount);
    this.registry.registerMetric(latency as unknown as prom.Metric);
    new prom.Gauge({ ...SERIES.connections, registers, collect() { this.set(gauges.connections()); } });
    new prom.Gauge({ ...SERIES.rooms, registers, collect() { this.set(gauges.rooms()); } });
    this.metricsContentType = this.registry.contentType;

    this.cur = this.buckets[0]!;
    this.rotate(this.startedMs);
    BatchedMonitor.arm(new WeakRef(this), this.startedMs);
  }

  /** Schedules the next tick at the next whole second after `nowMs` (1–1000 ms away). */
  private static arm(ref: WeakRef<BatchedMonitor>, nowMs: number): void {
    const into = ((nowMs % TICK_MS) + TICK_MS) % TICK_MS;
    setTimeout(BatchedMonitor.onTick, TICK_MS - into, ref).unref();
  }

  /** Timer callback: moves `cur` on and re-arms; ends the chain once the monitor is gone. */
  private static onTick(ref: WeakRef<BatchedMonitor>): void {
    const m = ref.deref();
    if (m === undefined) return;
    const now = Date.now();
    m.rotate(now);
    BatchedMonitor.arm(ref, now); // re-aimed from the actual time: a late or early tick does not drift
  }

  /** Points `cur` at the bucket of the second of `nowMs` (ms since the epoch), clearing it if it held an older second. */
  private rotate(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    if (this.cur.second === second) return;
    this.flushLatencies(); // buffered latencies belong to the second they were recorded in

    this.cur = bucketOf(this.buckets, second);
  }

  /** Moves the buffered latencies into the current second's histogram. */
  private flushLatencies(): void {
    const h = this.cur.latencyUs;
    const buf = this.pendingUs;
    for (let i = 0; i < this.pendingN; i++) h.recordValue(buf[i]!);
    this.pendingN = 0;
  }

  recordInbound(): void {
    this.cur.inbound++;
    this.inboundTotal++;
  }
  recordMessage(): void {
    this.cur.messages++;
    this.totals.messages++;
  }
  /** @param n chat frames written; ignored unless > 0 */
  recordDeliveries(n: number): void {
    if (!(n > 0)) return;
    this.cur.deliveries += n;
    this.totals.deliveries += n;
  }
  /** @param code wire code (PROTOCOL.md §3 Errors); one Map lookup */
  recordError(code: string): void {
    this.cur.errors++;
    this.totals.errors++;
    tally(this.errorCounts, code);
  }
  /**
   * @param ms frame received → last write issued, ms; counted as whole µs
   *   (at least 1) in the current second's histogram (after the next
   *   flush), and as seconds in the Prometheus bucket counts. NaN and
   *   ±Infinity are ignored.
   */
  recordLatency(ms: number): void {
    if (!(ms > -Infinity && ms < Infinity)) return;
    const us = Math.round(ms * 1000);
    this.pendingUs[this.pendingN++] = us >= 1 ? us : 1;
    if (this.pendingN === PENDING_MAX) this.flushLatencies();
    const s = ms / 1000;
    // The first bound with s <= bound, as prom-client's findBound; past the last: the overflow slot.
    let i = 0;
    while (i < LATENCY_BUCKETS_S.length && s > LATENCY_BUCKETS_S[i]!) i++;
    this.latencyCounts[i]!++;
    this.latencySumS += s;
    this.latencyCount++;
  }
  /** @param plugin the plugin's registered name */
  recordPluginError(plugin: string): void {
    this.totals.pluginErrors++;
    tally(this.pluginErrorCounts, plugin);
  }
  /** @param n chat frames dropped; ignored unless > 0 */
  recordDropped(n: number): void {
    if (!(n > 0)) return;
    this.totals.dropped += n;
  }
  recordSlowConsumer(): void {
    this.totals.slowConsumers++;
  }

  /**
   * The `/stats` document (PROTOCOL.md §6), built now from the buckets whose
   * second is one of the last 10 (Date.now(), not the tick, decides).
   */
  snapshot(): StatsSnapshot {
    const nowMs = Date.now();
    this.rotate(nowMs);
    this.flushLatencies();
    return windowSnapshot(this.buckets, this.merged, nowMs, this.startedMs, this.totals, this.gauges);
  }

  /** Prometheus text exposition for `/metrics`; the counters are brought up to date first (their `collect()`). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
