/**
 * The server keeps a frame parser on a connection only while a frame spans
 * reads; between frames parsers go back to a pool and serve other
 * connections (src/core/server.ts onData, memory per idle connection). These
 * tests interleave connections mid-frame and between frames over real
 * sockets, so a parser's state can never leak from one connection to another
 * (PROTOCOL.md §2 framing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, FrameClient, helloClient, sleep, startServer, type TestServer } from '../helpers/clients.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

/** Writes `bytes` in pieces of `size`, each as its own write, a moment apart so each is its own read. */
async function trickle(c: FrameClient, bytes: Buffer, size: number): Promise<void> {
  for (let i = 0; i < bytes.length; i += size) {
    c.raw(bytes.subarray(i, i + size));
    await sleep(2);
  }
}

describe('frame parsers reused between connections', () => {
  it('a frame split across reads on one connection is not disturbed by whole frames on others meanwhile', async () => {
    const a = await helloClient(server.port, 'split-a');
    const others = await Promise.all([1, 2, 3].map((i) => helloClient(server.port, `whole-${i}`)));
    const ping = frame({ type: 'ping', t: 'from-a' });
    // a: the length prefix and half the body, then the others send whole frames, then a finishes.
    a.raw(ping.subarray(0, 2));
    await sleep(5);
    a.raw(ping.subarray(2, 9));
    await sleep(5);
    for (const [i, c] of others.entries()) c.send({ type: 'ping', t: `whole-${i}` });
    for (const [i, c] of others.entries()) expect(await c.next((m) => m.type === 'pong' && m.t === `whole-${i}`)).not.toBeNull();
    a.raw(ping.subarray(9));
    expect(await a.next((m) => m.type === 'pong' && m.t === 'from-a')).not.toBeNull();
    for (const c of [a, ...others]) expect(c.closed).toBe(false);
    for (const c of [a, ...others]) c.end();
  });

  it('many connections trickling frames byte by byte and in odd pieces all get every answer, in order', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => helloClient(server.port, `trickle-${i}`)));
    await Promise.all(
      clients.map((c, i) => {
        const bytes = Buffer.concat(Array.from({ length: 5 }, (_, k) => frame({ type: 'ping', t: `${i}.${k}` })));
        return trickle(c, bytes, 1 + (i % 7));
      }),
    );
    for (const [i, c] of clients.entries()) {
      const got: string[] = [];
      for (let k = 0; k < 5; k++) {
        const pong = await c.type('pong');
        expect(pong, `pong ${i}.${k}`).not.toBeNull();
        got.push(String(pong!.t));
      }
      expect(got).toEqual([0, 1, 2, 3, 4].map((k) => `${i}.${k}`));
      expect(c.closed).toBe(false);
    }
    for (const c of clients) c.end();
  });

  it('a fatal framing error on one connection leaves parsers of others working', async () => {
    const bad = await helloClient(server.port, 'bad-frame');
    const good = await helloClient(server.port, 'good-frame');
    const zero = Buffer.alloc(4); // length 0: fatal bad_frame (PROTOCOL.md §2)
    bad.raw(zero);
    const err = await bad.type('error');
    expect(err).toMatchObject({ code: 'bad_frame', fatal: true });
    expect(await bad.waitClose()).toBe(true);
    for (let k = 0; k < 3; k++) {
      good.send({ type: 'ping', t: `g${k}` });
      expect(await good.next((m) => m.type === 'pong' && m.t === `g${k}`)).not.toBeNull();
    }
    good.end();
  });
});
