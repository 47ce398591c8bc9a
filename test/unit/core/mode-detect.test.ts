/**
 * detectMode (PROTOCOL.md §1): every row of the table, and bytes arriving one
 * at a time (null until the mode can be decided, then never changing).
 */
import { describe, expect, it } from 'vitest';
import { detectMode, MAX_DETECT_BYTES, type Mode } from '../../../src/core/mode-detect.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Feeds `bytes` one at a time; returns the mode at each prefix length 1..n. */
function byteByByte(bytes: Buffer): (Mode | null)[] {
  const out: (Mode | null)[] = [];
  for (let i = 1; i <= bytes.length; i++) out.push(detectMode(bytes.subarray(0, i)));
  return out;
}

/** Asserts: null up to the first decision at `decidedAt` bytes, then `mode` for every longer prefix. */
function expectDecidedAt(bytes: Buffer, mode: Mode, decidedAt: number): void {
  const seq = byteByByte(bytes);
  for (let i = 0; i < seq.length; i++) {
    expect(seq[i], `after ${i + 1} bytes of ${JSON.stringify(bytes.toString('latin1'))}`).toBe(i + 1 < decidedAt ? null : mode);
  }
}

describe('detectMode', () => {
  it('waits for the first byte', () => {
    expect(detectMode(Buffer.alloc(0))).toBeNull();
  });

  describe('binary: first byte 0x00', () => {
    it.each([
      [[0x00]],
      [[0x00, 0x00, 0x00, 0x10, 0x00, 0x7b]],
      [[0x00, 0xff]],
    ])('%j', (bytes) => {
      expect(detectMode(Buffer.from(bytes))).toBe('binary');
    });
  });

  describe('HTTP: a request line of a listed method and HTTP/1.0 or 1.1', () => {
    it.each(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'])('%s', (m) => {
      expect(detectMode(b(`${m} /stats HTTP/1.1\r\n`))).toBe('http');
      expect(detectMode(b(`${m} /x?y=1 HTTP/1.0\n`))).toBe('http');
      expect(detectMode(b(`${m} /health HTTP/1.1\r\nHost: a\r\n\r\n`))).toBe('http');
    });

    it('decides only at the line end when bytes arrive one at a time', () => {
      const line = b('GET /stats HTTP/1.1\r\n');
      expectDecidedAt(line, 'http', line.length);
    });

    it('also with a bare \\n', () => {
      const line = b('HEAD /health HTTP/1.0\n');
      expectDecidedAt(line, 'http', line.length);
    });

    it('is undecided while the bytes are a prefix of some method', () => {
      for (const p of ['G', 'GE', 'GET', 'GET ', 'GET /', 'H', 'HEA', 'P', 'PU', 'PA', 'PATC', 'PO', 'D', 'DELET', 'O', 'OPTION']) {
        expect(detectMode(b(p)), p).toBeNull();
      }
    });
  });

  describe('json-lines: optional spaces or tabs, then {', () => {
    it.each(['{', '{"type":"hello"}\n', '   {', '\t{', ' \t \t{"type":"ping"}\n'])('%j', (s) => {
      expect(detectMode(b(s))).toBe('json');
    });

    it('is undecided while only blanks have arrived', () => {
      expectDecidedAt(b('  \t {'), 'json', 5);
    });

    it('goes text when blanks are followed by something else', () => {
      expect(detectMode(b('  x'))).toBe('text');
      expect(detectMode(b('  \n'))).toBe('text');
      expect(detectMode(b(' GET /stats HTTP/1.1\n'))).toBe('text');
      expect(detectMode(b(' ['))).toBe('text');
    });

    it('goes text when blanks run past MAX_DETECT_BYTES', () => {
      expect(detectMode(b(' '.repeat(MAX_DETECT_BYTES)))).toBeNull();
      expect(detectMode(b(' '.repeat(MAX_DETECT_BYTES + 1)))).toBe('text');
    });
  });

  describe('text: anything else', () => {
    it('GETX: a line that only starts like a method', () => {
      expect(detectMode(b('GETX'))).toBe('text');
      expectDecidedAt(b('GETX /stats HTTP/1.1\n'), 'text', 4);
      expect(detectMode(b('get /stats HTTP/1.1\n'))).toBe('text');
      expect(detectMode(b('GE\n'))).toBe('text');
    });

    it('a request line of another HTTP version or shape', () => {
      expect(detectMode(b('GET /x HTTP/2\n'))).toBe('text');
      expect(detectMode(b('GET /x HTTP/1.2\r\n'))).toBe('text');
      expect(detectMode(b('GET /x\n'))).toBe('text');
      expect(detectMode(b('GET  /x HTTP/1.1\n'))).toBe('text');
      expect(detectMode(b('GET /x HTTP/1.1 \n'))).toBe('text');
      expect(detectMode(b('CONNECT /x HTTP/1.1\n'))).toBe('text');
    });

    it('GET /x HTTP/2 byte at a time: undecided until the line ends, then text', () => {
      const line = b('GET /x HTTP/2\n');
      expectDecidedAt(line, 'text', line.length);
    });

    it('a method line with no end past MAX_DETECT_BYTES is HTTP (answered 431)', () => {
      const long = b('GET /' + 'a'.repeat(MAX_DETECT_BYTES));
      expect(detectMode(long.subarray(0, MAX_DETECT_BYTES))).toBeNull();
      expect(detectMode(long)).toBe('http');
    });

    it('a blank line', () => {
      expect(detectMode(b('\n'))).toBe('text');
      expect(detectMode(b('\r\n'))).toBe('text');
    });

    it('a UTF-8 BOM, even before {', () => {
      expect(detectMode(Buffer.from([0xef, 0xbb, 0xbf, 0x7b]))).toBe('text');
      expect(detectMode(Buffer.from([0xef]))).toBe('text');
    });

    it('telnet IAC negotiation bytes', () => {
      expect(detectMode(Buffer.from([0xff, 0xfd, 0x03]))).toBe('text');
      expect(detectMode(Buffer.from([0xff, 0xfb, 0x01, 0x68, 0x69, 0x0a]))).toBe('text');
    });

    it.each(['hello\n', '/join lobby\n', 'exit\n', 'x', '[1]\n', '"{"\n'])('%j', (s) => {
      expect(detectMode(b(s))).toBe('text');
    });
  });

  it('never changes its answer once decided, as more bytes arrive', () => {
    const inputs = [
      b('GET /stats HTTP/1.1\r\nHost: x\r\n\r\n'),
      b('GETX and more text\n'),
      b('  {"type":"hello"}\n{"type":"ping"}\n'),
      b('hi there\nGET /stats HTTP/1.1\n'),
      Buffer.from([0, 0, 0, 3, 0, 0x7b, 0x7d]),
      Buffer.from([0xff, 0xfd, 0x03, 0x7b]),
    ];
    for (const input of inputs) {
      const seq = byteByByte(input);
      const first = seq.findIndex((m) => m !== null);
      expect(first).toBeGreaterThanOrEqual(0);
      for (let i = first; i < seq.length; i++) expect(seq[i]).toBe(seq[first]);
    }
  });
});
