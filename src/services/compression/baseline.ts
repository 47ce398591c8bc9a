import { ProtocolError } from '../../core/errors.js';
import type { CodecName, CompressionService } from './contract.js';

/**
 * Baseline: no codecs. `welcome.codecs` is always `[]`, so any compressed
 * frame is an unagreed codec (fatal `bad_frame`, PROTOCOL.md §2) and the core
 * never gets this far; these methods throw to keep the contract honest.
 */
export class NoCompression implements CompressionService {
  readonly codecs: readonly CodecName[] = [];
  decompress(codec: CodecName): Buffer {
    throw new ProtocolError('bad_frame', `codec ${codec} is not enabled`);
  }
  compress(codec: CodecName): Buffer {
    throw new ProtocolError('bad_frame', `codec ${codec} is not enabled`);
  }
}
