/**
 * Frame scanning with 128-bit WebAssembly SIMD (config `service_scan=simd`),
 * and the plain-JS scanner it falls back to.
 *
 * The kernels are in `scan.wat` beside this file; `npm run build` compiles
 * them (scripts/build-wasm.mjs, wabt) to `scan.wasm` beside the compiled JS.
 * Wasm cannot read a Node Buffer in place, so every call first copies the
 * bytes into the module's memory: that copy is part of the cost, and it is
 * why this scanner does not beat the native baseline (memchr, simdutf) on
 * large inputs — see bench/services/frame-scan.bench.ts and
 * docs/performance.md.
 *
 * Accelerator rules (STYLE.md): loaded lazily (only when a scanner is
 * built), turned off by `TCPSERVER_NO_WASM=1`, and replaced by
 * `JsLoopScanner` when the binary is missing or the runtime lacks SIMD.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FrameScanner } from './contract.js';

/** Which implementation a scanner from `createSimdScanner` runs. */
export type SimdScanKind = 'wasm-simd' | 'js';

/** Input bytes copied to wasm memory per kernel call (the module's input area). */
export const SEGMENT_BYTES = 64 * 1024;
const IN_PTR = 0;
/** The i32 newline offsets of one segment (4 × SEGMENT_BYTES bytes). */
const OUT_PTR = SEGMENT_BYTES;
/** First block `indexOfNewline` copies; it doubles up to SEGMENT_BYTES while no `\n` is found. */
const FIRST_BLOCK = 256;

/** The module's exports (scan.wat). */
interface Kernels {
  readonly memory: WebAssembly.Memory;
  index_of_newline(ptr: number, len: number): number;
  find_newlines(ptr: number, len: number, out: number): number;
  utf8_prefix(ptr: number, len: number): number;
}

/**
 * Smallest module using a v128 instruction (i8x16.splat, i8x16.popcnt): it
 * validates only where the runtime has WebAssembly SIMD.
 */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a,
  0x0a, 0x01, 0x08, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0xfd, 0x62, 0x0b,
]);

let compiled: WebAssembly.Module | Error | undefined;

/** Reads (or, from TypeScript sources, compiles) scan.wasm once per process. */
function wasmModule(): WebAssembly.Module {
  if (compiled === undefined) {
    try {
      if (typeof WebAssembly !== 'object' || !WebAssembly.validate(SIMD_PROBE)) {
        throw new Error('this runtime has no WebAssembly SIMD');
      }
      compiled = new WebAssembly.Module(readFileSync(locateBinary()));
    } catch (err) {
      compiled = err instanceof Error ? err : new Error(String(err));
    }
  }
  if (compiled instanceof Error) throw compiled;
  return compiled;
}

/**
 * Path of scan.wasm: beside this file once built. Run from TypeScript
 * sources (vitest), there is no binary beside the .ts, so the .wat is
 * compiled with the build script into the OS temp folder, named by a hash of
 * the source so an edited .wat is never served stale.
 */
