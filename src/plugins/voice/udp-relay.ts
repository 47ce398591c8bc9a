/**
 * The voice media relay (PROTOCOL.md §7): one UDP socket; each datagram is
 * the 16 raw bytes of a participant's hex token, then the payload, and the
 * payload alone is forwarded to the other peers of the token's group.
 *
 * The relay knows nothing of rooms or clients: the voice plugin creates one
 * RelayGroup per channel and one RelayPeer per participant, and tells the
 * relay through `isLive` whether a peer still counts. Memory is bounded by
 * the live peers: a peer's entry goes away with removePeer / removeGroup.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';

/** Length of a token on the wire, bytes (PROTOCOL.md §7: the 16 bytes of the 32-hex-char `token`). */
export const TOKEN_BYTES = 16;

/**
 * One participant's relay state. `address`/`port` are learned from the source
 * of its latest datagram (so a client behind NAT, or one that changed port,
 * is followed); `port` 0 means nothing was heard from it yet and nothing is
 * forwarded to it.
 * @typeParam T the owner's record (the voice plugin's participant)
 */
export class RelayPeer<T> {
  /** Source address of the latest datagram carrying this token; '' until one arrives. */
  address = '';
  /** Source UDP port of the latest datagram; 0 until one arrives. */
  port = 0;

  /**
   * @param token 32 lowercase hex characters: the bytes a datagram starts with
   * @param group the peers this one's payloads are forwarded to
   * @param owner the caller's record, handed back to `isLive` / `onStale`
   */
  constructor(
    readonly token: string,
    readonly group: RelayGroup<T>,
    readonly owner: T,
  ) {}
}

/** The peers that hear each other: one voice channel. */
export class RelayGroup<T> {
  /** Live peers; do not modify (use UdpRelay.addPeer / removePeer). */
  readonly peers = new Set<RelayPeer<T>>();
}

/** Counters of the relay since it was created. */
export interface RelayStats {
  /** Datagrams received, whatever became of them. */
  received: number;
  /** Datagrams written to a peer (one per recipient). */
  forwarded: number;
  /** Dropped: shorter than TOKEN_BYTES. */
  droppedShort: number;
  /** Dropped: the token names no live peer. */
  droppedUnknown: number;
  /** Dropped: the sender's peer is no longer live (`isLive` said false). */
  droppedStale: number;
  /** Forwarding writes that failed (logged at debug level). */
  sendErrors: number;
}

/** Options of a UdpRelay. */
export interface UdpRelayOptions<T> {
  /** Interface to bind (config `voice_udp_host`); an IPv6 literal binds a udp6 socket. */
  host: string;
  /** Port to bind (config `voice_udp_port`); 0 picks a free port. */
  port: number;
  logger: Logger;
  /**
   * Asked on every datagram for the sender and each recipient: false makes
   * the relay skip that peer (checked per datagram so that a client that left
   * its room stops sending and hearing at once). Must not modify groups.
   */
  isLive(owner: T): boolean;
  /** Called after a datagram was handled, once per peer `isLive` rejected; may remove peers. */
  onStale(owner: T): void;
}

/** The UDP relay. Bind with bind(); release with close(). */
export class UdpRelay<T> {
  private socket: dgram.Socket | null = null;
  private readonly peers = new Map<string, RelayPeer<T>>();
  private boundPort = 0;
  private readonly stale: RelayPeer<T>[] = [];
  private readonly counters: RelayStats = {
    received: 0,
    forwarded: 0,
    droppedShort: 0,
    droppedUnknown: 0,
    droppedStale: 0,
    sendErrors: 0,
  };
  // Created once (STYLE.md: no closure per datagram).
  private readonly onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => this.relay(msg, rinfo);
  private readonly onError = (err: Error): void => {
    this.options.logger.error({ err }, 'voice relay socket error');
  };
  private readonly onSent = (err: Error | null): void => {
    if (!err) return;
    this.counters.sendErrors++;
    this.options.logger.debug({ err }, 'voice relay send failed');
  };

  constructor(private readonly options: UdpRelayOptions<T>) {}

