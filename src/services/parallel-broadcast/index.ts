import type { Broadcaster } from './contract.js';
import { InlineBroadcaster } from './baseline.js';

export type { Broadcaster } from './contract.js';

/**
 * Picks the broadcaster (config key `service_broadcast`).
 * @param impl `baseline` (inline loop)
 */
export function createBroadcaster(impl: 'baseline'): Broadcaster {
  switch (impl) {
    case 'baseline':
      return new InlineBroadcaster();
  }
}