function locateBinary(): string {
  const beside = fileURLToPath(new URL('./scan.wasm', import.meta.url));
  if (existsSync(beside)) return beside;
  if (!import.meta.url.endsWith('.ts')) throw new Error(`${beside} is missing (npm run build compiles it)`);
  const wat = fileURLToPath(new URL('./scan.wat', import.meta.url));
  const script = fileURLToPath(new URL('../../../scripts/build-wasm.mjs', import.meta.url));
  const hash = createHash('sha256').update(readFileSync(wat)).update(readFileSync(script)).digest('hex').slice(0, 16);
  const out = join(tmpdir(), `tcpserver-scan-${hash}.wasm`);
  if (!existsSync(out)) {
    execFileSync(process.execPath, [script, '--wat', wat, '--out', out, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return out;
}

/**
 * Whether the WASM SIMD scanner can run here, and if not why.
 * @returns `{ ok: true }` or `{ ok: false, reason }`
 */
export function wasmSimdStatus(): { ok: true } | { ok: false; reason: string } {
  try {
    wasmModule();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

/**
 * WASM SIMD scanner. Each call copies the input into the module's memory
 * (64 KiB segments; memory is a fixed 320 KiB and never grows) and runs one
 * kernel per segment.
 */
export class SimdWasmScanner implements FrameScanner {
  readonly kind = 'wasm-simd' as const;
  private readonly k: Kernels;
  /** Byte view of the module's memory (fixed size, so the view never detaches). */
  private readonly mem: Uint8Array;
  /** i32 view of the same memory, for reading newline offsets. */
  private readonly mem32: Int32Array;

  /** @throws Error when the binary is missing or the runtime has no WebAssembly SIMD */
  constructor() {
    this.k = new WebAssembly.Instance(wasmModule()).exports as unknown as Kernels;
    this.mem = new Uint8Array(this.k.memory.buffer);
    this.mem32 = new Int32Array(this.k.memory.buffer);
  }

  /**
   * Index of the first `\n` at or after `from` (a negative `from` counts as
   * 0), or -1. Copies a block of 256 bytes, doubling while no `\n` is found,
   * so a near line end does not pay for copying the whole chunk.
   */
  indexOfNewline(buf: Uint8Array, from: number): number {
    const len = buf.length;
    let start = from > 0 ? from : 0;
    let block = FIRST_BLOCK;
    while (start < len) {
      const n = Math.min(block, len - start);
      // A plain Uint8Array view: cheaper than Buffer#subarray (no species lookup).
      this.mem.set(new Uint8Array(buf.buffer, buf.byteOffset + start, n), IN_PTR);
      const at = this.k.index_of_newline(IN_PTR, n);
      if (at >= 0) return start + at;
      start += n;
      if (block < SEGMENT_BYTES) block *= 2;
    }
    return -1;
  }

  /**
   * Every `\n` in `buf`, in one pass (one kernel call per 64 KiB).
   * Not part of FrameScanner: a line splitter could take all line ends of a
   * chunk at once instead of calling `indexOfNewline` per line.
   * @returns offsets of all `\n`, ascending (a fresh array)
   */
  newlines(buf: Uint8Array): Int32Array {
    const len = buf.length;
    if (len <= SEGMENT_BYTES) {
      this.mem.set(buf, IN_PTR);
      const count = this.k.find_newlines(IN_PTR, len, OUT_PTR);
      return this.mem32.slice(OUT_PTR >> 2, (OUT_PTR >> 2) + count);
    }
    const parts: Int32Array[] = [];
    let total = 0;
    for (let start = 0; start < len; start += SEGMENT_BYTES) {
      const n = Math.min(SEGMENT_BYTES, len - start);
      this.mem.set(buf.subarray(start, start + n), IN_PTR);
      const count = this.k.find_newlines(IN_PTR, n, OUT_PTR);
      const part = this.mem32.slice(OUT_PTR >> 2, (OUT_PTR >> 2) + count);
      for (let i = 0; i < count; i++) part[i]! += start;
      parts.push(part);
      total += count;
    }
    const all = new Int32Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return all;
  }

  /** True when `buf` is well-formed UTF-8 (Unicode ch. 3, table 3-7). */
  isUtf8(buf: Uint8Array): boolean {
    const len = buf.length;
    if (len <= SEGMENT_BYTES) {
      this.mem.set(buf, IN_PTR);
      return this.k.utf8_prefix(IN_PTR, len) === len;
    }
    // A character may straddle two segments: the kernel reports where the
    // unfinished one starts, and the next segment begins there.
    let start = 0;
    for (;;) {
      const n = Math.min(SEGMENT_BYTES, len - start);
      this.mem.set(buf.subarray(start, start + n), IN_PTR);
      const ok = this.k.utf8_prefix(IN_PTR, n);
      if (ok < 0) return false;
      if (start + n === len) return ok === n;
      start += ok;
    }
  }
}

/**
 * Plain-JS scanner: byte loops, no native or wasm help. The fallback where
 * WASM SIMD is unavailable or turned off; also a portable reference.
 */
export class JsLoopScanner implements FrameScanner {
  readonly kind = 'js' as const;

  /** Index of the first `\n` at or after `from` (a negative `from` counts as 0), or -1. */
  indexOfNewline(buf: Uint8Array, from: number): number {
    for (let i = from > 0 ? from : 0; i < buf.length; i++) if (buf[i] === 0x0a) return i;
    return -1;
  }

  /** Every `\n` in `buf`. @returns offsets, ascending (a fresh array) */
  newlines(buf: Uint8Array): Int32Array {
    const out: number[] = [];
    for (let i = 0; i < buf.length; i++) if (buf[i] === 0x0a) out.push(i);
    return Int32Array.from(out);
  }

  /** True when `buf` is well-formed UTF-8 (Unicode ch. 3, table 3-7). */
  isUtf8(buf: Uint8Array): boolean {
    const len = buf.length;
    let i = 0;
    while (i < len) {
      const b = buf[i]!;
      if (b < 0x80) {
        i++;
        continue;
      }
      let n: number;
      let lo = 0x80;
      let hi = 0xbf;
      if (b < 0xc2) return false; // continuation byte, or overlong C0/C1
      else if (b < 0xe0) n = 1;
      else if (b < 0xf0) {
        n = 2;
        if (b === 0xe0) lo = 0xa0; // overlong
        else if (b === 0xed) hi = 0x9f; // surrogates
      } else if (b < 0xf5) {
        n = 3;
        if (b === 0xf0) lo = 0x90; // overlong
        else if (b === 0xf4) hi = 0x8f; // above U+10FFFF
      } else return false;
      if (i + n >= len) return false; // truncated
      const c = buf[i + 1]!;
      if (c < lo || c > hi) return false;
      for (let k = 2; k <= n; k++) if ((buf[i + k]! & 0xc0) !== 0x80) return false;
      i += n + 1;
    }
    return true;
  }
}

/**
 * The `simd` scanner: WASM SIMD when it can run here, else the JS loops.
 * Nothing is loaded before this is called.
 * @param env `TCPSERVER_NO_WASM=1` turns the wasm path off
 * @returns a scanner whose `kind` says which one runs
 */
export function createSimdScanner(env: NodeJS.ProcessEnv = process.env): SimdWasmScanner | JsLoopScanner {
  if (env.TCPSERVER_NO_WASM === '1') return new JsLoopScanner();
  if (!wasmSimdStatus().ok) return new JsLoopScanner();
  return new SimdWasmScanner();
}
