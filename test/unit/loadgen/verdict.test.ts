import { describe, expect, it } from 'vitest';
import type { Scenario } from '../../../src/loadgen/types.js';
import { judge, num, pct, type UnjudgedResult } from '../../../src/loadgen/verdict.js';

type Overrides = {
  slo?: Scenario['slo'];
  totals?: Partial<UnjudgedResult['totals']>;
  latency_ms?: Partial<UnjudgedResult['latency_ms']>;
  loadgen?: Partial<UnjudgedResult['loadgen']>;
  error_rate?: number;
  delivered_per_s?: number;
};

/** A healthy run: p95 120 ms, p99 250 ms, 0.1% errors, 5000 delivered/s, SLOs all met. */
function run(o: Overrides = {}): UnjudgedResult {
  return {
    version: 1,
    scenario: {
      scenario: 'fanout',
      protocol: 'tcp',
      host: '127.0.0.1',
      port: 7000,
      clients: 100,
      ramp_per_s: 50,
      duration_ms: 60_000,
      msg_size: 64,
      msg_interval_ms: 500,
      room_mode: 'single',
      room_name_or_count: 'lobby',
      senders: 100,
      window: 0,
      reconnect_every_ms: 0,
      probes: 10,
      slo: o.slo ?? { p95_ms: 300, p99_ms: 500, error_rate: 0.01, min_delivered_per_s: 1000 },
    },
    started_at: '2025-01-02T03:04:05.678Z',
    elapsed_s: 60,
    sent_per_s: 200,
    acked_per_s: 199.8,
    delivered_per_s: o.delivered_per_s ?? 5000,
    totals: {
      sent: 12_000,
      acked: 11_988,
      delivered: 300_000,
      errors: 12,
      connect_failures: 0,
      disconnects: 0,
      reconnects: 0,
      lost: 0,
      duplicated: 0,
      out_of_order: 0,
      ...o.totals,
    },
    error_rate: o.error_rate ?? 0.001,
    latency_ms: { count: 3000, p50: 40, p95: 120, p99: 250, max: 400, mean: 55, ...o.latency_ms },
    ack_latency_ms: { count: 11_988, p50: 10, p95: 30, p99: 60, max: 90, mean: 14 },
    server: { rss_mb_max: 120, rss_mb_end: 110, cpu_pct_avg: 45, latency_p99_ms_max: 12 },
    loadgen: { cpu_pct: 40, saturated: false, ...o.loadgen },
  };
}

