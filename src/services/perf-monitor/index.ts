import type { GaugeSource, PerformanceMonitor } from './contract.js';
import { WindowedMonitor } from './baseline.js';

export type { GaugeSource, PerformanceMonitor, StatsSnapshot } from './contract.js';

/**
 * Picks the performance monitor (config key `service_monitor`).
 * @param impl `baseline` (1-second buckets + HDR histograms + prom-client)
 */
export function createPerformanceMonitor(impl: 'baseline', gauges: GaugeSource): PerformanceMonitor {
  switch (impl) {
    case 'baseline':
      return new WindowedMonitor(gauges);
  }
}
