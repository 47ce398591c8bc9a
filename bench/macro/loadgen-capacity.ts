/**
 * Macro-benchmark: how many deliveries per second one load-generator process
 * can count — the ceiling above which a load run measures the generator, not
 * the server.
 *
 * A separate *feeder* process (this file with `--feeder`, pinned to core 0)
 * stands in for a server that is never the bottleneck: it accepts the
 * loadgen's own counting clients (src/loadgen/clients, `decodeChats: false`,
 * exactly the code a load run uses for its ordinary subscribers), answers
 * `hello` with `welcome` and `join_room` with `joined` and, once every
 * client has joined, writes one pre-built batch of identical `chat` frames —
 * byte for byte what the server sends for a `textBytes`-byte text — to each
 * socket as fast as the kernel takes it. This process (pinned to core 1) counts them by walking
 * the length prefixes, as in a run.
 *
 * After a warm-up, deliveries are counted over the timed window. Then the
 * feeder stops, reports how many frames it wrote per socket, and closes;
 * every frame written must have been counted (integrity).
 *
 * `--frames-per-write N` makes the feeder write N frames at a time instead
 * of 256 KiB batches: with N = 1 on many sockets each read carries about
 * one frame, as from a real server that writes every delivery on its own,
 * and the figure shows the per-read cost rather than the counting cost.
 *
 * Run: `npm run build && node dist/bench/macro/loadgen-capacity.js
 *   [--duration 10s] [--sockets 64] [--text 64] [--protocol tcp|lines] [--frames-per-write 0]`.
 * With fewer sockets the feeder (one core writing) tends to be the limit;
 * the run warns when the counter used under 85% of its core.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createClient, type ClientHandlers, type LoadClient } from '../../src/loadgen/clients/index.js';
import { CLIENT_CORE, pinnedCommand, pinSelf, SERVER_CORE } from '../../src/loadgen/pin.js';

/** Options of one capacity run. */
export interface CapacityOptions {
  /** Timed window, ms. */
  durationMs: number;
  /** Counting connections. */
  sockets: number;
  /** Bytes of each chat's text. */
  textBytes: number;
  protocol: 'tcp' | 'lines';
  /** Warm-up before the window, ms. */
  warmupMs: number;
  /** Frames per feeder write; 0: as many as fit 256 KiB (pre-batched, the counting ceiling). */
  framesPerWrite: number;
}

/** What one run measured. */
export interface CapacityResult {
  options: CapacityOptions;
  pinning: { counter: string; feeder: string };
  /** Wire bytes of one chat frame / line. */
  frameBytes: number;
  windowS: number;
  counted: number;
  countedPerS: number;
  mbPerS: number;
  /** This process's CPU in the window, % of one core (user, system). */
  counterCpuPct: number;
  counterUserPct: number;
  /** Frames per socket read in the window. */
  framesPerRead: number;
  /** Frames the feeder wrote vs frames counted, after the feeder closed. */
  written: number;
  countedTotal: number;
  warnings: string[];
}

export const DEFAULTS: CapacityOptions = { durationMs: 10_000, sockets: 64, textBytes: 64, protocol: 'tcp', warmupMs: 2000, framesPerWrite: 0 };

/** A chat envelope as the server writes it (key order of src/plugins/chat-room, engine/room-log.ts). */
function chatJson(textBytes: number): string {
  return JSON.stringify({ type: 'chat', room: 'capacity', seq: 123456, id: '4242', from: 'lg1a2b3c4d-17', text: `17:4242:123456.789|${'x'.repeat(Math.max(0, textBytes - 20))}`, ts: 1795257699374 });
}

function encode(json: string, protocol: 'tcp' | 'lines'): Buffer {
  if (protocol === 'lines') return Buffer.from(`${json}\n`);
  const body = Buffer.from(json);
  const out = Buffer.allocUnsafe(5 + body.length);
  out.writeUInt32BE(body.length + 1, 0);
  out[4] = 0;
  body.copy(out, 5);
  return out;
}

// ------------------------------------------------------------------ feeder (child process)

/**
 * The feeder: listens on an ephemeral port, prints `port <n>`, answers hello
 * and join_room; on `go` on stdin starts writing to every joined socket; on `stop` on
 * stdin, stops writing, waits for its buffers to flush, prints `written <json>`
 * (frames per socket), closes every socket and exits.
 */
