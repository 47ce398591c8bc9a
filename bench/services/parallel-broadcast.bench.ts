/**
 * Benchmark of the parallel-broadcast service `piscina`
 * (src/services/parallel-broadcast/piscina.ts) against the baseline (inline
 * compression, src/services/compression/native.ts): where does moving a
 * broadcast's outbound compression to a worker thread start to pay?
 *
 * One broadcast, as ChatServer.broadcast does it: the chat envelope's body is
 * compressed once per codec and the frame shared by every recipient; each
 * recipient gets it through a model of the server's write path (a Buffer is
 * written at once; a Promise<Buffer> goes through the per-connection ordered
 * queue, one `.then` per connection, like writeOrdered / pumpOrdered).
 * Bodies are generated chat envelopes (bench/services/compression.bench.ts)
 * of 1 KiB – 64 KiB; recipients 10 – 1000; codecs lz4 (sync on the event
 * loop inline) and zstd (already async on the libuv pool inline).
 *
 * Reported per case and strategy:
 *   - latency: ms from the broadcast call until every recipient has its frame
 *     (tinybench mean and p99, one broadcast in flight);
 *   - event-loop busy µs per broadcast (performance.eventLoopUtilization
 *     active time over a sequential loop): what the rest of the server waits;
 *   - pipelined: `--inflight` broadcasts in flight at once, wall µs and
 *     event-loop busy µs per broadcast (throughput under a burst).
 *
 * Run (after `npm run build`):
 *   node dist/bench/services/parallel-broadcast.bench.js
 *   node dist/bench/services/parallel-broadcast.bench.js --sizes 1024,65536 --recipients 100 --codecs lz4 --time 300
 * Flags: `--sizes` (bytes, comma-separated), `--recipients`, `--codecs`,
 * `--workers N` (default: parallel_workers' default), `--time MS` (tinybench
 * budget per task, default 500), `--inflight N` (default 32), `--json FILE`.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { frameOf } from '../../src/core/envelope.js';
import { CODEC_FLAGS, type CodecName } from '../../src/services/compression/contract.js';
import { NativeCompression } from '../../src/services/compression/native.js';
import { PiscinaBroadcaster, resolveWorkers } from '../../src/services/parallel-broadcast/piscina.js';
import type { Row } from '../lib/row.js';
import { rng } from '../lib/stats.js';
import { chatEnvelope } from './compression.bench.js';

const alloc = (n: number) => Buffer.allocUnsafe(n);
const native = new NativeCompression();

/** A recipient as the server's write path sees it. */
class Conn {
  outQueue: (Buffer | Promise<Buffer>)[] | null = null;
  written = 0;
  bytes = 0;
  constructor(readonly done: () => void) {}
}

function writeNow(c: Conn, b: Buffer): void {
  c.written++;
  c.bytes += b.length;
  c.done();
}

/** ChatServer.write / writeOrdered / pumpOrdered, minus sockets. */
function write(c: Conn, buf: Buffer | Promise<Buffer>): void {
  if (c.outQueue === null && !(buf instanceof Promise)) return writeNow(c, buf);
  if (c.outQueue === null) {
    c.outQueue = [buf];
    pump(c);
  } else c.outQueue.push(buf);
}

function pump(c: Conn): void {
  const q = c.outQueue!;
  while (q.length > 0) {
    const head = q[0]!;
    if (head instanceof Promise) {
      head.then((b) => {
        q[0] = b;
        pump(c);
      });
      return;
    }
    q.shift();
    writeNow(c, head);
  }
  c.outQueue = null;
}

type Strategy = 'inline' | 'worker';

/** One broadcast of `body` with `codec` to `conns`; resolves when all have it. */
function broadcastOnce(strategy: Strategy, pb: PiscinaBroadcaster, codec: CodecName, body: Buffer, conns: Conn[], state: { left: number; resolve: () => void }): Promise<void> {
  return new Promise<void>((resolve) => {
    state.left = conns.length;
    state.resolve = resolve;
    const z = strategy === 'worker' ? pb.compress(codec, body, conns.length) ?? native.compress(codec, body) : native.compress(codec, body);
    const wrap = (zb: Buffer) => (zb.length < body.length ? frameOf(zb, CODEC_FLAGS[codec], alloc) : frameOf(body, 0, alloc));
    const frame = z instanceof Promise ? z.then(wrap) : wrap(z);
    for (const c of conns) write(c, frame);
  });
}

