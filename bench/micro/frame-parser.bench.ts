/**
 * Micro-benchmark of the binary frame parser (PROTOCOL.md §2, src/core/frame-parser.ts).
 *
 * One stream of frames with 64-byte bodies (69 bytes on the wire: u32 length,
 * flags, body) is fed to a fresh FrameParser per iteration, chunked three ways:
 *
 * - `whole`: 64 KiB chunks cut at frame boundaries, so every frame lies whole
 *   in a chunk and is handed out as a view (the parser's no-copy path);
 * - `span-64k+7`: the same bytes in chunks of 65,543 bytes, so about one frame
 *   per chunk spans a boundary (prefix or body split, copied);
 * - `span-1500`: the same bytes in 1500-byte chunks (one Ethernet MTU), so a
 *   frame spans a boundary every ~22 frames.
 *
 * frames/s = frames per iteration × iterations/s (tinybench: 1000 / mean ms).
 * Each iteration checks the frame count, so a broken parser fails loudly
 * instead of looking fast.
 *
 * Run: `npm run bench -- --only micro`, or directly
 * `taskset -c 1 node dist/bench/micro/frame-parser.bench.js`.
 */
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import type { ProtocolError } from '../../src/core/errors.js';
import { FrameParser, type FrameSink } from '../../src/core/frame-parser.js';
import type { Row } from '../lib/row.js';

export type { Row };

/** Body bytes per frame (after the flags byte). */
export const BODY_BYTES = 64;
/** Wire bytes per frame: u32 length + flags + body. */
export const FRAME_WIRE_BYTES = 4 + 1 + BODY_BYTES;
/** Frames per iteration: 16 whole 64 KiB chunks' worth (~1 MiB). */
const CHUNK_BYTES = 64 * 1024;
const FRAMES_PER_CHUNK = Math.floor(CHUNK_BYTES / FRAME_WIRE_BYTES);
const CHUNKS = 16;
export const FRAMES_PER_ITERATION = FRAMES_PER_CHUNK * CHUNKS;
/** Same limit as the server's default (PROTOCOL.md §2). */
const MAX_FRAME_BYTES = 65536;

/** One frame with a 64-byte JSON body (what a short chat envelope looks like). */
function oneFrame(i: number): Buffer {
  const head = `{"type":"chat","room":"r","seq":${i},"text":"`;
  const tail = '"}';
  const body = Buffer.from(head + 'x'.repeat(BODY_BYTES - head.length - tail.length) + tail);
  if (body.length !== BODY_BYTES) throw new Error(`body is ${body.length} bytes, want ${BODY_BYTES}`);
  const out = Buffer.alloc(FRAME_WIRE_BYTES);
  out.writeUInt32BE(1 + BODY_BYTES, 0);
  out[4] = 0;
  body.copy(out, 5);
  return out;
}

/** The whole stream of FRAMES_PER_ITERATION frames, contiguous. */
function stream(): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < FRAMES_PER_ITERATION; i++) frames.push(oneFrame(i + 1));
  return Buffer.concat(frames);
}

/** Cuts `buf` into chunks of `size` bytes (the last may be shorter); each chunk is a copy, as from a socket. */
function rechunk(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; off += size) out.push(Buffer.from(buf.subarray(off, Math.min(off + size, buf.length))));
  return out;
}

/** Counts frames and touches each body, as a real sink would read it. */
class CountingSink implements FrameSink {
  frames = 0;
  bytes = 0;
  onFrame(flags: number, body: Buffer): void {
    this.frames++;
    this.bytes += body.length + flags + body[body.length - 1]!;
  }
  onFrameError(err: ProtocolError): void {
    throw new Error(`unexpected frame error: ${err.code}: ${err.message}`);
  }
}

/** The chunkings measured: name → chunks. */
export function cases(): { name: string; chunks: Buffer[]; note: string }[] {
  const all = stream();
  const whole: Buffer[] = [];
  for (let c = 0; c < CHUNKS; c++) {
    const off = c * FRAMES_PER_CHUNK * FRAME_WIRE_BYTES;
    whole.push(Buffer.from(all.subarray(off, off + FRAMES_PER_CHUNK * FRAME_WIRE_BYTES)));
  }
  const span = rechunk(all, CHUNK_BYTES + 7);
  const small = rechunk(all, 1500);
  const spanning = (chunks: Buffer[]) => {
    let n = 0, off = 0;
    for (const c of chunks) {
      off += c.length;
      if (off % FRAME_WIRE_BYTES !== 0 && off < all.length) n++;
    }
    return n;
  };
  return [
    { name: 'whole (64 KiB chunks at frame boundaries)', chunks: whole, note: `${whole.length} chunks, 0 spanning frames` },
    { name: 'span-64k+7 (65,543-byte chunks)', chunks: span, note: `${span.length} chunks, ${spanning(span)} spanning frames` },
    { name: 'span-1500 (1500-byte chunks)', chunks: small, note: `${small.length} chunks, ${spanning(small)} spanning frames` },
  ];
}

/**
 * Runs the parser benchmark.
 * @param timeMs tinybench time budget per case, ms
 * @returns one frames/s row per chunking
 */
export async function runFrameParserBench(timeMs = 2000): Promise<Row[]> {
  const bench = new Bench({ name: 'frame-parser', time: timeMs, warmupTime: 500, throws: true });
  const list = cases();
  for (const c of list) {
    const { chunks } = c;
    bench.add(c.name, () => {
      const sink = new CountingSink();
      const parser = new FrameParser(MAX_FRAME_BYTES, sink);
      for (let i = 0; i < chunks.length; i++) parser.push(chunks[i]!);
      if (sink.frames !== FRAMES_PER_ITERATION || parser.midFrame) {
        throw new Error(`${c.name}: parsed ${sink.frames} frames, want ${FRAMES_PER_ITERATION}`);
      }
      return sink.bytes;
    });
  }
  await bench.run();
  return bench.tasks.map((task, i) => {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}${'error' in r ? `: ${r.error.message}` : ''}`);
    const itersPerS = 1000 / r.period;
    return {
      bench: 'frame-parser',
      case: task.name,
      metric: 'frames/s',
      value: FRAMES_PER_ITERATION * itersPerS,
      unit: 'frames/s',
      rme: r.latency.rme,
      note: `${FRAMES_PER_ITERATION} frames × ${itersPerS.toFixed(1)} it/s; ${list[i]!.note}`,
    } satisfies Row;
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runFrameParserBench();
  for (const r of rows) {
    console.log(`${r.case.padEnd(44)} ${Math.round(r.value).toLocaleString('en-US').padStart(14)} frames/s  ±${r.rme!.toFixed(2)}%  (${r.note})`);
  }
}
