import type { FrameScanner } from './contract.js';
import { NativeScanner } from './baseline.js';
import { createSimdScanner } from './simd-wasm.js';

export type { FrameScanner } from './contract.js';

/**
 * Picks the scanner (config key `service_scan`).
 * @param impl `baseline` (Buffer.indexOf + buffer.isUtf8, both native) or
 *   `simd` (WebAssembly SIMD kernels, bytes copied into wasm memory; plain JS
 *   loops where WASM SIMD is unavailable or `TCPSERVER_NO_WASM=1`). The
 *   baseline is the default: with the copy into wasm memory, `simd` is
 *   slower for `indexOfNewline` at every size, and for `isUtf8` on all but
 *   small all-ASCII bodies (bench/services/frame-scan.bench.ts).
 */
export function createFrameScanner(impl: 'baseline' | 'simd'): FrameScanner {
  switch (impl) {
    case 'baseline':
      return new NativeScanner();
    case 'simd':
      return createSimdScanner();
  }
}
