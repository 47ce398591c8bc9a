/**
 * The virtual clients of a run and their life cycle: ramp-up, sending,
 * planned drops with resume (reconnect scenario), recovery from unplanned
 * drops, drain and close.
 *
 * Everything runs in this one process and thread: the send time carried in
 * each text is read back by probes on the same performance.now() clock, and
 * counting subscribers are cheap enough (clients/tcp.ts) that one core
 * carries millions of deliveries per second. A "worker" here is one virtual
 * client: its connection (a LoadClient, reused across reconnects), its room,
 * its sender state and, for probes, its SeqTracker.
 *
 * Plan: client i joins room i mod R (rooms round-robin). The first `probes`
 * clients are probes and the last `senders` clients send, so both spread
 * round-robin over the rooms. Every client says `hello` with echo on: senders
 * receive their own chats after the ack, so each member of a room sees every
 * message of the room and one seq stream with no holes.
 */
import { createClient, LoadClientError, type ClientHandlers, type JoinedInfo, type LoadClient } from './clients/index.js';
import { makeStamp, MetricsCollector, SeqTracker, stampTime } from './metrics.js';
import type { Scenario } from './types.js';

/** One virtual client's part in the run. */
export interface ClientPlan {
  index: number;
  room: string;
  probe: boolean;
  sender: boolean;
}

/** Which client joins which room, probes and senders (see the file comment). */
export function planClients(s: Scenario, rooms: string[]): ClientPlan[] {
  return Array.from({ length: s.clients }, (_, i) => ({
    index: i,
    room: rooms[i % rooms.length]!,
    probe: i < s.probes,
    sender: i >= s.clients - s.senders,
  }));
}

/** Options of a WorkerPool. */
export interface PoolOptions {
  scenario: Scenario;
  rooms: string[];
  metrics: MetricsCollector;
  /** Short random tag in every nick, so runs never share a dedup key (PROTOCOL.md §3). */
  tag: string;
  /** Connect / join timeout, ms. */
  timeoutMs: number;
  log: (line: string) => void;
}

/** A message sent and not yet acknowledged: first send time and text (for a resend after a drop). */
interface Pending {
  t: number;
  text: string;
}

type State = 'new' | 'connecting' | 'joined' | 'down' | 'resuming' | 'failed' | 'closed';

/** Most attempts to resume after an unplanned drop before the client gives up. */
const MAX_RESUME_ATTEMPTS = 5;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One virtual client. Implements the adapter's handlers itself (no closure per socket). */
export class VirtualClient implements ClientHandlers {
  readonly client: LoadClient;
  readonly nick: string;
  state: State = 'new';
  /** Probes only. */
  readonly tracker: SeqTracker | null;
  /** Joined at least once. */
  joinedOnce = false;
  /** Counting clients: seq of the last join point (joined.seq, or the since_seq of a resume) and `chats` then. */
  private base = 0;
  private chatsAtJoin = 0;
  /** False after a resume that was not recovered: a counting client's seq can no longer be derived from its count. */
  countable = true;
  /** since_seq of the join in flight (undefined: a plain join). */
  private joinSince: number | undefined = undefined;
  private epoch: string | undefined = undefined;
  /** Sender state. */
  private counter = 0;
  readonly pending = new Map<string, Pending>();
  private sending = false;
  private sendTimer: NodeJS.Timeout | null = null;
  private nextSendAt = 0;
  private dropTimer: NodeJS.Timeout | null = null;
  private readonly pad: string;

  constructor(
    readonly plan: ClientPlan,
    private readonly pool: WorkerPool,
  ) {
    const s = pool.scenario;
    this.nick = `lg${pool.tag}-${plan.index}`;
    this.tracker = plan.probe ? new SeqTracker() : null;
    this.pad = pool.pad;
    this.client = createClient(s.protocol, {
      host: s.host,
      port: s.port,
      decodeChats: plan.probe,
      echo: true,
      handlers: this,
      cork: plan.sender,
      timeoutMs: pool.timeoutMs,
    });
  }

  get metrics(): MetricsCollector {
    return this.pool.metrics;
  }

