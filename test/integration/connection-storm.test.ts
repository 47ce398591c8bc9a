/**
 * A connection storm against the listen backlog (config `tcp_backlog`):
 * many clients connect at the same moment and each sends its first bytes in
 * two writes, the first only 3 bytes. Past the backlog, Linux answers with
 * SYN cookies, and a connection made from a cookie can lose those first
 * bytes below the server: the server then sees `ype":"ping"}` and decides
 * text mode (PROTOCOL.md §1), so a JSON-lines client gets a text greeting.
 * Found by the server fuzz's storm at 3,000 connections with Node's default
 * backlog of 511 (docs/performance.md). Every client here must get its
 * `pong` as a JSON line.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/clients.js';

/** Above Node's default backlog (511) by far; 3,000 lost first bytes of 223 clients with it (plain Node, docs/performance.md). */
const CLIENTS = 2500;

/** The kernel caps any listen backlog at net.core.somaxconn; below CLIENTS this test cannot show anything. */
function somaxconn(): number {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  } catch {
    return 0;
  }
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ max_connections_per_ip: 10_000 });
});
afterAll(() => server.close());

/** Connects, writes `{"t`, then the rest of a ping line on the next turn; resolves with the first line back. */
function pingSplit(port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.setNoDelay(true);
    let got = '';
    const done = (line: string) => {
      sock.destroy();
      resolve(line);
    };
    const timer = setTimeout(() => done(`(nothing within 10 s; got ${JSON.stringify(got)})`), 10_000);
    sock.on('data', (d: Buffer) => {
      got += d.toString('utf8');
      const nl = got.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        done(got.slice(0, nl));
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(`(closed; got ${JSON.stringify(got)})`);
    });
    sock.on('connect', () => {
      sock.write('{"t');
      setImmediate(() => sock.write('ype":"ping","t":1}\n'));
    });
  });
}

describe('connection storm (tcp_backlog)', () => {
  it.runIf(somaxconn() >= CLIENTS)(`${CLIENTS} clients connecting at once, first bytes split: every one is detected as JSON lines and gets its pong`, async () => {
    const lines = await Promise.all(Array.from({ length: CLIENTS }, () => pingSplit(server.port)));
    const wrong = lines.filter((l) => l !== '{"type":"pong","t":1}');
    expect(wrong.slice(0, 5), `${wrong.length} of ${CLIENTS} clients got something else`).toEqual([]);
  }, 30_000);
});
