/**
 * The WebSocket adapter's read path (src/loadgen/clients/ws.ts) without a
 * socket: one envelope per message, fed with `feed`. Counting clients count
 * `{"type":"c` messages and skip `{"type":"m` ones without decoding them.
 * Probes decode everything.
 */
import { describe, expect, it } from 'vitest';
import { WsClient, type ClientHandlers, type JoinedInfo } from '../../../src/loadgen/clients/index.js';

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

const make = (decodeChats: boolean, handlers: ClientHandlers) => new WsClient({ host: '127.0.0.1', port: 1, decodeChats, echo: true, handlers });

const ENVELOPES: Record<string, unknown>[] = [
  { type: 'welcome', session: 's1', nick: 'n', codecs: [], heartbeat_ms: 30000, max_frame_bytes: 65536, server: { name: 't', version: '1' } },
  { type: 'joined', room: 'main', seq: 0, epoch: 'e', members: 2 },
  { type: 'member_joined', room: 'main', nick: 'other' },
  { type: 'chat', room: 'main', seq: 1, id: '1', from: 'a', text: '0:1:12.5|xxxx', ts: 1 },
  { type: 'ack', room: 'main', seq: 2, id: '7', ts: 2 },
  { type: 'chat', room: 'main', seq: 2, id: '7', from: 'n', text: 'y'.repeat(300), ts: 2 },
  { type: 'error', code: 'rate_limited', message: 'slow down', ref: '8', fatal: false },
  { type: 'gap', room: 'main', from_seq: 3, to_seq: 4 },
  { type: 'chat', room: 'main', seq: 5, from: 'b', text: 'é ü — multi-byte', ts: 4 },
];
const CHAT_SEQS = [1, 2, 5];

describe('ws adapter read path', () => {
  for (const decodeChats of [false, true]) {
    for (const binary of [false, true]) {
      it(`${decodeChats ? 'probe' : 'counting client'}, ${binary ? 'binary (flags 0 + body)' : 'text'} messages`, () => {
        const { seen, handlers } = recorder();
        const c = make(decodeChats, handlers);
        for (const e of ENVELOPES) {
          const body = Buffer.from(JSON.stringify(e));
          c.feed(binary ? Buffer.concat([Buffer.of(0), body]) : body, binary);
        }
        expect(c.chats).toBe(CHAT_SEQS.length);
        expect(seen.chats).toEqual(decodeChats ? CHAT_SEQS : []);
        expect(seen.joined).toEqual([{ seq: 0, epoch: 'e', members: 2 }]);
        expect(seen.acks).toEqual(['7']);
        expect(seen.errors).toEqual(['rate_limited']);
        expect(seen.gaps).toBe(1);
        expect(c.heartbeatMs).toBe(30000);
      });
    }
  }

  it('counts a chat by its prefix without decoding it', () => {
    const { seen, handlers } = recorder();
    const c = make(false, handlers);
    // Not JSON past the prefix: a decoding client would fail on it.
    c.feed(Buffer.from('{"type":"chat","room":'));
    c.feed(Buffer.from('{"type":"member_left",'));
    expect(c.chats).toBe(1);
    expect(seen.chats).toEqual([]);
  });

  it('decodes a chat whose key order is not type-first, and short messages', () => {
    const { seen, handlers } = recorder();
    const c = make(false, handlers);
    c.feed(Buffer.from(JSON.stringify({ room: 'main', type: 'chat', seq: 9, text: 'x' })));
    c.feed(Buffer.from('{"type":"x"}'));
    c.feed(Buffer.from('{}'));
    expect(c.chats).toBe(1);
    expect(seen.chats).toEqual([9]);
  });
});
