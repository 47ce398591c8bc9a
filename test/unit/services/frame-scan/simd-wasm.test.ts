/**
 * The `simd` scanner beyond the FrameScanner contract (that suite is in
 * test/contract/services.test.ts): the env switch and fallback, and the
 * all-newlines-in-one-call method.
 */
import { describe, expect, it } from 'vitest';
import { createFrameScanner } from '../../../../src/services/frame-scan/index.js';
import { JsLoopScanner, SEGMENT_BYTES, SimdWasmScanner, createSimdScanner, wasmSimdStatus } from '../../../../src/services/frame-scan/simd-wasm.js';

function naiveNewlines(buf: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < buf.length; i++) if (buf[i] === 0x0a) out.push(i);
  return out;
}

describe('createSimdScanner', () => {
  it('runs the wasm kernels here (Node 20 has WebAssembly SIMD)', () => {
    expect(wasmSimdStatus()).toEqual({ ok: true });
    expect(createSimdScanner({}).kind).toBe('wasm-simd');
    expect((createFrameScanner('simd') as SimdWasmScanner).kind).toBe('wasm-simd');
  });

  it('falls back to the JS loops with TCPSERVER_NO_WASM=1', () => {
    const sc = createSimdScanner({ TCPSERVER_NO_WASM: '1' });
    expect(sc.kind).toBe('js');
    expect(sc).toBeInstanceOf(JsLoopScanner);
  });

  it('gives each scanner its own memory', () => {
    const a = new SimdWasmScanner();
    const b = new SimdWasmScanner();
    const x = Buffer.from('aaaa\nbbbb');
    expect(a.indexOfNewline(x, 0)).toBe(4);
    expect(b.isUtf8(Buffer.from([0xff]))).toBe(false);
    expect(a.indexOfNewline(x, 5)).toBe(-1);
  });
});

describe.each([
  ['SimdWasmScanner', () => new SimdWasmScanner()],
  ['JsLoopScanner', () => new JsLoopScanner()],
] as const)('%s.newlines', (_name, make) => {
  const sc = make();

  it('finds every \\n, at every offset around vector edges', () => {
    for (let len = 0; len < 80; len++) {
      for (let at = 0; at < len; at++) {
        const buf = Buffer.alloc(len, 0x61);
        buf[at] = 0x0a;
        buf[len - 1] = 0x0a;
        expect(Array.from(sc.newlines(buf)), `${at} of ${len}`).toEqual(naiveNewlines(buf));
      }
    }
  });

  it('works across 64 KiB segments, on views, dense and empty', () => {
    const big = Buffer.alloc(3 * SEGMENT_BYTES + 123, 0x61);
    for (let i = 7; i < big.length; i += 997) big[i] = 0x0a;
    big[SEGMENT_BYTES - 1] = 0x0a;
    big[SEGMENT_BYTES] = 0x0a;
    big[big.length - 1] = 0x0a;
    expect(Array.from(sc.newlines(big))).toEqual(naiveNewlines(big));
    const view = big.subarray(SEGMENT_BYTES - 10, SEGMENT_BYTES + 10);
    expect(Array.from(sc.newlines(view))).toEqual(naiveNewlines(view));
    const dense = Buffer.alloc(SEGMENT_BYTES + 1, 0x0a);
    expect(sc.newlines(dense).length).toBe(SEGMENT_BYTES + 1);
    expect(sc.newlines(Buffer.alloc(0)).length).toBe(0);
  });

  it('indexOfNewline finds a \\n past several doubling blocks and segments', () => {
    const big = Buffer.alloc(2 * SEGMENT_BYTES + 5000, 0x61);
    for (const at of [255, 256, 767, 768, SEGMENT_BYTES + 17, big.length - 1]) {
      big[at] = 0x0a;
      expect(sc.indexOfNewline(big, 0)).toBe(at);
      expect(sc.indexOfNewline(big, at)).toBe(at);
      expect(sc.indexOfNewline(big, at + 1)).toBe(-1);
      expect(sc.indexOfNewline(big, -5)).toBe(at);
      big[at] = 0x61;
    }
  });
});
