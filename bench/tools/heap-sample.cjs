/**
 * Allocation profile of a running server, for docs/performance.md: preload
 * it (`node -r ./bench/tools/heap-sample.cjs dist/src/main.js`) and it runs
 * V8's sampling heap profiler over one window, counting objects that were
 * already collected too (so the profile shows what is allocated, not what
 * is retained), then writes the profile and prints the top allocation sites
 * by bytes to stderr.
 *
 * Environment (all optional):
 * - HEAP_SAMPLE_DELAY_MS: wait before sampling, ms (default 9000: past the
 *   load generator's ramp);
 * - HEAP_SAMPLE_MS: how long to sample, ms (default 8000);
 * - HEAP_SAMPLE_INTERVAL: mean bytes between samples (default 4096);
 * - HEAP_SAMPLE_OUT: where the .heapprofile JSON goes (default
 *   heap-<pid>.heapprofile in the working directory; Chrome DevTools opens it).
 */
'use strict';
const inspector = require('node:inspector');
const fs = require('node:fs');

const delayMs = Number(process.env.HEAP_SAMPLE_DELAY_MS ?? 9000);
const windowMs = Number(process.env.HEAP_SAMPLE_MS ?? 8000);
const interval = Number(process.env.HEAP_SAMPLE_INTERVAL ?? 4096);
const out = process.env.HEAP_SAMPLE_OUT ?? `heap-${process.pid}.heapprofile`;

/** Bytes per call site (function, file, line), summed over the profile's tree. */
function bySite(head) {
  const sites = new Map();
  let total = 0;
  const stack = [head];
  while (stack.length > 0) {
    const n = stack.pop();
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    total += n.selfSize;
    if (n.selfSize > 0) sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
    stack.push(...n.children);
  }
  return { total, sites: [...sites].sort((a, b) => b[1] - a[1]) };
}

const session = new inspector.Session();
session.connect();
setTimeout(() => {
  const options = { samplingInterval: interval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
  session.post('HeapProfiler.startSampling', options, (err) => {
    if (err) return console.error(`heap-sample: ${err.message}`);
    setTimeout(() => {
      session.post('HeapProfiler.stopSampling', (stopErr, result) => {
        if (stopErr) return console.error(`heap-sample: ${stopErr.message}`);
        fs.writeFileSync(out, JSON.stringify(result.profile));
        const { total, sites } = bySite(result.profile.head);
        const lines = sites.slice(0, 15).map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
        console.error(`heap-sample: ${(total / 1e6).toFixed(1)} MB sampled in ${windowMs} ms; profile in ${out}\n${lines.join('\n')}`);
      });
    }, windowMs).unref();
  });
}, delayMs).unref();
