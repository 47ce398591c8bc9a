import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helloClient, httpRequest, join, startServer, type TestServer } from '../helpers/clients.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(() => s.close());

describe('HTTP on the chat port (PROTOCOL.md §6)', () => {
  it('/stats has every contract field as a number, JSON content type', async () => {
    const r = await httpRequest(s.port, '/stats');
    expect(r.status).toBe(200);
    expect(r.head).toMatch(/^content-type: application\/json/im);
    expect(r.head).toMatch(/^connection: close/im);
    const body = JSON.parse(r.body);
    for (const f of ['msg_per_sec', 'deliveries_per_sec', 'latency_p99_ms', 'memory_mb', 'connections', 'error_rate', 'uptime_s', 'rooms', 'messages_total']) {
      expect(typeof body[f], f).toBe('number');
    }
  });

  it('/stats figures move after traffic', async () => {
    const before = JSON.parse((await httpRequest(s.port, '/stats')).body);
    const a = await helloClient(s.port, 'sa');
    const b = await helloClient(s.port, 'sb');
    await join(a, 'stats-room');
    await join(b, 'stats-room');
    for (let i = 0; i < 20; i++) a.send({ type: 'send_chat', room: 'stats-room', text: `m${i}` });
    for (let i = 0; i < 20; i++) expect(await b.type('chat')).not.toBeNull();
    a.send({ type: 'no_such_type' });
    await a.type('error');
    const after = JSON.parse((await httpRequest(s.port, '/stats')).body);
    expect(after.messages_total - before.messages_total).toBe(20);
    expect(after.msg_per_sec).toBeGreaterThan(before.msg_per_sec);
    expect(after.deliveries_per_sec).toBeGreaterThan(before.deliveries_per_sec);
    expect(after.latency_p99_ms).toBeGreaterThan(0);
    expect(after.error_rate).toBeGreaterThan(0);
    expect(after.connections).toBeGreaterThanOrEqual(3); // a, b and this HTTP request
    expect(after.rooms).toBeGreaterThanOrEqual(1);
    expect(after.memory_mb).toBeGreaterThan(10);
    a.end();
    b.end();
  });

  it('/health is ok while serving; /metrics is Prometheus text with our counters', async () => {
    const h = await httpRequest(s.port, '/health');
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body)).toEqual({ status: 'ok' });
    const m = await httpRequest(s.port, '/metrics');
    expect(m.status).toBe(200);
    expect(m.head).toMatch(/^content-type: text\/plain; version=0\.0\.4/im);
    expect(m.body).toMatch(/^tcpserver_messages_total \d+/m);
    expect(m.body).toMatch(/^tcpserver_connections \d+/m);
  });

  it('unknown path 404, other method 405, query string ignored, HEAD has no body', async () => {
    expect((await httpRequest(s.port, '/nope')).status).toBe(404);
    expect((await httpRequest(s.port, '/stats', 'POST')).status).toBe(405);
    expect((await httpRequest(s.port, '/health?x=1')).status).toBe(200);
    const head = await httpRequest(s.port, '/stats', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });
});