  /**
   * Binds the socket to `host:port`.
   * @returns the bound address; `port` is the real one when options.port is 0
   * @throws the socket's bind error (EADDRINUSE, EADDRNOTAVAIL, ...)
   */
  bind(): Promise<{ host: string; port: number }> {
    if (this.socket) return Promise.resolve({ host: this.options.host, port: this.boundPort });
    const { host, port } = this.options;
    const sock = dgram.createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      const failed = (err: Error): void => {
        try {
          sock.close();
        } catch {
          // already closed by the failed bind
        }
        reject(err);
      };
      sock.once('error', failed);
      sock.bind(port, host, () => {
        sock.off('error', failed);
        sock.on('error', this.onError);
        sock.on('message', this.onMessage);
        this.socket = sock;
        this.boundPort = sock.address().port;
        resolve({ host, port: this.boundPort });
      });
    });
  }

  /** The bound UDP port; 0 before bind() and after close(). */
  get port(): number {
    return this.boundPort;
  }

  /** Live peers (tokens) across all groups. */
  get peerCount(): number {
    return this.peers.size;
  }

  /** A snapshot of the counters. */
  get stats(): RelayStats {
    return { ...this.counters };
  }

  /**
   * Adds a peer with a fresh random token (16 random bytes, unique among
   * live peers) to `group`.
   * @returns the peer; its `token` goes to the client in `voice_started` / `voice_joined`
   */
  addPeer(group: RelayGroup<T>, owner: T): RelayPeer<T> {
    let token: string;
    do token = randomBytes(TOKEN_BYTES).toString('hex');
    while (this.peers.has(token));
    const peer = new RelayPeer(token, group, owner);
    this.peers.set(token, peer);
    group.peers.add(peer);
    return peer;
  }

  /** Forgets a peer: its token is dropped from then on. Idempotent. */
  removePeer(peer: RelayPeer<T>): void {
    if (this.peers.get(peer.token) === peer) this.peers.delete(peer.token);
    peer.group.peers.delete(peer);
  }

  /** Forgets every peer of `group`. */
  removeGroup(group: RelayGroup<T>): void {
    for (const peer of [...group.peers]) this.removePeer(peer);
  }

  /**
   * One datagram: drop it if short, unknown or from a peer that is no longer
   * live; learn the sender's address; forward the payload to every other live
   * peer of its group that has been heard from. A datagram of exactly the
   * token (empty payload) only registers the sender's address.
   */
  private relay(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const c = this.counters;
    c.received++;
    if (msg.length < TOKEN_BYTES) {
      c.droppedShort++;
      return;
    }
    const peer = this.peers.get(msg.toString('hex', 0, TOKEN_BYTES));
    if (peer === undefined) {
      c.droppedUnknown++;
      return;
    }
    const { isLive } = this.options;
    if (!isLive(peer.owner)) {
      c.droppedStale++;
      this.stale.push(peer);
      return this.flushStale();
    }
    peer.address = rinfo.address;
    peer.port = rinfo.port;
    if (msg.length === TOKEN_BYTES) return;
    const payload = msg.subarray(TOKEN_BYTES);
    const sock = this.socket!;
    for (const other of peer.group.peers) {
      if (other === peer || other.port === 0) continue;
      if (!isLive(other.owner)) {
        this.stale.push(other);
        continue;
      }
      try {
        sock.send(payload, other.port, other.address, this.onSent);
        c.forwarded++;
      } catch (err) {
        // Synchronous throws (e.g. a socket closing under us) must not escape the 'message' handler.
        this.onSent(err as Error);
      }
    }
    if (this.stale.length > 0) this.flushStale();
  }

  private flushStale(): void {
    const { onStale, logger } = this.options;
    for (const peer of this.stale.splice(0)) {
      try {
        onStale(peer.owner);
      } catch (err) {
        logger.error({ err }, 'voice relay onStale threw');
      }
    }
  }

  /** Closes the socket and forgets every peer. Idempotent. */
  async close(): Promise<void> {
    const sock = this.socket;
    this.socket = null;
    this.boundPort = 0;
    this.peers.clear();
    this.stale.length = 0;
    if (!sock) return;
    sock.off('message', this.onMessage);
    await new Promise<void>((resolve) => {
      try {
        sock.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
