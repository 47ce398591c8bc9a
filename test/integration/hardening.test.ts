/**
 * Hardening limits over real sockets, with small config values to keep it
 * fast (PROTOCOL.md §3 heartbeats and errors, §5 idle limit; config keys in
 * src/core/config.ts; policy in docs/errors.md):
 * heartbeats and idle limits, the per-frame deadline, the rate limit, the
 * error budget, JSON shape bounds, the per-IP connection cap, invalid UTF-8.
 *
 * Timing assertions are deliberately loose: they check that a thing happens,
 * and that it does not happen far too early, not exact times. The sweep that
 * drives these limits runs every heartbeat_ms / 4.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/index.js';
import { frame, FrameClient, helloClient, httpRequest, JsonClient, sleep, startServer, TextClient, type TestServer } from '../helpers/clients.js';

type EnvClient = FrameClient | JsonClient;

/** Next `error`: fatal with `code`, then the server closes the socket (PROTOCOL.md §3). */
async function expectFatal(c: EnvClient, code: string, ms = 3000): Promise<Envelope> {
  const err = await c.type('error', ms);
  expect(err, `fatal ${code}`).toMatchObject({ type: 'error', code, fatal: true });
  expect(typeof err!.message).toBe('string');
  expect(await c.waitClose(2000), 'socket closed after the fatal error').toBe(true);
  return err!;
}

let pingNo = 0;
/** The connection still answers: ping → pong with the same `t`. */
async function expectUsable(c: EnvClient): Promise<void> {
  const t = `u${++pingNo}`;
  c.send({ type: 'ping', t });
  expect(await c.next((m) => m.type === 'pong' && m.t === t), `pong ${t}`).not.toBeNull();
  expect(c.closed).toBe(false);
}

const since = (t0: number) => performance.now() - t0;

// ------------------------------------------------------------------ heartbeats, idle limits, frame deadline

