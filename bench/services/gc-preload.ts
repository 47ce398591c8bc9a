/**
 * Preload for the server process of bench/services/memory-pool.bench.ts:
 * `node --import <this file> dist/src/main.js` (the benchmark passes it in
 * NODE_OPTIONS), so the server's own code is not touched.
 *
 * With `GC_REPORT_FILE` set it measures one window marked by signals: the
 * first SIGUSR2 starts it, the second ends it and writes the report (JSON) to
 * that file; an exit before the second signal writes what it has, marked
 * incomplete. Measured in the window:
 *
 * - GC pauses from a PerformanceObserver on `gc` entries: count, total,
 *   max and p99 duration, per kind (minor = scavenge, major = mark-compact,
 *   incremental = incremental marking steps, weakcb = weak callbacks);
 * - JS-heap bytes allocated, from v8.GCProfiler: the growth of the used heap
 *   between one GC's end and the next GC's start, summed (plus the growth
 *   after the last GC up to the window's end);
 * - the same for V8's external memory (ArrayBuffer backing stores, i.e.
 *   Buffer memory): a lower bound, since backing stores freed between GCs
 *   hide allocations made in the same interval;
 * - process.memoryUsage() at both ends, and peaks of rss and arrayBuffers
 *   sampled every 250 ms.
 *
 * Without GC_REPORT_FILE it does nothing.
 */
import { writeFileSync } from 'node:fs';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';

/** Sums of one GC kind. */
interface KindStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

/** What the report file holds. */
export interface GcReport {
  complete: boolean;
  windowMs: number;
  gc: {
    count: number;
    totalMs: number;
    maxMs: number;
    p99Ms: number;
    byKind: Record<string, KindStats>;
  };
  heapAllocatedBytes: number;
  externalAllocatedBytesLowerBound: number;
  profiledGcs: number;
  memoryStart: NodeJS.MemoryUsage;
  memoryEnd: NodeJS.MemoryUsage;
  peakRss: number;
  peakArrayBuffers: number;
}

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

interface HeapPoint {
  usedHeapSize: number;
  externalMemory: number;
}
interface GcStat {
  beforeGC: { heapStatistics: HeapPoint };
  afterGC: { heapStatistics: HeapPoint };
}

const file = process.env.GC_REPORT_FILE;
if (file) {
  let phase: 'before' | 'running' | 'done' = 'before';
  let durations: number[] = [];
  let byKind: Record<string, KindStats> = {};
  let t0 = 0;
  let heap0: HeapPoint = { usedHeapSize: 0, externalMemory: 0 };
  let mem0: NodeJS.MemoryUsage = process.memoryUsage();
  let peakRss = 0;
  let peakArrayBuffers = 0;
  let profiler: v8.GCProfiler | null = null;
  let sampler: NodeJS.Timeout | null = null;

  const onEntries = (entries: PerformanceEntry[]) => {
    if (phase !== 'running') return;
    for (const e of entries) {
      const kind = KINDS[((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind) ?? -1] ?? 'other';
      const k = (byKind[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      k.count++;
      k.totalMs += e.duration;
      if (e.duration > k.maxMs) k.maxMs = e.duration;
      durations.push(e.duration);
    }
  };
  const observer = new PerformanceObserver((list) => onEntries(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });

  const heapNow = (): HeapPoint => {
    const h = v8.getHeapStatistics();
    return { usedHeapSize: h.used_heap_size, externalMemory: h.external_memory };
  };
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > peakRss) peakRss = m.rss;
    if (m.arrayBuffers > peakArrayBuffers) peakArrayBuffers = m.arrayBuffers;
  };

  const start = () => {
    durations = [];
    byKind = {};
    peakRss = 0;
    peakArrayBuffers = 0;
    observer.takeRecords(); // GCs before the window are not counted
    phase = 'running';
    mem0 = process.memoryUsage();
    heap0 = heapNow();
    profiler = new v8.GCProfiler();
    profiler.start();
    sampler = setInterval(sample, 250);
    sampler.unref();
    t0 = performance.now();
  };

  const finish = (complete: boolean) => {
    if (phase !== 'running') return;
    onEntries(observer.takeRecords());
    const windowMs = performance.now() - t0;
    phase = 'done';
    if (sampler) clearInterval(sampler);
    sample();
    const heap1 = heapNow();
    const stats = ((profiler?.stop() as { statistics?: GcStat[] } | undefined)?.statistics ?? []) as GcStat[];
    let heapAllocated = 0;
    let externalAllocated = 0;
    let prev = heap0;
    for (const s of stats) {
      const before = s.beforeGC.heapStatistics;
      heapAllocated += Math.max(0, before.usedHeapSize - prev.usedHeapSize);
      externalAllocated += Math.max(0, before.externalMemory - prev.externalMemory);
      prev = s.afterGC.heapStatistics;
    }
    heapAllocated += Math.max(0, heap1.usedHeapSize - prev.usedHeapSize);
    externalAllocated += Math.max(0, heap1.externalMemory - prev.externalMemory);
    const sorted = [...durations].sort((a, b) => a - b);
    const report: GcReport = {
      complete,
      windowMs,
      gc: {
        count: durations.length,
        totalMs: durations.reduce((s, d) => s + d, 0),
        maxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : 0,
        p99Ms: sorted.length > 0 ? sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]! : 0,
        byKind,
      },
      heapAllocatedBytes: heapAllocated,
      externalAllocatedBytesLowerBound: externalAllocated,
      profiledGcs: stats.length,
      memoryStart: mem0,
      memoryEnd: process.memoryUsage(),
      peakRss,
      peakArrayBuffers,
    };
    writeFileSync(file, JSON.stringify(report));
  };

  process.on('SIGUSR2', () => {
    if (phase === 'before') start();
    else finish(true);
  });
  process.on('exit', () => finish(false));
}
