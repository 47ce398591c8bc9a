/**
 * Line splitting for json-lines and text mode (PROTOCOL.md §4, §5).
 *
 * Lines end at `\n`; a `\r` before it is dropped. A line longer than
 * `maxLineBytes` (its end not counted) is fatal `frame_too_large`, detected as
 * soon as the bytes pending without a line end pass the bound — a client
 * cannot make the server buffer more than `maxLineBytes + 1` bytes.
 */
import { ProtocolError } from './errors.js';
import type { FrameScanner } from '../services/frame-scan/index.js';

/** Receives what the splitter finds. */
export interface LineSink {
  /** One line without its end; may be a view into the caller's chunk. */
  onLine(line: Buffer): void;
  /** A fatal error (`frame_too_large`); the splitter has stopped. */
  onLineError(err: ProtocolError): void;
}

/** Incremental line splitter for one connection. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private pendingBytes = 0;
  private stopped = false;

  /**
   * @param maxLineBytes longest line in bytes, line end not counted (max_frame_bytes)
   * @param scanner finds `\n` (the frame-scan service)
   * @param sink receives lines and the fatal error
   */
  constructor(
    private readonly maxLineBytes: number,
    private readonly scanner: FrameScanner,
    private readonly sink: LineSink,
  ) {}

  /** Bytes of an unfinished line held between chunks. */
  get buffered(): number {
    return this.pendingBytes;
  }

  /** Stops splitting; later chunks are ignored. */
  stop(): void {
    this.stopped = true;
    this.parts = [];
    this.pendingBytes = 0;
  }

  /** Feeds one chunk; calls the sink for each line completed in it. */
  push(chunk: Buffer): void {
    let off = 0;
    while (!this.stopped) {
      const nl = this.scanner.indexOfNewline(chunk, off);
      if (nl < 0) {
        const rest = chunk.length - off;
        if (rest === 0) return;
        this.pendingBytes += rest;
        // Over max is too large unless it is exactly max + a `\r` that may
        // still be the start of a `\r\n` (not counted in the line).
        if (
          this.pendingBytes > this.maxLineBytes &&
          (this.pendingBytes > this.maxLineBytes + 1 || chunk[chunk.length - 1] !== 0x0d)
        ) {
          return this.tooLarge();
        }
        // Copy: a view would pin the whole socket chunk while the line grows.
        this.parts.push(Buffer.from(chunk.subarray(off)));
        return;
      }
      let line: Buffer;
      if (this.pendingBytes > 0) {
        this.parts.push(chunk.subarray(off, nl));
        line = Buffer.concat(this.parts, this.pendingBytes + (nl - off));
        this.parts = [];
        this.pendingBytes = 0;
      } else {
        line = chunk.subarray(off, nl);
      }
      off = nl + 1;
      if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
      if (line.length > this.maxLineBytes) return this.tooLarge();
      this.sink.onLine(line);
    }
  }

  private tooLarge(): void {
    this.stop();
    this.sink.onLineError(new ProtocolError('frame_too_large', `line exceeds max_frame_bytes (${this.maxLineBytes})`));
  }
}