describe('heartbeats and idle limits (heartbeat_ms 200, heartbeat_timeout_ms 600, text_idle_ms 1000)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ heartbeat_ms: 200, heartbeat_timeout_ms: 600, text_idle_ms: 1000, frame_deadline_ms: 300 });
  });
  afterAll(() => s.close());

  describe.concurrent('heartbeats', () => {
    it('binary: a silent client gets `ping` {t} after ~heartbeat_ms; answering `pong` keeps it open', async () => {
      const c = await FrameClient.connect(s.port);
      c.send({ type: 'hello', nick: 'hb-pong' });
      expect(await c.type('welcome')).toMatchObject({ heartbeat_ms: 200 });
      const t0 = performance.now();
      const ping = await c.type('ping', 2000);
      const dt = since(t0);
      expect(ping, 'ping after silence').not.toBeNull();
      expect(typeof ping!.t).toBe('number');
      expect(dt, 'not pinged before heartbeat_ms').toBeGreaterThanOrEqual(150);
      expect(dt).toBeLessThan(1500);
      c.send({ type: 'pong', t: ping!.t });
      // Keep answering for well over heartbeat_timeout_ms: never closed, pinged again and again.
      let pings = 1;
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        const p = await c.type('ping', Math.max(1, until - Date.now()));
        if (!p) break;
        pings++;
        c.send({ type: 'pong', t: p.t });
      }
      expect(c.closed).toBe(false);
      expect(pings).toBeGreaterThanOrEqual(3);
      expect(c.inbox.filter((m) => m.type === 'error')).toEqual([]);
      await expectUsable(c);
      c.end();
    });

    it('binary: a client that stays silent is pinged, then closed with fatal idle_timeout after ~heartbeat_timeout_ms', async () => {
      const c = await FrameClient.connect(s.port);
      const t0 = performance.now();
      c.send({ type: 'ping', t: 0 });
      expect(await c.type('pong')).not.toBeNull();
      expect(await c.type('ping', 2000)).toMatchObject({ type: 'ping', t: expect.any(Number) });
      await expectFatal(c, 'idle_timeout');
      const dt = since(t0);
      expect(dt, 'not closed before heartbeat_timeout_ms').toBeGreaterThanOrEqual(500);
      expect(dt).toBeLessThan(3000);
    });

    it('json-lines: pinged after ~heartbeat_ms, `pong` keeps it open; silent: fatal idle_timeout', async () => {
      const keep = await JsonClient.connect(s.port);
      const quiet = await JsonClient.connect(s.port);
      const t0 = performance.now();
      keep.send({ type: 'hello', nick: 'jl-pong' });
      quiet.send({ type: 'hello', nick: 'jl-quiet' });
      expect(await keep.type('welcome')).toMatchObject({ heartbeat_ms: 200 });
      expect(await quiet.type('welcome')).not.toBeNull();
      const ping = await keep.type('ping', 2000);
      expect(ping).toMatchObject({ type: 'ping', t: expect.any(Number) });
      expect(since(t0)).toBeGreaterThanOrEqual(150);
      keep.send({ type: 'pong', t: ping!.t });
      expect(await quiet.type('ping', 2000)).toMatchObject({ type: 'ping', t: expect.any(Number) });
      await expectFatal(quiet, 'idle_timeout');
      expect(since(t0)).toBeGreaterThanOrEqual(500);
      // `keep` answered at ~200 ms and is pinged again but only closed at ~200 + 600 ms: answer once more.
      const again = await keep.type('ping', 2000);
      expect(again).not.toBeNull();
      keep.send({ type: 'pong', t: again!.t });
      await sleep(300);
      expect(keep.closed).toBe(false);
      await expectUsable(keep);
      keep.end();
    });

    it('any inbound bytes count as liveness: a client that keeps talking is never pinged', async () => {
      const c = await FrameClient.connect(s.port);
      const until = Date.now() + 1000;
      while (Date.now() < until) {
        await expectUsable(c);
        await sleep(100);
      }
      expect(c.inbox.filter((m) => m.type === 'ping')).toEqual([]);
      c.end();
    });

    it('text: never pinged; closed with `! idle_timeout: ...` after ~text_idle_ms, not heartbeat_timeout_ms', async () => {
      const c = await TextClient.connect(s.port);
      c.line('/nick texty');
      expect(await c.expect(/^\* welcome/)).not.toBeNull();
      expect(await c.expect('* you are now texty')).not.toBeNull();
      const t0 = performance.now();
      const idle = await c.expect(/^! idle_timeout: /, 4000);
      const dt = since(t0);
      expect(idle, 'idle_timeout line').not.toBeNull();
      expect(dt, 'text mode is not subject to heartbeat_timeout_ms').toBeGreaterThanOrEqual(800);
      expect(dt).toBeLessThan(4000);
      expect(await c.waitClose(2000)).toBe(true);
      expect(c.inbox, 'nothing but the idle line after the notices (no ping)').toEqual([]);
    });

    it('undecided: a connection that sent only `GE` is destroyed without a word after ~text_idle_ms', async () => {
      const c = await TextClient.connect(s.port);
      const t0 = performance.now();
      c.raw('GE');
      expect(await c.waitClose(4000)).toBe(true);
      expect(since(t0)).toBeGreaterThanOrEqual(800);
      expect(c.inbox).toEqual([]);
    });
  });

  describe.concurrent('per-frame deadline (frame_deadline_ms 300)', () => {
    it('binary: a frame trickling one byte every 100 ms is closed with fatal idle_timeout', async () => {
      const c = await helloClient(s.port, 'trickle');
      const slow = frame({ type: 'ping', t: 'x'.repeat(100) });
      const t0 = performance.now();
      for (let i = 0; i < slow.length && !c.closed; i++) {
        c.raw(slow.subarray(i, i + 1));
        await sleep(100);
      }
      const dt = since(t0);
      expect(c.closed, 'closed before the frame completed').toBe(true);
      expect(dt).toBeGreaterThanOrEqual(250);
      expect(dt).toBeLessThan(3000);
      expect(c.inbox.find((m) => m.type === 'pong')).toBeUndefined();
      await expectFatal(c, 'idle_timeout', 100);
    });

    it('json-lines: a line trickling one byte every 100 ms is closed with fatal idle_timeout', async () => {
      const c = await JsonClient.connect(s.port);
      c.send({ type: 'ping', t: 'first' });
      expect(await c.type('pong')).toMatchObject({ t: 'first' });
      const slow = Buffer.from(`${JSON.stringify({ type: 'ping', t: 'y'.repeat(100) })}\n`);
      const t0 = performance.now();
      for (let i = 0; i < slow.length && !c.closed; i++) {
        c.raw(slow.subarray(i, i + 1));
        await sleep(100);
      }
      const dt = since(t0);
      expect(c.closed, 'closed before the line completed').toBe(true);
      expect(dt).toBeGreaterThanOrEqual(250);
      expect(dt).toBeLessThan(3000);
      await expectFatal(c, 'idle_timeout', 100);
    });

    it('a frame or line completed within the deadline, in pieces, is fine', async () => {
      const c = await FrameClient.connect(s.port);
      const f = frame({ type: 'ping', t: 'pieces' });
      c.raw(f.subarray(0, 3));
      await sleep(60);
      c.raw(f.subarray(3, 9));
      await sleep(60);
      c.raw(f.subarray(9));
      expect(await c.type('pong')).toMatchObject({ t: 'pieces' });
      const j = await JsonClient.connect(s.port);
      j.raw('{"type":"ping",');
      await sleep(120);
      j.raw('"t":"line"}\n');
      expect(await j.type('pong')).toMatchObject({ t: 'line' });
      // Many frames in a row, each on time, well past the deadline in total.
      for (let i = 0; i < 5; i++) {
        c.raw(f.subarray(0, 5));
        await sleep(60);
        c.raw(f.subarray(5));
        expect(await c.type('pong')).toMatchObject({ t: 'pieces' });
      }
      expect(c.closed).toBe(false);
      expect(j.closed).toBe(false);
      c.end();
      j.end();
    });

    it('a steady stream whose chunks always end mid-frame / mid-line is not cut off: the deadline is per frame', async () => {
      // Each write ends frame i and starts frame i + 1, so some frame is always
      // unfinished between chunks, but none takes longer than ~60 ms.
      for (const Client of [FrameClient, JsonClient]) {
        const c = await Client.connect(s.port);
        const enc = (i: number) => (Client === FrameClient ? frame({ type: 'ping', t: i }) : Buffer.from(`${JSON.stringify({ type: 'ping', t: i })}\n`));
        const n = 12;
        let prev = enc(0);
        c.raw(prev.subarray(0, 6));
        for (let i = 1; i <= n; i++) {
          await sleep(60);
          const next = enc(i);
          c.raw(i < n ? Buffer.concat([prev.subarray(6), next.subarray(0, 6)]) : prev.subarray(6));
          prev = next;
        }
        for (let i = 0; i < n; i++) expect(await c.next((m) => m.type === 'pong' && m.t === i), `pong ${i}`).not.toBeNull();
        expect(c.inbox.filter((m) => m.type === 'error')).toEqual([]);
        expect(c.closed).toBe(false);
        c.end();
      }
    });
  });
});

