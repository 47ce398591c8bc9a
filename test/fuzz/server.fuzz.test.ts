/**
 * Fuzzing the real server over real sockets (PROTOCOL.md §1–§6): batches of
 * connections send random bytes behind a random mode prefix (0x00 binary,
 * `{` json-lines, text, `GET ` HTTP, or nothing), valid frames and lines
 * mixed with garbage, in random chunkings and paces, and hang up in random
 * ways. Meanwhile:
 *
 * - every byte the server writes back is well-formed for the connection's
 *   mode: frames within max_frame_bytes holding JSON objects with a string
 *   `type`; every `error` carries a PROTOCOL.md §3 code with its fatality;
 *   nothing follows a fatal error; text lines are notices, errors or chats;
 *   HTTP gets a status line; an undecided connection gets nothing;
 * - after each batch, a healthy pair in a room still chats (ack + delivery);
 * - a storm of connections at once, then a second one: after it RSS has
 *   grown by less than STORM_LEAK_MB over the first (a leak would add as
 *   much again);
 * - at the end /health is 200, every fuzz connection has left the pool, the
 *   memory held by JS objects and Buffers (V8 heap used + external, after a
 *   full GC at both ends) grew by less than 100 MB, and there was no
 *   unhandled rejection.
 *
 * Bounded in CI (~60 batches + two storms of 200 connections); FUZZ_RUNS scales
 * both up (`FUZZ_RUNS=2000 npx vitest run test/fuzz/server.fuzz.test.ts`).
 * A failing batch prints fast-check's seed and the shrunk scripts.
 */
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WIRE_ERRORS, type Envelope } from '../../src/index.js';
import { detectMode, type Mode } from '../../src/core/mode-detect.js';
import { binaryString as str, clientEnvelopeArb } from '../helpers/arbitraries.js';
import { envelopeProblems, fullGc as gc } from '../helpers/checks.js';
import { chunk, frame, helloClient, httpRequest, join, sleep, startServer, type FrameClient, type TestServer } from '../helpers/clients.js';

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS) > 0 ? Number(process.env.FUZZ_RUNS) : 0;
/** fast-check batches (1–6 connections each). */
const BATCHES = FUZZ_RUNS ? Math.max(60, Math.floor(FUZZ_RUNS / 10)) : 60;
/** Connections opened at once in the storm. */
const STORM = FUZZ_RUNS ? Math.max(200, Math.floor(FUZZ_RUNS / 2)) : 200;
/**
 * What a second storm may add to RSS over the first's, MB: native memory
 * (sockets, read buffers) is reused, not grown, unless it leaks.
 */
const STORM_LEAK_MB = 20;
/** Per test, ms; 0 (no timeout, vitest) for a scaled-up run, which takes as long as FUZZ_RUNS makes it. */
const TIMEOUT = FUZZ_RUNS ? 0 : 20_000;

// config requires max_text_bytes * 6 + 1024 <= max_frame_bytes.
const MAX_FRAME = 4096;
const MAX_TEXT = 512;
const ROOM = 'fuzz';

// ------------------------------------------------------------------ scripts

/** Envelopes a client might send (helpers/arbitraries.ts). */
const envelopeArb = clientEnvelopeArb({ room: ROOM, maxText: MAX_TEXT });

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};

/** Binary-mode body: frames, good and bad, mixed with garbage. */
const binarySegment = fc.oneof(
  { weight: 8, arbitrary: envelopeArb.map((e) => frame(e)) },
  { weight: 2, arbitrary: bytes(60).map((b) => Buffer.concat([u32(b.length + 1), Buffer.from([0]), b])) }, // not JSON / not UTF-8
  { weight: 1, arbitrary: fc.tuple(envelopeArb, fc.integer({ min: 1, max: 255 })).map(([e, f]) => frame(e, f)) }, // flags
  { weight: 1, arbitrary: fc.constantFrom(u32(0), u32(MAX_FRAME + 2), u32(0xffffffff)) },
  { weight: 1, arbitrary: bytes(30) },
);

/** json-lines body: lines of envelopes, garbage, blanks, `\r\n`, over-long lines. */
const jsonSegment = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(envelopeArb, fc.constantFrom('\n', '\r\n')).map(([e, end]) => Buffer.from(JSON.stringify(e) + end)) },
  { weight: 2, arbitrary: bytes(60) },
  { weight: 1, arbitrary: fc.constantFrom('\n', ' \t\r\n', '[1]\n', '"x"\n', '{"type":1}\n', '{\n', '{"a":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}\n').map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.constant(Buffer.from(`{"type":"ping","t":"${'z'.repeat(MAX_FRAME)}"}\n`)) },
);

