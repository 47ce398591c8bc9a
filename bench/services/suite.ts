/**
 * The optimizer services' regression cases: one short pass over each
 * service's benchmark, baseline and optimized side by side, so that
 * `node dist/bench/run.js --only services` (and with it `./test_runner.sh`,
 * src/loadgen/regression-cli.ts) notices when a change makes a service slower.
 *
 * Each case is the same code as the service's full benchmark in this folder
 * with a smaller time budget; the full runs, their figures and their
 * commands are in docs/performance.md. Budgets are chosen for about 60–90 s
 * in all on the 2-core machine; rows in per-second units count as
 * throughput in the regression suite, rows in ns / µs per operation as cost
 * (src/loadgen/regression.ts `measurements`).
 *
 * In this process (pinned by bench/run.ts to the load generator's core):
 * sharded-map lookups, frame-scan, compression codecs, memory-pool alloc
 * and cache, connection-pool sweep, parallel-broadcast crossover (worker
 * threads), perf-monitor recorders. async-io alone starts the real server
 * (core 0) and drives a large-room fan-out from this process.
 */
import type { Row } from '../lib/row.js';
import { runAsyncIoBench } from './async-io.bench.js';
import { runCodecBench } from './compression.bench.js';
import { runSweepBench } from './connection-pool.bench.js';
import { runFrameScanBench } from './frame-scan.bench.js';
import { runAllocBench, runCacheBench } from './memory-pool.bench.js';
import { runCrossover } from './parallel-broadcast.bench.js';
import { runPerfMonitorBench } from './perf-monitor.bench.js';
import { runShardedMapBench } from './sharded-map.bench.js';

/** One service's quick case: its name (as in src/services/) and what it runs. */
interface ServiceCase {
  service: string;
  run: (log: (line: string) => void) => Promise<Row[]>;
}

/** The cases, in the order they run. */
export const SERVICE_CASES: readonly ServiceCase[] = [
  {
    service: 'sharded-map',
    run: () => runShardedMapBench({ only: new Set(['lookup']), n: 100_000, timeMs: 100, rounds: 2 }),
  },
  { service: 'frame-scan', run: async () => (await runFrameScanBench(100, 2)).rows },
  { service: 'compression', run: async () => (await runCodecBench(200, 300)).rows },
  { service: 'memory-pool', run: async () => [...(await runAllocBench(150)), ...(await runCacheBench(150))] },
  { service: 'connection-pool', run: (log) => runSweepBench(['baseline', 'wheel'], [10_000], 150, log) },
  {
    service: 'parallel-broadcast',
    // The pipelined rows only: one broadcast's latency through a worker varies by ±20–30 % between runs.
    run: async () =>
      (await runCrossover({ sizes: [4096, 65536], recipients: [100], codecs: ['lz4'], timeMs: 200 })).rows.filter((r) => r.metric.startsWith('pipelined')),
  },
  { service: 'perf-monitor', run: () => runPerfMonitorBench({ timeMs: 100, rounds: 2 }) },
  {
    service: 'async-io',
    run: async () =>
      (await runAsyncIoBench(1, 3000, 500)).map((r) => ({
        bench: 'async-io',
        case: `${r.writer}, 500-member fan-out`,
        metric: 'deliveries/s',
        value: r.deliveriesPerS[0]!,
        unit: '/s',
        note: `ack p99 ${r.ackP99Ms[0]!.toFixed(1)} ms`,
      })),
  },
];

/**
 * Runs every service case once.
 * @param log progress lines (one per service)
 * @returns the cases' rows, in SERVICE_CASES order
 */
export async function runServicesSuite(log: (line: string) => void = () => {}): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of SERVICE_CASES) {
    const t0 = performance.now();
    const got = await c.run(log);
    log(`${c.service}: ${got.length} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    rows.push(...got);
  }
  return rows;
}
