/**
 * Micro-benchmark of the frame-scan service (src/services/frame-scan/):
 * the native baseline (`Buffer.indexOf` = memchr, `buffer.isUtf8` = simdutf)
 * against the WASM SIMD scanner (bytes copied into wasm memory, then
 * scan.wat's kernels) and the plain-JS loops it falls back to.
 *
 * Chunks of 64 B, 1 KiB and 64 KiB, two contents:
 * - `ascii`: JSON lines of 50-110 bytes, all ASCII;
 * - `mixed`: the same with Latin, Cyrillic, CJK and emoji text (about half
 *   the bytes non-ASCII), still well-formed UTF-8.
 * Each iteration scans 256 KiB (4096 × 64 B, 256 × 1 KiB, 4 × 64 KiB) of
 * distinct chunks, so per-call cost and throughput both show.
 *
 * Operations:
 * - `newlines`: every `\n` of a chunk, by an `indexOfNewline(chunk, off)`
 *   loop (what LineSplitter does), and for the simd scanner also by one
 *   `newlines(chunk)` call;
 * - `isUtf8`: validate each chunk.
 * Every iteration checks its result (newline count, all valid), so a broken
 * scanner fails instead of looking fast.
 *
 * Rows: calls/s (one call = one chunk) and MB/s (10^6 bytes), and the ratio
 * to the baseline of the same operation, size and content (> 1: faster).
 *
 * Rounds: every case runs `--rounds` times (default 5) for `--time` ms each
 * (default 400); a ratio compares a case with its baseline from the same
 * round and the table shows medians, with the lowest and highest per-round
 * ratio, so load from other processes shows as spread instead of bias.
 *
 * Run: `npm run build && node dist/bench/services/frame-scan.bench.js`
 * (pinned: `taskset -c 1 node dist/bench/services/frame-scan.bench.js`;
 * `--wait-quiet 120` waits up to 120 s for the machine to be under 8% busy).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { machineBusy, waitQuiet } from '../../src/loadgen/pin.js';
import type { Row } from '../lib/row.js';
import { median, rng } from '../lib/stats.js';
import type { FrameScanner } from '../../src/services/frame-scan/contract.js';
import { NativeScanner } from '../../src/services/frame-scan/baseline.js';
import { JsLoopScanner, SimdWasmScanner } from '../../src/services/frame-scan/simd-wasm.js';

/** Bytes scanned per iteration, whatever the chunk size. */
const BYTES_PER_ITERATION = 256 * 1024;
/** Chunk sizes measured. */
export const SIZES = [64, 1024, 64 * 1024] as const;
export const CONTENTS = ['ascii', 'mixed'] as const;

const ASCII_WORDS = ['hello', 'room', 'chat', 'ok', 'the', 'server', 'message', 'seq', 'ack', 'again'];
const MIXED_WORDS = ['héllo', 'ça', 'привет', 'мир', '日本語', 'テキスト', '😀', '🚀', 'ok', 'naïve', 'Grüße', '中文'];

/** One JSON line (with its `\n`). */
function line(r: () => number, mixed: boolean, seq: number): string {
  const words = mixed ? MIXED_WORDS : ASCII_WORDS;
  let text = '';
  const target = 20 + Math.floor(r() * 50);
  while (text.length < target) text += (text ? ' ' : '') + words[Math.floor(r() * words.length)]!;
  return `{"type":"chat","room":"r${seq % 7}","text":"${text}"}\n`;
}

/** `count` distinct chunks of exactly `size` bytes, well-formed UTF-8, cut at character boundaries (padded with `x`). */
function chunks(size: number, content: (typeof CONTENTS)[number], count: number, seed: number): Buffer[] {
  const r = rng(seed);
  const out: Buffer[] = [];
  let seq = 0;
  for (let c = 0; c < count; c++) {
    const parts: Buffer[] = [];
    let n = 0;
    while (n < size) {
      const b = Buffer.from(line(r, content === 'mixed', seq++));
      parts.push(b);
      n += b.length;
    }
    const all = Buffer.concat(parts);
    let cut = size;
    while (cut > 0 && (all[cut]! & 0xc0) === 0x80) cut--; // back to a character start
    const chunk = Buffer.alloc(size, 0x78);
    all.copy(chunk, 0, 0, cut);
    out.push(chunk);
  }
  return out;
}

