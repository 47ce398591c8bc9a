/**
 * The zstd frame header, read and written without decompressing
 * (RFC 8878 §3.1.1). PROTOCOL.md §2 wants exactly one standard frame whose
 * header carries Frame_Content_Size, no dictionary, nothing after it; this
 * module checks that before any byte is inflated, and adds the field to
 * frames from an encoder that leaves it out.
 */
import { ProtocolError } from '../../core/errors.js';

const MAGIC = 0xfd2fb528;

/** Parsed header of one zstd frame. */
export interface ZstdFrameInfo {
  /** Declared uncompressed size, bytes. */
  contentSize: number;
  /** Bytes of the header (magic included). */
  headerSize: number;
  /** Bytes of the whole frame (header, blocks, checksum). */
  frameSize: number;
}

/**
 * Reads the header and walks the block headers to find the frame's end.
 * @returns null when the frame has no Frame_Content_Size field
 * @throws ProtocolError bad_frame for anything that is not one well-formed standard frame
 */
export function readZstdFrame(buf: Buffer): ZstdFrameInfo | null {
  const bad = (why: string) => new ProtocolError('bad_frame', `zstd body: ${why}`);
  if (buf.length < 6) throw bad('too short');
  if (buf.readUInt32LE(0) !== MAGIC) throw bad('not a standard zstd frame (wrong magic)');
  const fhd = buf[4]!;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictFlag = fhd & 3;
  if ((fhd >> 3) & 1) throw bad('reserved header bit set');
  if (dictFlag !== 0) throw bad('dictionaries are not allowed');
  const fcsSize = fcsFlag === 0 ? (singleSegment ? 1 : 0) : 1 << fcsFlag;
  let off = 5 + (singleSegment ? 0 : 1);
  if (buf.length < off + fcsSize) throw bad('truncated header');
  let contentSize: number | null = null;
  if (fcsSize === 1) contentSize = buf[off]!;
  else if (fcsSize === 2) contentSize = buf.readUInt16LE(off) + 256;
  else if (fcsSize === 4) contentSize = buf.readUInt32LE(off);
  else if (fcsSize === 8) {
    const big = buf.readBigUInt64LE(off);
    contentSize = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
  }
  off += fcsSize;
  const headerSize = off;
  for (;;) {
    if (buf.length < off + 3) throw bad('truncated block header');
    const bh = buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16);
    const last = bh & 1;
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    if (type === 3) throw bad('reserved block type');
    off += 3 + (type === 1 ? 1 : size);
    if (off > buf.length) throw bad('truncated block');
    if (last) break;
  }
  off += checksum ? 4 : 0;
  if (off > buf.length) throw bad('truncated checksum');
  if (off !== buf.length) throw bad('bytes after the frame');
  return contentSize === null ? null : { contentSize, headerSize, frameSize: off };
}

/**
 * Returns the frame with a 4-byte Frame_Content_Size field added, for
 * encoders that omit it (the field is metadata: blocks are unchanged).
 * A frame that already has the field is returned as it is.
 * @param contentSize the uncompressed size, bytes (< 2^32)
 */
export function withContentSize(frame: Buffer, contentSize: number): Buffer {
  const fhd = frame[4]!;
  const singleSegment = (fhd >> 5) & 1;
  if (fhd >> 6 !== 0 || singleSegment) return frame;
  const at = 6; // magic, FHD, Window_Descriptor; no dictionary id (checked by the caller's encoder settings)
  const out = Buffer.allocUnsafe(frame.length + 4);
  frame.copy(out, 0, 0, at);
  out[4] = fhd | (2 << 6);
  out.writeUInt32LE(contentSize, at);
  frame.copy(out, at + 4, at);
  return out;
}
