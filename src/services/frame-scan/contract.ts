/**
 * Byte scanning on the inbound hot path: line ends for json-lines and text
 * mode (PROTOCOL.md §4, §5) and UTF-8 validation of bodies (§2, §3).
 * Implementations must agree with the baseline on every input (it is the
 * test oracle).
 */
export interface FrameScanner {
  /** Index of the first `\n` (0x0a) at or after `from`, or -1. */
  indexOfNewline(buf: Uint8Array, from: number): number;
  /** True when `buf` is well-formed UTF-8. */
  isUtf8(buf: Uint8Array): boolean;
  /**
   * Offsets of every `\n` in `buf`, ascending, in a fresh array. Optional:
   * for a caller that wants all line ends of a chunk in one call instead of
   * one `indexOfNewline` per line. The baseline does not have it; the `simd`
   * scanner does (it pays off only on large chunks: bench/services/frame-scan.bench.ts).
   */
  newlines?(buf: Uint8Array): Int32Array;
}
