/**
 * FeatureGate: Unleash-style stable buckets of `feature:user`.
 */
import { describe, expect, it } from 'vitest';
import { FeatureGate, rolloutBucket } from '../../../src/core/feature-gate.js';

const users = (n: number, prefix = 'user') => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

function share(gate: FeatureGate, feature: string, us: string[]): number {
  let inside = 0;
  for (const u of us) if (gate.isEnabled(feature, u)) inside++;
  return inside / us.length;
}

describe('rolloutBucket', () => {
  it('is stable and in 0..9999', () => {
    for (const u of users(1000)) {
      const b = rolloutBucket('chat', u);
      expect(Number.isInteger(b)).toBe(true);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(10_000);
      expect(rolloutBucket('chat', u)).toBe(b);
    }
  });
  it('depends on the feature too', () => {
    const us = users(200);
    const same = us.filter((u) => rolloutBucket('chat', u) === rolloutBucket('voice', u)).length;
    expect(same).toBeLessThan(5);
  });
});

describe('FeatureGate', () => {
  it('never flips a user from in to out as the percentage rises 0 → 100', () => {
    const gate = new FeatureGate({ voice: { percent: 0 } });
    const us = users(2000);
    const inside = new Set<string>();
    for (let p = 0; p <= 100; p += 2.5) {
      gate.setPercent('voice', p);
      const now = new Set(us.filter((u) => gate.isEnabled('voice', u)));
      for (const u of inside) expect(now.has(u), `${u} at ${p}%`).toBe(true);
      for (const u of now) inside.add(u);
      expect(now.size).toBe(inside.size);
    }
    expect(inside.size).toBe(us.length);
  });

  it('gives the same decision to the same user on separate gates (stable across restarts)', () => {
    const a = new FeatureGate({ voice: { percent: 37 } });
    const b = new FeatureGate({ voice: { percent: 37 } });
    for (const u of users(500)) expect(a.isEnabled('voice', u)).toBe(b.isEnabled('voice', u));
  });

  it.each([5, 30, 70])('spreads 10,000 users: %d%% ± 2%%', (pct) => {
    const gate = new FeatureGate({ voice: { percent: pct } });
    const s = share(gate, 'voice', users(10_000));
    expect(s).toBeGreaterThanOrEqual(pct / 100 - 0.02);
    expect(s).toBeLessThanOrEqual(pct / 100 + 0.02);
  });

  it('spreads other user naming schemes too', () => {
    const gate = new FeatureGate({ chat: { percent: 30 } });
    expect(Math.abs(share(gate, 'chat', users(10_000, 'guest')) - 0.3)).toBeLessThanOrEqual(0.02);
    const nicks = Array.from({ length: 10_000 }, (_, i) => `n${i.toString(36)}`);
    expect(Math.abs(share(gate, 'chat', nicks) - 0.3)).toBeLessThanOrEqual(0.02);
  });

  it('0% lets nobody in but beta users; 100% lets everyone in', () => {
    const gate = new FeatureGate({ voice: { percent: 0, beta: ['alice'] } });
    expect(share(gate, 'voice', users(2000))).toBe(0);
    expect(gate.isEnabled('voice', 'alice')).toBe(true);
    gate.setPercent('voice', 100);
    expect(share(gate, 'voice', users(2000))).toBe(1);
  });

  it('always lets beta users in, and removeBetaUser hands the decision back', () => {
    const gate = new FeatureGate({ voice: { percent: 0, beta: new Set(['bob']) } });
    gate.addBetaUser('voice', 'carol');
    for (const p of [0, 1, 50, 99.99]) {
      gate.setPercent('voice', p);
      expect(gate.isEnabled('voice', 'bob')).toBe(true);
      expect(gate.isEnabled('voice', 'carol')).toBe(true);
    }
    gate.setPercent('voice', 0);
    gate.removeBetaUser('voice', 'carol');
    expect(gate.isEnabled('voice', 'carol')).toBe(false);
    expect(gate.isEnabled('chat', 'carol')).toBe(true); // beta of one feature says nothing of another
  });

  it('setPercent applies at runtime', () => {
    const gate = new FeatureGate();
    expect(gate.percent('voice')).toBeUndefined();
    expect(gate.isEnabled('voice', 'u')).toBe(true); // ungated: open
    gate.setPercent('voice', 0);
    expect(gate.percent('voice')).toBe(0);
    expect(gate.isEnabled('voice', 'u')).toBe(false);
    gate.setPercent('voice', 100);
    expect(gate.isEnabled('voice', 'u')).toBe(true);
  });

  it('honours fractional percentages at bucket resolution', () => {
    const us = users(5000);
    const gate = new FeatureGate({ f: { percent: 0.5 } });
    for (const u of us) expect(gate.isEnabled('f', u)).toBe(rolloutBucket('f', u) < 50);
  });

  it.each([-1, 101, NaN, -0.001, 100.001, Infinity])('throws RangeError for %d', (p) => {
    const gate = new FeatureGate();
    expect(() => gate.setPercent('voice', p)).toThrow(RangeError);
    expect(() => new FeatureGate({ voice: { percent: p } })).toThrow(RangeError);
    expect(gate.percent('voice')).toBeUndefined();
  });
});