// ------------------------------------------------------------------ rate limit, error budget, JSON bounds, UTF-8

describe('rate limit, error budget, JSON bounds (rate 50/s burst 20, error_budget 10, depth 4, keys 8)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ rate_msgs_per_sec: 50, rate_burst: 20, error_budget: 10, max_json_depth: 4, max_json_keys: 8 });
  });
  afterAll(() => s.close());

  /** Collects `n` answers (pongs and errors), in arrival order. */
  async function answers(c: EnvClient, n: number): Promise<Envelope[]> {
    const out: Envelope[] = [];
    while (out.length < n) {
      const m = await c.next((e) => e.type === 'pong' || e.type === 'error');
      if (!m) break;
      out.push(m);
    }
    return out;
  }

  it.each([
    ['binary', FrameClient],
    ['json-lines', JsonClient],
  ] as const)('%s: 100 envelopes at once: burst handled, the rest rate_limited with ref; no close; later it may send again', async (_, Client) => {
    const c = await Client.connect(s.port);
    const burst = Array.from({ length: 100 }, (_, i) => ({ type: 'ping', t: i, id: `p${i}` }));
    c.raw(Client === FrameClient ? Buffer.concat(burst.map((e) => frame(e))) : burst.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const got = await answers(c, 100);
    expect(got).toHaveLength(100);
    const pongs = got.filter((m) => m.type === 'pong');
    const limited = got.filter((m) => m.type === 'error');
    for (const e of limited) expect(e).toMatchObject({ code: 'rate_limited', fatal: false, ref: expect.stringMatching(/^p\d+$/) });
    // Every envelope answered exactly once: a pong or a rate_limited naming it.
    const answered = [...pongs.map((m) => `p${m.t as number}`), ...limited.map((m) => m.ref as string)].sort();
    expect(answered).toEqual(burst.map((e) => e.id).sort());
    expect(pongs.length, 'at least the burst is handled').toBeGreaterThanOrEqual(20);
    expect(limited.length, 'some are rate_limited').toBeGreaterThan(40);
    // The first 20 (the bucket) are never the limited ones.
    expect(pongs.map((m) => m.t).slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // 80-ish rate_limited errors, far past error_budget 10: not counted, the connection stays open.
    expect(c.closed).toBe(false);
    await sleep(500); // refills 25 tokens, capped at the burst of 20
    await expectUsable(c);
    // The error budget is untouched: 10 more non-fatal errors are still allowed.
    for (let i = 0; i < 10; i++) c.send({ type: 'join_room', room: 'bad room', id: `b${i}` });
    const bad = await answers(c, 10);
    expect(bad.map((m) => [m.code, m.fatal])).toEqual(Array.from({ length: 10 }, () => ['bad_request', false]));
    await expectUsable(c);
    c.end();
  });

  it('text mode is rate limited too: `! rate_limited: ...`, and the client stays', async () => {
    const c = await TextClient.connect(s.port);
    c.raw(Array.from({ length: 40 }, () => '/rooms\n').join(''));
    expect(await c.expect(/^! rate_limited: /)).not.toBeNull();
    await sleep(500);
    c.line('/rooms');
    expect(await c.expect(/^\* (rooms|no rooms)/)).not.toBeNull();
    expect(c.closed).toBe(false);
    c.end();
  });

  /** Eleven kinds of bad request: bad_request, bad_json, unknown_type, not_in_room. */
  const BAD: (Envelope | Buffer)[] = [
    { type: 'join_room', room: 'bad room' },
    Buffer.from('not json'),
    { type: 'no_such_type' },
    { type: 'send_chat', room: 'nowhere', text: 'x' },
    { type: 'history', room: 'r', limit: 1.5 },
    Buffer.from('[1]'),
    { nope: true } as unknown as Envelope,
    { type: 'who', room: '' },
    { type: 'leave_room', room: 'not-joined' },
    { type: 'hello', nick: 'late' },
    { type: 'join_room', room: 'x'.repeat(65) },
  ];
  const rawFrame = (body: Buffer) => {
    const out = Buffer.alloc(5 + body.length);
    out.writeUInt32BE(body.length + 1, 0);
    body.copy(out, 5);
    return out;
  };
  const badBytes = (n: number) => Buffer.concat(BAD.slice(0, n).map((b) => (Buffer.isBuffer(b) ? rawFrame(b) : frame(b))));

  it('error budget 10: ten bad requests within 10 s leave the connection open', async () => {
    const c = await FrameClient.connect(s.port);
    c.send({ type: 'ping', t: 'first' }); // so the late hello among BAD is late
    await c.type('pong');
    c.raw(badBytes(10));
    const errs = await answers(c, 10);
    expect(errs).toHaveLength(10);
    for (const e of errs) expect(e).toMatchObject({ type: 'error', fatal: false });
    expect(new Set(errs.map((e) => e.code))).toEqual(new Set(['bad_request', 'bad_json', 'unknown_type', 'not_in_room']));
    await sleep(100);
    expect(c.closed).toBe(false);
    await expectUsable(c);
    c.end();
  });

  it('error budget 10: the eleventh within 10 s is fatal too_many_errors and closes', async () => {
    const c = await FrameClient.connect(s.port);
    c.send({ type: 'ping', t: 'first' });
    await c.type('pong');
    c.raw(badBytes(11));
    const errs = await answers(c, 11);
    expect(errs.slice(0, 10).every((e) => e.fatal === false)).toBe(true);
    expect(errs[10]).toMatchObject({ type: 'error', code: 'too_many_errors', fatal: true });
    expect(await c.waitClose(2000)).toBe(true);
  });

  it('error budget over json-lines too', async () => {
    const c = await JsonClient.connect(s.port);
    c.raw(Array.from({ length: 11 }, (_, i) => `{"type":"join_room","room":"bad room ${i}"}\n`).join(''));
    const errs = await answers(c, 11);
    expect(errs.slice(0, 10).map((e) => e.code)).toEqual(Array.from({ length: 10 }, () => 'bad_request'));
    expect(errs[10]).toMatchObject({ code: 'too_many_errors', fatal: true });
    expect(await c.waitClose(2000)).toBe(true);
  });

  it('max_json_depth 4: at the bound accepted; deeper: non-fatal bad_request', async () => {
    for (const Client of [FrameClient, JsonClient]) {
      const c = await Client.connect(s.port);
      // The envelope is depth 1: t = [[[1]]] reaches 4.
      c.send({ type: 'ping', t: [[[1]]] });
      expect(await c.next((m) => m.type === 'pong' || m.type === 'error')).toMatchObject({ type: 'pong', t: [[[1]]] });
      c.send({ type: 'ping', t: { a: { b: { c: 1 } } }, u: [] });
      expect(await c.next((m) => m.type === 'pong' || m.type === 'error')).toMatchObject({ type: 'pong', t: { a: { b: { c: 1 } } } });
      c.send({ type: 'ping', t: [[[[1]]]] });
      expect(await c.type('error')).toMatchObject({ code: 'bad_request', fatal: false });
      c.send({ type: 'ping', t: { a: { b: { c: { d: 1 } } } } });
      expect(await c.type('error')).toMatchObject({ code: 'bad_request', fatal: false });
      await expectUsable(c);
      c.end();
    }
  });

  it('max_json_keys 8: at the bound accepted; wider: non-fatal bad_request', async () => {
    const fields = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    for (const Client of [FrameClient, JsonClient]) {
      const c = await Client.connect(s.port);
      // type + t + 6 = 8 keys.
      c.send({ type: 'ping', t: 8, ...fields(6) });
      expect(await c.next((m) => m.type === 'pong' || m.type === 'error')).toMatchObject({ type: 'pong', t: 8 });
      // Keys of nested objects count too: type + t + 6 inside t = 8.
      c.send({ type: 'ping', t: fields(6) });
      expect(await c.next((m) => m.type === 'pong' || m.type === 'error')).toMatchObject({ type: 'pong', t: fields(6) });
      c.send({ type: 'ping', t: 9, ...fields(7) });
      expect(await c.type('error')).toMatchObject({ code: 'bad_request', fatal: false });
      c.send({ type: 'ping', t: { ...fields(6), more: [{ x: 1 }] } });
      expect(await c.type('error')).toMatchObject({ code: 'bad_request', fatal: false });
      await expectUsable(c);
      c.end();
    }
  });

  it('invalid UTF-8 in a binary frame: non-fatal bad_json', async () => {
    const c = await FrameClient.connect(s.port);
    c.raw(rawFrame(Buffer.concat([Buffer.from('{"type":"ping","t":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])));
    expect(await c.type('error')).toMatchObject({ code: 'bad_json', fatal: false });
    await expectUsable(c);
    c.end();
  });
});

// ------------------------------------------------------------------ per-IP cap

describe('per-IP cap (max_connections_per_ip 2)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ max_connections_per_ip: 2 });
  });
  afterAll(() => s.close());

  it('the third connection from 127.0.0.1 gets fatal server_busy on its first bytes; a slot frees on close', async () => {
    const c1 = await helloClient(s.port, 'ip-one');
    const c2 = await helloClient(s.port, 'ip-two');
    // Nothing is sent before the client's first bytes (PROTOCOL.md §1), even to a refused one.
    const c3 = await FrameClient.connect(s.port);
    await sleep(100);
    expect(c3.inbox).toEqual([]);
    expect(c3.closed).toBe(false);
    c3.send({ type: 'hello', nick: 'ip-three' });
    await expectFatal(c3, 'server_busy');
    expect(c3.inbox.find((m) => m.type === 'welcome')).toBeUndefined();
    // In every mode: json-lines, text, HTTP 503.
    const j = await JsonClient.connect(s.port);
    j.send({ type: 'ping' });
    await expectFatal(j, 'server_busy');
    const t = await TextClient.connect(s.port);
    t.line('/rooms');
    expect(await t.expect(/^! server_busy: /)).not.toBeNull();
    expect(await t.waitClose()).toBe(true);
    expect((await httpRequest(s.port, '/health')).status).toBe(503);
    // The two admitted ones are unaffected.
    await expectUsable(c1);
    await expectUsable(c2);
    // Refused connections do not hold slots; closing an admitted one frees one.
    c1.end();
    let c4: FrameClient | null = null;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      const c = await FrameClient.connect(s.port);
      c.send({ type: 'ping', t: 'slot' });
      const m = await c.next((e) => e.type === 'pong' || e.type === 'error');
      if (m?.type === 'pong') {
        c4 = c;
        break;
      }
      c.end();
      await sleep(50);
    }
    expect(c4, 'a new connection is admitted once one closed').not.toBeNull();
    await expectUsable(c2);
    c2.end();
    c4!.end();
  });
});
