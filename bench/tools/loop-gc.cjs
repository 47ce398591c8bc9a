/**
 * Event-loop delay and GC pauses of a running server, for
 * docs/performance.md: preload it (`node -r ./bench/tools/loop-gc.cjs
 * dist/src/main.js`, or in front of any Node server) and, over one window,
 * it records the event loop's delay (perf_hooks monitorEventLoopDelay, 1 ms
 * resolution) and every GC pause (a PerformanceObserver on `gc` entries),
 * then prints one JSON line to stderr:
 *
 *   {"loop_gc": {"window_ms", "loop_delay_ms": {p50, p90, p99, p999, max},
 *    "gc": {"<kind>": {count, total_ms, max_ms, over_2ms}}}}
 *
 * where kind is minor (scavenge), major (mark-compact), incremental
 * (incremental marking) or weakcb (weak callbacks), from
 * perf_hooks.constants.NODE_PERFORMANCE_GC_*. Only pauses that start inside
 * the window count. It installs no signal handler, so the server's own
 * shutdown is unchanged.
 *
 * Environment (all optional):
 * - LOOP_GC_DELAY_MS: wait before the window, ms (default 9000: past the
 *   load generator's ramp);
 * - LOOP_GC_MS: the window, ms (default 8000).
 */
'use strict';
const { monitorEventLoopDelay, PerformanceObserver, constants } = require('node:perf_hooks');

const delayMs = Number(process.env.LOOP_GC_DELAY_MS ?? 9000);
const windowMs = Number(process.env.LOOP_GC_MS ?? 8000);

const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

const delay = monitorEventLoopDelay({ resolution: 1 });
/** kind → pauses in the window */
const gc = {};
let from = Infinity;
let to = Infinity;

const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (e.startTime < from || e.startTime >= to) continue;
    const kind = KINDS[e.detail?.kind] ?? String(e.detail?.kind);
    const k = (gc[kind] ??= { count: 0, total_ms: 0, max_ms: 0, over_2ms: 0 });
    k.count++;
    k.total_ms += e.duration;
    k.max_ms = Math.max(k.max_ms, e.duration);
    if (e.duration > 2) k.over_2ms++;
  }
});
observer.observe({ entryTypes: ['gc'] });

const ms = (ns) => Number((ns / 1e6).toFixed(2));

setTimeout(() => {
  from = performance.now();
  to = from + windowMs;
  delay.enable();
  setTimeout(() => {
    delay.disable();
    // Entries are delivered asynchronously: report on the next turn.
    setImmediate(() => {
      observer.disconnect();
      for (const k of Object.values(gc)) {
        k.total_ms = Number(k.total_ms.toFixed(2));
        k.max_ms = Number(k.max_ms.toFixed(2));
      }
      const loop_delay_ms = { p50: ms(delay.percentile(50)), p90: ms(delay.percentile(90)), p99: ms(delay.percentile(99)), p999: ms(delay.percentile(99.9)), max: ms(delay.max) };
      process.stderr.write(`${JSON.stringify({ loop_gc: { window_ms: windowMs, loop_delay_ms, gc } })}\n`);
    });
  }, windowMs).unref();
}, delayMs).unref();
