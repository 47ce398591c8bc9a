/**
 * examples/dice-plugin.ts over real sockets, loaded the way an operator
 * loads a third-party plugin: the `plugins` config key (docs/plugins.md).
 */
import { existsSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import createDicePlugin from '../../examples/dice-plugin.js';
import { createServer, PluginError } from '../../src/index.js';
import { loadPlugins } from '../../src/plugins/index.js';
import { FrameClient, helloClient, join, JsonClient, startServer, TextClient, type TestServer } from '../helpers/clients.js';

const SOURCE = './examples/dice-plugin.ts';
const COMPILED = './dist/examples/dice-plugin.js';

/** Checks one `dice_rolled` envelope against the spec it answers. */
function expectRoll(env: unknown, room: string, nick: string, count: number, sides: number): void {
  expect(env).toMatchObject({ type: 'dice_rolled', room, nick, dice: `${count}d${sides}` });
  const { rolls, total } = env as { rolls: number[]; total: number };
  expect(rolls).toHaveLength(count);
  for (const r of rolls) {
    expect(Number.isInteger(r)).toBe(true);
    expect(r).toBeGreaterThanOrEqual(1);
    expect(r).toBeLessThanOrEqual(sides);
  }
  expect(total).toBe(rolls.reduce((a, b) => a + b, 0));
}

describe('loadPlugins', () => {
  it('imports the example from its source path (relative to cwd) and calls the factory', async () => {
    const [plugin, ...rest] = await loadPlugins([SOURCE]);
    expect(rest).toHaveLength(0);
    expect(plugin).toMatchObject({ name: 'dice', feature: 'dice', dependencies: ['chat-room'] });
    expect(plugin!.canHandle('roll')).toBe(true);
    expect(plugin!.canHandle('send_chat')).toBe(false);
  });

  // dist/ exists after `npm test` (tsc runs first); a bare `vitest run` may not have it.
  it.skipIf(!existsSync(COMPILED))('imports the compiled example named in the README', async () => {
    const [plugin] = await loadPlugins([COMPILED]);
    expect(plugin?.name).toBe('dice');
    expect(plugin!.canHandle('roll')).toBe(true);
  });

  it('gives each load a fresh instance', async () => {
    const [a] = await loadPlugins([SOURCE]);
    const [b] = await loadPlugins([SOURCE]);
    expect(a).not.toBe(b);
  });
});

describe('dice plugin loaded by the `plugins` config key', () => {
  let s: TestServer;
  beforeAll(async () => {
    // The config key is a comma-separated string, as in `.env`. The bad-input
    // cases below answer many errors on one connection: keep them under the error budget.
    s = await startServer({ plugins: SOURCE, error_budget: 1000 });
  });
  afterAll(() => s.close());

  it('broadcasts a roll to every member, the roller included', async () => {
    const a = await helloClient(s.port, 'alice');
    const b = await helloClient(s.port, 'bob');
    await join(a, 'table');
    await join(b, 'table');
    a.send({ type: 'roll', room: 'table', dice: '2d6' });
    expectRoll(await a.type('dice_rolled'), 'table', 'alice', 2, 6);
    expectRoll(await b.type('dice_rolled'), 'table', 'alice', 2, 6);
    b.send({ type: 'roll', room: 'table', dice: '20d1000' });
    const [ra, rb] = [await a.type('dice_rolled'), await b.type('dice_rolled')];
    expectRoll(ra, 'table', 'bob', 20, 1000);
    expect(rb).toEqual(ra); // one roll, one envelope shared by all members
    a.end();
    b.end();
  });

  it('reaches json-lines members; text members do not see the unknown type', async () => {
    const bin = await helloClient(s.port, 'binroller');
    const jl = await JsonClient.connect(s.port);
    const txt = await TextClient.connect(s.port);
    await join(bin, 'mixed-dice');
    await join(jl, 'mixed-dice');
    txt.line('/join mixed-dice');
    expect(await txt.expect(/^\* joined mixed-dice/)).not.toBeNull();
    bin.send({ type: 'roll', room: 'mixed-dice', dice: '1d2' });
    expectRoll(await jl.type('dice_rolled'), 'mixed-dice', 'binroller', 1, 2);
    expectRoll(await bin.type('dice_rolled'), 'mixed-dice', 'binroller', 1, 2);
    // The roll was written before this reply, so any line it produced would already be here.
    txt.line('/who');
    expect(await txt.expect(/^\* in mixed-dice: /)).not.toBeNull();
    expect(txt.inbox.filter((l) => !l.startsWith('* welcome'))).toEqual([]);
    for (const c of [bin, jl, txt]) c.end();
  });

  it('answers bad dice with bad_request and broadcasts nothing', async () => {
    const a = await helloClient(s.port, 'carol');
    const b = await helloClient(s.port, 'dave');
    await join(a, 'bad-dice');
    await join(b, 'bad-dice');
    const bad: unknown[] = ['0d6', '21d6', '2d1', '2d1001', '2d', 'd6', '2x6', ' 2d6', '2d6 ', '99999999d6', '', 6, null, undefined];
    for (const dice of bad) {
      a.send({ type: 'roll', room: 'bad-dice', dice, id: `r-${String(dice)}` });
      expect(await a.type('error'), `dice ${JSON.stringify(dice)}`).toMatchObject({
        code: 'bad_request',
        fatal: false,
        ref: `r-${String(dice)}`,
      });
    }
    a.send({ type: 'roll', room: 'not a room!', dice: '1d6' });
    expect(await a.type('error')).toMatchObject({ code: 'bad_request', ref: 'roll' });
    expect(await b.type('dice_rolled', 200)).toBeNull();
    // The connection is still fine.
    a.send({ type: 'roll', room: 'bad-dice', dice: '3d4' });
    expectRoll(await b.type('dice_rolled'), 'bad-dice', 'carol', 3, 4);
    a.end();
    b.end();
  });

  it('answers a roll in a room the client is not in with not_in_room', async () => {
    const member = await helloClient(s.port, 'erin');
    const outsider = await helloClient(s.port, 'frank');
    await join(member, 'closed');
    outsider.send({ type: 'roll', room: 'closed', dice: '1d6' });
    expect(await outsider.type('error')).toMatchObject({ code: 'not_in_room', fatal: false, ref: 'roll' });
    outsider.send({ type: 'roll', room: 'nobody-here', dice: '1d6' });
    expect(await outsider.type('error')).toMatchObject({ code: 'not_in_room' });
    // Membership is checked before the dice.
    outsider.send({ type: 'roll', room: 'closed', dice: 'junk' });
    expect(await outsider.type('error')).toMatchObject({ code: 'not_in_room' });
    expect(await member.type('dice_rolled', 200)).toBeNull();
    // After leaving, rolling there is refused again.
    await join(outsider, 'closed');
    outsider.send({ type: 'leave_room', room: 'closed' });
    expect(await outsider.type('left')).toMatchObject({ room: 'closed' });
    outsider.send({ type: 'roll', room: 'closed', dice: '1d6' });
    expect(await outsider.type('error')).toMatchObject({ code: 'not_in_room' });
    member.end();
    outsider.end();
  });

  it('is behind the `dice` feature gate', async () => {
    const a = await helloClient(s.port, 'gina');
    await join(a, 'gated');
    s.server.gate.setPercent('dice', 0);
    try {
      a.send({ type: 'roll', room: 'gated', dice: '1d6' });
      expect(await a.type('error')).toMatchObject({ code: 'feature_disabled', fatal: false });
      s.server.gate.addBetaUser('dice', 'gina');
      a.send({ type: 'roll', room: 'gated', dice: '1d6' });
      expectRoll(await a.type('dice_rolled'), 'gated', 'gina', 1, 6);
    } finally {
      s.server.gate.setPercent('dice', 100);
      s.server.gate.removeBetaUser('dice', 'gina');
    }
    a.end();
  });
});

describe('dice plugin passed as an instance', () => {
  it('works through createServer options too', async () => {
    const s = await startServer({}, { plugins: [createDicePlugin()] });
    try {
      const a: FrameClient = await helloClient(s.port, 'hank');
      await join(a, 'inline');
      a.send({ type: 'roll', room: 'inline', dice: '4d8' });
      expectRoll(await a.type('dice_rolled'), 'inline', 'hank', 4, 8);
      a.end();
    } finally {
      await s.close();
    }
  });

  it('fails at boot without its chat-room dependency', async () => {
    const boot = createServer({ log_file: '' }, { builtins: [], plugins: [createDicePlugin()], logger: pino({ level: 'silent' }) });
    await expect(boot).rejects.toBeInstanceOf(PluginError);
    await expect(boot).rejects.toThrow(/depends on chat-room/);
  });
});
