/**
 * Test clients that speak the wire protocol over real sockets, and a helper
 * that starts a real server on an ephemeral port.
 */
import net from 'node:net';
import pino from 'pino';
import { createServer, type ChatServer, type ConfigInput, type MessageProcessor } from '../../src/index.js';
import type { Envelope } from '../../src/core/envelope.js';

/** A running server for one test file. */
export interface TestServer {
  server: ChatServer;
  host: string;
  port: number;
  close(): Promise<void>;
}

/**
 * `service_*` keys from the environment, so the whole suite can run against
 * another implementation: `service_io=coalescing npx vitest run`.
 */
function serviceOverrides(): ConfigInput {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('service_') && v) out[k] = v;
  return out as ConfigInput;
}

/**
 * Starts a real server on 127.0.0.1 and an ephemeral port, logging nothing.
 * @param overrides config keys on top of test defaults (and of `service_*` env)
 */
export async function startServer(
  overrides: ConfigInput = {},
  options: { plugins?: MessageProcessor[]; builtins?: MessageProcessor[] } = {},
): Promise<TestServer> {
  const server = await createServer(
    // Overload shedding off unless a test turns it on: tests drive latency and error rates on purpose.
    { tcp_host: '127.0.0.1', tcp_port: 0, voice_udp_port: 0, log_level: 'silent', log_file: '', max_latency_ms: 0, max_error_rate: 0, ...serviceOverrides(), ...overrides },
    { ...options, logger: pino({ level: 'silent' }) },
  );
  const { host, port } = await server.listen();
  return { server, host, port, close: () => server.close() };
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Splits `buf` at the given offsets (each taken modulo buf.length + 1, in
 * any order; repeats and 0 are ignored): the pieces a fuzz test sends as
 * separate writes.
 */
export function chunk(buf: Buffer, cuts: number[]): Buffer[] {
  const points = cuts.map((c) => c % (buf.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    if (p > prev) out.push(buf.subarray(prev, p));
    prev = p;
  }
  if (prev < buf.length) out.push(buf.subarray(prev));
  return out;
}

/** Encodes one binary frame (PROTOCOL.md §2). */
export function frame(obj: unknown, flags = 0): Buffer {
  const body = Buffer.from(JSON.stringify(obj));
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length + 1, 0);
  out[4] = flags;
  body.copy(out, 5);
  return out;
}

type Pred<T> = (m: T) => boolean;

/** Common inbox logic: messages queue up; `next` takes the first that matches. */
abstract class InboxClient<T> {
  sock!: net.Socket;
  readonly inbox: T[] = [];
  closed = false;
  private waiters: { pred: Pred<T>; resolve: (m: T | null) => void; timer: NodeJS.Timeout }[] = [];

  protected async dial(port: number, host = '127.0.0.1'): Promise<void> {
    this.sock = net.connect({ port, host });
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.sock.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
  }

  protected abstract onData(d: Buffer): void;

  protected push(m: T): void {
    this.inbox.push(m);
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      const i = this.inbox.findIndex(w.pred);
      if (i >= 0) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(this.inbox.splice(i, 1)[0]!);
      } else if (this.closed) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(null);
      }
    }
  }

  /** The first message matching `pred` (removed from the inbox), or null after `ms` or on close. */
  next(pred: Pred<T>, ms = 2000): Promise<T | null> {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const w = { pred, resolve, timer: setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        resolve(null);
      }, ms) };
      this.waiters.push(w);
    });
  }

  /** Resolves true once the server closed the socket (false after `ms`). */
  waitClose(ms = 2000): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.closed), ms);
      this.sock.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  raw(bytes: Buffer | string): void {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  end(): void {
    this.sock.destroy();
  }
}

/** Binary-frame client (PROTOCOL.md §2). Inbox holds decoded envelopes. */
export class FrameClient extends InboxClient<Envelope> {
  private buf = Buffer.alloc(0);

  static async connect(port: number, host?: string): Promise<FrameClient> {
    const c = new FrameClient();
    await c.dial(port, host);
    return c;
  }

  protected onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + len) break;
      const body = this.buf.subarray(5, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      this.push(JSON.parse(body.toString('utf8')) as Envelope);
    }
  }

  send(obj: unknown): void {
    this.raw(frame(obj));
  }

  /** Next envelope of `type`. */
  type(type: string, ms?: number): Promise<Envelope | null> {
    return this.next((m) => m.type === type, ms);
  }
}

/** json-lines client (PROTOCOL.md §4). Inbox holds decoded envelopes. */
export class JsonClient extends InboxClient<Envelope> {
  private partial = '';

  static async connect(port: number, host?: string): Promise<JsonClient> {
    const c = new JsonClient();
    await c.dial(port, host);
    return c;
  }

  protected onData(d: Buffer): void {
    const parts = (this.partial + d.toString('utf8')).split('\n');
    this.partial = parts.pop()!;
    for (const p of parts) if (p.trim()) this.push(JSON.parse(p) as Envelope);
  }

  send(obj: unknown): void {
    this.raw(`${JSON.stringify(obj)}\n`);
  }

  type(type: string, ms?: number): Promise<Envelope | null> {
    return this.next((m) => m.type === type, ms);
  }
}

/** Text-mode client, as `nc` (PROTOCOL.md §5). Inbox holds lines without their end. */
export class TextClient extends InboxClient<string> {
  private partial = '';

  static async connect(port: number, host?: string): Promise<TextClient> {
    const c = new TextClient();
    await c.dial(port, host);
    return c;
  }

  protected onData(d: Buffer): void {
    const parts = (this.partial + d.toString('utf8')).split('\n');
    this.partial = parts.pop()!;
    for (const p of parts) this.push(p);
  }

  /** Types one line (adds `\n`). */
  line(text: string): void {
    this.raw(`${text}\n`);
  }

  /** Next line matching a regex or exact string. */
  expect(match: RegExp | string, ms?: number): Promise<string | null> {
    return this.next((l) => (typeof match === 'string' ? l === match : match.test(l)), ms);
  }
}

/** One HTTP/1.1 GET (or other method) over a raw socket; resolves status, head and body. */
export function httpRequest(port: number, path: string, method = 'GET'): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' }, () => sock.write(`${method} ${path} HTTP/1.1\r\nHost: t\r\n\r\n`));
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => (data += d));
    sock.on('error', reject);
    sock.on('close', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body: rest.join('\r\n\r\n') });
    });
  });
}

/** Binary client that has sent `hello` with `nick` and received `welcome`. */
export async function helloClient(port: number, nick: string, extra: Record<string, unknown> = {}): Promise<FrameClient> {
  const c = await FrameClient.connect(port);
  c.send({ type: 'hello', nick, ...extra });
  const w = await c.type('welcome');
  if (!w) throw new Error(`no welcome for ${nick}`);
  return c;
}

/** Joins `room` and waits for `joined`. */
export async function join(c: FrameClient | JsonClient, room: string, extra: Record<string, unknown> = {}): Promise<Envelope> {
  c.send({ type: 'join_room', room, ...extra });
  const j = await c.type('joined');
  if (!j) throw new Error(`no joined for ${room}`);
  return j;
}
