import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatRoomPlugin, VoicePlugin } from '../../src/plugins/index.js';
import type { Envelope } from '../../src/core/envelope.js';
import { FrameClient, helloClient, join, startServer, TextClient, type TestServer } from '../helpers/clients.js';

/** A UDP endpoint of a voice participant: sends token + payload, queues what it receives. */
class UdpPeer {
  readonly inbox: Buffer[] = [];
  private waiter: ((b: Buffer) => void) | null = null;

  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (msg) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(msg);
      } else this.inbox.push(msg);
    });
  }

  static async open(): Promise<UdpPeer> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    return new UdpPeer(sock);
  }

  /** Sends the token's 16 bytes, then `payload`; resolves once written. */
  send(port: number, token: string | Buffer, payload: Buffer | string = Buffer.alloc(0)): Promise<void> {
    const head = typeof token === 'string' ? Buffer.from(token, 'hex') : token;
    const msg = Buffer.concat([head, Buffer.from(payload)]);
    return new Promise((resolve, reject) => this.sock.send(msg, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  }

  /** The next datagram, or null after `ms`. */
  next(ms = 1000): Promise<Buffer | null> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, ms);
      this.waiter = (b) => {
        clearTimeout(t);
        resolve(b);
      };
    });
  }

  close(): void {
    this.sock.close();
  }
}

