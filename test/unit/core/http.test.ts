/**
 * HTTP on the chat port (PROTOCOL.md §6): head reading, routing, serialising.
 */
import { describe, expect, it } from 'vitest';
import { MAX_HEAD_BYTES, readHead, route, serialize, statusOnly, type HttpRoutes } from '../../../src/core/http.js';

function routes(draining = false): HttpRoutes {
  return {
    stats: () => ({ msg_per_sec: 1, connections: 2 }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '# HELP x\nx 1\n' }),
    draining: () => draining,
  };
}

const b = (s: string) => Buffer.from(s, 'latin1');

describe('readHead', () => {
  it('is null while the head is incomplete', () => {
    expect(readHead(b(''))).toBeNull();
    expect(readHead(b('GET /stats HTTP/1.1\r\n'))).toBeNull();
    expect(readHead(b('GET /stats HTTP/1.1\r\nHost: x\r\n'))).toBeNull();
    expect(readHead(b('GET /stats HTTP/1.1\r\nHost: x\r\n\r'))).toBeNull();
  });

  it('returns the request line once the head ends with \\r\\n\\r\\n or \\n\\n', () => {
    expect(readHead(b('GET /stats HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe('GET /stats HTTP/1.1');
    expect(readHead(b('GET /stats HTTP/1.1\r\n\r\n'))).toBe('GET /stats HTTP/1.1');
    expect(readHead(b('GET /health HTTP/1.0\nHost: x\n\n'))).toBe('GET /health HTTP/1.0');
    expect(readHead(b('GET /health HTTP/1.0\n\n'))).toBe('GET /health HTTP/1.0');
    expect(readHead(b('HEAD /x HTTP/1.1\r\nA: b\r\n\r\ntrailing body'))).toBe('HEAD /x HTTP/1.1');
  });

  it('finds the end when the head arrives one byte at a time', () => {
    const head = b('GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n');
    for (let i = 1; i < head.length; i++) expect(readHead(head.subarray(0, i))).toBeNull();
    expect(readHead(head)).toBe('GET /metrics HTTP/1.1');
  });

  it('is too_large past 8 KiB without an end', () => {
    const pad = 'X-Pad: ' + 'p'.repeat(MAX_HEAD_BYTES);
    expect(readHead(b(`GET / HTTP/1.1\r\n${pad}`))).toBe('too_large');
    expect(readHead(b('G'.repeat(MAX_HEAD_BYTES)))).toBeNull();
    expect(readHead(b('G'.repeat(MAX_HEAD_BYTES + 1)))).toBe('too_large');
  });

  it('is too_large when the end arrives past 8 KiB', () => {
    const pad = 'X-Pad: ' + 'p'.repeat(MAX_HEAD_BYTES);
    expect(readHead(b(`GET / HTTP/1.1\r\n${pad}\r\n\r\n`))).toBe('too_large');
  });
});

describe('route', () => {
  it('GET /stats → 200 JSON', async () => {
    const r = await route('GET /stats HTTP/1.1', routes());
    expect(r.status).toBe(200);
    expect(r.contentType).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ msg_per_sec: 1, connections: 2 });
  });

  it('ignores the query string', async () => {
    expect((await route('GET /stats?pretty=1&x HTTP/1.1', routes())).status).toBe(200);
    expect((await route('GET /health? HTTP/1.1', routes())).status).toBe(200);
    expect((await route('GET /nope?/stats HTTP/1.1', routes())).status).toBe(404);
  });

  it('GET /metrics → the exposition with its content type', async () => {
    const r = await route('GET /metrics HTTP/1.1', routes());
    expect(r).toEqual({ status: 200, contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '# HELP x\nx 1\n' });
  });

  it('GET /health → 200 ok, 503 draining while shutting down', async () => {
    const ok = await route('GET /health HTTP/1.1', routes(false));
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ status: 'ok' });
    const draining = await route('GET /health HTTP/1.1', routes(true));
    expect(draining.status).toBe(503);
    expect(JSON.parse(draining.body)).toEqual({ status: 'draining' });
  });

  it.each(['/', '/stats/', '/STATS', '/favicon.ico', '/statsx'])('404 for %s', async (path) => {
    expect((await route(`GET ${path} HTTP/1.1`, routes())).status).toBe(404);
  });

  it.each(['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'])('405 for %s on a known path, 404 elsewhere', async (m) => {
    for (const path of ['/stats', '/metrics', '/health']) {
      const r = await route(`${m} ${path} HTTP/1.1`, routes());
      expect(r.status).toBe(405);
      expect(r.allow).toBe('GET, HEAD');
      expect(serialize(r).toString('latin1')).toMatch(/\r\nAllow: GET, HEAD\r\n/);
    }
    expect((await route(`${m} /nope HTTP/1.1`, routes())).status).toBe(404);
  });

  it('allows HEAD', async () => {
    expect((await route('HEAD /stats HTTP/1.1', routes())).status).toBe(200);
    expect((await route('HEAD /health HTTP/1.0', routes(true))).status).toBe(503);
  });
});

describe('serialize', () => {
  it('writes status, Content-Type, Content-Length (bytes) and Connection: close', () => {
    const out = serialize({ status: 200, contentType: 'application/json', body: '{"a":"é"}' }).toString('utf8');
    const [head, body] = out.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head).toContain('Content-Type: application/json');
    expect(head).toContain('Content-Length: 10');
    expect(head).toContain('Connection: close');
    expect(body).toBe('{"a":"é"}');
  });

  it('HEAD: same headers, no body', () => {
    const res = { status: 200, contentType: 'application/json', body: '{"x":1}' };
    const head = serialize(res, true).toString();
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    expect(head).toContain('Content-Length: 7');
    expect(serialize(res).toString().startsWith(head)).toBe(true);
  });

  it('statusOnly: 431 with a reason', () => {
    expect(statusOnly(431, 'too_large').toString()).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  });
});
