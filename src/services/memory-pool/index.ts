import type { BufferPool } from './contract.js';
import { UnpooledBuffers } from './baseline.js';
import { SlabBuffers } from './slab.js';

export type { BufferPool } from './contract.js';

/**
 * Picks the buffer pool (config key `service_memory`).
 * @param impl `baseline` (Buffer.allocUnsafe) or `slab` (views into 64 KiB
 *   slabs for frames up to 8 KiB, at most 256 slabs alive)
 */
export function createBufferPool(impl: 'baseline' | 'slab'): BufferPool {
  switch (impl) {
    case 'baseline':
      return new UnpooledBuffers();
    case 'slab':
      return new SlabBuffers();
  }
}
