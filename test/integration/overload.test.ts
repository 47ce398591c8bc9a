/**
 * Load shedding (issue #5, performance monitor): an induced overload closes
 * non-critical features (voice, presence events), raises an alert (log and
 * webhook), and recovery reopens them after the hysteresis.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helloClient, join, sleep, startServer, type TestServer } from '../helpers/clients.js';

let hook: http.Server;
let hookUrl = '';
const alerts: { event: string; breaches: string[] }[] = [];

beforeAll(async () => {
  hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      alerts.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alert`;
});
afterAll(() => new Promise<void>((r) => hook.close(() => r())));

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await sleep(25);
  }
  return cond();
}

describe('overload shedding', () => {
  let s: TestServer;
  afterAll(() => s?.close());

  it('an error-rate breach sheds voice and presence, alerts, and recovers with hysteresis', async () => {
    s = await startServer({
      max_error_rate: 0.05,
      overload_check_ms: 100,
      overload_recover_checks: 3,
      alert_webhook_url: hookUrl,
      rate_msgs_per_sec: 100_000,
      rate_burst: 100_000,
      error_budget: 1_000_000,
    });
    const a = await helloClient(s.port, 'ova');
    const b = await helloClient(s.port, 'ovb');
    await join(a, 'ovroom');
    await join(b, 'ovroom');
    expect(await a.type('member_joined')).toMatchObject({ nick: 'ovb' });
    a.send({ type: 'start_voice', room: 'ovroom' });
    expect(await a.type('voice_started')).not.toBeNull();
    expect(s.server.stats().overloaded).toBe(false);

    // Induce: 200 unknown types (> MIN_WINDOW_ENVELOPES, error rate ~100%).
    for (let i = 0; i < 200; i++) b.send({ type: 'nope' });
    expect(await waitFor(() => s.server.stats().overloaded, 3000)).toBe(true);
    expect(await waitFor(() => alerts.some((x) => x.event === 'overloaded'), 3000)).toBe(true);
    expect(alerts.find((x) => x.event === 'overloaded')!.breaches.join()).toMatch(/error_rate/);

    // Voice is closed, presence events are not sent, chat still works.
    a.send({ type: 'start_voice', room: 'ovroom' });
    expect(await a.next((m) => m.type === 'error' && m.code === 'feature_disabled')).not.toBeNull();
    const c = await helloClient(s.port, 'ovc');
    await join(c, 'ovroom');
    expect(await a.next((m) => m.type === 'member_joined' && m.nick === 'ovc', 400)).toBeNull();
    a.send({ type: 'send_chat', room: 'ovroom', text: 'still here' });
    expect(await b.next((m) => m.type === 'chat' && m.text === 'still here')).not.toBeNull();

    // Recovery: good traffic until the 10-s window's error rate falls below 5%, then 3 healthy checks.
    const stop = Date.now() + 15_000;
    let n = 0;
    while (!alerts.some((x) => x.event === 'recovered') && Date.now() < stop) {
      for (let i = 0; i < 100; i++) a.send({ type: 'ping', t: n++ });
      await sleep(100);
    }
    expect(alerts.some((x) => x.event === 'recovered')).toBe(true);
    expect(s.server.stats().overloaded).toBe(false);
    a.send({ type: 'start_voice', room: 'ovroom' });
    expect(await a.type('voice_started')).not.toBeNull();
    const d = await helloClient(s.port, 'ovd');
    await join(d, 'ovroom');
    expect(await a.next((m) => m.type === 'member_joined' && m.nick === 'ovd')).not.toBeNull();
    for (const x of [a, b, c, d]) x.end();
  }, 30_000);

  it('a handful of errors on a quiet server is not an overload', async () => {
    const q = await startServer({ max_error_rate: 0.01, max_latency_ms: 1, overload_check_ms: 100 });
    const a = await helloClient(q.port, 'quiet');
    for (let i = 0; i < 5; i++) a.send({ type: 'bogus' });
    await sleep(400);
    expect(q.server.stats().overloaded).toBe(false);
    a.end();
    await q.close();
  });
});
