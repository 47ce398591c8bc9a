/**
 * Write coalescing: frames bound for one socket within one event-loop turn
 * leave in one `writev` (cork … uncork) instead of one write each, and every
 * socket with something queued is flushed once per turn by one
 * `setImmediate`. A socket whose queue passes `flushBytes` is flushed at
 * once, so a burst never waits in user space. Frames are queued by
 * reference: a broadcast Buffer shared by many sockets is never copied.
 */
import type { Socket } from 'node:net';
import type { OutboundWriter } from './contract.js';

/** Queue of one socket; fields fixed here (one hidden class). */
class Pending {
  frames: Buffer[] = [];
  bytes = 0;
  queued = false;
}

const kPending = Symbol('tcpserver.coalescing');
type CoalescedSocket = Socket & { [kPending]?: Pending };

/** Coalescing writer. One instance per server. */
export class CoalescingWriter implements OutboundWriter {
  private dirty: CoalescedSocket[] = [];
  private scheduled = false;
  private readonly flushAll = () => this.flushDirty();

  /** @param flushBytes queued bytes of one socket that trigger an immediate flush (default 64 KiB) */
  constructor(private readonly flushBytes = 64 * 1024) {}

  write(socket: Socket, frame: Buffer): boolean {
    const s = socket as CoalescedSocket;
    let p = s[kPending];
    if (p === undefined) p = s[kPending] = new Pending();
    p.frames.push(frame);
    p.bytes += frame.length;
    if (p.bytes >= this.flushBytes) {
      this.flushOne(s, p);
    } else if (!p.queued) {
      p.queued = true;
      this.dirty.push(s);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flushAll);
      }
    }
    return s.writableLength < s.writableHighWaterMark;
  }

  pending(socket: Socket): number {
    return socket.writableLength + ((socket as CoalescedSocket)[kPending]?.bytes ?? 0);
  }

  flush(socket: Socket): void {
    const s = socket as CoalescedSocket;
    const p = s[kPending];
    if (p !== undefined && p.bytes > 0) this.flushOne(s, p);
  }

  private flushDirty(): void {
    this.scheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const s of dirty) {
      const p = s[kPending]!;
      p.queued = false;
      if (p.bytes > 0) this.flushOne(s, p);
    }
  }

  private flushOne(s: CoalescedSocket, p: Pending): void {
    const frames = p.frames;
    p.frames = [];
    p.bytes = 0;
    if (s.destroyed || !s.writable) return;
    if (frames.length === 1) {
      s.write(frames[0]!);
      return;
    }
    s.cork();
    for (const f of frames) s.write(f);
    s.uncork();
  }
}
