/**
 * lz4 (lz4-napi, block format with a u32 LE size prefix) and zstd
 * (@mongodb-js/zstd) bodies per PROTOCOL.md §2. Sizes are checked before
 * anything is inflated: a declared size over the limit is `frame_too_large`,
 * a missing, mismatching or undecodable one `bad_frame`.
 */
import { compressSync as lz4Compress, uncompressSync as lz4Uncompress } from 'lz4-napi';
import { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd';
import { ProtocolError } from '../../core/errors.js';
import type { CodecName, CompressionService } from './contract.js';
import { readZstdFrame, withContentSize } from './zstd-frame.js';

/** zstd level for outbound bodies: 3 is zstd's default, fast enough for chat-sized bodies. */
const ZSTD_LEVEL = 3;

const tooLarge = (codec: string, n: number, max: number) =>
  new ProtocolError('frame_too_large', `${codec} body declares ${n} bytes, over max_frame_bytes (${max})`);

/** lz4 and zstd through native addons. */
export class NativeCompression implements CompressionService {
  /** @param codecs codecs to enable, in the server's preference order */
  constructor(readonly codecs: readonly CodecName[] = ['lz4', 'zstd']) {}

  decompress(codec: CodecName, body: Buffer, maxBytes: number): Buffer | Promise<Buffer> {
    if (!this.codecs.includes(codec)) throw new ProtocolError('bad_frame', `codec ${codec} is not enabled`);
    if (codec === 'lz4') {
      if (body.length < 4) throw new ProtocolError('bad_frame', 'lz4 body: missing size prefix');
      const declared = body.readUInt32LE(0);
      if (declared > maxBytes) throw tooLarge('lz4', declared, maxBytes);
      let out: Buffer;
      try {
        out = lz4Uncompress(body);
      } catch (err) {
        throw new ProtocolError('bad_frame', 'lz4 body does not decode', { cause: err });
      }
      if (out.length !== declared) throw new ProtocolError('bad_frame', `lz4 body declares ${declared} bytes, decodes to ${out.length}`);
      return out;
    }
    const info = readZstdFrame(body);
    if (info === null) throw new ProtocolError('bad_frame', 'zstd body: header has no Frame_Content_Size');
    if (info.contentSize > maxBytes) throw tooLarge('zstd', info.contentSize, maxBytes);
    return zstdDecompress(body).then(
      (out) => {
        if (out.length !== info.contentSize) {
          throw new ProtocolError('bad_frame', `zstd body declares ${info.contentSize} bytes, decodes to ${out.length}`);
        }
        return out;
      },
      (err: unknown) => {
        throw new ProtocolError('bad_frame', 'zstd body does not decode', { cause: err });
      },
    );
  }

  compress(codec: CodecName, body: Buffer): Buffer | Promise<Buffer> {
    if (codec === 'lz4') return lz4Compress(body);
    return zstdCompress(body, ZSTD_LEVEL).then((frame) => withContentSize(frame, body.length));
  }
}
