import type { Broadcaster } from './contract.js';

/** Baseline: an inline loop on the event loop. */
export class InlineBroadcaster implements Broadcaster {
  fanOut<T>(recipients: Iterable<T>, except: T | null, deliver: (recipient: T) => boolean): number {
    let n = 0;
    for (const r of recipients) {
      if (r !== except && deliver(r)) n++;
    }
    return n;
  }
  async close(): Promise<void> {}
}
