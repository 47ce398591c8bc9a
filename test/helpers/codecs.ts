/**
 * Compressed bodies as PROTOCOL.md §2 wants them, for tests that send
 * compressed frames or messages.
 */
import { compress as zstdCompress } from '@mongodb-js/zstd';

/**
 * A zstd frame of `body` with a 4-byte Frame_Content_Size (PROTOCOL.md §2
 * requires the field): @mongodb-js/zstd leaves it out (Window_Descriptor
 * present, no dictionary), so it is spliced in after the Window_Descriptor.
 * @throws Error when the library's header is not the expected shape
 */
export async function zstdWithSize(body: Buffer): Promise<Buffer> {
  const f = await zstdCompress(body, 3);
  if (f[4]! !== 0) throw new Error(`unexpected zstd header 0x${f[4]!.toString(16)}`);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(body.length);
  return Buffer.concat([f.subarray(0, 4), Buffer.from([0x80, f[5]!]), size, f.subarray(6)]);
}