  /** The seq this client has reached in its room (probes: highest seen; counters: join point + chats counted since). */
  get lastSeq(): number {
    if (this.tracker) return this.tracker.lastSeen;
    return this.base + (this.client.chats - this.chatsAtJoin);
  }

  /** First connect and join (ramp-up). Never rejects: a failure is counted. */
  async start(): Promise<void> {
    this.state = 'connecting';
    try {
      await this.client.connect(this.nick);
      this.joinSince = undefined;
      await this.client.join(this.plan.room);
    } catch (err) {
      this.metrics.connectFailures++;
      this.pool.noteFailure(err as Error);
      this.state = 'failed';
      this.client.close();
      return;
    }
    if (this.pool.closing) return this.close();
    this.state = 'joined';
    this.joinedOnce = true;
    if (this.plan.sender && this.pool.sendingAllowed) this.startSending();
  }

  // ---------------------------------------------------------------- handlers (called by the adapter)

  onJoined(room: string, info: JoinedInfo): void {
    if (room !== this.plan.room) return;
    const since = this.joinSince;
    // A resume that replays everything after since_seq continues the count from since_seq; after
    // anything else the count restarts at joined.seq (the stream restarted, or retention cut it),
    // and a counting client can no longer vouch for the whole stream.
    const resumed = since !== undefined && info.recovered === true && info.epoch === this.epoch;
    if (since !== undefined) {
      if (info.recovered === false) this.metrics.unrecovered++;
      if (!resumed) this.countable = false;
    }
    this.epoch = info.epoch;
    this.tracker?.joined(info, since);
    this.base = resumed ? since : info.seq;
    this.chatsAtJoin = this.client.chats;
  }

  onAck(room: string, seq: number, id: string | undefined, duplicate: boolean): void {
    if (id === undefined) return;
    const p = this.pending.get(id);
    if (p === undefined) return; // the ack of a resend whose first ack also came
    this.pending.delete(id);
    this.metrics.recordAck(p.t, performance.now(), room, seq, duplicate);
    if (this.sending && this.pool.pumpMode) this.pump();
  }

  onChat(room: string, seq: number, text: string): void {
    if (room !== this.plan.room) return;
    const t = stampTime(text);
    if (t === t) this.metrics.recordE2e(t, performance.now()); // t === t: not NaN (a chat from outside the run)
    this.tracker?.observe(seq);
  }

  onError(code: string, _message: string, ref: string | undefined, _fatal: boolean): void {
    this.metrics.recordError(code);
    if (ref !== undefined && this.pending.delete(ref)) {
      // Refused (rate_limited, bad_request, …): not accepted, not resent. In window mode the
      // slot frees after a pause, so a refusing server does not turn the sender into a busy loop.
      this.metrics.refused++;
      if (this.sending && this.pool.pumpMode) setTimeout(() => this.pump(), 10).unref();
    }
  }

  onGap(_room: string, _from: number, _to: number): void {
    this.metrics.gaps++;
  }

  onClose(expected: boolean, reason: string): void {
    if (expected) return;
    this.metrics.recordDisconnect(reason);
    if (this.state !== 'joined') return;
    this.state = 'down';
    if (this.pool.closing) return;
    void this.resume(true);
  }

  // ---------------------------------------------------------------- sending

  startSending(): void {
    if (this.sending || this.state === 'closed') return;
    this.sending = true;
    const s = this.pool.scenario;
    if (this.pool.pumpMode) return this.pump();
    // A random first phase spreads the senders over one interval.
    this.nextSendAt = performance.now() + Math.random() * s.msg_interval_ms;
    this.schedule();
  }

  stopSending(): void {
    this.sending = false;
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.sendTimer = null;
  }

  private schedule(): void {
    const now = performance.now();
    this.sendTimer = setTimeout(() => this.tick(), Math.max(0, this.nextSendAt - now));
  }

  /** Fixed-rate send: one message, then the next one an interval later (jittered ±1/3 around the interval). */
  private tick(): void {
    this.sendTimer = null;
    if (!this.sending) return;
    const s = this.pool.scenario;
    if (this.state === 'joined' && (s.window === 0 || this.pending.size < s.window)) this.sendNew();
    const now = performance.now();
    this.nextSendAt += s.msg_interval_ms * (2 / 3 + (Math.random() * 2) / 3);
    // Behind by more than an interval (a stall): do not burst to catch up.
    if (this.nextSendAt < now - s.msg_interval_ms) this.nextSendAt = now;
    this.schedule();
  }

