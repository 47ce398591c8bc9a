import type { BufferPool } from './contract.js';

/** Baseline: `Buffer.allocUnsafe` (Node's own 8 KiB slab for small sizes); release is a no-op. */
export class UnpooledBuffers implements BufferPool {
  alloc(size: number): Buffer {
    return Buffer.allocUnsafe(size);
  }
  release(_buf: Buffer): void {
    // The garbage collector reclaims it.
  }
}
