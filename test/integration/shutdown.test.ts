/**
 * Graceful shutdown of the real process (`node dist/src/main.js`, built by
 * `npm test` before vitest runs): SIGTERM → /health 503, `shutdown` to chat
 * clients, exit 0 within shutdown_timeout_ms; logs reach the log file.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join as pathJoin, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FrameClient, helloClient, httpRequest, join, TextClient } from '../helpers/clients.js';

const MAIN = resolve('dist/src/main.js');

function startProcess(env: Record<string, string>) {
  const dir = mkdtempSync(pathJoin(tmpdir(), 'tcpserver-'));
  const logFile = pathJoin(dir, 'logs', 'server.log');
  const child = spawn(process.execPath, [MAIN], {
    cwd: dir,
    env: { PATH: process.env.PATH, tcp_port: '0', voice_udp_port: '0', log_file: logFile, log_level: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const port = new Promise<number>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no listening line: ${out}`)), 10_000);
    child.stdout.on('data', () => {
      const m = /listening on [^:\s]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        res(Number(m[1]));
      }
    });
  });
  const exited = new Promise<{ code: number | null; ms: number }>((res) => {
    let signalledAt = 0;
    child.once('exit', (code) => res({ code, ms: Date.now() - signalledAt }));
    (child as unknown as { markSignal: () => void }).markSignal = () => (signalledAt = Date.now());
  });
  const signal = (sig: NodeJS.Signals) => {
    (child as unknown as { markSignal: () => void }).markSignal();
    child.kill(sig);
  };
  return { child, port, exited, signal, logFile, output: () => out };
}

describe('graceful shutdown', () => {
  it('SIGTERM drains: health 503, shutdown envelope with jittered reconnect_ms, exit 0 in time', async () => {
    const p = startProcess({ shutdown_timeout_ms: '3000', shutdown_jitter_ms: '2000' });
    const port = await p.port;
    const a = await helloClient(port, 'drainer');
    await join(a, 'bye');
    const t = await TextClient.connect(port);
    t.line('/join bye');
    await t.expect(/^\* joined bye/);
    // An HTTP request whose head completes only after the drain began.
    const httpSock = net.connect({ port, host: '127.0.0.1' });
    await new Promise((r) => httpSock.once('connect', r));
    httpSock.write('GET /health HTTP/1.1\r\n');
    let httpReply = '';
    httpSock.on('data', (d) => (httpReply += d));
    const httpClosed = new Promise((r) => httpSock.once('close', r));
    await new Promise((r) => setTimeout(r, 100));

    p.signal('SIGTERM');
    const sd = await a.type('shutdown', 3000);
    expect(sd).not.toBeNull();
    expect(Number.isInteger(sd!.reconnect_ms)).toBe(true);
    expect(sd!.reconnect_ms).toBeGreaterThanOrEqual(0);
    expect(sd!.reconnect_ms).toBeLessThanOrEqual(2000);
    expect(await t.expect(/^\* server is shutting down; reconnect in \d+ ms$/, 3000)).not.toBeNull();
    httpSock.write('Host: x\r\n\r\n');
    await httpClosed;
    expect(httpReply).toMatch(/^HTTP\/1\.1 503/);
    expect(httpReply).toContain('"status":"draining"');
    expect(await a.waitClose(3000)).toBe(true);
    expect(await t.waitClose(3000)).toBe(true);
    const { code, ms } = await p.exited;
    expect(code).toBe(0);
    expect(ms).toBeLessThan(3000 + 1500);
    // New connections are refused once draining.
    await expect(
      new Promise((res, rej) => net.connect({ port, host: '127.0.0.1' }).once('connect', res).once('error', rej)),
    ).rejects.toThrow();
    const log = readFileSync(p.logFile, 'utf8');
    expect(log).toContain('"msg":"listening"');
    expect(log).toContain('"msg":"draining"');
  });

  it('a client that never reads does not hold the exit past shutdown_timeout_ms; meanwhile new HTTP gets 503 and new chat server_busy', async () => {
    const p = startProcess({ shutdown_timeout_ms: '1500' });
    const port = await p.port;
    const a = await helloClient(port, 'stuck');
    await join(a, 'r');
    a.sock.pause(); // stops reading; the server's FIN still arrives but we never end our side
    p.signal('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    const health = await httpRequest(port, '/health');
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body)).toEqual({ status: 'draining' });
    const late = await FrameClient.connect(port);
    late.send({ type: 'ping' });
    expect(await late.type('error')).toMatchObject({ code: 'server_busy', fatal: true });
    const { code, ms } = await p.exited;
    expect(code).toBe(0);
    expect(ms).toBeLessThan(1500 + 1500);
    a.end();
  });
});