describe('judge', () => {
  it('passes a run that meets every SLO, listing the checks that were met', () => {
    const { verdict, reasons } = judge(run());
    expect(verdict).toBe('PASS');
    expect(reasons).toEqual([
      'p95 120 ms ≤ SLO 300 ms',
      'p99 250 ms ≤ SLO 500 ms',
      'error rate 0.1% ≤ SLO 1% (12 errors / 12000 sent)',
      'delivered 5000 msg/s ≥ SLO 1000 msg/s',
      'no lost, duplicated or out-of-order messages',
    ]);
  });

  it('passes at exactly the thresholds', () => {
    const r = run({ latency_ms: { p95: 300, p99: 500 }, error_rate: 0.01, delivered_per_s: 1000 });
    expect(judge(r).verdict).toBe('PASS');
  });

  describe('each SLO breach fails with its numbers', () => {
    it('p95', () => {
      const { verdict, reasons } = judge(run({ latency_ms: { p95: 312.44 } }));
      expect(verdict).toBe('FAIL');
      expect(reasons).toEqual(['p95 312.4 ms > SLO 300 ms']);
    });

    it('p99', () => {
      const { verdict, reasons } = judge(run({ latency_ms: { p99: 512.25 } }));
      expect(verdict).toBe('FAIL');
      expect(reasons).toEqual(['p99 512.3 ms > SLO 500 ms']);
    });

    it('error rate', () => {
      const { verdict, reasons } = judge(run({ error_rate: 0.025, totals: { errors: 300 } }));
      expect(verdict).toBe('FAIL');
      expect(reasons).toEqual(['error rate 2.5% > SLO 1% (300 errors / 12000 sent)']);
    });

    it('min delivered per second', () => {
      const { verdict, reasons } = judge(run({ delivered_per_s: 850.25 }));
      expect(verdict).toBe('FAIL');
      expect(reasons).toEqual(['delivered 850.3 msg/s < SLO 1000 msg/s']);
    });

    it('a measurement that is not a number', () => {
      expect(judge(run({ latency_ms: { p95: Number.NaN } })).reasons).toEqual(['p95 NaN ms > SLO 300 ms']);
      expect(judge(run({ delivered_per_s: Number.NaN })).verdict).toBe('FAIL');
      expect(judge(run({ error_rate: Number.NaN })).verdict).toBe('FAIL');
    });
  });

  it('checks only the SLOs that are set', () => {
    const r = run({ slo: { p99_ms: 200 }, latency_ms: { p95: 10_000 }, error_rate: 0.5, delivered_per_s: 1 });
    expect(judge(r)).toEqual({ verdict: 'FAIL', reasons: ['p99 250 ms > SLO 200 ms'] });
  });

  describe('delivery guarantees fail, each named', () => {
    it('lost', () => {
      expect(judge(run({ totals: { lost: 3 } }))).toEqual({
        verdict: 'FAIL',
        reasons: ["3 messages lost (gaps in the probes' seq)"],
      });
    });

    it('duplicated', () => {
      expect(judge(run({ totals: { duplicated: 1 } }))).toEqual({
        verdict: 'FAIL',
        reasons: ['1 message delivered more than once'],
      });
    });

    it('out of order', () => {
      expect(judge(run({ totals: { out_of_order: 7 } }))).toEqual({
        verdict: 'FAIL',
        reasons: ['7 messages delivered out of order'],
      });
    });

    it('all three, and without any SLO set', () => {
      const { verdict, reasons } = judge(run({ slo: {}, totals: { lost: 1, duplicated: 2, out_of_order: 3 } }));
      expect(verdict).toBe('FAIL');
      expect(reasons).toEqual([
        "1 message lost (gaps in the probes' seq)",
        '2 messages delivered more than once',
        '3 messages delivered out of order',
        'no SLO set; latency, error rate and throughput were not checked',
      ]);
    });
  });

  it('lists every failure in a fixed order: SLOs, then guarantees', () => {
    const r = run({
      latency_ms: { p95: 400, p99: 900 },
      error_rate: 0.2,
      delivered_per_s: 10,
      totals: { lost: 5, out_of_order: 1 },
    });
    const { verdict, reasons } = judge(r);
    expect(verdict).toBe('FAIL');
    expect(reasons.map((s) => s.split(' ').slice(0, 2).join(' '))).toEqual([
      'p95 400',
      'p99 900',
      'error rate',
      'delivered 10',
      '5 messages',
      '1 message',
    ]);
  });

  describe('warnings', () => {
    it('saturated load generator', () => {
      const { verdict, reasons } = judge(run({ loadgen: { cpu_pct: 97.26, saturated: true } }));
      expect(verdict).toBe('WARN');
      expect(reasons[0]).toBe(
        'load generator saturated (CPU 97.26% of one core); the rates measure the load generator as much as the server',
      );
      // The met checks follow the warning.
      expect(reasons).toContain('p95 120 ms ≤ SLO 300 ms');
    });

    it('no SLO set', () => {
      for (const slo of [{}, { p95_ms: undefined }]) {
        const { verdict, reasons } = judge(run({ slo }));
        expect(verdict).toBe('WARN');
        expect(reasons).toEqual([
          'no SLO set; latency, error rate and throughput were not checked',
          'no lost, duplicated or out-of-order messages',
        ]);
      }
    });

    it('no latency samples: latency SLOs are not checked', () => {
      const { verdict, reasons } = judge(run({ latency_ms: { count: 0, p95: 0, p99: 0 } }));
      expect(verdict).toBe('WARN');
      expect(reasons[0]).toBe(
        'no end-to-end latency samples (the probes received no messages); p95 and p99 SLO not checked',
      );
      expect(reasons.some((s) => s.startsWith('p95') || s.startsWith('p99'))).toBe(false);
    });

    it('no latency samples and no latency SLO', () => {
      const { verdict, reasons } = judge(run({ slo: { error_rate: 0.01 }, latency_ms: { count: 0 } }));
      expect(verdict).toBe('WARN');
      expect(reasons[0]).toBe('no end-to-end latency samples (the probes received no messages)');
    });

    it('all warnings at once', () => {
      const { verdict, reasons } = judge(run({ slo: {}, latency_ms: { count: 0 }, loadgen: { saturated: true } }));
      expect(verdict).toBe('WARN');
      expect(reasons).toHaveLength(4);
      expect(reasons.slice(0, 3).map((s) => s.slice(0, 12))).toEqual(['no end-to-en', 'load generat', 'no SLO set; ']);
    });

    it('FAIL outranks WARN and keeps the warnings after the failures', () => {
      const { verdict, reasons } = judge(
        run({ latency_ms: { p95: 301 }, totals: { lost: 2 }, loadgen: { cpu_pct: 99, saturated: true } }),
      );
      expect(verdict).toBe('FAIL');
      expect(reasons).toEqual([
        'p95 301 ms > SLO 300 ms',
        "2 messages lost (gaps in the probes' seq)",
        'load generator saturated (CPU 99% of one core); the rates measure the load generator as much as the server',
      ]);
    });

    it('a latency breach is not judged without samples, but other breaches still fail', () => {
      const { verdict, reasons } = judge(run({ latency_ms: { count: 0, p95: 9999 }, delivered_per_s: 0 }));
      expect(verdict).toBe('FAIL');
      expect(reasons[0]).toBe('delivered 0 msg/s < SLO 1000 msg/s');
      expect(reasons[1]).toMatch(/^no end-to-end latency samples/);
    });
  });
});

describe('number formatting', () => {
  it('num keeps 1 decimal from 100, 2 from 1, 3 below, without trailing zeros', () => {
    expect([312.44, 300, 12.345, 0.45678, -2.5, Infinity].map(num)).toEqual([
      '312.4',
      '300',
      '12.35',
      '0.457',
      '-2.5',
      'Infinity',
    ]);
  });

  it('pct shows a fraction as a percentage with 3 significant digits', () => {
    expect([0, 0.0001, 0.0125, 0.5, 1].map(pct)).toEqual(['0%', '0.01%', '1.25%', '50%', '100%']);
  });
});