interface Case {
  op: 'newlines' | 'isUtf8';
  size: number;
  content: string;
  impl: string;
  /** Baseline impl name for the same op (the ratio's denominator). */
  base: string;
  calls: number;
  fn: () => number;
}

function countByIndexOf(sc: FrameScanner, list: Buffer[]): number {
  let n = 0;
  for (let c = 0; c < list.length; c++) {
    const chunk = list[c]!;
    let off = 0;
    for (;;) {
      const nl = sc.indexOfNewline(chunk, off);
      if (nl < 0) break;
      n++;
      off = nl + 1;
    }
  }
  return n;
}

/** The cases for one size and content. */
function casesFor(size: number, content: (typeof CONTENTS)[number], seed: number): Case[] {
  const count = BYTES_PER_ITERATION / size;
  const list = chunks(size, content, count, seed);
  let expectNl = 0;
  for (const b of list) for (let i = 0; i < b.length; i++) if (b[i] === 0x0a) expectNl++;
  const native = new NativeScanner();
  const wasm = new SimdWasmScanner();
  const js = new JsLoopScanner();
  const check = (what: string, got: number, want: number) => {
    if (got !== want) throw new Error(`${what} ${size} ${content}: got ${got}, want ${want}`);
    return got;
  };
  const base = { size, content, calls: count };
  const utf8 = (sc: FrameScanner, name: string) => () => {
    let ok = 0;
    for (let c = 0; c < list.length; c++) if (sc.isUtf8(list[c]!)) ok++;
    return check(`${name} isUtf8`, ok, count);
  };
  return [
    { ...base, op: 'newlines', impl: 'baseline indexOf loop', base: 'baseline indexOf loop', fn: () => check('baseline', countByIndexOf(native, list), expectNl) },
    { ...base, op: 'newlines', impl: 'simd-wasm indexOf loop', base: 'baseline indexOf loop', fn: () => check('wasm', countByIndexOf(wasm, list), expectNl) },
    {
      ...base,
      op: 'newlines',
      impl: 'simd-wasm newlines()',
      base: 'baseline indexOf loop',
      fn: () => {
        let n = 0;
        for (let c = 0; c < list.length; c++) n += wasm.newlines(list[c]!).length;
        return check('wasm newlines()', n, expectNl);
      },
    },
    { ...base, op: 'newlines', impl: 'js indexOf loop', base: 'baseline indexOf loop', fn: () => check('js', countByIndexOf(js, list), expectNl) },
    { ...base, op: 'isUtf8', impl: 'baseline buffer.isUtf8', base: 'baseline buffer.isUtf8', fn: utf8(native, 'baseline') },
    { ...base, op: 'isUtf8', impl: 'simd-wasm isUtf8', base: 'baseline buffer.isUtf8', fn: utf8(wasm, 'wasm') },
    { ...base, op: 'isUtf8', impl: 'js isUtf8', base: 'baseline buffer.isUtf8', fn: utf8(js, 'js') },
  ];
}

/** One measured case: medians over the rounds. */
export interface ScanResult {
  op: string;
  size: number;
  content: string;
  impl: string;
  callsPerS: number;
  mbPerS: number;
  /** calls/s ÷ the baseline's calls/s for the same op, size and content, in the same round (median). */
  ratio: number;
  /** Lowest and highest per-round ratio. */
  ratioMin: number;
  ratioMax: number;
  /** Rounds measured. */
  rounds: number;
}

/**
 * Runs the frame-scan benchmark: `rounds` passes over every case, each case
 * for `timeMs`; a ratio compares a case with its baseline from the same
 * round (they run back to back), and the report keeps the median, so a burst
 * of load from another process skews one round, not the figure.
 * @param timeMs tinybench time budget per case and round, ms
 * @param rounds passes over all cases
 */
