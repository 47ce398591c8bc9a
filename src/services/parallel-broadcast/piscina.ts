import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { CodecName } from '../compression/contract.js';
import type { Broadcaster } from './contract.js';
import type { CompressTask } from './worker.js';

/** Tasks waiting per worker before `compress` says "inline" instead of queueing more. */
const QUEUE_PER_WORKER = 8;

/**
 * The compiled worker file. Next to this module when running from dist;
 * when this module runs from source (vitest, .ts) piscina cannot load a .ts
 * worker, so the dist build of the same file is used (`npm test` builds first).
 * @returns an absolute path, or null when no compiled worker exists
 */
export function workerFile(): string | null {
  const here = new URL('./worker.js', import.meta.url);
  const candidates = [here];
  if (import.meta.url.endsWith('.ts')) candidates.push(new URL('../../../dist/src/services/parallel-broadcast/worker.js', import.meta.url));
  for (const c of candidates) {
    const p = fileURLToPath(c);
    if (existsSync(p)) return p;
  }
  return null;
}

/** `parallel_workers` 0 → one per core but the event loop's, at least 1. */
export function resolveWorkers(n: number): number {
  return n > 0 ? n : Math.max(1, availableParallelism() - 1);
}

/** Options of the piscina broadcaster (config keys in brackets). */
export interface PiscinaOptions {
  /** Worker threads [parallel_workers]; 0: availableParallelism() - 1, at least 1. */
  workers: number;
  /** Offload when body bytes × recipients reach this [parallel_threshold]. */
  threshold: number;
}

/**
 * Fan-out as the baseline (writes stay on the event loop), plus outbound
 * compression on a piscina pool when body bytes × recipients reach the
 * threshold. The pool starts on first use; past QUEUE_PER_WORKER waiting
 * tasks per worker, work runs inline again (the caller's path), so a burst
 * cannot queue unbounded memory in the pool.
 */
export class PiscinaBroadcaster implements Broadcaster {
  readonly workers: number;
  readonly threshold: number;
  private pool: Piscina | null = null;
  private readonly filename: string;

  /** @throws Error when no compiled worker file exists (run `npm run build`) */
  constructor(opts: PiscinaOptions) {
    this.workers = resolveWorkers(opts.workers);
    this.threshold = opts.threshold;
    const f = workerFile();
    if (f === null) throw new Error('service_broadcast=piscina needs the compiled worker (dist/src/services/parallel-broadcast/worker.js): run `npm run build`');
    this.filename = f;
  }

  fanOut<T>(recipients: Iterable<T>, except: T | null, deliver: (recipient: T) => boolean): number {
    let n = 0;
    for (const r of recipients) {
      if (r !== except && deliver(r)) n++;
    }
    return n;
  }

  compress(codec: CodecName, body: Buffer, recipients: number): Promise<Buffer> | null {
    if (body.length * recipients < this.threshold) return null;
    const pool = (this.pool ??= new Piscina({ filename: this.filename, minThreads: this.workers, maxThreads: this.workers, idleTimeout: 30_000 }));
    if (pool.queueSize >= this.workers * QUEUE_PER_WORKER) return null;
    // One copy of exactly the body, transferred: the caller keeps `body`
    // (it is the fallback when compression does not pay), and a pooled
    // Buffer's ArrayBuffer must not be detached.
    const copy = new ArrayBuffer(body.length);
    new Uint8Array(copy).set(body);
    const task: CompressTask = { codec, body: copy };
    return pool.run(task, { transferList: [copy] }).then((out: ArrayBuffer) => Buffer.from(out));
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.destroy();
  }
}
