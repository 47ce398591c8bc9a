/**
 * Binary-frame adapter (PROTOCOL.md §2): u32 BE length, flags byte, JSON body.
 *
 * The read path is a small state machine over the shared read buffer. At a
 * frame start it needs HEAD = 15 bytes — the length, the flags byte and
 * `{"type":"` plus the first character of the type — to decide: a counted
 * frame (chat on a counting client, member_* always) is skipped by its
 * length without touching its body; any other frame is decoded, from the
 * read buffer when it is whole, else from a copy collected across reads.
 * A head split across reads is assembled in a 15-byte scratch buffer.
 */
import { T_CHAT, type LoadClientOptions } from './base.js';
import { READ_BUF, StreamClient } from './stream.js';

const HEAD = 15;
/** Smallest frame length of a valid envelope (`{"type":"x"}` + flags = 13); below HEAD - 4 the head check cannot work. */
const MIN_LENGTH = HEAD - 4;

/** Load client over binary frames. */
export class TcpClient extends StreamClient {
  /** Bytes of a counted frame still to skip. */
  private skip = 0;
  /** A frame head split across reads. */
  private readonly head = Buffer.allocUnsafe(HEAD);
  private headFill = 0;
  /** A frame body being collected for decoding (it spans reads). */
  private body: Buffer | null = null;
  private bodyFill = 0;
  private readonly maxLength: number;

  constructor(options: LoadClientOptions) {
    super(options);
    this.maxLength = this.maxFrameBytes + 1;
  }

  protected resetFraming(): void {
    this.skip = 0;
    this.headFill = 0;
    this.body = null;
    this.bodyFill = 0;
  }

  encode(json: string): Buffer {
    const n = Buffer.byteLength(json);
    const out = Buffer.allocUnsafe(5 + n);
    out.writeUInt32BE(n + 1, 0);
    out[4] = 0;
    out.write(json, 5, 'utf8');
    return out;
  }


  protected ingest(n: number): void {
    const buf = READ_BUF;
    let off = 0;
    while (off < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - off);
        this.skip -= take;
        off += take;
        continue;
      }
      if (this.body !== null) {
        const body = this.body;
        const take = Math.min(body.length - this.bodyFill, n - off);
        buf.copy(body, this.bodyFill, off, off + take);
        this.bodyFill += take;
        off += take;
        if (this.bodyFill === body.length) {
          this.body = null;
          this.dispatch(body, 0, body.length);
          if (this.gone) return;
        }
        continue;
      }
      if (this.headFill === 0 && n - off >= HEAD) {
        // Fast path: the whole head is in this read.
        const len = buf.readUInt32BE(off);
        if (len < MIN_LENGTH || len > this.maxLength || buf[off + 4] !== 0) return this.badFrame(len, buf[off + 4]!);
        const frameEnd = off + 4 + len;
        if (this.counted(buf, off + 5)) {
          if (buf[off + 14] === T_CHAT) this.chats++;
          if (frameEnd <= n) off = frameEnd;
          else {
            this.skip = frameEnd - n;
            off = n;
          }
        } else if (frameEnd <= n) {
          this.dispatch(buf, off + 5, frameEnd);
          if (this.gone) return;
          off = frameEnd;
        } else {
          const body = Buffer.allocUnsafe(len - 1);
          buf.copy(body, 0, off + 5, n);
          this.body = body;
          this.bodyFill = n - off - 5;
          off = n;
        }
        continue;
      }
      // Slow path: assemble the head across reads.
      const take = Math.min(HEAD - this.headFill, n - off);
      buf.copy(this.head, this.headFill, off, off + take);
      this.headFill += take;
      off += take;
      if (this.headFill < HEAD) return;
      this.headFill = 0;
      const h = this.head;
      const len = h.readUInt32BE(0);
      if (len < MIN_LENGTH || len > this.maxLength || h[4] !== 0) return this.badFrame(len, h[4]!);
      if (this.counted(h, 5)) {
        if (h[14] === T_CHAT) this.chats++;
        this.skip = 4 + len - HEAD;
      } else {
        const body = Buffer.allocUnsafe(len - 1);
        h.copy(body, 0, 5, HEAD);
        this.bodyFill = HEAD - 5;
        if (this.bodyFill === body.length) {
          this.dispatch(body, 0, body.length);
          if (this.gone) return;
        } else this.body = body;
      }
    }
  }

  private badFrame(len: number, flags: number): void {
    this.fail(this.conn, `server sent a bad frame (length ${len}, flags ${flags})`);
  }
}
