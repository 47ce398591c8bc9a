/**
 * fast-check arbitraries shared by the server fuzz tests (TCP and WebSocket).
 */
import fc from 'fast-check';

/** Strings of any code points, lone surrogates included, up to `max` units. */
export const binaryString = (max: number) => fc.string({ unit: 'binary', maxLength: max });

/** Options of clientEnvelopeArb. */
export interface ClientEnvelopeOptions {
  /** The room the fuzz clients mostly use. */
  room: string;
  /** The server's max_text_bytes: texts of exactly that and one more are generated. */
  maxText: number;
  /** Also pings whose `t` is 600 or 3000 bytes, so the pong passes compression_threshold (512) and is compressed when a codec was agreed. */
  bigPings?: boolean;
}

/**
 * Envelopes a client might send: every PROTOCOL.md §3 type with good and bad
 * fields (room names that break the rule, out-of-range limits and seqs,
 * non-string texts), and random objects with or without a `type`.
 */
export function clientEnvelopeArb(o: ClientEnvelopeOptions): fc.Arbitrary<Record<string, unknown>> {
  const str = binaryString;
  const roomArb = fc.constantFrom(o.room, 'r1', 'r2', 'bad room', '', 'x'.repeat(65));
  const pingT = o.bigPings ? fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('p'.repeat(600), 'q'.repeat(3000))) : fc.jsonValue({ maxDepth: 2 });
  return fc.oneof(
    fc.record({ type: fc.constant('hello'), nick: fc.constantFrom('fz', 'a.b', 'guest-1', '', 'bad nick', 7), echo: fc.boolean() }, { requiredKeys: ['type'] }),
    fc.record({ type: fc.constant('join_room'), room: roomArb, since_seq: fc.integer({ min: -2, max: 50 }) }, { requiredKeys: ['type', 'room'] }),
    fc.record({ type: fc.constant('leave_room'), room: roomArb }),
    fc.record(
      { type: fc.constant('send_chat'), room: roomArb, text: fc.oneof(str(60), fc.constant('y'.repeat(o.maxText)), fc.constant('y'.repeat(o.maxText + 1)), fc.integer()), id: str(10) },
      { requiredKeys: ['type', 'room', 'text'] },
    ),
    fc.record({ type: fc.constant('history'), room: roomArb, limit: fc.integer({ min: -1, max: 2000 }) }, { requiredKeys: ['type', 'room'] }),
    fc.record({ type: fc.constantFrom('who', 'start_voice'), room: roomArb }),
    fc.record({ type: fc.constantFrom('join_voice', 'end_voice'), channel: str(12) }),
    fc.record({ type: fc.constantFrom('rooms', 'ping', 'pong'), t: pingT }, { requiredKeys: ['type'] }),
    randomObjectArb,
  );
}

/** A random JSON object of up to 5 keys; `type` is 'zzz' when it has none. */
export const randomObjectArb: fc.Arbitrary<Record<string, unknown>> = fc
  .dictionary(binaryString(6), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 })
  .map((d) => ({ ...d, type: (d.type as string) ?? 'zzz' }));