/** Text-mode body: commands, chat lines, garbage. */
const textSegment = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .constantFrom(`/join ${ROOM}`, '/join r1', '/join bad room', '/nick fz', '/nick guest-9', '/nick', '/who', '/rooms', '/leave', '/help', '/bogus', 'hello there', '   ', '')
      .map((s) => Buffer.from(`${s}\n`)),
  },
  { weight: 3, arbitrary: str(80).map((s) => Buffer.from(`${s}\n`)) },
  { weight: 2, arbitrary: bytes(80) },
  { weight: 1, arbitrary: fc.constant(Buffer.from(`${'w'.repeat(MAX_TEXT + 1)}\n`)) },
  { weight: 1, arbitrary: fc.constant(Buffer.from('exit\n')) },
);

/** HTTP request heads, well-formed or not. */
const httpStream = fc
  .tuple(
    fc.constantFrom('GET', 'HEAD', 'POST'),
    fc.constantFrom('/health', '/stats', '/metrics', '/nope', '/health?x=1'),
    fc.constantFrom('HTTP/1.1\r\n', 'HTTP/1.0\n'),
    fc.array(fc.constantFrom('Host: x\r\n', 'X: y\r\n', 'Bad header\r\n'), { maxLength: 3 }),
    fc.constantFrom('\r\n', '', '\n'),
    bytes(40),
  )
  .map(([m, path, ver, headers, end, tail]) => Buffer.concat([Buffer.from(`${m} ${path} ${ver}${headers.join('')}${end}`), tail]));

/** One connection's byte stream, by the mode its first bytes select (PROTOCOL.md §1). */
const streamArb = fc.oneof(
  { weight: 3, arbitrary: fc.array(binarySegment, { minLength: 1, maxLength: 20 }).map((s) => Buffer.concat([frame({ type: 'ping' }), ...s])) },
  { weight: 1, arbitrary: fc.array(binarySegment, { maxLength: 12 }).map((s) => Buffer.concat([Buffer.from([0]), ...s])) },
  { weight: 3, arbitrary: fc.array(jsonSegment, { minLength: 1, maxLength: 20 }).map((s) => Buffer.concat([Buffer.from('{"type":"ping"}\n'), ...s])) },
  { weight: 1, arbitrary: fc.array(jsonSegment, { maxLength: 12 }).map((s) => Buffer.concat([Buffer.from(' {'), ...s])) },
  { weight: 3, arbitrary: fc.array(textSegment, { minLength: 1, maxLength: 20 }).map((s) => Buffer.concat(s)) },
  { weight: 2, arbitrary: httpStream },
  { weight: 1, arbitrary: bytes(40).map((b) => Buffer.concat([Buffer.from('GET '), b])) },
  { weight: 2, arbitrary: bytes(300) },
);

type Ending = 'fin' | 'destroy' | 'linger';
interface Script {
  stream: Buffer;
  cuts: number[];
  /** 0: write every chunk at once; 1: a setImmediate between chunks; 2: ~1 ms between chunks. */
  pace: 0 | 1 | 2;
  ending: Ending;
}

const scriptArb: fc.Arbitrary<Script> = fc.record({
  stream: streamArb,
  cuts: fc.array(fc.nat({ max: 1 << 16 }), { maxLength: 16 }),
  pace: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
  ending: fc.constantFrom<Ending>('fin', 'destroy', 'linger'),
});

// ------------------------------------------------------------------ running a script

interface Outcome {
  out: Buffer;
  /** The server sent FIN: everything it wrote has arrived. */
  serverEnded: boolean;
}

/** Plays one script against the server; resolves with what came back. */
async function play(port: number, s: Script): Promise<Outcome> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  sock.setNoDelay(true);
  const parts: Buffer[] = [];
  let serverEnded = false;
  let closed = false;
  sock.on('data', (d) => parts.push(d));
  sock.on('end', () => (serverEnded = true));
  sock.on('error', () => {});
  const closedP = new Promise<void>((resolve) =>
    sock.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  await new Promise<void>((resolve) => {
    sock.once('connect', resolve);
    sock.once('close', resolve);
  });
  for (const c of chunk(s.stream, s.cuts)) {
    if (closed || sock.destroyed) break;
    sock.write(c);
    if (s.pace === 1) await new Promise((r) => setImmediate(r));
    else if (s.pace === 2) await sleep(1);
  }
  const within = (ms: number) => Promise.race([closedP, sleep(ms)]);
  if (s.ending === 'destroy') sock.destroy();
  else if (s.ending === 'fin') {
    sock.end();
    await within(500);
  } else await within(40);
  sock.destroy();
  await closedP;
  return { out: Buffer.concat(parts), serverEnded };
}

