/**
 * Overload detection (issue #5, performance monitor): compares the monitor's
 * figures with thresholds once per check, raises an alert on a breach (log,
 * and a POST to `alert_webhook_url` when set), and sheds load — the feature
 * gate closes non-critical features — until the figures have been healthy
 * for `recoverChecks` checks in a row (hysteresis, so the gate does not flap).
 */
import type { Logger } from 'pino';
import type { StatsSnapshot } from './contract.js';

/**
 * Rate-based checks (latency, error rate) need at least this many inbound
 * envelopes in the 10-s window: one bad command from one `nc` user, or the
 * first message after start-up, is not an overload.
 */
export const MIN_WINDOW_ENVELOPES = 100;

/** Thresholds; a value of 0 turns that check off. */
export interface OverloadThresholds {
  /** `/stats` latency_p99_ms above this is a breach, ms (config max_latency_ms). */
  maxLatencyMs: number;
  /** RSS above this is a breach, MiB (config max_memory_mb). */
  maxMemoryMb: number;
  /** Accepted messages/s below this while clients are connected is a breach (config min_throughput). */
  minThroughput: number;
  /** error_rate above this is a breach, 0..1 (config max_error_rate). */
  maxErrorRate: number;
  /** Healthy checks in a row before shedding ends (config overload_recover_checks). */
  recoverChecks: number;
}

/** What the detector acts on. */
export interface OverloadSink {
  /** Starts (true) or ends (false) load shedding. */
  setShedding(on: boolean): void;
  logger: Logger;
  /** URL that receives each alert as a JSON POST; empty: none (config alert_webhook_url). */
  webhookUrl: string;
}

/** One alert, as logged and posted. */
export interface OverloadAlert {
  event: 'overloaded' | 'recovered';
  /** Human-readable breaches, e.g. `latency_p99_ms 3.2 > 1`. */
  breaches: string[];
  stats: StatsSnapshot;
  /** ISO time. */
  at: string;
}

/** Threshold check with hysteresis. */
export class OverloadDetector {
  private overloaded = false;
  private healthyRun = 0;
  /** Alerts raised since start. */
  alerts = 0;

  constructor(
    private readonly t: OverloadThresholds,
    private readonly sink: OverloadSink,
  ) {}

  /** True while shedding. */
  get isOverloaded(): boolean {
    return this.overloaded;
  }

  /** Breaches of one snapshot, as sentences; empty when healthy. */
  breaches(s: StatsSnapshot): string[] {
    const out: string[] = [];
    const { t } = this;
    const busy = s.inbound_per_sec * 10 >= MIN_WINDOW_ENVELOPES;
    if (busy && t.maxLatencyMs > 0 && s.latency_p99_ms > t.maxLatencyMs) out.push(`latency_p99_ms ${s.latency_p99_ms} > max_latency_ms ${t.maxLatencyMs}`);
    if (t.maxMemoryMb > 0 && s.memory_mb > t.maxMemoryMb) out.push(`memory_mb ${s.memory_mb} > max_memory_mb ${t.maxMemoryMb}`);
    if (t.minThroughput > 0 && s.connections > 0 && s.msg_per_sec < t.minThroughput) {
      out.push(`msg_per_sec ${s.msg_per_sec} < min_throughput ${t.minThroughput}`);
    }
    if (busy && t.maxErrorRate > 0 && s.error_rate > t.maxErrorRate) out.push(`error_rate ${s.error_rate} > max_error_rate ${t.maxErrorRate}`);
    return out;
  }

  /**
   * One check. A breach starts shedding at once; shedding ends after
   * `recoverChecks` healthy checks in a row.
   * @returns the alert raised by this check, if any
   */
  check(s: StatsSnapshot): OverloadAlert | null {
    const breaches = this.breaches(s);
    if (breaches.length > 0) {
      this.healthyRun = 0;
      if (this.overloaded) return null;
      this.overloaded = true;
      return this.raise({ event: 'overloaded', breaches, stats: s, at: new Date().toISOString() });
    }
    if (!this.overloaded || ++this.healthyRun < this.t.recoverChecks) return null;
    this.overloaded = false;
    this.healthyRun = 0;
    return this.raise({ event: 'recovered', breaches: [], stats: s, at: new Date().toISOString() });
  }

  private raise(alert: OverloadAlert): OverloadAlert {
    this.alerts++;
    this.sink.setShedding(alert.event === 'overloaded');
    const log = alert.event === 'overloaded' ? this.sink.logger.warn.bind(this.sink.logger) : this.sink.logger.info.bind(this.sink.logger);
    log({ alert: alert.event, breaches: alert.breaches }, alert.event === 'overloaded' ? 'overloaded: shedding non-critical features' : 'recovered: non-critical features reopened');
    if (this.sink.webhookUrl) {
      fetch(this.sink.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alert),
        signal: AbortSignal.timeout(5000),
      }).then(
        (res) => {
          if (!res.ok) this.sink.logger.warn({ status: res.status }, 'alert webhook answered an error');
        },
        (err: unknown) => this.sink.logger.warn({ err }, 'alert webhook failed'),
      );
    }
    return alert;
  }
}
