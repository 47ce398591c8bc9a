import type { Socket } from 'node:net';

/**
 * Outbound write path of one process.
 *
 * Guarantees: frames written for one socket reach it in call order; the
 * Buffer passed in is never modified and may be shared by many sockets
 * (encode-once fan-out); `pending(socket)` counts bytes accepted but not yet
 * handed to the kernel, which is what the slow-consumer budget
 * (`max_outbound_bytes`) is checked against.
 */
export interface OutboundWriter {
  /**
   * Queues `frame` for `socket`.
   * @returns false when the socket is past its high-water mark (backpressure)
   */
  write(socket: Socket, frame: Buffer): boolean;
  /** Bytes queued for `socket` and not yet written to the kernel. */
  pending(socket: Socket): number;
  /** Writes whatever this writer holds back for `socket` (before `end()`). */
  flush(socket: Socket): void;
}
