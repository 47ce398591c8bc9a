/**
 * `service_broadcast=piscina` with `service_compression=native` over real
 * sockets: big chats (compressed on the worker pool, parallel_threshold=1 so
 * every compressed broadcast is offloaded) and small ones (plain, inline)
 * reach many lz4 / zstd / plain members in per-connection seq order, with the
 * sender's exact text. The worker is the compiled dist build; without it the
 * suite is skipped (run `npm run build`; `npm test` builds first).
 */
import net from 'node:net';
import { decompress as zstdDecompress } from '@mongodb-js/zstd';
import { uncompressSync as lz4Uncompress } from 'lz4-napi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/index.js';
import { workerFile } from '../../src/services/parallel-broadcast/piscina.js';
import { frame, startServer, type TestServer } from '../helpers/clients.js';

interface Got {
  flags: number;
  env: Envelope;
}

/** Binary client decoding lz4 / zstd bodies in arrival order (one promise chain). */
class Member {
  readonly got: Got[] = [];
  readonly errors: string[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private chain: Promise<void> = Promise.resolve();
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => {});
  }

  static async open(port: number, nick: string, codecs: string[]): Promise<Member> {
    const sock = net.connect({ port, host: '127.0.0.1' });
    await new Promise<void>((res, rej) => (sock.once('connect', res), sock.once('error', rej)));
    const m = new Member(sock);
    sock.write(frame({ type: 'hello', nick, codecs }));
    await m.until((g) => g.some((x) => x.env.type === 'welcome'));
    return m;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + len) break;
      const flags = this.buf[4]!;
      const wire = Buffer.from(this.buf.subarray(5, 4 + len));
      this.buf = this.buf.subarray(4 + len);
      this.chain = this.chain.then(async () => {
        try {
          const body = flags === 0 ? wire : flags === 1 ? lz4Uncompress(wire) : flags === 2 ? await zstdDecompress(wire) : null;
          if (body === null) throw new Error(`flags ${flags}`);
          this.got.push({ flags, env: JSON.parse(body.toString('utf8')) as Envelope });
        } catch (err) {
          this.errors.push((err as Error).message);
        }
      });
    }
  }

  async until(pred: (g: Got[]) => boolean, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred(this.got) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await this.chain;
  }

  chats(): Got[] {
    return this.got.filter((g) => g.env.type === 'chat');
  }
}

/** Chat text of `n` ASCII bytes, compressible like chat, distinct per `i`. */
function text(n: number, i: number): string {
  let t = `#${i} `;
  const words = 'fan-out frame codec room seq ack worker pool thread lz4 zstd order'.split(' ');
  for (let k = 0; t.length < n; k++) t += `${words[(k * 7 + i) % words.length]} `;
  return t.slice(0, n);
}

describe.skipIf(workerFile() === null)('parallel broadcast (piscina workers from dist; skipped when dist/ is missing)', () => {
  let s: TestServer;
  const members: { m: Member; codec: 'none' | 'lz4' | 'zstd' }[] = [];
  let sender: Member;

  beforeAll(async () => {
    s = await startServer({
      service_broadcast: 'piscina',
      service_compression: 'native',
      parallel_threshold: 1,
      parallel_workers: 2,
      max_frame_bytes: 1 << 20,
      max_text_bytes: 100_000,
      rate_msgs_per_sec: 10_000,
      rate_burst: 10_000,
    });
    sender = await Member.open(s.port, 'sender', ['lz4']);
    for (let i = 0; i < 24; i++) {
      const codec = (['lz4', 'zstd', 'none'] as const)[i % 3]!;
      members.push({ m: await Member.open(s.port, `m${i}`, codec === 'none' ? [] : [codec]), codec });
    }
  });
  afterAll(async () => {
    for (const { m } of members) m.sock.destroy();
    sender?.sock.destroy();
    await s?.close();
  });

  it('big and small chats reach 24 lz4 / zstd / plain members in seq order, identical text', async () => {
    const room = 'big';
    for (const x of [sender, ...members.map((y) => y.m)]) {
      x.sock.write(frame({ type: 'join_room', room }));
      await x.until((g) => g.some((e) => e.env.type === 'joined'));
    }
    const N = 60;
    const texts = Array.from({ length: N }, (_, i) => (i % 3 === 2 ? text(20 + i, i) : text(8_000 + ((i * 7919) % 60_000), i)));
    sender.sock.write(Buffer.concat(texts.map((t, i) => frame({ type: 'send_chat', room, text: t, id: `c${i}` }))));
    await sender.until((g) => g.filter((e) => e.env.type === 'ack').length >= N);
    const seqs = sender.got.filter((e) => e.env.type === 'ack').map((e) => e.env.seq as number);
    expect(seqs).toHaveLength(N);
    for (const { m, codec } of members) {
      await m.until(() => m.chats().length >= N);
      const chats = m.chats();
      expect(m.errors).toEqual([]);
      expect(chats.map((c) => c.env.seq), codec).toEqual(seqs);
      expect(chats.map((c) => c.env.text)).toEqual(texts);
      const want = codec === 'lz4' ? 1 : codec === 'zstd' ? 2 : 0;
      expect(chats.map((c) => c.flags)).toEqual(texts.map((t) => (t.length >= 512 ? want : 0)));
    }
  });
});
