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
  /** Stops any workers; called at shutdown. */
  close(): Promise<void>;
}
