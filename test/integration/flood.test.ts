/**
 * A flooding client (PROTOCOL.md §3 `rate_limited`; docs/guarantees.md): its
 * envelopes over the token bucket (rate_msgs_per_sec, rate_burst) are
 * answered with non-fatal `rate_limited` and never reach the room, it is not
 * closed for them, and the other members of its room keep chatting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/index.js';
import { FrameClient, frame, helloClient, join, sleep, startServer, type TestServer } from '../helpers/clients.js';

const RATE = 200;
const BURST = 400;

/**
 * A binary client that files `ack`s and `error`s by the request `id` they
 * answer instead of queueing them (20,000 answers), and queues the rest.
 */
class FloodClient extends FrameClient {
  readonly acked = new Set<string>();
  readonly limited = new Set<string>();
  /** Errors other than non-fatal rate_limited. */
  readonly otherErrors: Envelope[] = [];
  answeredAtMs = 0;
  private target = Infinity;
  private onTarget: (() => void) | null = null;

  static async open(port: number, nick: string): Promise<FloodClient> {
    const c = new FloodClient();
    await c.dial(port);
    c.send({ type: 'hello', nick });
    if (!(await c.type('welcome'))) throw new Error(`no welcome for ${nick}`);
    return c;
  }

  get answered(): number {
    return this.acked.size + this.limited.size;
  }

  protected override push(m: Envelope): void {
    if (m.type === 'ack' && typeof m.id === 'string') this.acked.add(m.id);
    else if (m.type === 'error' && m.code === 'rate_limited' && m.fatal === false && typeof m.ref === 'string') this.limited.add(m.ref);
    else if (m.type === 'error') this.otherErrors.push(m);
    else return super.push(m);
    if (this.answered >= this.target && this.onTarget) {
      this.answeredAtMs = Date.now();
      this.onTarget();
      this.onTarget = null;
    }
  }

  /** Resolves true once `n` requests were answered (ack or rate_limited), false after `ms`. */
  answers(n: number, ms: number): Promise<boolean> {
    if (this.answered >= n) return Promise.resolve(true);
    this.target = n;
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.answered >= n), ms);
      this.onTarget = () => {
        clearTimeout(t);
        resolve(true);
      };
    });
  }
}

let s: TestServer;
beforeAll(async () => {
  s = await startServer({ rate_msgs_per_sec: RATE, rate_burst: BURST });
});
afterAll(() => s.close());

describe('flood', () => {
  it(`a client writing 20,000 send_chat in a tight loop gets rate_limited (burst ${BURST}, ${RATE}/s), stays connected; two others still chat within 2 s`, async () => {
    const room = 'flooded';
    const flooder = await FloodClient.open(s.port, 'flooder');
    await join(flooder, room);
    const a = await helloClient(s.port, 'alice');
    const b = await helloClient(s.port, 'bob');
    await join(a, room);
    await join(b, room);
    const before = s.server.stats().messages_total;

    const N = 20_000;
    const frames = Array.from({ length: N }, (_, i) => frame({ type: 'send_chat', room, text: `flood ${i}`, id: `f${i}` }));
    const t0 = Date.now();
    for (const f of frames) flooder.sock.write(f);
    const allAnswered = flooder.answers(N, 15_000);

    // Meanwhile alice and bob take turns; each message is acked and delivered promptly.
    const latencies: number[] = [];
    let overlapped = 0;
    for (let k = 0; k < 10; k++) {
      const [from, to] = k % 2 === 0 ? [a, b] : [b, a];
      const id = `talk${k}`;
      if (flooder.answered < N) overlapped++;
      const sentAt = Date.now();
      from.send({ type: 'send_chat', room, text: `turn ${k}`, id });
      const [ack, chat] = await Promise.all([from.next((m) => m.type === 'ack' && m.id === id, 2000), to.next((m) => m.type === 'chat' && m.id === id, 2000)]);
      expect(ack, `ack of ${id}`).not.toBeNull();
      expect(ack!.duplicate).toBeUndefined();
      expect(chat, `delivery of ${id}`).toMatchObject({ room, text: `turn ${k}`, seq: ack!.seq });
      latencies.push(Date.now() - sentAt);
    }
    expect(overlapped).toBeGreaterThan(0);
    expect(Math.max(...latencies)).toBeLessThan(2000);

    // Every flood frame is answered exactly once: an ack or a non-fatal rate_limited.
    expect(await allAnswered).toBe(true);
    const elapsedS = (flooder.answeredAtMs - t0) / 1000;
    expect(flooder.otherErrors).toEqual([]);
    expect(flooder.acked.size + flooder.limited.size).toBe(N);
    for (const id of flooder.acked) expect(flooder.limited.has(id)).toBe(false);
    // Accepted: the bucket's burst, plus what it refilled while the flood lasted.
    const accepted = flooder.acked.size;
    expect(accepted).toBeGreaterThanOrEqual(BURST - 2); // hello and join_room took two tokens
    expect(accepted).toBeLessThanOrEqual(BURST + RATE * elapsedS + 2);
    expect(accepted).toBeLessThan(N / 10);
    console.log(`[flood] ${N} frames answered in ${(elapsedS * 1000).toFixed(0)} ms: ${accepted} accepted, ${flooder.limited.size} rate_limited; alice/bob round trips ${latencies.join(', ')} ms (${overlapped} of 10 started mid-flood)`);

    // messages_total counts only accepted messages.
    expect(s.server.stats().messages_total - before).toBe(accepted + 10);

    // Not disconnected: once the bucket refills, the flooder chats normally.
    expect(flooder.closed).toBe(false);
    await sleep(100);
    flooder.send({ type: 'send_chat', room, text: 'sorry', id: 'after' });
    expect(await flooder.answers(N + 1, 2000)).toBe(true);
    expect(flooder.acked.has('after')).toBe(true);
    expect(await a.next((m) => m.type === 'chat' && m.id === 'after')).toMatchObject({ from: 'flooder', text: 'sorry' });
    expect(s.server.stats().slow_consumer_disconnects_total).toBe(0);
    for (const c of [flooder, a, b]) c.end();
  });
});