// ------------------------------------------------------------------ checking what came back


/** Everything wrong with `o.out` for a connection in `mode`. */
function outputProblems(mode: Mode | null, o: Outcome): string[] {
  const { out, serverEnded } = o;
  if (out.length === 0) return [];
  if (mode === null) return [`${out.length} bytes written to an undecided connection`];
  const problems: string[] = [];
  let fatalSeen = false;
  const onEnvelope = (v: unknown) => {
    if (fatalSeen) problems.push(`${JSON.stringify(v)} after a fatal error`);
    problems.push(...envelopeProblems(v));
    if ((v as Envelope).type === 'error' && (v as Envelope).fatal === true) fatalSeen = true;
  };
  switch (mode) {
    case 'binary': {
      let pos = 0;
      while (out.length - pos >= 4) {
        const len = out.readUInt32BE(pos);
        if (len < 1 || len > MAX_FRAME + 1) return [...problems, `outbound frame length ${len}`];
        if (out.length - pos - 4 < len) break;
        if (out[pos + 4] !== 0) problems.push(`outbound flags ${out[pos + 4]}`);
        try {
          onEnvelope(JSON.parse(out.toString('utf8', pos + 5, pos + 4 + len)));
        } catch {
          problems.push('outbound frame body is not JSON');
        }
        pos += 4 + len;
      }
      if (serverEnded && pos !== out.length) problems.push(`${out.length - pos} stray bytes before FIN`);
      break;
    }
    case 'json': {
      const lines = out.toString('utf8').split('\n');
      const tail = lines.pop()!;
      for (const line of lines) {
        if (Buffer.byteLength(line) > MAX_FRAME) problems.push(`outbound line of ${Buffer.byteLength(line)} bytes`);
        try {
          onEnvelope(JSON.parse(line));
        } catch {
          problems.push(`outbound line is not JSON: ${line.slice(0, 80)}`);
        }
      }
      if (serverEnded && tail !== '') problems.push('unterminated line before FIN');
      break;
    }
    case 'text': {
      const lines = out.toString('utf8').split('\n');
      const tail = lines.pop()!;
      // The greeting comes first, unless the connection was refused (a storm may pass max_connections_per_ip).
      if (lines.length > 0 && !/^(\* |! server_busy: )/.test(lines[0]!)) problems.push(`text greeting is ${JSON.stringify(lines[0])}`);
      for (const line of lines) {
        const m = /^! ([a-z_]+): /.exec(line);
        if (m && !(m[1]! in WIRE_ERRORS)) problems.push(`unknown error code in ${JSON.stringify(line)}`);
        if (!m && !/^(\* |\[[^\]\n]*\] )/.test(line)) problems.push(`odd text line ${JSON.stringify(line.slice(0, 80))}`);
      }
      if (serverEnded && tail !== '') problems.push('unterminated text line before FIN');
      break;
    }
    case 'http':
      if (!/^HTTP\/1\.1 (200|400|404|405|431|503) /.test(out.toString('latin1', 0, 40))) {
        problems.push(`HTTP reply starts ${JSON.stringify(out.toString('latin1', 0, 40))}`);
      }
  }
  return problems;
}

// ------------------------------------------------------------------ the healthy pair

let ts: TestServer;
let a: FrameClient;
let b: FrameClient;
let probeNo = 0;
const rejections: unknown[] = [];
const onRejection = (err: unknown) => rejections.push(err);

