import type { Socket } from 'node:net';
import type { OutboundWriter } from './contract.js';

/** Baseline: one `socket.write` per frame, no coalescing. */
export class DirectWriter implements OutboundWriter {
  write(socket: Socket, frame: Buffer): boolean {
    return socket.write(frame);
  }
  pending(socket: Socket): number {
    return socket.writableLength;
  }
  flush(_socket: Socket): void {
    // Nothing is held back.
  }
}
