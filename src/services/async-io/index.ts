import type { OutboundWriter } from './contract.js';
import { DirectWriter } from './baseline.js';
import { CoalescingWriter } from './coalescing.js';

export type { OutboundWriter } from './contract.js';

/**
 * Picks the outbound writer (config key `service_io`).
 * @param impl `baseline` (one socket.write per frame) or `coalescing`
 *   (one write or writev per socket per event-loop turn; coalescing.ts)
 */
export function createOutboundWriter(impl: 'baseline' | 'coalescing'): OutboundWriter {
  switch (impl) {
    case 'baseline':
      return new DirectWriter();
    case 'coalescing':
      return new CoalescingWriter();
  }
}
