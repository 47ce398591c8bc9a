import type { GaugeSource, PerformanceMonitor } from './contract.js';
import { WindowedMonitor } from './baseline.js';
import { BatchedMonitor } from './batched.js';

export type { GaugeSource, PerformanceMonitor, StatsSnapshot } from './contract.js';

/**
 * Picks the performance monitor (config key `service_monitor`). Both serve
 * the same `/stats` (PROTOCOL.md §6) and `/metrics` series.
 * @param impl `baseline` (1-second buckets + HDR histograms + a prom-client
 *   call per record) or `batched` (plain counters on the hot path, a 1-s
 *   timer rotating the buckets, prom-client brought up to date at scrape
 *   time; see batched.ts and docs/performance.md)
 * @param gauges live connection and room counts, read on each snapshot / scrape
 */
export function createPerformanceMonitor(impl: 'baseline' | 'batched', gauges: GaugeSource): PerformanceMonitor {
  switch (impl) {
    case 'baseline':
      return new WindowedMonitor(gauges);
    case 'batched':
      return new BatchedMonitor(gauges);
  }
}
