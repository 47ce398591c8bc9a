/**
 * First-bytes mode detection (PROTOCOL.md §1). The server sends nothing
 * before the client's first bytes and fixes the mode for the connection's life.
 */

/** The four ways in on the one TCP port. */
export type Mode = 'binary' | 'http' | 'json' | 'text';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'].map((m) => Buffer.from(`${m} `, 'latin1'));
const REQUEST_LINE = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) \S+ HTTP\/1\.[01]\r?\n/;
/**
 * Longest undecided prefix in bytes. Past it, a first line that still looks
 * like an HTTP request line is HTTP (and gets 431, the head limit of
 * PROTOCOL.md §6); one that is all blanks is text.
 */
export const MAX_DETECT_BYTES = 8192;

/**
 * Decides the mode from the bytes received so far.
 * @param buf every byte the client has sent (the caller accumulates)
 * @returns the mode, or null when more bytes are needed
 */
export function detectMode(buf: Buffer): Mode | null {
  // Only the first MAX_DETECT_BYTES + 1 bytes decide, so the mode does not
  // depend on how the client's first bytes were split into chunks.
  const n = Math.min(buf.length, MAX_DETECT_BYTES + 1);
  if (n === 0) return null;
  if (buf[0] === 0x00) return 'binary';
  let i = 0;
  while (i < n && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
  if (i < n && buf[i] === 0x7b) return 'json';
  if (i === n) return n > MAX_DETECT_BYTES ? 'text' : null;
  for (const m of METHODS) {
    const k = Math.min(n, m.length);
    if (buf.compare(m, 0, k, 0, k) !== 0) continue;
    if (n < m.length) return null; // could still be this method
    const nl = buf.subarray(0, n).indexOf(0x0a, m.length);
    // Still a request line past 8 KiB: HTTP, whose head limit answers 431 (PROTOCOL.md §6).
    if (nl < 0) return n > MAX_DETECT_BYTES ? 'http' : null;
    return REQUEST_LINE.test(buf.toString('latin1', 0, nl + 1)) ? 'http' : 'text';
  }
  return 'text';
}
