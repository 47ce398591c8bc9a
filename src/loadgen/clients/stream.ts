/**
 * The TCP transport of the tcp and lines adapters: a net.Socket whose reads
 * land in one shared buffer (`onread`, no allocation per read) and are
 * walked synchronously by the subclass's `ingest`; writes are the
 * subclass's `encode` of each envelope. Senders cork the socket while a
 * read is handled, so the writes it triggers leave as one.
 */
import net from 'node:net';
import { BaseClient, type Conn, type LoadClientOptions } from './base.js';

/**
 * One read buffer for every load socket: reads are handled synchronously in
 * the callback, so a single buffer serves all connections (no per-read
 * allocation). Partial frames that must be decoded are copied out.
 */
export const READ_BUF = Buffer.allocUnsafe(256 * 1024);

/** One TCP connection of a StreamClient. */
class NetConn implements Conn {
  constructor(
    readonly sock: net.Socket,
    private readonly client: StreamClient,
  ) {}

  send(json: string): void {
    this.sock.write(this.client.encode(json));
  }

  destroy(): void {
    this.sock.destroy();
  }

  get gone(): boolean {
    return this.sock.destroyed;
  }

  whenClosed(): Promise<void> {
    const sock = this.sock;
    if (sock.closed) return Promise.resolve();
    return new Promise((r) => sock.once('close', () => r()));
  }
}

/** A load client over a byte stream (TCP); subclasses implement the framing. */
export abstract class StreamClient extends BaseClient {
  private readonly cork: boolean;

  constructor(options: LoadClientOptions) {
    super(options);
    this.cork = options.cork ?? false;
  }

  /** Resets the framing state for a new connection. */
  protected abstract resetFraming(): void;
  /** Walks READ_BUF[0, n). */
  protected abstract ingest(n: number): void;
  /** Encodes one envelope for the wire. */
  abstract encode(json: string): Buffer;

  protected open(): Conn {
    this.resetFraming();
    const sock: net.Socket = net.connect({
      host: this.options.host,
      port: this.options.port,
      noDelay: true,
      onread: { buffer: READ_BUF, callback: (n: number): boolean => this.onRead(conn, n) },
    });
    const conn = new NetConn(sock, this);
    sock.once('connect', () => this.connOpened(conn));
    sock.on('error', (err) => this.connError(conn, err.message));
    sock.once('close', () => this.connClosed(conn));
    return conn;
  }

  private onRead(conn: NetConn, n: number): boolean {
    if (!this.isCurrent(conn)) return true;
    this.reads++;
    if (!this.cork) {
      this.ingest(n);
      return true;
    }
    const sock = conn.sock;
    sock.cork();
    try {
      this.ingest(n);
    } finally {
      sock.uncork();
    }
    return true;
  }

  /**
   * Hands bytes to the read path as if they had been read from the socket
   * (tests and benchmarks drive the framing with it, no socket needed).
   * @param chunk at most READ_BUF.length bytes
   */
  feed(chunk: Buffer): void {
    chunk.copy(READ_BUF, 0);
    this.ingest(chunk.length);
  }
}