/** Polls `cond` every 5 ms; true once it holds, false after `ms`. */
async function until(cond: () => boolean, ms = 1000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/** Sends `env` and returns the next error envelope. */
async function errorFor(c: FrameClient, env: Record<string, unknown>): Promise<Envelope | null> {
  c.send(env);
  return c.type('error');
}

/** True when `c` holds no envelope of `type` once a ping round trip has passed (the server answers in order). */
async function hasNone(c: FrameClient, type: string): Promise<boolean> {
  c.send({ type: 'ping', t: 'sync' });
  await c.next((m) => m.type === 'pong' && m.t === 'sync');
  return !c.inbox.some((m) => m.type === type);
}

let s: TestServer;
let voice: VoicePlugin;
const open: { end(): void }[] = [];
const udp: UdpPeer[] = [];

async function client(nick: string, room?: string): Promise<FrameClient> {
  const c = await helloClient(s.port, nick);
  open.push(c);
  if (room !== undefined) await join(c, room);
  return c;
}

async function udpPeer(): Promise<UdpPeer> {
  const u = await UdpPeer.open();
  udp.push(u);
  return u;
}

beforeAll(async () => {
  // A short sweep so that leaving a room is noticed within a few tens of ms.
  voice = new VoicePlugin({ sweepMs: 20 });
  s = await startServer({}, { builtins: [new ChatRoomPlugin(), voice] });
});
afterEach(async () => {
  for (const c of open.splice(0)) c.end();
  for (const u of udp.splice(0)) u.close();
  // Each test starts from no live channel, so absolute counts hold.
  expect(await until(() => voice.stats.channels === 0 && voice.stats.participants === 0)).toBe(true);
});
afterAll(() => s.close());

describe('voice signalling and relay', () => {
  it('starts, joins, relays payloads between participants and ends by the starter', async () => {
    const a = await client('va', 'voice1');
    const b = await client('vb', 'voice1');
    const c = await client('vc', 'voice1');
    const outsider = await client('vd');

    a.send({ type: 'start_voice', room: 'voice1' });
    const started = (await a.type('voice_started'))!;
    expect(started).toMatchObject({ room: 'voice1', udp_host: '127.0.0.1', udp_port: voice.udpPort });
    expect(started.udp_port).toBeGreaterThan(0);
    expect(started.channel).toMatch(/^[0-9a-f]{16}$/);
    expect(started.token).toMatch(/^[0-9a-f]{32}$/);
    const channel = started.channel as string;
    const port = started.udp_port as number;
    for (const other of [b, c]) expect(await other.type('voice_available')).toEqual({ type: 'voice_available', room: 'voice1', channel });
    expect(await hasNone(a, 'voice_available')).toBe(true);

    b.send({ type: 'join_voice', channel });
    const joined = (await b.type('voice_joined'))!;
    expect(joined).toMatchObject({ room: 'voice1', channel, udp_host: '127.0.0.1', udp_port: port });
    expect(joined.token).toMatch(/^[0-9a-f]{32}$/);
    expect(joined.token).not.toBe(started.token);
    b.send({ type: 'join_voice', channel });
    expect((await b.type('voice_joined'))!.token).toBe(joined.token);

    // Requests that must fail.
    expect(await errorFor(outsider, { type: 'join_voice', channel })).toMatchObject({ code: 'not_in_room', fatal: false });
    expect(await errorFor(outsider, { type: 'start_voice', room: 'voice1' })).toMatchObject({ code: 'not_in_room' });
    expect(await errorFor(b, { type: 'join_voice', channel: '0123456789abcdef' })).toMatchObject({ code: 'bad_request' });
    expect(await errorFor(b, { type: 'join_voice' })).toMatchObject({ code: 'bad_request' });
    expect(await errorFor(b, { type: 'end_voice', channel })).toMatchObject({ code: 'forbidden', ref: 'end_voice' });
    expect(await errorFor(c, { type: 'end_voice', channel })).toMatchObject({ code: 'forbidden' });

    // Media: b registers its address with a bare token, then a's payload reaches b alone, exactly.
    const ua = await udpPeer();
    const ub = await udpPeer();
    const base = voice.stats.relay.received;
    await ub.send(port, joined.token as string);
    expect(await until(() => voice.stats.relay.received === base + 1)).toBe(true);
    const payload = Buffer.from([0x00, 0xff, 0x10, 0x20, 0x7f, 0x80]);
    await ua.send(port, started.token as string, payload);
    expect(await ub.next()).toEqual(payload);
    // a's address is now known too: the reverse direction works.
    await ub.send(port, joined.token as string, 'back');
    expect((await ua.next())?.toString()).toBe('back');

    // A bogus token and a short datagram are dropped and counted, never forwarded.
    const { droppedUnknown, droppedShort } = voice.stats.relay;
    await ua.send(port, randomBytes(16), 'bogus');
    await ua.send(port, Buffer.from('short'));
    expect(await until(() => voice.stats.relay.droppedUnknown === droppedUnknown + 1 && voice.stats.relay.droppedShort === droppedShort + 1)).toBe(true);
    expect(await ub.next(100)).toBeNull();
    expect(ua.inbox).toHaveLength(0);

    a.send({ type: 'end_voice', channel });
    for (const p of [a, b]) expect(await p.type('voice_ended')).toEqual({ type: 'voice_ended', room: 'voice1', channel });
    expect(await hasNone(c, 'voice_ended')).toBe(true);
    expect(voice.stats).toMatchObject({ channels: 0, participants: 0 });

    // The ended channel's tokens are dead and the channel is gone.
    const dropped = voice.stats.relay.droppedUnknown;
    await ua.send(port, started.token as string, 'late');
    expect(await until(() => voice.stats.relay.droppedUnknown === dropped + 1)).toBe(true);
    expect(await ub.next(50)).toBeNull();
    expect(await errorFor(b, { type: 'join_voice', channel })).toMatchObject({ code: 'bad_request' });
  });

  it('a text-mode member sees voice_available rendered', async () => {
    const a = await client('vtext-a', 'voice-text');
    const t = await TextClient.connect(s.port);
    open.push(t);
    t.line('/join voice-text');
    expect(await t.expect(/^\* joined voice-text/)).not.toBeNull();
    a.send({ type: 'start_voice', room: 'voice-text' });
    const { channel } = (await a.type('voice_started'))!;
    expect(await t.expect(`* voice channel ${channel as string} is open in voice-text`)).not.toBeNull();
  });
});

describe('channel lifetime', () => {
  it('ends when its last participant disconnects', async () => {
    const a = await client('la', 'voice2');
    const b = await client('lb', 'voice2');
    a.send({ type: 'start_voice', room: 'voice2' });
    const { channel } = (await a.type('voice_started'))!;
    await b.type('voice_available');
    const before = voice.stats.channels;
    a.end();
    expect(await until(() => voice.stats.channels === before - 1)).toBe(true);
    expect(await errorFor(b, { type: 'join_voice', channel })).toMatchObject({ code: 'bad_request' });
  });

  it('survives its starter disconnecting; the last participant may then end it', async () => {
    const a = await client('sa', 'voice3');
    const b = await client('sb', 'voice3');
    const c = await client('sc', 'voice3');
    a.send({ type: 'start_voice', room: 'voice3' });
    const { channel } = (await a.type('voice_started'))!;
    b.send({ type: 'join_voice', channel });
    await b.type('voice_joined');
    a.end();
    expect(await b.type('member_left')).toMatchObject({ nick: 'sa' });
    expect(await errorFor(c, { type: 'end_voice', channel })).toMatchObject({ code: 'forbidden' });
    b.send({ type: 'end_voice', channel });
    expect(await b.type('voice_ended')).toEqual({ type: 'voice_ended', room: 'voice3', channel });
  });

  it('a participant that leaves the room is removed; the last one leaving ends the channel', async () => {
    const a = await client('ra', 'voice4');
    const b = await client('rb', 'voice4');
    a.send({ type: 'start_voice', room: 'voice4' });
    const started = (await a.type('voice_started'))!;
    const channel = started.channel as string;
    b.send({ type: 'join_voice', channel });
    const joined = (await b.type('voice_joined'))!;
    const port = started.udp_port as number;

    // b leaves: its token stops relaying and the channel keeps a alone.
    b.send({ type: 'leave_room', room: 'voice4' });
    await b.type('left');
    expect(await until(() => voice.stats.participants === 1)).toBe(true);
    const ub = await udpPeer();
    const unknown = voice.stats.relay.droppedUnknown;
    await ub.send(port, joined.token as string, 'gone');
    expect(await until(() => voice.stats.relay.droppedUnknown === unknown + 1)).toBe(true);
    expect(await hasNone(b, 'voice_ended')).toBe(true);

    // a, the last participant, leaves: the channel ends and a is told.
    a.send({ type: 'leave_room', room: 'voice4' });
    await a.type('left');
    expect(await a.type('voice_ended')).toEqual({ type: 'voice_ended', room: 'voice4', channel });
    expect(voice.stats).toMatchObject({ channels: 0, participants: 0 });
  });

  it('start_voice twice by the same starter in a room answers the same channel', async () => {
    const a = await client('ta', 'voice5');
    const b = await client('tb', 'voice5');
    a.send({ type: 'start_voice', room: 'voice5' });
    const first = (await a.type('voice_started'))!;
    await b.type('voice_available');
    a.send({ type: 'start_voice', room: 'voice5' });
    expect(await a.type('voice_started')).toEqual(first);
    expect(await hasNone(b, 'voice_available')).toBe(true);
  });
});

describe('feature gate', () => {
  it('answers feature_disabled when voice is off', async () => {
    const off = await startServer({ feature_voice_pct: 0 });
    try {
      const a = await helloClient(off.port, 'gated');
      await join(a, 'voice-off');
      a.send({ type: 'start_voice', room: 'voice-off' });
      expect(await a.type('error')).toMatchObject({ code: 'feature_disabled', fatal: false, ref: 'start_voice' });
      a.end();
    } finally {
      await off.close();
    }
  });
});
