/**
 * Binary frame parser (PROTOCOL.md §2): `length: u32 BE | flags: u8 | body`.
 *
 * An explicit state machine over incoming chunks. A frame that lies whole in
 * one chunk is handed out as a `subarray` view of it (no copy); only a frame
 * that spans chunks is copied, into one buffer allocated after its length
 * prefix was checked against `max_frame_bytes` — an untrusted length never
 * sizes an allocation on its own.
 */
import { ProtocolError } from './errors.js';

/** Receives what the parser finds. */
export interface FrameSink {
  /**
   * One complete frame. `body` may be a view into the caller's chunk: use it
   * before returning or copy it.
   * @param flags the flags byte (codec in bits 0-1)
   */
  onFrame(flags: number, body: Buffer): void;
  /** A fatal framing error; the parser has stopped. */
  onFrameError(err: ProtocolError): void;
}

const S_PREFIX = 0; // collecting the 4-byte length prefix
const S_BODY = 1; // collecting flags + body of a frame that spans chunks
const S_STOPPED = 2; // after a fatal error or stop()

/** Incremental parser for one connection. */
export class FrameParser {
  private state = S_PREFIX;
  /** The length prefix's bytes so far, big-endian, as an integer (no Buffer per connection). */
  private prefix = 0;
  private prefixFill = 0;
  private frame: Buffer | null = null;
  private frameFill = 0;

  /**
   * @param maxFrameBytes largest body in bytes; a length prefix over
   *   `maxFrameBytes + 1` is fatal `frame_too_large` (PROTOCOL.md §2)
   * @param sink receives frames and the fatal error
   */
  constructor(
    private readonly maxFrameBytes: number,
    private sink: FrameSink,
  ) {}

  /** True after stop() or a fatal error: later chunks are ignored. */
  get stopped(): boolean {
    return this.state === S_STOPPED;
  }

  /**
   * Makes the parser new again for `sink` (same max_frame_bytes), so an idle
   * one can serve another connection: the server keeps a parser on a
   * connection only while a frame spans reads (memory per idle connection).
   * @returns this parser
   */
  reset(sink: FrameSink): this {
    this.sink = sink;
    this.state = S_PREFIX;
    this.prefix = 0;
    this.prefixFill = 0;
    this.frame = null;
    this.frameFill = 0;
    return this;
  }

  /** Bytes of an unfinished frame held between chunks (bounded by max_frame_bytes + 5). */
  get buffered(): number {
    return this.state === S_BODY ? this.frameFill + 4 : this.prefixFill;
  }

  /** True while a frame has started but not completed. */
  get midFrame(): boolean {
    return this.state === S_BODY || this.prefixFill > 0;
  }

  /** Stops parsing; later chunks are ignored. */
  stop(): void {
    this.state = S_STOPPED;
    this.frame = null;
  }

  /** Feeds one chunk; calls the sink for each frame completed in it. */
  push(chunk: Buffer): void {
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      switch (this.state) {
        case S_PREFIX: {
          let length: number;
          if (this.prefixFill === 0 && n - off >= 4) {
            length = chunk.readUInt32BE(off);
            off += 4;
          } else {
            let prefix = this.prefix;
            let fill = this.prefixFill;
            while (fill < 4 && off < n) {
              prefix = prefix * 256 + chunk[off++]!; // multiply, not <<: stays an unsigned u32
              fill++;
            }
            if (fill < 4) {
              this.prefix = prefix;
              this.prefixFill = fill;
              return;
            }
            this.prefix = 0;
            this.prefixFill = 0;
            length = prefix;
          }
          if (length === 0) return this.fail(new ProtocolError('bad_frame', 'frame length is 0'));
          if (length > this.maxFrameBytes + 1) {
            return this.fail(
              new ProtocolError('frame_too_large', `frame length ${length} exceeds max_frame_bytes + 1 (${this.maxFrameBytes + 1})`),
            );
          }
          if (n - off >= length) {
            const end = off + length;
            this.emit(chunk.subarray(off, end));
            off = end;
          } else {
            this.frame = Buffer.allocUnsafe(length);
            this.frameFill = chunk.copy(this.frame, 0, off, n);
            off = n;
            this.state = S_BODY;
          }
          break;
        }
        case S_BODY: {
          const frame = this.frame!;
          const take = Math.min(frame.length - this.frameFill, n - off);
          chunk.copy(frame, this.frameFill, off, off + take);
          this.frameFill += take;
          off += take;
          if (this.frameFill < frame.length) return;
          this.frame = null;
          this.state = S_PREFIX;
          this.emit(frame);
          break;
        }
        default:
          return;
      }
    }
  }

  private emit(frame: Buffer): void {
    this.sink.onFrame(frame[0]!, frame.subarray(1));
  }

  private fail(err: ProtocolError): void {
    this.stop();
    this.sink.onFrameError(err);
  }
}

/** The sink of a parser waiting in a pool: it holds no connection. */
const NO_SINK: FrameSink = { onFrame() {}, onFrameError() {} };

/**
 * Parsers between frames, for reuse: a connection needs its own parser only
 * while a frame spans reads (or after a stop), so between frames it gives
 * the parser back and takes one again with the next chunk (memory per idle
 * connection, bench/services/connection-pool.bench.ts). Bounded: past `max`
 * idle parsers, given-back ones are left to the garbage collector.
 */
export class FrameParserPool {
  private readonly idle: FrameParser[] = [];

  /**
   * @param maxFrameBytes max_frame_bytes of every parser made here (PROTOCOL.md §2)
   * @param max idle parsers kept (about 80 B each)
   */
  constructor(
    private readonly maxFrameBytes: number,
    private readonly max = 1024,
  ) {}

  /** A parser in its initial state, reporting to `sink`. */
  take(sink: FrameSink): FrameParser {
    return this.idle.pop()?.reset(sink) ?? new FrameParser(this.maxFrameBytes, sink);
  }

  /** Gives back a parser its owner no longer uses (it is reset here; the caller must drop it). */
  give(p: FrameParser): void {
    if (this.idle.length < this.max) this.idle.push(p.reset(NO_SINK));
  }
}
