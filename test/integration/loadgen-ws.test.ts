/**
 * The load generator over WebSocket (`--protocol ws`, src/loadgen/clients/ws.ts)
 * end to end, through runLoad. The target is the uWebSockets.js reference
 * server (bench/reference/uws-pubsub.ts), run in this process on an
 * ephemeral port. The run is small: 8 clients in 2 rooms (2 probes, 6
 * counting clients), all sending for 2 s. It must deliver everything exactly
 * once and in order, and every counting client's count must match its room's
 * last seq on the server. No timing assertions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUwsPubsub, type UwsPubsub } from '../../bench/reference/uws-pubsub.js';
import { runLoad } from '../../src/loadgen/run.js';
import { resolveScenario } from '../../src/loadgen/scenarios.js';

let srv: UwsPubsub;

beforeAll(async () => {
  srv = await startUwsPubsub({ port: 0 });
});

afterAll(() => {
  srv.close();
});

describe('loadgen over ws against the uWebSockets.js reference server', () => {
  it('delivers every message to every member exactly once, in order; counting clients count every chat', async () => {
    const scenario = resolveScenario({
      scenario: 'multi-room',
      protocol: 'ws',
      host: srv.host,
      port: srv.port,
      clients: 8,
      rooms: 2,
      probes: 2,
      ramp: '100/s',
      duration: '2s',
      msg_interval: '100ms',
      msg_size: 64,
    });
    const out = await runLoad({ ...scenario, slo: {} }, { log: () => {}, serverPid: null, drainTimeoutMs: 5000 });
    const r = out.result;
    const t = r.totals;
    expect(t.sent).toBeGreaterThan(0);
    expect(t.acked).toBe(t.sent);
    expect(t.errors).toBe(0);
    expect(t.connect_failures).toBe(0);
    expect(t.disconnects).toBe(0);
    expect(t.lost).toBe(0);
    expect(t.duplicated).toBe(0);
    expect(t.out_of_order).toBe(0);
    expect(out.drained).toBe(true);
    expect(out.unacked).toBe(0);
    expect(r.latency_ms.count).toBeGreaterThan(0);
    expect(r.verdict, r.verdict_reasons.join('; ')).not.toBe('FAIL'); // WARN: no SLOs are set

    expect(out.rooms).toHaveLength(2);
    let finalSeqs = 0;
    for (const room of out.rooms) {
      // The load generator's view of the room (last acked seq) is the server's.
      expect(room.final_seq).toBeGreaterThan(0);
      expect(room.final_seq).toBe(srv.roomSeq(room.room));
      finalSeqs += room.final_seq;
      expect(room.clients).toBe(4);
      expect(room.probes).toBe(1);
      expect(room.seq.received).toBeGreaterThan(0);
      // Every counting client reached the room's last seq: it counted every chat since its join, no more.
      expect(room.counters_unchecked).toBe(0);
      expect(room.counters_short).toBe(0);
      expect(room.counters_over).toBe(0);
    }
    expect(finalSeqs).toBe(t.acked);
    // Echo is on and all 4 members of a room see each of its messages once they have joined.
    expect(t.delivered).toBeGreaterThan(0);
    expect(t.delivered).toBeLessThanOrEqual(t.acked * 4);
  }, 20_000);
});
