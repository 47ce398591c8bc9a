import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../../src/core/connection.js';
import type { ChatServer } from '../../../src/core/server.js';

/** A connection on an unconnected socket: only its own fields are exercised. */
function conn(): Connection {
  return new Connection(1, new net.Socket(), 10, {} as ChatServer);
}

describe('Connection times (stored as ms since a module origin, read as Date.now() ms)', () => {
  it('starts with lastInboundMs, tokensAtMs and connectedMs at the time of creation', () => {
    const before = Date.now();
    const c = conn();
    const after = Date.now();
    for (const t of [c.lastInboundMs, c.tokensAtMs, c.connectedMs]) {
      expect(t).toBeGreaterThanOrEqual(before);
      expect(t).toBeLessThanOrEqual(after);
    }
    expect(c.connectedMs).toBe(c.lastInboundMs);
  });

  it('optional times read 0 until set, and 0 again after being cleared', () => {
    const c = conn();
    expect([c.pingSentMs, c.errorWindowMs, c.midFrameSinceMs]).toEqual([0, 0, 0]);
    const now = Date.now();
    c.pingSentMs = now;
    c.errorWindowMs = now + 1;
    c.midFrameSinceMs = now + 2;
    expect([c.pingSentMs, c.errorWindowMs, c.midFrameSinceMs]).toEqual([now, now + 1, now + 2]);
    c.pingSentMs = 0;
    c.errorWindowMs = 0;
    c.midFrameSinceMs = 0;
    expect([c.pingSentMs, c.errorWindowMs, c.midFrameSinceMs]).toEqual([0, 0, 0]);
  });

  it('gives back exactly what was stored: past, far future (beyond the int32 range of the origin) and fractional', () => {
    const c = conn();
    const values = [Date.now(), Date.now() - 86_400_000, Date.now() + 30 * 86_400_000, Date.now() + 0.5, 1, 2 ** 52];
    for (const v of values) {
      c.lastInboundMs = v;
      c.tokensAtMs = v;
      c.midFrameSinceMs = v;
      expect([c.lastInboundMs, c.tokensAtMs, c.midFrameSinceMs]).toEqual([v, v, v]);
    }
  });
});
