import type { FrameScanner } from './contract.js';
import { NativeScanner } from './baseline.js';

export type { FrameScanner } from './contract.js';

/**
 * Picks the scanner (config key `service_scan`).
 * @param impl `baseline` (Buffer.indexOf + buffer.isUtf8)
 */
export function createFrameScanner(impl: 'baseline'): FrameScanner {
  switch (impl) {
    case 'baseline':
      return new NativeScanner();
  }
}
