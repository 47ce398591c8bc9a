/**
 * LineSplitter (PROTOCOL.md §4, §5): raw bytes split at every boundary; `\r\n`
 * accepted wherever `\n` is; a line over max_frame_bytes is fatal
 * `frame_too_large`, detected before its end arrives.
 */
import { describe, expect, it } from 'vitest';
import { LineSplitter, type LineSink } from '../../../src/core/line-splitter.js';
import { ProtocolError } from '../../../src/core/errors.js';
import { NativeScanner } from '../../../src/services/frame-scan/baseline.js';

const MAX = 64;

function recorder() {
  const lines: string[] = [];
  const errors: ProtocolError[] = [];
  const sink: LineSink = {
    onLine(line) {
      lines.push(line.toString('latin1'));
    },
    onLineError(err) {
      errors.push(err);
    },
  };
  return { lines, errors, sink };
}

const make = (max = MAX) => {
  const r = recorder();
  return { ...r, s: new LineSplitter(max, new NativeScanner(), r.sink) };
};

const STREAM = Buffer.from(
  ['{"type":"ping"}', '', 'hello world', 'x', 'a'.repeat(MAX), '{"type":"rooms"}\r', 'b'.repeat(MAX) + '\r', '\r', 'tail'].join('\n') + '\n',
  'latin1',
);
const EXPECTED = ['{"type":"ping"}', '', 'hello world', 'x', 'a'.repeat(MAX), '{"type":"rooms"}', 'b'.repeat(MAX), '', 'tail'];

describe('LineSplitter', () => {
  it('splits a whole buffer, dropping the \\r of \\r\\n', () => {
    const { s, lines, errors } = make();
    s.push(STREAM);
    expect(errors).toEqual([]);
    expect(lines).toEqual(EXPECTED);
    expect(s.buffered).toBe(0);
  });

  it('yields the same lines when split in two at every split point', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const { s, lines, errors } = make();
      s.push(STREAM.subarray(0, cut));
      expect(s.buffered).toBeLessThanOrEqual(MAX + 1);
      s.push(STREAM.subarray(cut));
      expect(errors, `cut ${cut}`).toEqual([]);
      expect(lines, `cut ${cut}`).toEqual(EXPECTED);
      expect(s.buffered).toBe(0);
    }
  });

  it('yields the same lines when split in three at many split points', () => {
    for (let a = 0; a <= STREAM.length; a += 3) {
      for (let b = a; b <= STREAM.length; b += 5) {
        const { s, lines, errors } = make();
        s.push(STREAM.subarray(0, a));
        s.push(STREAM.subarray(a, b));
        s.push(STREAM.subarray(b));
        expect(errors).toEqual([]);
        expect(lines).toEqual(EXPECTED);
      }
    }
  });

  it('yields the same lines one byte at a time', () => {
    const { s, lines, errors } = make();
    for (let i = 0; i < STREAM.length; i++) {
      s.push(STREAM.subarray(i, i + 1));
      expect(s.buffered).toBeLessThanOrEqual(MAX + 1);
    }
    expect(errors).toEqual([]);
    expect(lines).toEqual(EXPECTED);
  });

  it('holds an unfinished line until its end arrives', () => {
    const { s, lines } = make();
    s.push(Buffer.from('abc'));
    expect(lines).toEqual([]);
    expect(s.buffered).toBe(3);
    s.push(Buffer.from('def\r'));
    expect(lines).toEqual([]);
    s.push(Buffer.from('\nxy'));
    expect(lines).toEqual(['abcdef']);
    expect(s.buffered).toBe(2);
  });

  it('keeps a lone \\r inside a line', () => {
    const { s, lines } = make();
    s.push(Buffer.from('a\rb\n\r\r\n'));
    expect(lines).toEqual(['a\rb', '\r']);
  });

  it('accepts a line of exactly max bytes, with \\n or \\r\\n, at every split', () => {
    for (const end of ['\n', '\r\n']) {
      const buf = Buffer.from('z'.repeat(MAX) + end);
      for (let cut = 0; cut <= buf.length; cut++) {
        const { s, lines, errors } = make();
        s.push(buf.subarray(0, cut));
        s.push(buf.subarray(cut));
        expect(errors).toEqual([]);
        expect(lines).toEqual(['z'.repeat(MAX)]);
      }
    }
  });

  it('rejects a line of max+1 bytes with frame_too_large before its newline arrives', () => {
    const { s, lines, errors } = make();
    s.push(Buffer.from('q'.repeat(MAX + 1)));
    expect(errors.map((e) => e.code)).toEqual(['frame_too_large']);
    expect(errors[0]!.fatal).toBe(true);
    s.push(Buffer.from('\n'));
    expect(lines).toEqual([]);
    expect(errors).toHaveLength(1);
  });

  it('rejects a line of max+1 bytes arriving one byte at a time, at its last byte', () => {
    const { s, errors } = make();
    for (let i = 0; i < MAX; i++) s.push(Buffer.from('q'));
    expect(errors).toEqual([]);
    s.push(Buffer.from('q'));
    expect(errors.map((e) => e.code)).toEqual(['frame_too_large']);
  });

  it('waits on max bytes + \\r (it may be a \\r\\n) but rejects max bytes + \\r + another byte', () => {
    const { s, lines, errors } = make();
    s.push(Buffer.from('r'.repeat(MAX) + '\r'));
    expect(errors).toEqual([]);
    s.push(Buffer.from('x'));
    expect(errors.map((e) => e.code)).toEqual(['frame_too_large']);
    expect(lines).toEqual([]);
  });

  it('rejects a line over max that arrives whole with its newline', () => {
    const { s, lines, errors } = make();
    s.push(Buffer.from('ok\n' + 'w'.repeat(MAX + 1) + '\nafter\n'));
    expect(lines).toEqual(['ok']);
    expect(errors.map((e) => e.code)).toEqual(['frame_too_large']);
  });

  it('emits no more lines after an error', () => {
    const { s, lines, errors } = make();
    s.push(Buffer.from('first\n' + 'v'.repeat(MAX + 10)));
    expect(lines).toEqual(['first']);
    expect(errors).toHaveLength(1);
    s.push(Buffer.from('\nsecond\nthird\n'));
    s.push(Buffer.from('fourth\n'));
    expect(lines).toEqual(['first']);
    expect(errors).toHaveLength(1);
    expect(s.buffered).toBe(0);
  });

  it('stops when the sink calls stop() mid-chunk', () => {
    const lines: string[] = [];
    const s: LineSplitter = new LineSplitter(MAX, new NativeScanner(), {
      onLine(line) {
        lines.push(line.toString());
        s.stop();
      },
      onLineError() {},
    });
    s.push(Buffer.from('a\nb\nc\n'));
    expect(lines).toEqual(['a']);
  });

  it('never buffers more than max + 1 bytes of an unfinished line', () => {
    const { s, errors } = make();
    let peak = 0;
    for (let i = 0; i < MAX * 3 && errors.length === 0; i++) {
      s.push(Buffer.from('y'));
      peak = Math.max(peak, s.buffered);
    }
    expect(errors).toHaveLength(1);
    expect(peak).toBeLessThanOrEqual(MAX + 1);
  });
});
