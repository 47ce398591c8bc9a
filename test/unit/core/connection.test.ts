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

describe('Connection flags and session', () => {
  it('each boolean field is set and cleared on its own (one bit each)', () => {
    const c = conn();
    const names = ['detected', 'guest', 'echo', 'closing', 'refused', 'announced', 'busy'] as const;
    expect(names.map((n) => c[n])).toEqual([false, true, false, false, false, false, false]);
    for (const n of names) {
      const before = names.map((m) => c[m]);
      c[n] = !c[n];
      expect(names.map((m) => c[m])).toEqual(before.map((v, i) => (names[i] === n ? !v : v)));
      c[n] = !c[n];
      expect(names.map((m) => c[m])).toEqual(before);
    }
  });

  it('session is 12 base64url characters, the same on every read, different per connection id', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => new Connection(i, new net.Socket(), 1, {} as ChatServer));
    const sessions = ids.map((c) => c.session);
    for (const s of sessions) expect(s).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(new Set(sessions).size).toBe(1000);
    expect(ids.map((c) => c.session)).toEqual(sessions);
  });
});

describe('Connection rare fields (one object made on first use)', () => {
  it('read null / 0 until set, keep what is set, and read null / 0 again once cleared', () => {
    const c = conn();
    expect([c.detectBuf, c.currentRoom, c.outQueue, c.rateWaitTimer, c.gaps, c.errorCount, c.errorWindowMs]).toEqual([null, null, null, null, null, 0, 0]);
    const buf = Buffer.from('GE');
    const q: Buffer[] = [];
    const timer = setTimeout(() => {}, 0);
    const gaps = new Map([['lobby', { from: 3, to: 5 }]]);
    c.detectBuf = buf;
    c.currentRoom = 'lobby';
    c.outQueue = q;
    c.rateWaitTimer = timer;
    c.gaps = gaps;
    c.errorCount = 2;
    const now = Date.now();
    c.errorWindowMs = now;
    expect([c.detectBuf, c.currentRoom, c.outQueue, c.rateWaitTimer, c.gaps, c.errorCount, c.errorWindowMs]).toEqual([buf, 'lobby', q, timer, gaps, 2, now]);
    c.detectBuf = null;
    c.currentRoom = null;
    c.outQueue = null;
    c.rateWaitTimer = null;
    c.gaps = null;
    c.errorCount = 0;
    c.errorWindowMs = 0;
    expect([c.detectBuf, c.currentRoom, c.outQueue, c.rateWaitTimer, c.gaps, c.errorCount, c.errorWindowMs]).toEqual([null, null, null, null, null, 0, 0]);
    clearTimeout(timer);
  });

  it('backlog is one array, kept across reads', () => {
    const c = conn();
    expect(c.backlogSize).toBe(0);
    c.backlog.push({ envelope: null, body: null, t0: 1 });
    expect(c.backlogSize).toBe(1);
    expect(c.backlog).toHaveLength(1);
    expect(c.backlog).toBe(c.backlog);
  });
});