  /** Window mode: keep `window` messages unacknowledged. */
  pump(): void {
    const w = this.pool.scenario.window;
    while (this.sending && this.state === 'joined' && this.pending.size < w) this.sendNew();
  }

  private sendNew(): void {
    const id = String(++this.counter);
    const t = performance.now();
    const stamp = makeStamp(this.plan.index, this.counter, t);
    const size = this.pool.scenario.msg_size;
    const text = stamp.length >= size ? stamp : stamp + this.pad.slice(0, size - stamp.length);
    this.pending.set(id, { t, text });
    this.metrics.sent++;
    this.client.send(this.plan.room, text, id);
  }

  // ---------------------------------------------------------------- drops and resume

  /** Reconnect scenario: drop now and then every `everyMs`, first after `firstMs`. */
  scheduleDrops(firstMs: number, everyMs: number): void {
    const run = () => {
      this.dropTimer = setTimeout(() => {
        if (this.pool.closing || !this.pool.dropsAllowed) return;
        if (this.state === 'joined') void this.dropAndResume();
        run();
      }, everyMs);
    };
    this.dropTimer = setTimeout(() => {
      if (this.pool.closing || !this.pool.dropsAllowed) return;
      if (this.state === 'joined') void this.dropAndResume();
      run();
    }, firstMs);
  }

  stopDrops(): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = null;
  }

  /** A planned drop: close the connection abruptly, then resume at once. */
  private async dropAndResume(): Promise<void> {
    this.state = 'down';
    this.client.close();
    await this.resume(false);
  }

  /**
   * Reconnects and rejoins with since_seq (the last seq before the first hole
   * for a probe, the derived last seq for a counting client) and the epoch,
   * then resends what is unacknowledged under the same ids: the server
   * answers an already accepted one with `duplicate: true` and does not
   * broadcast it again.
   */
  private async resume(afterFailure: boolean): Promise<void> {
    this.state = 'resuming';
    for (let attempt = 1; attempt <= MAX_RESUME_ATTEMPTS; attempt++) {
      if (afterFailure || attempt > 1) await sleep(Math.min(2000, 100 * 2 ** (attempt - 1)) * (0.5 + Math.random()));
      if (this.pool.closing) {
        this.state = 'down';
        return;
      }
      const since = this.tracker ? this.tracker.resumeFrom : this.lastSeq;
      try {
        await this.client.connect(this.nick);
        this.joinSince = since;
        await this.client.join(this.plan.room, since, this.epoch);
      } catch (err) {
        this.metrics.connectFailures++;
        this.pool.noteFailure(err as Error);
        this.client.close();
        continue;
      }
      if (this.pool.closing) {
        this.client.close();
        this.state = 'down';
        return;
      }
      this.state = 'joined';
      this.metrics.reconnects++;
      for (const [id, p] of this.pending) this.client.send(this.plan.room, p.text, id);
      if (this.plan.sender && this.pool.sendingAllowed) {
        if (!this.sending) this.startSending();
        else if (this.pool.pumpMode) this.pump();
      }
      return;
    }
    this.state = 'failed';
    this.pool.log(`${this.nick}: gave up resuming after ${MAX_RESUME_ATTEMPTS} attempts`);
  }

  /** Closes for good. */
  close(): void {
    this.stopSending();
    this.stopDrops();
    this.state = 'closed';
    this.client.close();
  }
}

/** The run's virtual clients. */
export class WorkerPool {
  readonly clients: VirtualClient[];
  readonly scenario: Scenario;
  readonly metrics: MetricsCollector;
  readonly tag: string;
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
  /** Padding the texts are cut from. */
  readonly pad: string;
  /** Window mode without an interval: senders refill on every ack. */
  readonly pumpMode: boolean;
  sendingAllowed = true;
  dropsAllowed = false;
  closing = false;
  /** First few distinct connect/join failure messages. */
  readonly failures = new Map<string, number>();

