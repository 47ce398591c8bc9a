/**
 * A third-party plugin: dice for chat rooms. docs/plugins.md walks through it.
 *
 * Adds one client → server envelope type and one server → client type
 * (PROTOCOL.md allows extensions that only add types):
 *
 *   → { "type": "roll", "room": "lobby", "dice": "2d6" }
 *   ← { "type": "dice_rolled", "room": "lobby", "nick": "ann", "dice": "2d6", "rolls": [3, 5], "total": 8 }
 *
 * The `dice_rolled` envelope goes to every member of the room, the roller
 * included. Errors: `bad_request` for a bad `room` or `dice` (1-20 dice of
 * 2-1000 sides), `not_in_room` when the roller is not a member of the room.
 *
 * Load it by config (`plugins=./dist/examples/dice-plugin.js`) or in code
 * (`createServer(config, { plugins: [createDicePlugin()] })`).
 *
 * Like any third-party plugin it imports only the package's public API.
 */
import { randomInt } from 'node:crypto';
import { ProtocolError, type Envelope, type MessageProcessor, type PluginApi, type PluginContext } from '../src/index.js';

/** Fewest and most dice in one roll. */
export const MIN_DICE = 1;
export const MAX_DICE = 20;
/** Fewest and most sides of a die. */
export const MIN_SIDES = 2;
export const MAX_SIDES = 1000;

/** Room name rule of PROTOCOL.md §3 (the server's own copy is not public API). */
const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
/** `NdS`; the digit counts are bounded so a huge number is never parsed. */
const DICE_RE = /^(\d{1,3})d(\d{1,5})$/;

/** A parsed dice spec. */
export interface DiceSpec {
  /** Number of dice, MIN_DICE..MAX_DICE. */
  count: number;
  /** Sides of each die, MIN_SIDES..MAX_SIDES. */
  sides: number;
}

/**
 * Parses a dice spec such as `"2d6"`.
 * @param value the envelope's `dice` field, unchecked
 * @throws ProtocolError bad_request when it is not a string `NdS` within the limits
 */
export function parseDice(value: unknown): DiceSpec {
  const m = typeof value === 'string' ? DICE_RE.exec(value) : null;
  if (!m) throw new ProtocolError('bad_request', 'dice must be a string like "2d6"');
  const count = Number(m[1]);
  const sides = Number(m[2]);
  if (count < MIN_DICE || count > MAX_DICE) {
    throw new ProtocolError('bad_request', `dice: ${MIN_DICE} to ${MAX_DICE} dice, got ${count}`);
  }
  if (sides < MIN_SIDES || sides > MAX_SIDES) {
    throw new ProtocolError('bad_request', `dice: ${MIN_SIDES} to ${MAX_SIDES} sides, got ${sides}`);
  }
  return { count, sides };
}

/** The `roll` handler. One instance per server: create it with the default export. */
class DicePlugin implements MessageProcessor {
  readonly name = 'dice';
  /**
   * Gate name. The gate treats a feature it was never told about as open,
   * so dice are on for everyone until someone calls `gate.setPercent('dice', p)`.
   */
  readonly feature = 'dice';
  /** Rooms are joined through chat-room's `join_room`; without it no one could roll. */
  readonly dependencies = ['chat-room'] as const;

  canHandle(type: string): boolean {
    return type === 'roll';
  }

  init(api: PluginApi): void {
    api.logger.debug({ plugin: this.name }, 'dice ready');
  }

  process(ctx: PluginContext, env: Envelope): void {
    const room = env.room;
    if (typeof room !== 'string' || !ROOM_RE.test(room)) {
      throw new ProtocolError('bad_request', `room must match ${ROOM_RE.source}`);
    }
    // Membership first, like chat-room does for send_chat: a non-member learns nothing about the room.
    if (!ctx.rooms.isMember(room, ctx.client)) throw new ProtocolError('not_in_room', `not a member of ${room}`);
    const { count, sides } = parseDice(env.dice);
    const rolls: number[] = [];
    let total = 0;
    for (let i = 0; i < count; i++) {
      const r = randomInt(1, sides + 1); // crypto: uniform, no modulo bias
      rolls.push(r);
      total += r;
    }
    // No `except`: the roller sees its own roll. Encoded once, shared by every member of a wire format.
    ctx.broadcast(room, { type: 'dice_rolled', room, nick: ctx.client.nick, dice: `${count}d${sides}`, rolls, total });
  }
}

/**
 * The module's default export: a factory, so each server gets its own
 * instance (the `plugins` config key calls it with no arguments).
 */
export default function createDicePlugin(): MessageProcessor {
  return new DicePlugin();
}
