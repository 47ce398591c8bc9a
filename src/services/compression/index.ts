import type { CompressionService } from './contract.js';
import { NoCompression } from './baseline.js';

export { CODEC_FLAGS } from './contract.js';
export type { CodecName, CompressionService } from './contract.js';

/**
 * Picks the compression service (config key `service_compression`).
 * @param impl `baseline` (no codecs)
 */
export function createCompression(impl: 'baseline'): CompressionService {
  switch (impl) {
    case 'baseline':
      return new NoCompression();
  }
}
