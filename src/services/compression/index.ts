import type { CompressionService } from './contract.js';
import { NoCompression } from './baseline.js';
import { NativeCompression } from './native.js';

export { CODEC_FLAGS } from './contract.js';
export type { CodecName, CompressionService } from './contract.js';

/**
 * Picks the compression service (config key `service_compression`).
 * @param impl `baseline` (no codecs) or `native` (lz4-napi, @mongodb-js/zstd)
 */
export function createCompression(impl: 'baseline' | 'native'): CompressionService {
  switch (impl) {
    case 'baseline':
      return new NoCompression();
    case 'native':
      return new NativeCompression();
  }
}
