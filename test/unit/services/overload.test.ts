import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MIN_WINDOW_ENVELOPES, OverloadDetector } from '../../../src/services/perf-monitor/overload.js';
import type { StatsSnapshot } from '../../../src/services/perf-monitor/contract.js';

const base: StatsSnapshot = {
  msg_per_sec: 100, deliveries_per_sec: 1000, latency_p99_ms: 0.5, memory_mb: 100, connections: 10, error_rate: 0,
  uptime_s: 60, rooms: 1, messages_total: 1000, latency_p50_ms: 0.2, inbound_per_sec: 100, deliveries_total: 10000,
  errors_total: 0, plugin_errors_total: 0, dropped_total: 0, slow_consumer_disconnects_total: 0,
};

function detector(recoverChecks = 3) {
  const shed: boolean[] = [];
  const d = new OverloadDetector(
    { maxLatencyMs: 1, maxMemoryMb: 500, minThroughput: 10, maxErrorRate: 0.01, recoverChecks },
    { setShedding: (on) => shed.push(on), logger: pino({ level: 'silent' }), webhookUrl: '' },
  );
  return { d, shed };
}

describe('OverloadDetector', () => {
  it.each([
    [{ latency_p99_ms: 1.5 }, /latency_p99_ms 1.5 > max_latency_ms 1/],
    [{ memory_mb: 600 }, /memory_mb 600 > max_memory_mb 500/],
    [{ msg_per_sec: 5 }, /msg_per_sec 5 < min_throughput 10/],
    [{ error_rate: 0.02 }, /error_rate 0.02 > max_error_rate 0.01/],
  ])('%o is a breach', (patch, re) => {
    const { d } = detector();
    expect(d.breaches({ ...base, ...patch }).join()).toMatch(re);
  });

  it('values at the thresholds are healthy; 0 turns a check off', () => {
    const { d } = detector();
    expect(d.breaches({ ...base, latency_p99_ms: 1, memory_mb: 500, msg_per_sec: 10, error_rate: 0.01 })).toEqual([]);
    const off = new OverloadDetector(
      { maxLatencyMs: 0, maxMemoryMb: 0, minThroughput: 0, maxErrorRate: 0, recoverChecks: 1 },
      { setShedding: () => {}, logger: pino({ level: 'silent' }), webhookUrl: '' },
    );
    expect(off.breaches({ ...base, latency_p99_ms: 99, memory_mb: 1e6, msg_per_sec: 0, error_rate: 1 })).toEqual([]);
  });

  it('latency and error rate need MIN_WINDOW_ENVELOPES in the window; idle servers have no throughput floor', () => {
    const { d } = detector();
    const quiet = { ...base, inbound_per_sec: (MIN_WINDOW_ENVELOPES - 1) / 10, latency_p99_ms: 9, error_rate: 0.5 };
    expect(d.breaches(quiet)).toEqual([]);
    expect(d.breaches({ ...base, connections: 0, msg_per_sec: 0 })).toEqual([]);
  });

  it('sheds on the first breach and recovers only after recoverChecks healthy checks in a row', () => {
    const { d, shed } = detector(3);
    expect(d.check(base)).toBeNull();
    expect(d.check({ ...base, latency_p99_ms: 5 })?.event).toBe('overloaded');
    expect(shed).toEqual([true]);
    expect(d.check({ ...base, latency_p99_ms: 5 })).toBeNull(); // still overloaded, no second alert
    expect(d.check(base)).toBeNull();
    expect(d.check(base)).toBeNull();
    expect(d.check({ ...base, error_rate: 0.5 })).toBeNull(); // a relapse restarts the count
    expect(d.check(base)).toBeNull();
    expect(d.check(base)).toBeNull();
    expect(d.check(base)?.event).toBe('recovered');
    expect(shed).toEqual([true, false]);
    expect(d.isOverloaded).toBe(false);
    expect(d.alerts).toBe(2);
  });
});