async function feeder(textBytes: number, protocol: 'tcp' | 'lines', framesPerWrite: number): Promise<void> {
  const frame = encode(chatJson(textBytes), protocol);
  const perBatch = framesPerWrite > 0 ? framesPerWrite : Math.max(1, Math.floor((256 * 1024) / frame.length));
  const batch = Buffer.concat(Array.from({ length: perBatch }, () => frame));
  let stopping = false;
  const conns: { sock: net.Socket; batches: number }[] = [];

  let going = false;
  const blast = (c: { sock: net.Socket; batches: number }) => {
    // A bounded burst per turn, so that the event loop still sees `stop` and other sockets.
    for (let i = 0; i < 8 && !stopping && !c.sock.destroyed; i++) {
      c.batches++;
      if (!c.sock.write(batch)) return void c.sock.once('drain', () => blast(c));
    }
    if (!stopping && !c.sock.destroyed) setImmediate(() => blast(c));
  };

  const server = net.createServer({ noDelay: true }, (sock) => {
    const c = { sock, batches: 0 };
    conns.push(c);
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d) => {
      if (stopping) return;
      buf = Buffer.concat([buf, d]);
      // Requests: hello, join_room, ping — answered in order; the join starts the flood.
      for (;;) {
        let json: string;
        if (protocol === 'tcp') {
          if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) break;
          const len = buf.readUInt32BE(0);
          json = buf.toString('utf8', 5, 4 + len);
          buf = buf.subarray(4 + len);
        } else {
          const nl = buf.indexOf(10);
          if (nl < 0) break;
          json = buf.toString('utf8', 0, nl);
          buf = buf.subarray(nl + 1);
        }
        const env = JSON.parse(json) as { type: string; room?: string; nick?: string };
        if (env.type === 'hello') {
          sock.write(encode(JSON.stringify({ type: 'welcome', session: 's', nick: env.nick, codecs: [], heartbeat_ms: 3_600_000, max_frame_bytes: 65536, server: { name: 'feeder', version: '0' } }), protocol));
        } else if (env.type === 'join_room') {
          sock.write(encode(JSON.stringify({ type: 'joined', room: env.room, seq: 0, epoch: 'feeder', members: 1 }), protocol));
          if (going) blast(c);
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  process.stdout.write(`port ${(server.address() as net.AddressInfo).port}\n`);

  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', async (d: string) => {
    input += d;
    if (input.includes('go') && !going) {
      going = true;
      for (const c of conns) blast(c);
    }
    if (!input.includes('stop') || stopping) return;
    stopping = true;
    // Let queued batches reach the kernel, then report and close.
    await Promise.all(conns.map((c) => (c.sock.writableLength === 0 || c.sock.destroyed ? Promise.resolve() : new Promise<void>((r) => c.sock.once('drain', () => r())))));
    process.stdout.write(`written ${JSON.stringify(conns.map((c) => c.batches * perBatch))}\n`);
    for (const c of conns) c.sock.end();
    server.close();
    setTimeout(() => process.exit(0), 200).unref();
  });
}

// ------------------------------------------------------------------ counter (this process)

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const noHandlers: ClientHandlers = {
  onJoined: () => {},
  onAck: () => {},
  onChat: () => {},
  onError: () => {},
  onGap: () => {},
  onClose: () => {},
};

/** One capacity run: spawns the feeder, counts, checks integrity. */
export async function runCapacity(opts: Partial<CapacityOptions> = {}, log: (l: string) => void = (l) => process.stderr.write(`[capacity] ${l}\n`)): Promise<CapacityResult> {
  const o: CapacityOptions = { ...DEFAULTS, ...opts };
  const warnings: string[] = [];
  const counterPinning = pinSelf(CLIENT_CORE);
  const self = fileURLToPath(import.meta.url);
  const cmd = pinnedCommand(SERVER_CORE, process.execPath, [self, '--feeder', '--text', String(o.textBytes), '--protocol', o.protocol, '--frames-per-write', String(o.framesPerWrite)]);
  const child = spawn(cmd.file, cmd.args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  let out = '';
  const lineWaiters: { prefix: string; resolve: (rest: string) => void }[] = [];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    out += d;
    for (;;) {
      const nl = out.indexOf('\n');
      if (nl < 0) break;
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      const i = lineWaiters.findIndex((w) => line.startsWith(w.prefix));
      if (i < 0) continue;
      const w = lineWaiters.splice(i, 1)[0]!;
      w.resolve(line.slice(w.prefix.length));
    }
  });
  const nextLine = (prefix: string, ms: number) =>
    new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`feeder: no "${prefix}" line within ${ms} ms`)), ms);
      lineWaiters.push({
        prefix,
        resolve: (rest) => {
          clearTimeout(t);
          resolve(rest);
        },
      });
    });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));

  const clients: LoadClient[] = [];
  try {
    const port = Number((await nextLine('port ', 10_000)).trim());
    log(`feeder pid ${child.pid} on 127.0.0.1:${port} (${cmd.pinning}); counter pid ${process.pid} (${counterPinning}); ${o.sockets} ${o.protocol} sockets`);
    for (let i = 0; i < o.sockets; i++) clients.push(createClient(o.protocol, { host: '127.0.0.1', port, decodeChats: false, echo: false, handlers: noHandlers }));
    await Promise.all(clients.map(async (c, i) => {
      await c.connect(`cap-${i}`);
      await c.join('capacity');
    }));
    child.stdin!.write('go\n');
    const sum = () => clients.reduce((s, c) => s + c.chats, 0);
    const reads = () => clients.reduce((s, c) => s + c.reads, 0);
    await sleep(o.warmupMs);
    const c0 = sum();
    const r0 = reads();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(o.durationMs);
    const c1 = sum();
    const r1 = reads();
    const cpu = process.cpuUsage(cpu0);
    const windowS = (performance.now() - t0) / 1000;

    // Integrity: stop the feeder, let everything it wrote arrive, compare.
    child.stdin!.write('stop\n');
    const written = (JSON.parse(await nextLine('written ', 20_000)) as number[]).reduce((a, b) => a + b, 0);
    const deadline = performance.now() + 20_000;
    while (sum() < written && performance.now() < deadline) await sleep(20);
    await sleep(100);
    const countedTotal = sum();
    if (countedTotal !== written) warnings.push(`integrity: counted ${countedTotal} frames, the feeder wrote ${written}`);
    const counterCpuPct = ((cpu.user + cpu.system) / 1e6 / windowS) * 100;
    if (counterCpuPct < 85) warnings.push(`the counter used only ${counterCpuPct.toFixed(0)}% of a core: the feeder (or the kernel) limited the rate, so the figure is a lower bound`);
    const frameBytes = encode(chatJson(o.textBytes), o.protocol).length;
    const counted = c1 - c0;
    return {
      options: o,
      pinning: { counter: counterPinning, feeder: cmd.pinning },
      frameBytes,
      windowS,
      counted,
      countedPerS: counted / windowS,
      mbPerS: (counted * frameBytes) / windowS / 1e6,
      counterCpuPct,
      counterUserPct: (cpu.user / 1e6 / windowS) * 100,
      framesPerRead: r1 > r0 ? counted / (r1 - r0) : NaN,
      written,
      countedTotal,
      warnings,
    };
  } finally {
    for (const c of clients) c.close();
    child.stdin!.end();
    await Promise.race([exited, sleep(3000)]);
    killChild();
    process.off('exit', killChild);
  }
}

