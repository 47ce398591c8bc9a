/**
 * ServiceRegistry: builds the eight optimizer services from config, so an
 * optimized implementation drops in by changing a `service_*` key and the
 * core never names an implementation.
 */
import type { Config } from './config.js';
import { createKeyedStoreFactory, type KeyedStoreFactory } from '../services/sharded-map/index.js';
import { createOutboundWriter, type OutboundWriter } from '../services/async-io/index.js';
import { createFrameScanner, type FrameScanner } from '../services/frame-scan/index.js';
import { createCompression, type CompressionService } from '../services/compression/index.js';
import { createConnectionPool, type ConnectionPool, type Pooled } from '../services/connection-pool/index.js';
import { createPerformanceMonitor, type GaugeSource, type PerformanceMonitor } from '../services/perf-monitor/index.js';
import { createBufferPool, type BufferPool } from '../services/memory-pool/index.js';
import { createBroadcaster, type Broadcaster } from '../services/parallel-broadcast/index.js';

/** The services one server runs on. */
export interface Services<C extends Pooled> {
  /** Factory of keyed stores (sharded-map service). */
  readonly stores: KeyedStoreFactory;
  /** Outbound write path (async-I/O service). */
  readonly writer: OutboundWriter;
  /** Line-end and UTF-8 scanning (frame-scan service). */
  readonly scanner: FrameScanner;
  /** Body codecs (compression service). */
  readonly compression: CompressionService;
  /** Live connections (connection-pool service). */
  readonly pool: ConnectionPool<C>;
  /** /stats and /metrics (perf-monitor service). */
  readonly monitor: PerformanceMonitor;
  /** Outbound frame buffers (memory-pool service). */
  readonly buffers: BufferPool;
  /** Fan-out (parallel-broadcast service). */
  readonly broadcaster: Broadcaster;
}

/**
 * Builds every service chosen by the `service_*` config keys.
 * @param gauges live counts the monitor reads
 */
export function createServices<C extends Pooled>(config: Config, gauges: GaugeSource): Services<C> {
  const stores = createKeyedStoreFactory(config.service_maps);
  return {
    stores,
    writer: createOutboundWriter(config.service_io),
    scanner: createFrameScanner(config.service_scan),
    compression: createCompression(config.service_compression),
    pool: createConnectionPool<C>(config.service_pool, config.max_connections, config.max_connections_per_ip, stores<number, C>()),
    monitor: createPerformanceMonitor(config.service_monitor, gauges),
    buffers: createBufferPool(config.service_memory),
    broadcaster: createBroadcaster(config.service_broadcast, config),
  };
}
