import { describe, expect, it } from 'vitest';
import { LinesClient, TcpClient, type ClientHandlers, type JoinedInfo } from '../../../src/loadgen/clients/index.js';

/** Handlers that record what the read path reported. */
function recorder() {
  const seen = { joined: [] as JoinedInfo[], acks: [] as (string | undefined)[], chats: [] as number[], errors: [] as string[], gaps: 0, closes: 0 };
  const handlers: ClientHandlers = {
    onJoined: (_room, info) => seen.joined.push(info),
    onAck: (_room, _seq, id) => seen.acks.push(id),
    onChat: (_room, seq) => seen.chats.push(seq),
    onError: (code) => seen.errors.push(code),
    onGap: () => seen.gaps++,
    onClose: () => seen.closes++,
  };
  return { seen, handlers };
}

/** What a server sends one member: presence, chats (some long), acks, a ping, an error. */
const ENVELOPES: Record<string, unknown>[] = [
  { type: 'welcome', session: 's1', nick: 'n', codecs: [], heartbeat_ms: 30000, max_frame_bytes: 65536, server: { name: 't', version: '1' } },
  { type: 'member_joined', room: 'main', nick: 'other' },
  { type: 'chat', room: 'main', seq: 1, id: '1', from: 'a', text: '0:1:12.5|xxxx', ts: 1 },
  { type: 'ack', room: 'main', seq: 2, id: '7', ts: 2 },
  { type: 'chat', room: 'main', seq: 2, id: '7', from: 'n', text: 'y'.repeat(300), ts: 2 },
  { type: 'ping', t: 5 },
  { type: 'member_left', room: 'main', nick: 'other' },
  { type: 'chat', room: 'main', seq: 3, from: 'b', text: 'z', ts: 3 },
  { type: 'error', code: 'rate_limited', message: 'slow down', ref: '8', fatal: false },
  { type: 'gap', room: 'main', from_seq: 4, to_seq: 5 },
  { type: 'chat', room: 'main', seq: 6, from: 'b', text: 'é ü — multi-byte', ts: 4 },
];
const CHAT_SEQS = [1, 2, 3, 6];

function frames(envs: unknown[]): Buffer {
  return Buffer.concat(
    envs.map((e) => {
      const body = Buffer.from(JSON.stringify(e));
      const f = Buffer.alloc(5 + body.length);
      f.writeUInt32BE(body.length + 1, 0);
      body.copy(f, 5);
      return f;
    }),
  );
}

function lines(envs: unknown[], eol = '\n'): Buffer {
  return Buffer.from(envs.map((e) => JSON.stringify(e) + eol).join(''));
}

type Make = (decodeChats: boolean, handlers: ClientHandlers) => TcpClient | LinesClient;
const makeTcp: Make = (decodeChats, handlers) => new TcpClient({ host: '127.0.0.1', port: 1, decodeChats, echo: true, handlers });
const makeLines: Make = (decodeChats, handlers) => new LinesClient({ host: '127.0.0.1', port: 1, decodeChats, echo: true, handlers });

function check(make: Make, stream: Buffer, decodeChats: boolean, cut: (s: Buffer) => Buffer[]): void {
  const { seen, handlers } = recorder();
  const c = make(decodeChats, handlers);
  for (const part of cut(stream)) c.feed(part);
  expect(c.chats).toBe(CHAT_SEQS.length);
  expect(seen.chats).toEqual(decodeChats ? CHAT_SEQS : []);
  expect(seen.acks).toEqual(['7']);
  expect(seen.errors).toEqual(['rate_limited']);
  expect(seen.gaps).toBe(1);
  expect(c.heartbeatMs).toBe(30000);
}

const whole = (s: Buffer) => [s];
const bytes = (s: Buffer) => Array.from({ length: s.length }, (_, i) => s.subarray(i, i + 1));
const at = (i: number) => (s: Buffer) => [s.subarray(0, i), s.subarray(i)];
const every = (n: number) => (s: Buffer) => Array.from({ length: Math.ceil(s.length / n) }, (_, i) => s.subarray(i * n, (i + 1) * n));

describe.each([
  ['tcp (binary frames)', makeTcp, frames(ENVELOPES)],
  ['lines (json-lines)', makeLines, lines(ENVELOPES)],
  ['lines with \\r\\n', makeLines, lines(ENVELOPES, '\r\n')],
] as const)('%s read path', (_name, make, stream) => {
  for (const decodeChats of [false, true]) {
    const kind = decodeChats ? 'probe' : 'counting client';
    it(`${kind}: whole stream`, () => check(make, stream, decodeChats, whole));
    it(`${kind}: one byte per read`, () => check(make, stream, decodeChats, bytes));
    it(`${kind}: split at every offset`, () => {
      for (let i = 1; i < stream.length; i++) check(make, stream, decodeChats, at(i));
    });
    it(`${kind}: chunks of 2..40 bytes`, () => {
      for (let n = 2; n <= 40; n++) check(make, stream, decodeChats, every(n));
    });
  }
});

describe('counting without decoding', () => {
  it('counts chats of a frame stream whose key order is not type-first by decoding them', () => {
    const { seen, handlers } = recorder();
    const c = makeTcp(false, handlers);
    c.feed(frames([{ room: 'main', type: 'chat', seq: 1, text: 'x' }, { type: 'chat', room: 'main', seq: 2, text: 'y' }]));
    expect(c.chats).toBe(2);
    expect(seen.chats).toEqual([1]); // the first went the slow (decoding) way
  });

  it('hands joined to onJoined before the chats that follow it in the same read', () => {
    const order: string[] = [];
    const handlers: ClientHandlers = {
      ...recorder().handlers,
      onJoined: () => order.push('joined'),
      onChat: (_r, seq) => order.push(`chat ${seq}`),
    };
    const c = makeTcp(true, handlers);
    c.feed(frames([{ type: 'joined', room: 'main', seq: 4, epoch: 'e', members: 2, recovered: true }, { type: 'chat', room: 'main', seq: 5, text: 'a' }]));
    expect(order).toEqual(['joined', 'chat 5']);
  });
});
