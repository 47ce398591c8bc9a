/** Codec names as negotiated in `hello.codecs` / `welcome.codecs` (PROTOCOL.md §2). */
export type CodecName = 'lz4' | 'zstd';

/** Flag bits 0-1 of a binary frame for each codec (PROTOCOL.md §2). */
export const CODEC_FLAGS: Readonly<Record<CodecName, number>> = { lz4: 1, zstd: 2 };

/**
 * Body compression for binary frames (PROTOCOL.md §2).
 *
 * Guarantees: `decompress` checks the declared uncompressed size against
 * `maxBytes` before inflating anything and throws ProtocolError
 * `frame_too_large` past it, `bad_frame` for a missing / mismatching size or
 * an undecodable body. `compress` output is what a PROTOCOL.md §2 peer decodes.
 */
export interface CompressionService {
  /** Codecs this server enables, in its preference order; `[]` means none. */
  readonly codecs: readonly CodecName[];
  /**
   * @param maxBytes upper bound of the uncompressed size in bytes (max_frame_bytes)
   * @throws ProtocolError frame_too_large | bad_frame
   */
  decompress(codec: CodecName, body: Buffer, maxBytes: number): Buffer | Promise<Buffer>;
  /** Compresses one body with `codec`. */
  compress(codec: CodecName, body: Buffer): Buffer | Promise<Buffer>;
}
