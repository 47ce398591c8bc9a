/**
 * Write coalescing: frames bound for one socket within one event-loop turn
 * leave in one system call instead of one write each, and every socket with
 * something queued is flushed once per turn by one `setImmediate`. A socket
 * whose queue passes `flushBytes` is flushed at once, so a burst never waits
 * in user space. Frames are queued by reference: a broadcast is encoded once
 * and its Buffer shared by every recipient's queue.
 *
 * How a flush of several frames leaves: when they add up to at most
 * `copyMaxBytes` (default 16 KiB), they are copied back to back into one
 * Buffer from Node's shared allocation pool and handed over with one
 * `socket.write` (one write(2)); larger flushes go by `cork` … `uncork`
 * (one writev(2)) without a copy. Copying a few small chat frames costs less
 * than Node's writev path (its chunk array, the stream's buffered-request
 * list and the C++ side's per-chunk handling): in the multi-room scenario the
 * copy cut the server's CPU at the same load by about a tenth and its p99 by
 * half (docs/performance.md, "Async I/O service: write coalescing").
 *
 * Memory: a socket holds its queue object only while frames wait in it. The
 * turn's flush gives the queue back to a bounded free list, so an idle
 * connection costs nothing here (bench/services/connection-pool.bench.ts
 * measures memory per idle connection) and a busy one allocates nothing
 * per turn.
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
/** Most queue objects kept for reuse: the busiest sockets of one turn; the rest are left to the GC. */
const FREE_MAX = 4096;
type CoalescedSocket = Socket & { [kPending]?: Pending };

/** Coalescing writer. One instance per server. */
export class CoalescingWriter implements OutboundWriter {
  private dirty: CoalescedSocket[] = [];
  private readonly free: Pending[] = [];
  private scheduled = false;
  private readonly flushAll = () => this.flushDirty();

  /**
   * @param flushBytes queued bytes of one socket that trigger an immediate flush (default 64 KiB)
   * @param copyMaxBytes largest flush of several frames that is copied into one Buffer and
   *   written with one write(2), bytes (default 16 KiB); 0 sends every multi-frame flush by writev
   */
  constructor(
    private readonly flushBytes = 64 * 1024,
    private readonly copyMaxBytes = 16 * 1024,
  ) {}

  write(socket: Socket, frame: Buffer): boolean {
    const s = socket as CoalescedSocket;
    let p = s[kPending];
    if (p === undefined) p = s[kPending] = this.free.pop() ?? new Pending();
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
      // A write made during the flush (by a handler of this socket) queued again: keep it.
      if (p.bytes === 0 && !p.queued && s[kPending] === p) {
        s[kPending] = undefined;
        if (this.free.length < FREE_MAX) this.free.push(p);
      }
    }
  }

  private flushOne(s: CoalescedSocket, p: Pending): void {
    const frames = p.frames;
    const n = frames.length;
    const bytes = p.bytes;
    p.bytes = 0;
    if (s.destroyed || !s.writable) {
      frames.length = 0;
      return;
    }
    if (n === 1) {
      const f = frames[0]!;
      frames.length = 0;
      s.write(f);
      return;
    }
    if (bytes <= this.copyMaxBytes) {
      const out = Buffer.allocUnsafe(bytes);
      for (let i = 0, at = 0; i < n; i++) {
        const f = frames[i]!;
        out.set(f, at);
        at += f.length;
      }
      // Emptied before the write: a write that re-enters write() appends to this (now empty) queue.
      frames.length = 0;
      s.write(out);
      return;
    }
    // The queue is emptied before the writes: a write that re-enters write() appends to a fresh queue.
    p.frames = [];
    s.cork();
    for (let i = 0; i < n; i++) s.write(frames[i]!);
    s.uncork();
  }
}