  constructor(options: PoolOptions) {
    this.scenario = options.scenario;
    this.metrics = options.metrics;
    this.tag = options.tag;
    this.timeoutMs = options.timeoutMs;
    this.log = options.log;
    this.pad = 'x'.repeat(options.scenario.msg_size);
    this.pumpMode = options.scenario.window > 0 && options.scenario.msg_interval_ms === 0;
    this.clients = planClients(options.scenario, options.rooms).map((p) => new VirtualClient(p, this));
  }

  noteFailure(err: Error): void {
    const code = err instanceof LoadClientError ? err.code : ((err as NodeJS.ErrnoException).code ?? 'error');
    const key = `${code}: ${err.message}`;
    if (this.failures.size < 10 || this.failures.has(key)) this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
  }

  /**
   * Starts the clients at `ramp_per_s` and resolves once every one has
   * joined or failed (each connect and join is bounded by timeoutMs).
   * Senders start sending as soon as they have joined.
   * @param shouldStop checked between starts (abort)
   */
  async ramp(shouldStop: () => boolean = () => false): Promise<void> {
    const n = this.clients.length;
    const interval = 1000 / this.scenario.ramp_per_s;
    const t0 = performance.now();
    const started: Promise<void>[] = [];
    while (started.length < n && !this.closing && !shouldStop()) {
      const due = Math.min(n, Math.floor((performance.now() - t0) / interval) + 1);
      while (started.length < due) started.push(this.clients[started.length]!.start());
      if (started.length < n) await sleep(Math.max(1, t0 + started.length * interval - performance.now()));
    }
    await Promise.all(started);
  }

  /** Clients joined now. */
  connectedCount(): number {
    let n = 0;
    for (const c of this.clients) if (c.state === 'joined') n++;
    return n;
  }

  /** Chat frames received by all clients so far. */
  delivered(): number {
    let n = 0;
    for (const c of this.clients) n += c.client.chats;
    return n;
  }

  /** Socket reads handled so far. */
  reads(): number {
    let n = 0;
    for (const c of this.clients) n += c.client.reads;
    return n;
  }

  /** Messages unacknowledged now. */
  pendingCount(): number {
    let n = 0;
    for (const c of this.clients) n += c.pending.size;
    return n;
  }

  /** Sends a ping on connections silent for a third of the server's heartbeat (idle members would be closed). */
  keepAlive(): void {
    const now = performance.now();
    for (const c of this.clients) {
      const hb = c.client.heartbeatMs;
      if (c.state === 'joined' && hb > 0 && now - c.client.lastWriteAt > hb / 3) c.client.ping();
    }
  }

  /** Reconnect scenario: every client drops and resumes every `everyMs`, the clients spread evenly over one period. */
  startDrops(everyMs: number): void {
    this.dropsAllowed = true;
    const n = this.clients.length;
    this.clients.forEach((c, i) => c.scheduleDrops(((i + 0.5) / n) * everyMs, everyMs));
  }

  stopDrops(): void {
    this.dropsAllowed = false;
    for (const c of this.clients) c.stopDrops();
  }

  stopSending(): void {
    this.sendingAllowed = false;
    for (const c of this.clients) c.stopSending();
  }

  /**
   * True when nothing is in flight: no message unacknowledged, no resume
   * under way, and every joined client has reached its room's final seq.
   */
  drained(): boolean {
    for (const c of this.clients) {
      if (c.pending.size > 0 || c.state === 'resuming' || c.state === 'connecting') return false;
      if (c.state === 'joined' && (c.tracker !== null || c.countable) && c.lastSeq < this.metrics.finalSeq(c.plan.room)) return false;
    }
    return true;
  }

  /**
   * Waits until drained() or `timeoutMs`.
   * @returns whether it drained
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.drained()) {
      if (performance.now() >= deadline) return false;
      await sleep(20);
    }
    return true;
  }

  /** Closes every connection; resolves once every socket has closed (at most `timeoutMs`). */
  async closeAll(timeoutMs = 5000): Promise<boolean> {
    this.closing = true;
    this.stopSending();
    this.stopDrops();
    for (const c of this.clients) c.close();
    const all = Promise.all(this.clients.map((c) => c.client.closed())).then(() => true);
    return Promise.race([all, sleep(timeoutMs).then(() => false)]);
  }
}