function parseCapacityArgs(argv: string[]): Partial<CapacityOptions> & { feeder: boolean } {
  const out: Partial<CapacityOptions> & { feeder: boolean } = { feeder: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i] ?? '';
    if (a === '--feeder') out.feeder = true;
    else if (a === '--duration') {
      const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v());
      if (!m) throw new Error('--duration takes e.g. 10s');
      out.durationMs = Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
    } else if (a === '--sockets') out.sockets = Number(v());
    else if (a === '--text') out.textBytes = Number(v());
    else if (a === '--warmup') out.warmupMs = Number(v()) * 1000;
    else if (a === '--frames-per-write') out.framesPerWrite = Number(v());
    else if (a === '--protocol') {
      const p = v();
      if (p !== 'tcp' && p !== 'lines') throw new Error('--protocol takes tcp or lines');
      out.protocol = p;
    } else throw new Error(`unknown flag ${a}`);
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseCapacityArgs(process.argv.slice(2));
  if (args.feeder) {
    await feeder(args.textBytes ?? DEFAULTS.textBytes, args.protocol ?? DEFAULTS.protocol, args.framesPerWrite ?? DEFAULTS.framesPerWrite);
  } else {
    const { feeder: _f, ...opts } = args;
    const r = await runCapacity(opts);
    const n = (x: number) => Math.round(x).toLocaleString('en-US');
    console.log(`counted deliveries/s   ${n(r.countedPerS)}  (${n(r.counted)} in ${r.windowS.toFixed(2)} s, ${r.options.sockets} ${r.options.protocol} sockets, ${r.frameBytes}-byte frames, ${r.options.textBytes}-byte text)`);
    console.log(`bytes counted          ${r.mbPerS.toFixed(0)} MB/s`);
    console.log(`counter CPU            ${r.counterCpuPct.toFixed(0)}% of a core (user ${r.counterUserPct.toFixed(0)}%), ${r.pinning.counter}; feeder ${r.pinning.feeder}`);
    console.log(`frames per read        ${r.framesPerRead.toFixed(1)}  (feeder writes ${r.options.framesPerWrite > 0 ? `${r.options.framesPerWrite} frame(s)` : '256 KiB batches'})`);
    console.log(`integrity              ${r.countedTotal} counted of ${r.written} written`);
    for (const w of r.warnings) console.log(`WARNING: ${w}`);
  }
}
