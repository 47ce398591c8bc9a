import type { OutboundWriter } from './contract.js';
import { DirectWriter } from './baseline.js';

export type { OutboundWriter } from './contract.js';

/**
 * Picks the outbound writer (config key `service_io`).
 * @param impl `baseline` (one socket.write per frame)
 */
export function createOutboundWriter(impl: 'baseline'): OutboundWriter {
  switch (impl) {
    case 'baseline':
      return new DirectWriter();
  }
}
