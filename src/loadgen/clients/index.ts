/**
 * Protocol adapters of the load generator, behind one interface
 * (ProtocolClient in ../types.ts, extended by LoadClient with the counters
 * the runner reads back). What they share (dispatch, welcome/join waiters,
 * fail/close) is base.ts; each adapter adds its transport and framing.
 *
 * - `tcp`: binary frames (PROTOCOL.md §2) over TCP — tcp.ts (on stream.ts)
 * - `lines`: json-lines (PROTOCOL.md §4) over TCP — lines.ts (on stream.ts)
 * - `ws`: WebSocket, one envelope per text message (PROTOCOL.md §7), at
 *   `ws://host:port/` — ws.ts. Works against any server that speaks
 *   PROTOCOL.md over WebSocket (e.g. bench/reference/uws-pubsub.ts); this
 *   project's server has no WebSocket gateway yet.
 */
import type { LoadProtocol } from '../types.js';
import type { LoadClient, LoadClientOptions } from './base.js';
import { LinesClient } from './lines.js';
import { TcpClient } from './tcp.js';
import { WsClient } from './ws.js';

export { LoadClientError } from './base.js';
export type { ClientHandlers, JoinedInfo, LoadClient, LoadClientOptions } from './base.js';
export { READ_BUF } from './stream.js';
export { LinesClient } from './lines.js';
export { TcpClient } from './tcp.js';
export { WsClient } from './ws.js';

/** The protocols createClient can build. */
export const SUPPORTED_PROTOCOLS: readonly LoadProtocol[] = ['tcp', 'lines', 'ws'];

/** A protocol that has no adapter. */
export class UnsupportedProtocolError extends Error {
  readonly code = 'unsupported_protocol';
  constructor(readonly protocol: string) {
    super(
      `unknown protocol ${JSON.stringify(protocol)}: use tcp (binary frames), lines (json-lines) or ws ` +
        '(WebSocket at ws://host:port/, for a server that speaks PROTOCOL.md over WebSocket; this server has no WebSocket gateway yet)',
    );
    this.name = 'UnsupportedProtocolError';
  }
}

/**
 * Creates one load client (not connected yet).
 * @throws UnsupportedProtocolError for unknown names
 */
export function createClient(protocol: LoadProtocol, options: LoadClientOptions): LoadClient {
  switch (protocol) {
    case 'tcp':
      return new TcpClient(options);
    case 'lines':
      return new LinesClient(options);
    case 'ws':
      return new WsClient(options);
    default:
      throw new UnsupportedProtocolError(protocol);
  }
}