/** A healthy pair in ROOM still chats: `ack` to the sender, `chat` to the other. */
async function healthyChat(): Promise<void> {
  const id = `probe-${++probeNo}`;
  // b only receives: its ping keeps it inside idle_timeout (PROTOCOL.md §3) on runs longer than a minute.
  b.send({ type: 'ping' });
  a.send({ type: 'send_chat', room: ROOM, text: `alive ${probeNo}`, id });
  const ack = await a.next((m) => m.type === 'ack' && m.id === id, 3000);
  const chat = await b.next((m) => m.type === 'chat' && m.id === id, 3000);
  expect(ack, `ack for ${id}`).toMatchObject({ room: ROOM, id });
  const state = (c: FrameClient) => `closed ${c.closed}, errors ${JSON.stringify(c.inbox.filter((m) => m.type === 'error'))}, ${c.inbox.length} in inbox`;
  expect(chat, `chat ${id} delivered (b: ${state(b)})`).toMatchObject({ room: ROOM, id, seq: ack!.seq, from: 'healthy-a' });
  for (const c of [a, b]) {
    expect(c.closed).toBe(false);
    expect(c.inbox.filter((m) => m.type === 'error')).toEqual([]);
    c.inbox.length = 0; // fuzz clients chat in ROOM too
  }
}

/** process.memoryUsage() after the healthy pair's first chat, after a full GC. */
let mem0: NodeJS.MemoryUsage;

/** Waits (up to 3 s) until only the healthy pair is left in the pool, and checks that it is. */
async function poolDrained(): Promise<void> {
  const deadline = Date.now() + 3000;
  while (ts.server.services.pool.size > 2 && Date.now() < deadline) await sleep(20);
  expect(ts.server.services.pool.size, 'connections left in the pool besides the healthy pair').toBe(2);
}

beforeAll(async () => {
  process.on('unhandledRejection', onRejection);
  ts = await startServer({ max_frame_bytes: MAX_FRAME, max_text_bytes: MAX_TEXT });
  a = await helloClient(ts.port, 'healthy-a');
  b = await helloClient(ts.port, 'healthy-b');
  await join(a, ROOM);
  await join(b, ROOM);
  await healthyChat();
  gc();
  mem0 = process.memoryUsage();
});

afterAll(async () => {
  process.off('unhandledRejection', onRejection);
  a?.end();
  b?.end();
  await ts?.close();
});

describe('server fuzz', () => {
  it(`${BATCHES} batches of random connections: well-formed replies, the healthy pair keeps chatting`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(scriptArb, { minLength: 1, maxLength: 6 }), async (scripts) => {
        const outcomes = await Promise.all(scripts.map((s) => play(ts.port, s)));
        scripts.forEach((s, i) => {
          expect(outputProblems(detectMode(s.stream), outcomes[i]!), `connection ${i}`).toEqual([]);
        });
        await healthyChat();
      }),
      { numRuns: BATCHES },
    );
  }, TIMEOUT);

  it(`two storms of ${STORM} connections at once; the second adds no RSS`, async () => {
    const seed = Number(process.env.FUZZ_SEED) || Date.now() | 0;
    const rssAfter: number[] = [];
    for (const storm of [0, 1]) {
      const scripts = fc.sample(scriptArb, { numRuns: STORM, seed: seed + storm });
      const outcomes = await Promise.all(scripts.map((s) => play(ts.port, s)));
      const problems = scripts.flatMap((s, i) => outputProblems(detectMode(s.stream), outcomes[i]!).map((p) => `#${i}: ${p}`));
      expect(problems, `storm seed ${seed + storm} (replay with FUZZ_SEED=${seed + storm})`).toEqual([]);
      await healthyChat();
      await poolDrained();
      gc();
      rssAfter.push(process.memoryUsage().rss);
    }
    // The first storm's sockets (clients and server side, all in this process) leave their high-water mark in
    // RSS, since freed native memory is not handed back at once; a leak would make the second storm add as much again.
    const added = (rssAfter[1]! - rssAfter[0]!) / (1024 * 1024);
    expect(added, `RSS after the second storm minus after the first: ${added.toFixed(1)} MB`).toBeLessThan(STORM_LEAK_MB);
  }, TIMEOUT);

  it('afterwards: /health 200, fuzz connections released, RSS bounded, no unhandled rejection', async () => {
    expect((await httpRequest(ts.port, '/health')).status).toBe(200);
    await healthyChat();
    await poolDrained();
    gc();
    const mem = process.memoryUsage();
    const mb = (bytes: number) => bytes / (1024 * 1024);
    const held = mb(mem.heapUsed - mem0.heapUsed + mem.external - mem0.external);
    const detail = `V8 heap used ${mb(mem.heapUsed - mem0.heapUsed).toFixed(1)} MB, external ${mb(mem.external - mem0.external).toFixed(1)} MB, RSS ${mb(mem.rss - mem0.rss).toFixed(1)} MB`;
    expect(held, `memory held by JS objects and Buffers grew: ${detail}`).toBeLessThan(100);
    expect(rejections).toEqual([]);
  });
});
