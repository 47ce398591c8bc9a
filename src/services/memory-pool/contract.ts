/**
 * Buffers for outbound frames.
 *
 * Guarantees: `alloc(n)` returns a Buffer of exactly `n` bytes whose content
 * is unspecified; a buffer handed to `release` is not used again by its
 * caller; the pool never holds more than its configured bound.
 */
export interface BufferPool {
  /** @param size bytes */
  alloc(size: number): Buffer;
  /** Gives a buffer back once no socket write references it any more. */
  release(buf: Buffer): void;
}
