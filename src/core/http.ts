/**
 * HTTP on the chat port (PROTOCOL.md §6): one request per connection, GET
 * and HEAD, `Connection: close`. Enough HTTP/1.x for `curl`, `watch` and a
 * Prometheus scraper; nothing else reaches the chat from here.
 */

/** Longest request head in bytes; past it: 431 (PROTOCOL.md §6). */
export const MAX_HEAD_BYTES = 8192;
/** A head not complete within this many ms is closed (PROTOCOL.md §6). */
export const HEAD_TIMEOUT_MS = 5000;

/** What the routes read from the server. */
export interface HttpRoutes {
  /** The `/stats` document. */
  stats(): object;
  /** The `/metrics` exposition. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** True while shutting down (`/health` answers 503). */
  draining(): boolean;
}

/** One response. */
export interface HttpResponse {
  status: number;
  contentType: string;
  body: string;
  /** `Allow` header of a 405. */
  allow?: string;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

const json = (status: number, value: unknown): HttpResponse => ({
  status,
  contentType: 'application/json',
  body: JSON.stringify(value),
});

/**
 * Finds the end of the head in the bytes received so far.
 * @returns the request line, `'too_large'` past MAX_HEAD_BYTES, or null when incomplete
 */
export function readHead(buf: Buffer): string | 'too_large' | null {
  let end = buf.indexOf('\r\n\r\n');
  if (end < 0) end = buf.indexOf('\n\n');
  if (end < 0) return buf.length > MAX_HEAD_BYTES ? 'too_large' : null;
  if (end > MAX_HEAD_BYTES) return 'too_large';
  const nl = buf.indexOf(0x0a);
  return buf.toString('latin1', 0, nl).replace(/\r$/, '');
}

/**
 * Answers one request line.
 * @param requestLine e.g. `GET /stats?x=1 HTTP/1.1`
 */
export async function route(requestLine: string, routes: HttpRoutes): Promise<HttpResponse> {
  const [method = '', target = ''] = requestLine.split(' ');
  const path = target.split('?')[0];
  const known = path === '/stats' || path === '/metrics' || path === '/health';
  if (!known) return json(404, { error: 'not_found', path });
  if (method !== 'GET' && method !== 'HEAD') return { ...json(405, { error: 'method_not_allowed' }), allow: 'GET, HEAD' };
  switch (path) {
    case '/stats':
      return json(200, routes.stats());
    case '/metrics': {
      const m = await routes.metrics();
      return { status: 200, contentType: m.contentType, body: m.body };
    }
    default:
      return routes.draining() ? json(503, { status: 'draining' }) : json(200, { status: 'ok' });
  }
}

/**
 * Serialises a response with `Connection: close`.
 * @param head true for a HEAD request (no body, same headers)
 */
export function serialize(res: HttpResponse, head = false): Buffer {
  const body = Buffer.from(res.body, 'utf8');
  const lines = [
    `HTTP/1.1 ${res.status} ${REASONS[res.status] ?? 'Unknown'}`,
    `Content-Type: ${res.contentType}`,
    `Content-Length: ${body.length}`,
    ...(res.allow ? [`Allow: ${res.allow}`] : []),
    'Cache-Control: no-store',
    'Connection: close',
    '',
    '',
  ];
  const h = Buffer.from(lines.join('\r\n'), 'latin1');
  return head ? h : Buffer.concat([h, body]);
}

/** Shorthand for a bare status reply (431, 503 …). */
export function statusOnly(status: number, error: string): Buffer {
  return serialize(json(status, { error }));
}
