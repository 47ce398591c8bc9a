/**
 * json-lines adapter (PROTOCOL.md §4): one envelope per `\n`-terminated line.
 *
 * Same idea as the binary adapter: at a line start the first HEAD = 10 bytes
 * (`{"type":"` and the first character of the type) decide whether the line
 * is counted (then skipped to its `\n` with Buffer#indexOf, no decoding) or
 * decoded. Lines split across reads are collected; a head split across
 * reads is assembled byte by byte in a scratch buffer.
 */
import { T_CHAT, type LoadClientOptions } from './base.js';
import { READ_BUF, StreamClient } from './stream.js';

const HEAD = 10;
const NL = 0x0a;
const CR = 0x0d;

/** Load client over json-lines. */
export class LinesClient extends StreamClient {
  /** Skipping a counted line up to its `\n`. */
  private skipping = false;
  /** Parts of a line being collected for decoding, and their total size. */
  private parts: Buffer[] | null = null;
  private partsBytes = 0;
  /** A line head split across reads. */
  private readonly head = Buffer.allocUnsafe(HEAD);
  private headFill = 0;

  constructor(options: LoadClientOptions) {
    super(options);
  }

  protected resetFraming(): void {
    this.skipping = false;
    this.parts = null;
    this.partsBytes = 0;
    this.headFill = 0;
  }

  encode(json: string): Buffer {
    return Buffer.from(`${json}\n`, 'utf8');
  }

  /** Decodes b[start, end) (a line without its `\n`), ignoring a `\r` and blank lines. */
  private line(b: Buffer, start: number, end: number): void {
    if (end > start && b[end - 1] === CR) end--;
    if (end <= start) return;
    this.dispatch(b, start, end);
  }

  protected ingest(n: number): void {
    // One bounded view per read: indexOf must not search past this read's bytes.
    const b = READ_BUF.subarray(0, n);
    let off = 0;
    while (off < n) {
      if (this.skipping) {
        const nl = b.indexOf(NL, off);
        if (nl < 0) return;
        this.skipping = false;
        off = nl + 1;
        continue;
      }
      if (this.parts !== null) {
        const nl = b.indexOf(NL, off);
        const stop = nl < 0 ? n : nl;
        this.partsBytes += stop - off;
        if (this.partsBytes > this.maxFrameBytes + 1) return this.fail(this.conn, `server sent a line over ${this.maxFrameBytes} bytes`);
        if (nl < 0) {
          this.parts.push(Buffer.from(b.subarray(off, n)));
          return;
        }
        this.parts.push(b.subarray(off, nl));
        const whole = Buffer.concat(this.parts);
        this.parts = null;
        this.partsBytes = 0;
        off = nl + 1;
        this.line(whole, 0, whole.length);
        if (this.gone) return;
        continue;
      }
      if (this.headFill === 0 && n - off >= HEAD) {
        // Fast path: the head is in this read.
        if (this.counted(b, off)) {
          if (b[off + 9] === T_CHAT) this.chats++;
          const nl = b.indexOf(NL, off + HEAD);
          if (nl < 0) {
            this.skipping = true;
            return;
          }
          off = nl + 1;
          continue;
        }
        const nl = b.indexOf(NL, off);
        if (nl < 0) {
          this.parts = [Buffer.from(b.subarray(off, n))];
          this.partsBytes = n - off;
          return;
        }
        this.line(b, off, nl);
        if (this.gone) return;
        off = nl + 1;
        continue;
      }
      // Slow path: assemble the head byte by byte (a short line may end inside it).
      while (this.headFill < HEAD && off < n) {
        const c = b[off++]!;
        if (c === NL) {
          const fill = this.headFill;
          this.headFill = 0;
          this.line(this.head, 0, fill);
          if (this.gone) return;
          break;
        }
        this.head[this.headFill++] = c;
      }
      if (this.headFill < HEAD) continue;
      this.headFill = 0;
      if (this.counted(this.head, 0)) {
        if (this.head[9] === T_CHAT) this.chats++;
        this.skipping = true;
      } else {
        this.parts = [Buffer.from(this.head)];
        this.partsBytes = HEAD;
      }
    }
  }
}
