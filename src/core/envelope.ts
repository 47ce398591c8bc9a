/**
 * Envelopes (PROTOCOL.md §3): decoding inbound bodies and lines, the field
 * rules every handler shares, and encoding outbound envelopes once per wire
 * format for fan-out.
 */
import { ProtocolError } from './errors.js';
import type { FrameScanner } from '../services/frame-scan/index.js';

/** A decoded envelope: a JSON object with a string `type`; other fields unchecked. */
export interface Envelope {
  type: string;
  [field: string]: unknown;
}

/** Room name rule (PROTOCOL.md §3). */
export const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Nick rule (PROTOCOL.md §3). */
export const NICK_RE = /^[A-Za-z0-9_.-]{1,32}$/;
/** Nicks a client may not claim in `hello` (PROTOCOL.md §3). */
export const GUEST_RE = /^guest-\d+$/;

/** Bounds on the shape of a decoded envelope. */
export interface ShapeLimits {
  /** Deepest nesting of arrays / objects; the envelope itself is depth 1 (config max_json_depth). */
  maxDepth: number;
  /** Most keys over all objects together (config max_json_keys). */
  maxKeys: number;
}

const NO_LIMITS: ShapeLimits = { maxDepth: Infinity, maxKeys: Infinity };

/**
 * Checks nesting depth and key count without recursion.
 * @throws ProtocolError bad_request past either bound
 */
function checkShape(root: object, limits: ShapeLimits): void {
  let keys = 0;
  const stack: unknown[] = [root, 1];
  while (stack.length > 0) {
    const depth = stack.pop() as number;
    const v = stack.pop() as object;
    if (depth > limits.maxDepth) throw new ProtocolError('bad_request', `envelope nests deeper than ${limits.maxDepth}`);
    if (Array.isArray(v)) {
      for (const e of v) if (e !== null && typeof e === 'object') stack.push(e, depth + 1);
    } else {
      for (const k in v) {
        if (++keys > limits.maxKeys) throw new ProtocolError('bad_request', `envelope has more than ${limits.maxKeys} keys`);
        const e = (v as Record<string, unknown>)[k];
        if (e !== null && typeof e === 'object') stack.push(e, depth + 1);
      }
    }
  }
}

/**
 * Decodes one body or line into an envelope.
 * @param limits nesting and key bounds (default: none)
 * @throws ProtocolError `bad_json` (not UTF-8, not JSON, not an object) or
 *   `bad_request` (no string `type`, too deep, too many keys) — PROTOCOL.md §3
 */
export function decodeEnvelope(body: Buffer, scanner: FrameScanner, limits: ShapeLimits = NO_LIMITS): Envelope {
  if (!scanner.isUtf8(body)) throw new ProtocolError('bad_json', 'body is not valid UTF-8');
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ProtocolError('bad_json', 'body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError('bad_json', 'body is not a JSON object');
  }
  checkShape(value, limits);
  if (typeof (value as Envelope).type !== 'string') throw new ProtocolError('bad_request', 'missing or non-string field: type');
  return value as Envelope;
}

/**
 * The room field, checked against ROOM_RE.
 * @throws ProtocolError bad_request
 */
export function roomField(env: Envelope, field = 'room'): string {
  const v = env[field];
  if (typeof v !== 'string' || !ROOM_RE.test(v)) {
    throw new ProtocolError('bad_request', `${field} must match ${ROOM_RE.source}`);
  }
  return v;
}

/**
 * An optional JSON integer field within [min, max] (never coerced, PROTOCOL.md §3).
 * @throws ProtocolError bad_request
 */
export function optionalInt(env: Envelope, field: string, min: number, max: number): number | undefined {
  const v = env[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError('bad_request', `${field} must be an integer from ${min} to ${max}`);
  }
  return v;
}

/**
 * An optional string field of 1..maxChars characters.
 * @throws ProtocolError bad_request
 */
export function optionalString(env: Envelope, field: string, maxChars: number): string | undefined {
  const v = env[field];
  if (v === undefined) return undefined;
  // Characters are code points: a surrogate pair counts once.
  if (typeof v !== 'string' || v.length < 1 || v.length > 2 * maxChars || (v.length > maxChars && [...v].length > maxChars)) {
    throw new ProtocolError('bad_request', `${field} must be a string of 1 to ${maxChars} characters`);
  }
  return v;
}

/**
 * `text` of a chat: a string of 1..maxBytes UTF-8 bytes (PROTOCOL.md §3).
 * @throws ProtocolError bad_request
 */
export function textField(env: Envelope, maxBytes: number): string {
  const v = env.text;
  if (typeof v !== 'string' || v.length === 0) throw new ProtocolError('bad_request', 'text must be a non-empty string');
  // length is UTF-16 units: a byte count can be at most 3x that, and at least it.
  if (v.length > maxBytes || (v.length * 3 > maxBytes && Buffer.byteLength(v, 'utf8') > maxBytes)) {
    throw new ProtocolError('bad_request', `text exceeds max_text_bytes (${maxBytes})`);
  }
  return v;
}

/**
 * Writes a binary frame header + body into one buffer (PROTOCOL.md §2).
 * @param json the envelope, already serialised
 * @param flags codec bits; 0 for an uncompressed body
 * @param alloc buffer source (the memory-pool service)
 */
export function encodeFrame(json: string, alloc: (size: number) => Buffer, flags = 0): Buffer {
  const bodyLen = Buffer.byteLength(json, 'utf8');
  const out = alloc(5 + bodyLen);
  out.writeUInt32BE(bodyLen + 1, 0);
  out[4] = flags;
  out.write(json, 5, 'utf8');
  return out;
}

/**
 * Wraps an already-encoded body (plain or compressed) in a binary frame.
 * @param flags codec bits (PROTOCOL.md §2)
 */
export function frameOf(body: Buffer, flags: number, alloc: (size: number) => Buffer): Buffer {
  const out = alloc(5 + body.length);
  out.writeUInt32BE(body.length + 1, 0);
  out[4] = flags;
  body.copy(out, 5);
  return out;
}

/** Writes a json-lines line (PROTOCOL.md §4). */
export function encodeLine(json: string, alloc: (size: number) => Buffer): Buffer {
  const len = Buffer.byteLength(json, 'utf8');
  const out = alloc(len + 1);
  out.write(json, 0, 'utf8');
  out[len] = 0x0a;
  return out;
}

/**
 * Size in bytes of `base` serialised with `items` cut to the longest prefix
 * that keeps it within `maxBytes`, with `more: true` when cut
 * (PROTOCOL.md §2: replies over max_frame_bytes are cut).
 * @param base the reply without its array field
 * @param field the array field's name (`messages`, `nicks`, `rooms`)
 * @returns the envelope to send
 */
export function fitToFrame<T>(base: Record<string, unknown>, field: string, items: readonly T[], maxBytes: number): Envelope {
  const whole = { ...base, [field]: items } as Envelope;
  const wholeLen = Buffer.byteLength(JSON.stringify(whole), 'utf8');
  if (wholeLen <= maxBytes) return whole;
  let used = Buffer.byteLength(JSON.stringify({ ...base, [field]: [], more: true }), 'utf8');
  let k = 0;
  for (; k < items.length; k++) {
    const add = Buffer.byteLength(JSON.stringify(items[k]), 'utf8') + (k > 0 ? 1 : 0);
    if (used + add > maxBytes) break;
    used += add;
  }
  return { ...base, [field]: items.slice(0, k), more: true } as unknown as Envelope;
}
