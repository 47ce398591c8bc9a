/**
 * Text mode for `nc` users (PROTOCOL.md §5): turning typed lines into
 * envelopes and server envelopes into human lines.
 */
import type { Envelope } from './envelope.js';
import type { WireErrorCode } from './errors.js';

/** What one typed line asks for. */
export type TextCommand =
  | { kind: 'envelope'; envelope: Envelope }
  | { kind: 'nick'; nick: string }
  | { kind: 'quit' }
  | { kind: 'error'; code: WireErrorCode; message: string }
  | { kind: 'notice'; text: string }
  | { kind: 'none' };

/** The commands, for the greeting and `/help`. */
export const TEXT_HELP = 'commands: /nick NAME, /join ROOM, /leave, /who, /rooms, /quit (or exit); other lines chat in the current room';

/**
 * Parses one line typed by a text client.
 * @param line the line, decoded (invalid UTF-8 already replaced)
 * @param currentRoom the room plain lines go to, or null
 */
export function parseTextLine(line: string, currentRoom: string | null): TextCommand {
  const trimmed = line.trim();
  if (trimmed === '') return { kind: 'none' };
  if (trimmed === 'exit') return { kind: 'quit' };
  if (!trimmed.startsWith('/')) {
    if (currentRoom === null) return { kind: 'error', code: 'not_in_room', message: 'no current room; /join ROOM first' };
    return { kind: 'envelope', envelope: { type: 'send_chat', room: currentRoom, text: line } };
  }
  const [cmd, ...args] = trimmed.split(/\s+/);
  const arg = args.join(' ');
  switch (cmd) {
    case '/quit':
      return { kind: 'quit' };
    case '/nick':
      return arg ? { kind: 'nick', nick: arg } : { kind: 'error', code: 'bad_request', message: 'usage: /nick NAME' };
    case '/join':
      return arg
        ? { kind: 'envelope', envelope: { type: 'join_room', room: arg } }
        : { kind: 'error', code: 'bad_request', message: 'usage: /join ROOM' };
    case '/leave':
    case '/who':
      if (currentRoom === null) return { kind: 'error', code: 'not_in_room', message: 'no current room; /join ROOM first' };
      return { kind: 'envelope', envelope: { type: cmd === '/leave' ? 'leave_room' : 'who', room: currentRoom } };
    case '/rooms':
      return { kind: 'envelope', envelope: { type: 'rooms' } };
    case '/help':
      return { kind: 'notice', text: TEXT_HELP };
    default:
      return { kind: 'error', code: 'unknown_type', message: `unknown command ${cmd}; ${TEXT_HELP}` };
  }
}

// C0, DEL and C1 controls: one chat must stay one line on a terminal (PROTOCOL.md §5).
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Replaces control characters so a value prints on one line. */
export function printable(s: unknown): string {
  return String(s).replace(CONTROL_RE, '\uFFFD');
}

/**
 * Renders a server envelope as one text-mode line (without its `\n`).
 * @returns null for envelopes a text client does not see (`ack`, `ping`, …)
 */
export function renderText(env: Envelope): string | null {
  const room = printable(env.room);
  switch (env.type) {
    case 'chat':
      return `[${room}] ${printable(env.from)}: ${printable(env.text)}`;
    case 'joined':
      return `* joined ${room} (${env.members} member${env.members === 1 ? '' : 's'}); plain lines now go to ${room}`;
    case 'left':
      return `* left ${room}`;
    case 'member_joined':
      return `* ${printable(env.nick)} joined ${room}`;
    case 'member_left':
      return `* ${printable(env.nick)} left ${room}`;
    case 'members':
      return `* in ${room}: ${(env.nicks as unknown[]).map(printable).join(', ')}${env.more ? ', …' : ''}`;
    case 'room_list': {
      const rooms = env.rooms as { room: string; members: number }[];
      if (rooms.length === 0) return '* no rooms yet; /join ROOM to make one';
      return `* rooms: ${rooms.map((r) => `${printable(r.room)} (${r.members})`).join(', ')}${env.more ? ', …' : ''}`;
    }
    case 'history': {
      const n = (env.messages as unknown[]).length;
      return `* history of ${room}: ${n} message${n === 1 ? '' : 's'}`;
    }
    case 'gap':
      return `* messages ${env.from_seq}-${env.to_seq} of ${room} were dropped for you`;
    case 'voice_started':
    case 'voice_joined':
      return `* voice channel ${printable(env.channel)} in ${room}: udp ${printable(env.udp_host)}:${env.udp_port} token ${printable(env.token)}`;
    case 'voice_available':
      return `* voice channel ${printable(env.channel)} is open in ${room}`;
    case 'voice_ended':
      return `* voice channel ${printable(env.channel)} in ${room} ended`;
    case 'error':
      return `! ${printable(env.code)}: ${printable(env.message)}`;
    case 'shutdown':
      return `* server is shutting down; reconnect in ${env.reconnect_ms} ms`;
    case 'notice':
      return `* ${printable(env.text)}`;
    default:
      return null;
  }
}
