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
}