/** One case's figures. */
export interface CrossoverResult {
  codec: CodecName;
  bodyBytes: number;
  recipients: number;
  strategy: Strategy;
  latencyMeanMs: number;
  latencyP99Ms: number;
  rme: number;
  /** Event-loop active µs per broadcast, one in flight. */
  loopBusyUs: number;
  /** Wall µs per broadcast with `inflight` in flight. */
  pipelinedWallUs: number;
  /** Event-loop active µs per broadcast with `inflight` in flight. */
  pipelinedLoopBusyUs: number;
}

export interface CrossoverOptions {
  sizes: number[];
  recipients: number[];
  codecs: CodecName[];
  workers: number;
  timeMs: number;
  inflight: number;
}

export const DEFAULTS: CrossoverOptions = {
  sizes: [1024, 4096, 16384, 65536],
  recipients: [10, 100, 1000],
  codecs: ['lz4', 'zstd'],
  workers: 0,
  timeMs: 500,
  inflight: 32,
};

/** Event-loop active ms and wall ms over `fn`. */
async function measureLoop(fn: () => Promise<void>): Promise<{ activeMs: number; wallMs: number }> {
  const e0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await fn();
  const wallMs = performance.now() - t0;
  const e = performance.eventLoopUtilization(e0);
  return { activeMs: e.active, wallMs };
}

export async function runCrossover(opts: Partial<CrossoverOptions> = {}): Promise<{ results: CrossoverResult[]; rows: Row[] }> {
  const o = { ...DEFAULTS, ...opts };
  // threshold 0: `compress` always offloads (unless the pool queue is full, when it returns null → inline).
  const pb = new PiscinaBroadcaster({ workers: o.workers, threshold: 0 });
  const results: CrossoverResult[] = [];
  try {
    for (const codec of o.codecs) {
      for (const size of o.sizes) {
        const body = Buffer.from(chatEnvelope(rng(size), 1, size));
        for (const recipients of o.recipients) {
          for (const strategy of ['inline', 'worker'] as Strategy[]) {
            const state = { left: 0, resolve: () => {} };
            const conns = Array.from({ length: recipients }, () => new Conn(() => {
              if (--state.left === 0) state.resolve();
            }));
            const bench = new Bench({ time: o.timeMs, warmupTime: 100, throws: true });
            bench.add('b', () => broadcastOnce(strategy, pb, codec, body, conns, state));
            await bench.run();
            const r = bench.tasks[0]!.result as unknown as { latency: { mean: number; p99: number; rme: number } };
            // Sequential: event-loop busy time per broadcast.
            const N = 200;
            const seq = await measureLoop(async () => {
              for (let i = 0; i < N; i++) await broadcastOnce(strategy, pb, codec, body, conns, state);
            });
            // Pipelined: `inflight` broadcasts at once, each to its own recipients (order per connection is the server's job).
            const groups = Array.from({ length: o.inflight }, () => {
              const st = { left: 0, resolve: () => {} };
              return { st, conns: Array.from({ length: recipients }, () => new Conn(() => { if (--st.left === 0) st.resolve(); })) };
            });
            const rounds = Math.max(2, Math.ceil(400 / o.inflight));
            const pipe = await measureLoop(async () => {
              for (let k = 0; k < rounds; k++) await Promise.all(groups.map((g) => broadcastOnce(strategy, pb, codec, body, g.conns, g.st)));
            });
            const n = rounds * o.inflight;
            results.push({
              codec,
              bodyBytes: body.length,
              recipients,
              strategy,
              latencyMeanMs: r.latency.mean,
              latencyP99Ms: r.latency.p99,
              rme: r.latency.rme,
              loopBusyUs: (seq.activeMs * 1000) / N,
              pipelinedWallUs: (pipe.wallMs * 1000) / n,
              pipelinedLoopBusyUs: (pipe.activeMs * 1000) / n,
            });
          }
        }
      }
    }
  } finally {
    await pb.close();
  }
  const rows: Row[] = [];
  for (const r of results) {
    const c = `${r.codec}, ${r.bodyBytes} B body, ${r.recipients} recipients, ${r.strategy}`;
    rows.push({ bench: 'parallel-broadcast', case: c, metric: 'latency mean', value: r.latencyMeanMs * 1000, unit: 'µs', note: `p99 ${(r.latencyP99Ms * 1000).toFixed(0)} µs ±${r.rme.toFixed(1)}%` });
    rows.push({ bench: 'parallel-broadcast', case: c, metric: 'event-loop busy / broadcast', value: r.loopBusyUs, unit: 'µs' });
    rows.push({ bench: 'parallel-broadcast', case: c, metric: `pipelined wall / broadcast (${o.inflight} in flight)`, value: r.pipelinedWallUs, unit: 'µs' });
    rows.push({ bench: 'parallel-broadcast', case: c, metric: `pipelined event-loop busy / broadcast`, value: r.pipelinedLoopBusyUs, unit: 'µs' });
  }
  return { results, rows };
}

