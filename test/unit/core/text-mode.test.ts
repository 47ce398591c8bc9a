/**
 * Text mode (PROTOCOL.md §5): typed lines to commands, envelopes to one line each.
 */
import { describe, expect, it } from 'vitest';
import { parseTextLine, printable, renderText, TEXT_HELP } from '../../../src/core/text-mode.js';

describe('parseTextLine', () => {
  it.each(['', ' ', '\t  '])('ignores the blank line %j', (line) => {
    expect(parseTextLine(line, null)).toEqual({ kind: 'none' });
    expect(parseTextLine(line, 'lobby')).toEqual({ kind: 'none' });
  });

  it.each(['exit', '  exit', 'exit  ', ' \texit\t ', '/quit', ' /quit '])('quits on %j', (line) => {
    expect(parseTextLine(line, 'lobby')).toEqual({ kind: 'quit' });
    expect(parseTextLine(line, null)).toEqual({ kind: 'quit' });
  });

  it('does not quit on lines that only contain exit', () => {
    expect(parseTextLine('exit now', 'lobby')).toMatchObject({ kind: 'envelope', envelope: { type: 'send_chat', text: 'exit now' } });
    expect(parseTextLine('EXIT', 'lobby')).toMatchObject({ kind: 'envelope' });
  });

  it('/nick NAME', () => {
    expect(parseTextLine('/nick bob', null)).toEqual({ kind: 'nick', nick: 'bob' });
    expect(parseTextLine('  /nick   bob  ', null)).toEqual({ kind: 'nick', nick: 'bob' });
    expect(parseTextLine('/nick', null)).toMatchObject({ kind: 'error', code: 'bad_request' });
  });

  it('/join ROOM', () => {
    expect(parseTextLine('/join lobby', null)).toEqual({ kind: 'envelope', envelope: { type: 'join_room', room: 'lobby' } });
    expect(parseTextLine('/join', 'x')).toMatchObject({ kind: 'error', code: 'bad_request' });
  });

  it('/leave and /who use the current room', () => {
    expect(parseTextLine('/leave', 'lobby')).toEqual({ kind: 'envelope', envelope: { type: 'leave_room', room: 'lobby' } });
    expect(parseTextLine('/who', 'lobby')).toEqual({ kind: 'envelope', envelope: { type: 'who', room: 'lobby' } });
    expect(parseTextLine('/leave', null)).toMatchObject({ kind: 'error', code: 'not_in_room' });
    expect(parseTextLine('/who', null)).toMatchObject({ kind: 'error', code: 'not_in_room' });
  });

  it('/rooms', () => {
    expect(parseTextLine('/rooms', null)).toEqual({ kind: 'envelope', envelope: { type: 'rooms' } });
  });

  it('/help is a notice; unknown commands answer unknown_type with the help', () => {
    expect(parseTextLine('/help', null)).toEqual({ kind: 'notice', text: TEXT_HELP });
    const r = parseTextLine('/dance now', 'lobby');
    expect(r).toMatchObject({ kind: 'error', code: 'unknown_type' });
    expect((r as { message: string }).message).toContain('/dance');
    expect(parseTextLine('/JOIN x', null)).toMatchObject({ kind: 'error', code: 'unknown_type' });
  });

  it('a plain line chats in the current room, text kept as typed', () => {
    expect(parseTextLine('  hello  there ', 'lobby')).toEqual({
      kind: 'envelope',
      envelope: { type: 'send_chat', room: 'lobby', text: '  hello  there ' },
    });
  });

  it('a plain line with no current room is not_in_room', () => {
    expect(parseTextLine('hello', null)).toMatchObject({ kind: 'error', code: 'not_in_room' });
  });
});

describe('renderText', () => {
  const NASTY = 'a\nb\r\nc\u0000d\u001be[31m\u007ff\u0085g\u2028h\u2029i\tj';

  it('renders a chat as [room] nick: text', () => {
    expect(renderText({ type: 'chat', room: 'lobby', seq: 1, from: 'bob', text: 'hi', ts: 1 })).toBe('[lobby] bob: hi');
  });

  it('replaces control characters so a chat is always one line', () => {
    const out = renderText({ type: 'chat', room: 'lobby', seq: 1, from: `ev\nil\r`, text: NASTY, ts: 1 })!;
    expect(out).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(out.split('\n')).toHaveLength(1);
    expect(out).toBe('[lobby] ev\uFFFDil\uFFFD: a\uFFFDb\uFFFD\uFFFDc\uFFFDd\uFFFDe[31m\uFFFDf\uFFFDg\uFFFDh\uFFFDi\uFFFDj');
  });

  it('keeps other non-ASCII text', () => {
    expect(renderText({ type: 'chat', room: 'r', from: 'n', text: 'héllo € 😀' })).toBe('[r] n: héllo € 😀');
  });

  it.each([
    [{ type: 'joined', room: 'r', seq: 0, epoch: 'e', members: 1 }, /^\* joined r \(1 member\)/],
    [{ type: 'joined', room: 'r', seq: 0, epoch: 'e', members: 3 }, /^\* joined r \(3 members\)/],
    [{ type: 'left', room: 'r' }, /^\* left r$/],
    [{ type: 'member_joined', room: 'r', nick: 'x\ny' }, /^\* x\uFFFDy joined r$/],
    [{ type: 'member_left', room: 'r', nick: 'x' }, /^\* x left r$/],
    [{ type: 'members', room: 'r', nicks: ['a', 'b\n'] }, /^\* in r: a, b\uFFFD$/],
    [{ type: 'members', room: 'r', nicks: ['a'], more: true }, /^\* in r: a, …$/],
    [{ type: 'room_list', rooms: [] }, /^\* no rooms yet/],
    [{ type: 'room_list', rooms: [{ room: 'a', members: 2 }] }, /^\* rooms: a \(2\)$/],
    [{ type: 'history', room: 'r', messages: [{}] }, /^\* history of r: 1 message$/],
    [{ type: 'gap', room: 'r', from_seq: 3, to_seq: 5 }, /^\* messages 3-5 of r/],
    [{ type: 'error', code: 'not_in_room', message: 'join\nfirst' }, /^! not_in_room: join\uFFFDfirst$/],
    [{ type: 'shutdown', reconnect_ms: 1200 }, /^\* server is shutting down; reconnect in 1200 ms$/],
    [{ type: 'notice', text: 'welcome\r\n' }, /^\* welcome\uFFFD\uFFFD$/],
    [{ type: 'voice_available', room: 'r', channel: 'c' }, /^\* voice channel c is open in r$/],
  ])('renders %j', (env, re) => {
    const out = renderText(env)!;
    expect(out).toMatch(re);
    expect(out).not.toMatch(/[\n\r]/);
  });

  it.each(['ack', 'ping', 'pong', 'welcome', 'something_new'])('hides %s', (type) => {
    expect(renderText({ type })).toBeNull();
  });

  it('printable stringifies non-strings', () => {
    expect(printable(5)).toBe('5');
    expect(printable(undefined)).toBe('undefined');
  });
});
