/**
 * First-bytes mode detection (PROTOCOL.md §1). The server sends nothing
 * before the client's first bytes and fixes the mode for the connection's life.
 */

/** The four ways in on the one TCP port. */
export type Mode = 'binary' | 'http' | 'json' | 'text';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'].map((m) => Buffer.from(`${m} `, 'latin1'));
const REQUEST_LINE = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) \S+ HTTP\/1\.[01]\r?\n/;
/**
 * Longest undecided prefix in bytes. A first line that still looks like an
 * HTTP request line (or is all blanks) past this is text mode. Matches the
 * 8 KiB HTTP head limit (PROTOCOL.md §6).
 */
export const MAX_DETECT_BYTES = 8192;

/**
 * Decides the mode from the bytes received so far.
 * @param buf every byte the client has sent (the caller accumulates)
 * @returns the mode, or null when more bytes are needed
 */
export function detectMode(buf: Buffer): Mode | null {
  const n = buf.length;
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
    const nl = buf.indexOf(0x0a, m.length);
    if (nl < 0) return n > MAX_DETECT_BYTES ? 'text' : null;
    return REQUEST_LINE.test(buf.toString('latin1', 0, nl + 1)) ? 'http' : 'text';
  }
  return 'text';
}
