/**
 * The load generator end to end against a real server, through its
 * programmatic API (runLoad): the `smoke` scenario shortened to 3 s, over
 * binary frames and json-lines, must deliver everything exactly once and in
 * order, with every message acknowledged. Also a short `reconnect` run:
 * clients drop and resume with since_seq, and still nothing is lost or
 * repeated. No timing assertions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../src/loadgen/run.js';
import { resolveScenario } from '../../src/loadgen/scenarios.js';
import type { RunResult } from '../../src/loadgen/types.js';
import { startServer, type TestServer } from '../helpers/clients.js';

let srv: TestServer;

beforeAll(async () => {
  srv = await startServer({ rate_msgs_per_sec: 100_000, rate_burst: 100_000 });
});

afterAll(async () => {
  await srv.close();
});

/** No timing assertions in CI: the built-in scenarios' latency SLOs are dropped, so the verdict judges only delivery. */
function untimed<T extends { slo: object }>(scenario: T): T {
  return { ...scenario, slo: {} };
}

function expectClean(r: RunResult): void {
  const t = r.totals;
  expect(t.sent).toBeGreaterThan(0);
  expect(t.acked).toBe(t.sent);
  expect(t.delivered).toBeGreaterThan(0);
  expect(t.errors).toBe(0);
  expect(t.connect_failures).toBe(0);
  expect(t.disconnects).toBe(0);
  expect(t.lost).toBe(0);
  expect(t.duplicated).toBe(0);
  expect(t.out_of_order).toBe(0);
  expect(r.error_rate).toBe(0);
  expect(r.latency_ms.count).toBeGreaterThan(0);
  expect(r.ack_latency_ms.count).toBeGreaterThan(0);
  expect(r.verdict, r.verdict_reasons.join('; ')).not.toBe('FAIL');
}

describe.each(['tcp', 'lines'] as const)('loadgen smoke over %s', (protocol) => {
  it('delivers every message to every member exactly once, in order, all acknowledged', async () => {
    const scenario = resolveScenario({ scenario: 'smoke', protocol, host: srv.host, port: srv.port, duration: '3s', room: `smoke-${protocol}` });
    expect(scenario.clients).toBe(5);
    const out = await runLoad(untimed(scenario), { log: () => {}, serverPid: null });
    expectClean(out.result);
    expect(out.drained).toBe(true);
    expect(out.unacked).toBe(0);
    // Echo is on: every member, the sender included, receives each message once it has joined.
    const [room] = out.rooms;
    expect(room!.probes).toBe(5);
    expect(room!.seq.received).toBeGreaterThan(0);
    expect(out.result.totals.delivered).toBeLessThanOrEqual(out.result.totals.acked * 5);
    expect(out.result.server.rss_mb_max).toBeGreaterThan(0);
  }, 40_000);
});

describe('loadgen reconnect (short)', () => {
  it('drops and resumes with since_seq without loss or duplicates; counting clients agree', async () => {
    const scenario = resolveScenario({
      scenario: 'reconnect',
      host: srv.host,
      port: srv.port,
      clients: 10,
      ramp: '50/s',
      duration: '3s',
      msg_interval: '200ms',
      reconnect_every: '1s',
      probes: 4,
      room: 'smoke-reconnect',
    });
    const out = await runLoad(untimed(scenario), { log: () => {}, serverPid: null });
    expectClean(out.result);
    expect(out.result.totals.reconnects).toBeGreaterThan(0);
    const [room] = out.rooms;
    expect(room!.counters_short).toBe(0);
    expect(room!.counters_over).toBe(0);
  }, 40_000);
});
