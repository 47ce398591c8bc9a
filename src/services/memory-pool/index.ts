import type { BufferPool } from './contract.js';
import { UnpooledBuffers } from './baseline.js';

export type { BufferPool } from './contract.js';

/**
 * Picks the buffer pool (config key `service_memory`).
 * @param impl `baseline` (Buffer.allocUnsafe)
 */
export function createBufferPool(impl: 'baseline'): BufferPool {
  switch (impl) {
    case 'baseline':
      return new UnpooledBuffers();
  }
}
