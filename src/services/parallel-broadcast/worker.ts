/**
 * piscina worker of the parallel-broadcast service: compresses one body with
 * the same code as the compression service (`NativeCompression.compress`),
 * and hands the bytes back as a transferred ArrayBuffer (moved, not copied).
 * Loaded only from the compiled build (dist/…/worker.js): see piscina.ts.
 */
import { Piscina } from 'piscina';
import type { CodecName } from '../compression/contract.js';
import { NativeCompression } from '../compression/native.js';

/** One task: `body` is an ArrayBuffer the main thread transferred to us. */
export interface CompressTask {
  codec: CodecName;
  body: ArrayBuffer;
}

const native = new NativeCompression();

/** @returns the compressed body in an ArrayBuffer of exactly its length, transferred to the caller */
export default async function compressTask({ codec, body }: CompressTask): Promise<unknown> {
  const z = await native.compress(codec, Buffer.from(body));
  // The addons may return pooled or external memory, which cannot be
  // transferred: one copy here, in the worker, into an ArrayBuffer we own.
  const out = new ArrayBuffer(z.length);
  new Uint8Array(out).set(z);
  return Piscina.move(out);
}
