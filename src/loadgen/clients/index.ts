/**
 * Protocol adapters of the load generator, behind one interface
 * (ProtocolClient in ../types.ts, extended by LoadClient with the counters
 * the runner reads back).
 *
 * - `tcp`: binary frames (PROTOCOL.md §2) — tcp.ts
 * - `lines`: json-lines (PROTOCOL.md §4) — lines.ts
 * - `ws`: not available until the WebSocket gateway exists; createClient
 *   throws UnsupportedProtocolError and the CLI exits 2.
 */
import type { LoadProtocol } from '../types.js';
import type { LoadClient, LoadClientOptions } from './base.js';
import { LinesClient } from './lines.js';
import { TcpClient } from './tcp.js';

export { LoadClientError, READ_BUF } from './base.js';
export type { ClientHandlers, JoinedInfo, LoadClient, LoadClientOptions } from './base.js';
export { LinesClient } from './lines.js';
export { TcpClient } from './tcp.js';

/** The protocols createClient can build now. */
export const SUPPORTED_PROTOCOLS: readonly LoadProtocol[] = ['tcp', 'lines'];

/** A protocol that has no adapter (yet). */
export class UnsupportedProtocolError extends Error {
  readonly code = 'unsupported_protocol';
  constructor(readonly protocol: string) {
    super(
      protocol === 'ws'
        ? '--protocol ws is not available yet: the WebSocket gateway does not exist. Use --protocol tcp (binary frames) or --protocol lines (json-lines).'
        : `unknown protocol ${JSON.stringify(protocol)}: use tcp or lines`,
    );
    this.name = 'UnsupportedProtocolError';
  }
}

/**
 * Creates one load client (not connected yet).
 * @throws UnsupportedProtocolError for `ws` and unknown names
 */
export function createClient(protocol: LoadProtocol, options: LoadClientOptions): LoadClient {
  switch (protocol) {
    case 'tcp':
      return new TcpClient(options);
    case 'lines':
      return new LinesClient(options);
    default:
      throw new UnsupportedProtocolError(protocol);
  }
}