const f1 = (x: number) => x.toFixed(1);

function print(results: CrossoverResult[], o: CrossoverOptions): void {
  console.log(`\nparallel-broadcast crossover: inline vs worker (${resolveWorkers(o.workers)} worker(s), ${os.availableParallelism()} cores, ${o.inflight} in flight when pipelined); µs per broadcast`);
  console.log(`${'codec'.padEnd(5)} ${'body B'.padStart(7)} ${'rcpts'.padStart(6)} ${'bytes×rcpts'.padStart(12)} | ${'latency inline/worker'.padStart(22)} | ${'loop busy inline/worker'.padStart(24)} | ${'piped wall inline/worker'.padStart(25)} | ${'piped busy inline/worker'.padStart(25)}`);
  for (let i = 0; i < results.length; i += 2) {
    const a = results[i]!, b = results[i + 1]!;
    const pair = (x: number, y: number) => `${f1(x)} / ${f1(y)}${y < x ? ' *' : '  '}`;
    console.log(
      `${a.codec.padEnd(5)} ${String(a.bodyBytes).padStart(7)} ${String(a.recipients).padStart(6)} ${String(a.bodyBytes * a.recipients).padStart(12)} | ${pair(a.latencyMeanMs * 1000, b.latencyMeanMs * 1000).padStart(22)} | ${pair(a.loopBusyUs, b.loopBusyUs).padStart(24)} | ${pair(a.pipelinedWallUs, b.pipelinedWallUs).padStart(25)} | ${pair(a.pipelinedLoopBusyUs, b.pipelinedLoopBusyUs).padStart(25)}`,
    );
  }
  console.log('(* = worker lower)');
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<{ rows: Row[]; results: CrossoverResult[] }> {
  const o: CrossoverOptions = { ...DEFAULTS };
  let json: string | null = null;
  const nums = (v: string) => v.split(',').map((s) => Number(s.trim()));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--sizes') o.sizes = nums(value());
    else if (flag === '--recipients') o.recipients = nums(value());
    else if (flag === '--codecs') o.codecs = value().split(',').map((s) => s.trim()) as CodecName[];
    else if (flag === '--workers') o.workers = Number(value());
    else if (flag === '--time') o.timeMs = Number(value());
    else if (flag === '--inflight') o.inflight = Number(value());
    else if (flag === '--json') json = value();
    else throw new Error(`unknown flag ${a} (see the header of bench/services/parallel-broadcast.bench.ts)`);
  }
  const out = await runCrossover(o);
  print(out.results, o);
  if (json) {
    writeFileSync(json, JSON.stringify({ node: process.version, cpus: os.cpus()[0]?.model, cores: os.availableParallelism(), argv, ...out }, null, 2));
    process.stderr.write(`wrote ${json}\n`);
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run();
}