export async function runFrameScanBench(timeMs = 400, rounds = 5): Promise<{ results: ScanResult[]; rows: Row[] }> {
  const all: Case[] = [];
  let seed = 1;
  for (const size of SIZES) for (const content of CONTENTS) all.push(...casesFor(size, content, seed++));
  const key = (c: Case) => `${c.op} ${c.size} ${c.content} ${c.impl}`;
  const calls = new Map<string, number[]>();
  const ratios = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ name: 'frame-scan', time: timeMs, warmupTime: Math.min(200, timeMs), throws: true });
    for (const c of all) bench.add(key(c), c.fn);
    await bench.run();
    const perS = new Map<string, number>();
    bench.tasks.forEach((task, i) => {
      const r = task.result;
      if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}${'error' in r ? `: ${r.error.message}` : ''}`);
      perS.set(task.name, (all[i]!.calls * 1000) / r.period);
    });
    for (const c of all) {
      const k = key(c);
      const v = perS.get(k)!;
      (calls.get(k) ?? calls.set(k, []).get(k)!).push(v);
      (ratios.get(k) ?? ratios.set(k, []).get(k)!).push(v / perS.get(key({ ...c, impl: c.base }))!);
    }
  }
  const results = all.map((c): ScanResult => {
    const k = key(c);
    const callsPerS = median(calls.get(k)!);
    const rs = ratios.get(k)!;
    return {
      op: c.op,
      size: c.size,
      content: c.content,
      impl: c.impl,
      callsPerS,
      mbPerS: (callsPerS * c.size) / 1e6,
      ratio: median(rs),
      ratioMin: Math.min(...rs),
      ratioMax: Math.max(...rs),
      rounds,
    };
  });
  const rows = results.map(
    (r): Row => ({
      bench: 'frame-scan',
      case: `${r.op} ${fmtSize(r.size)} ${r.content}: ${r.impl}`,
      metric: 'MB/s',
      value: r.mbPerS,
      unit: 'MB/s',
      note: `${Math.round(r.callsPerS).toLocaleString('en-US')} calls/s; ×${r.ratio.toFixed(2)} vs baseline (rounds ${r.ratioMin.toFixed(2)}-${r.ratioMax.toFixed(2)}), median of ${r.rounds}`,
    }),
  );
  return { results, rows };
}

function fmtSize(n: number): string {
  return n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}

/** The results as a fixed-width table. */
export function formatTable(results: ScanResult[]): string {
  const lines = [
    `${'op'.padEnd(9)} ${'chunk'.padStart(6)} ${'content'.padEnd(7)} ${'implementation'.padEnd(24)} ${'calls/s'.padStart(14)} ${'MB/s'.padStart(9)} ${'vs base'.padStart(8)}  rounds`,
  ];
  let last = '';
  for (const r of results) {
    const group = `${r.op} ${r.size} ${r.content}`;
    if (last && group !== last) lines.push('');
    last = group;
    lines.push(
      `${r.op.padEnd(9)} ${fmtSize(r.size).padStart(6)} ${r.content.padEnd(7)} ${r.impl.padEnd(24)} ${Math.round(r.callsPerS).toLocaleString('en-US').padStart(14)} ${r.mbPerS.toFixed(0).padStart(9)} ${`×${r.ratio.toFixed(2)}`.padStart(8)}  ${r.ratioMin.toFixed(2)}-${r.ratioMax.toFixed(2)}`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      time: { type: 'string', default: '400' },
      rounds: { type: 'string', default: '5' },
      'wait-quiet': { type: 'string', default: '0' },
    },
  });
  const waitS = Number(values['wait-quiet']);
  const busy = waitS > 0 ? await waitQuiet(waitS * 1000, 0.08, (l) => console.error(l)) : await machineBusy(1000);
  const { results } = await runFrameScanBench(Number(values.time), Number(values.rounds));
  console.log(
    `node ${process.version}, ${process.arch}; ${BYTES_PER_ITERATION / 1024} KiB scanned per iteration; ` +
      `median of ${values.rounds} rounds × ${values.time} ms per case; machine ${busy === null ? '?' : `${(busy * 100).toFixed(0)}%`} busy at start\n`,
  );
  console.log(formatTable(results));
}
