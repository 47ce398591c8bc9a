import type { CodecName } from '../compression/contract.js';

/**
 * Fan-out of one already-encoded message to many recipients.
 *
 * Guarantees: `deliver` is called on the event loop, once per recipient other
 * than `except`, in iteration order, so per-connection frame order is the
 * order of `fanOut` calls. Socket writes never leave the event loop.
 */
export interface Broadcaster {
  /**
   * @param recipients the room's members
   * @param except a recipient to skip (the sender), or null
   * @param deliver writes the shared frame to one recipient; returns true when it was written
   * @returns the number of deliveries written
   */
  fanOut<T>(recipients: Iterable<T>, except: T | null, deliver: (recipient: T) => boolean): number;
  /**
   * Optional: compresses one outbound body off the event loop. The result is
   * byte-for-byte what the compression service's `compress(codec, body)`
   * gives (PROTOCOL.md §2), so a peer cannot tell where it was made.
   * `body` is not modified or detached; the caller still owns it.
   * @param body the uncompressed body (UTF-8 JSON)
   * @param recipients how many connections will share the frame
   * @returns the compressed body, or null: compress inline (below the threshold, or the pool is saturated)
   */
  compress?(codec: CodecName, body: Buffer, recipients: number): Promise<Buffer> | null;
  /** Stops any workers; called at shutdown. */
  close(): Promise<void>;
}
