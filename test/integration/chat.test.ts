import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameClient, helloClient, join, JsonClient, startServer, TextClient, type TestServer } from '../helpers/clients.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(() => s.close());

describe('chat over binary frames', () => {
  it('acks the sender and fans out to the other member', async () => {
    const a = await helloClient(s.port, 'alice');
    const b = await helloClient(s.port, 'bob');
    await join(a, 'lobby');
    const jb = await join(b, 'lobby');
    expect(jb.members).toBe(2);
    expect(await a.type('member_joined')).toMatchObject({ room: 'lobby', nick: 'bob' });
    a.send({ type: 'send_chat', room: 'lobby', text: 'hi', id: 'x1' });
    expect(await a.type('ack')).toMatchObject({ room: 'lobby', seq: 1, id: 'x1' });
    expect(await b.type('chat')).toMatchObject({ room: 'lobby', seq: 1, from: 'alice', text: 'hi', id: 'x1' });
    a.end();
    expect(await b.type('member_left')).toMatchObject({ room: 'lobby', nick: 'alice' });
    b.end();
  });
});

describe('mixed modes share a room', () => {
  it('text, json-lines and binary clients see the same messages', async () => {
    const bin = await helloClient(s.port, 'binuser');
    const jl = await JsonClient.connect(s.port);
    const txt = await TextClient.connect(s.port);
    await join(bin, 'mixed');
    jl.send({ type: 'hello', nick: 'jsonuser' });
    expect(await jl.type('welcome')).toMatchObject({ nick: 'jsonuser' });
    await join(jl, 'mixed');
    txt.line('/nick textuser');
    expect(await txt.expect(/^\* welcome/)).not.toBeNull();
    expect(await txt.expect(/you are now textuser/)).not.toBeNull();
    txt.line('/join mixed');
    expect(await txt.expect(/^\* joined mixed \(3 members\)/)).not.toBeNull();

    txt.line('hello from nc');
    for (const c of [bin, jl]) expect(await c.type('chat')).toMatchObject({ from: 'textuser', text: 'hello from nc', seq: 1 });
    jl.send({ type: 'send_chat', room: 'mixed', text: 'from json' });
    expect(await bin.type('chat')).toMatchObject({ from: 'jsonuser', text: 'from json', seq: 2 });
    expect(await txt.expect('[mixed] jsonuser: from json')).not.toBeNull();
    bin.send({ type: 'send_chat', room: 'mixed', text: 'from binary' });
    expect(await jl.type('chat')).toMatchObject({ from: 'binuser', text: 'from binary', seq: 3 });
    expect(await txt.expect('[mixed] binuser: from binary')).not.toBeNull();
    for (const c of [bin, jl, txt]) c.end();
  });
});

describe('two nc users', () => {
  it('chat the way nc does', async () => {
    const u1 = await TextClient.connect(s.port);
    const u2 = await TextClient.connect(s.port);
    u1.line('/nick ann');
    u2.line('/nick ben');
    await u1.expect(/you are now ann/);
    await u2.expect(/you are now ben/);
    u1.line('/join pub');
    await u1.expect(/^\* joined pub/);
    u2.line('/join pub');
    await u2.expect(/^\* joined pub/);
    expect(await u1.expect('* ben joined pub')).not.toBeNull();
    u1.line('hey ben');
    expect(await u2.expect('[pub] ann: hey ben')).not.toBeNull();
    u2.line('hi ann\u0007');
    expect(await u1.expect('[pub] ben: hi ann\uFFFD')).not.toBeNull();
    expect(await u2.expect(/^\[pub\] ben:/, 200)).toBeNull(); // no echo to a text client
    u1.line('/who');
    expect(await u1.expect(/^\* in pub: (ann, ben|ben, ann)$/)).not.toBeNull();
    u1.line('/rooms');
    expect(await u1.expect(/^\* rooms: .*pub \(2\)/)).not.toBeNull();
    u1.line('/bogus');
    expect(await u1.expect(/^! unknown_type: /)).not.toBeNull();
    u1.line('/leave');
    expect(await u1.expect('* left pub')).not.toBeNull();
    expect(await u2.expect('* ann left pub')).not.toBeNull();
    u1.line('talking to nobody');
    expect(await u1.expect(/^! not_in_room: /)).not.toBeNull();
    u1.line('  exit  ');
    expect(await u1.waitClose()).toBe(true);
    u2.line('/quit');
    expect(await u2.waitClose()).toBe(true);
  });
});

describe('text /quit', () => {
  it('ignores lines that arrive after /quit in the same packet', async () => {
    const u1 = await TextClient.connect(s.port);
    const u2 = await TextClient.connect(s.port);
    u1.line('/join quitroom');
    await u1.expect(/^\* joined quitroom/);
    u2.line('/join quitroom');
    await u2.expect(/^\* joined quitroom/);
    u1.raw('/quit\nsneaky\n');
    expect(await u1.waitClose()).toBe(true);
    expect(await u2.expect(/sneaky/, 300)).toBeNull();
    u2.end();
  });
});
