import type { Broadcaster } from './contract.js';
import { InlineBroadcaster } from './baseline.js';
import { PiscinaBroadcaster, type PiscinaOptions } from './piscina.js';

export type { Broadcaster } from './contract.js';

/**
 * Picks the broadcaster (config key `service_broadcast`).
 * @param impl `baseline` (inline loop) or `piscina` (inline loop; big
 *   outbound compression on a worker pool)
 * @param opts `parallel_workers`, `parallel_threshold` (piscina only)
 */
export function createBroadcaster(
  impl: 'baseline' | 'piscina',
  opts: { parallel_workers: number; parallel_threshold: number } = { parallel_workers: 0, parallel_threshold: 0 },
): Broadcaster {
  switch (impl) {
    case 'baseline':
      return new InlineBroadcaster();
    case 'piscina': {
      const o: PiscinaOptions = { workers: opts.parallel_workers, threshold: opts.parallel_threshold };
      return new PiscinaBroadcaster(o);
    }
  }
}
