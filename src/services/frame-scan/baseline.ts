import { isUtf8 } from 'node:buffer';
import type { FrameScanner } from './contract.js';

/** Baseline: `Buffer.indexOf` and `buffer.isUtf8` (both native). */
export class NativeScanner implements FrameScanner {
  indexOfNewline(buf: Uint8Array, from: number): number {
    return (buf as Buffer).indexOf(0x0a, from);
  }
  isUtf8(buf: Uint8Array): boolean {
    return isUtf8(buf);
  }
}
