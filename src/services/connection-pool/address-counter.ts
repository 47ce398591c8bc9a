/**
 * Connections per remote address, for the `max_connections_per_ip` cap that
 * every pool implementation enforces (PROTOCOL.md §3 `server_busy`).
 */
export class AddressCounter {
  private readonly counts = new Map<string, number>();

  /** @param capacity most connections from one address */
  constructor(readonly capacity: number) {}

  /** Takes a slot for `address`; false when it already has `capacity`. */
  acquire(address: string): boolean {
    const n = this.counts.get(address) ?? 0;
    if (n >= this.capacity) return false;
    this.counts.set(address, n + 1);
    return true;
  }

  /** Gives back a slot taken by acquire(). */
  release(address: string): void {
    const n = (this.counts.get(address) ?? 1) - 1;
    if (n === 0) this.counts.delete(address);
    else this.counts.set(address, n);
  }

  /** Slots held by `address` now. */
  count(address: string): number {
    return this.counts.get(address) ?? 0;
  }
}
