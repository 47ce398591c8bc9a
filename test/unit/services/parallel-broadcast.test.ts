/**
 * PiscinaBroadcaster: the fan-out guarantees of the baseline, and `compress`
 * giving exactly the compression service's bytes from a worker. The worker
 * is the compiled dist build (piscina cannot load a .ts worker; `npm test`
 * builds first); without it the worker tests are skipped.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../../src/core/config.js';
import { NativeCompression } from '../../../src/services/compression/native.js';
import { createBroadcaster } from '../../../src/services/parallel-broadcast/index.js';
import { PiscinaBroadcaster, resolveWorkers, workerFile } from '../../../src/services/parallel-broadcast/piscina.js';

const hasDist = workerFile() !== null;

describe('parallel-broadcast config', () => {
  it('parallel_workers 0 resolves to availableParallelism() - 1, at least 1', () => {
    expect(configFrom({}).parallel_workers).toBe(0);
    expect(resolveWorkers(0)).toBeGreaterThanOrEqual(1);
    expect(resolveWorkers(3)).toBe(3);
    expect(() => configFrom({ parallel_workers: -1 })).toThrow(/parallel_workers/);
    expect(() => configFrom({ service_broadcast: 'threads' })).toThrow(/service_broadcast/);
  });
});

describe.skipIf(!hasDist)('PiscinaBroadcaster (worker from dist; skipped when dist/ is missing: run `npm run build`)', () => {
  const b = new PiscinaBroadcaster({ workers: 1, threshold: 4096 });
  const native = new NativeCompression();
  afterAll(() => b.close());

  it('fanOut delivers in order, skips `except`, counts true returns', () => {
    const seen: number[] = [];
    expect(b.fanOut([1, 2, 3, 4], 2, (r) => (seen.push(r), r !== 4))).toBe(2);
    expect(seen).toEqual([1, 3, 4]);
  });

  it('below body bytes × recipients threshold: null (inline)', () => {
    expect(b.compress('lz4', Buffer.alloc(100, 'a'), 40)).toBeNull();
    expect(b.compress('zstd', Buffer.alloc(4095, 'a'), 1)).toBeNull();
  });

  it('at or past the threshold: the same bytes as the compression service, and the caller keeps its body', async () => {
    const json = JSON.stringify({ type: 'chat', room: 'r', text: 'fan-out frame codec '.repeat(800) });
    const pooled = Buffer.from(json.slice(0, 2000)); // small: Buffer.from uses the shared pool
    const big = Buffer.from(json);
    for (const body of [pooled, big]) {
      const before = Buffer.from(body);
      for (const codec of ['lz4', 'zstd'] as const) {
        const p = b.compress(codec, body, 10);
        expect(p).toBeInstanceOf(Promise);
        expect((await p!).equals(await native.compress(codec, body))).toBe(true);
        expect(body.equals(before)).toBe(true);
      }
    }
  });

  it('many in flight resolve to their own bodies; a full queue falls back to inline (null)', async () => {
    const bodies = Array.from({ length: 200 }, (_, i) => Buffer.from(JSON.stringify({ i, text: `message ${i} `.repeat(500) })));
    const out = bodies.map((body) => b.compress('lz4', body, 100));
    expect(out.some((p) => p === null)).toBe(true);
    for (let i = 0; i < bodies.length; i++) {
      if (out[i] === null) continue;
      expect((await out[i]!).equals(native.compress('lz4', bodies[i]!) as Buffer)).toBe(true);
    }
  });

  it('createBroadcaster builds it from config; close() is idempotent', async () => {
    const cfg = configFrom({ service_broadcast: 'piscina', parallel_workers: 2, parallel_threshold: 1 });
    const x = createBroadcaster(cfg.service_broadcast, cfg) as PiscinaBroadcaster;
    expect(x).toBeInstanceOf(PiscinaBroadcaster);
    expect(x.workers).toBe(2);
    expect(await x.compress!('lz4', Buffer.alloc(2000, 'z'), 1)).toBeInstanceOf(Buffer);
    await x.close();
    await x.close();
  });
});
