/**
 * The load generator's reporter: a live progress line while the run lasts,
 * then a console table and three result files (JSON, CSV, Markdown).
 *
 * The live line is redrawn in place with log-update only when `out` is a
 * TTY; piped or redirected output gets a plain line every PLAIN_EVERY_S
 * seconds instead, so logs stay free of escape codes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Table from 'cli-table3';
import { createLogUpdate } from 'log-update';
import type { LatencySummary, Progress, Reporter, ReporterOptions, RunResult } from './types.js';
import { pct } from './verdict.js';

/** Seconds between plain progress lines when `out` is not a TTY. */
const PLAIN_EVERY_S = 5;

/**
 * Creates the reporter the runner drives: `progress` about once a second,
 * `final` once.
 *
 * - `progress(p)`: nothing unless `options.live`. On a TTY `out` (with a
 *   non-zero size), one line redrawn in place; otherwise a plain line at the
 *   first call, on each phase change and then every 5 s of `p.elapsed_s`.
 *   Ignored after `final`.
 * - `final(result)`: ends the live line, prints the summary table to `out`,
 *   creates `options.outDir` and writes `<stem>.json` (the RunResult,
 *   2-space indented), `<stem>.csv` (header + one row, dotted keys such as
 *   `latency_ms.p95`) and `<stem>.md` (summary table, verdict in bold and its
 *   reasons). The default stem is `<started_at with ':' → '-'>-<scenario>`.
 *   Resolves with the three paths (outDir joined with the file names);
 *   rejects with the fs error when a file cannot be written.
 *
 * @param options outDir (folder, created if missing), stem (file name
 *   without extension), live (draw progress), out (default process.stdout)
 */
export function createReporter(options: ReporterOptions): Reporter {
  const out = options.out ?? process.stdout;
  const term = out as { isTTY?: boolean; columns?: number; rows?: number };
  let live: ReturnType<typeof createLogUpdate> | undefined;
  let lastPlainAt = Number.NEGATIVE_INFINITY;
  let lastPhase: Progress['phase'] | undefined;
  let finished = false;

  return {
    progress(p: Progress): void {
      if (!options.live || finished) return;
      const line = formatProgress(p);
      // A pseudo-TTY without a size (`script`, some CI runners) reports 0 rows,
      // for which log-update draws nothing: such terminals get plain lines.
      if (term.isTTY === true && term.columns !== 0 && term.rows !== 0) {
        // showCursor: log-update would otherwise hide the cursor on process.stderr
        // and install exit handlers to restore it, whatever `out` is.
        live ??= createLogUpdate(out, { showCursor: true });
        live(line);
        return;
      }
      if (p.phase !== lastPhase || p.elapsed_s - lastPlainAt >= PLAIN_EVERY_S) {
        lastPlainAt = p.elapsed_s;
        lastPhase = p.phase;
        out.write(`${line}\n`);
      }
    },

    async final(result: RunResult): Promise<string[]> {
      finished = true;
      live?.done();
      live = undefined;
      out.write(`${renderTable(result)}\n`);

      const stem = options.stem ?? defaultStem(result);
      await mkdir(options.outDir, { recursive: true });
      const files: Array<[string, string]> = [
        [join(options.outDir, `${stem}.json`), `${JSON.stringify(result, null, 2)}\n`],
        [join(options.outDir, `${stem}.csv`), toCsv(result)],
        [join(options.outDir, `${stem}.md`), toMarkdown(result)],
      ];
      await Promise.all(files.map(([path, text]) => writeFile(path, text)));
      const paths = files.map(([path]) => path);
      out.write(`Wrote ${paths.join(', ')}\n`);
      return paths;
    },
  };
}

/**
 * The default file stem: `started_at` (or now, when it is not a valid time)
 * as ISO 8601 with ':' replaced by '-', then '-' and the scenario name with
 * anything outside `[A-Za-z0-9._-]` replaced by '_'
 * (`2025-01-02T03-04-05.678Z-fanout`).
 */
export function defaultStem(result: Pick<RunResult, 'started_at' | 'scenario'>): string {
  const t = new Date(result.started_at);
  const iso = (Number.isNaN(t.getTime()) ? new Date() : t).toISOString().replace(/:/g, '-');
  const name = result.scenario.scenario.replace(/[^A-Za-z0-9._-]+/g, '_') || 'run';
  return `${iso}-${name}`;
}

/**
 * One progress line, no newline: phase, elapsed s, connected clients, sent /
 * acked / delivered msg/s, end-to-end p99 ms, errors so far, load generator
 * CPU % of one core.
 */
export function formatProgress(p: Progress): string {
  return [
    `[${p.phase.padEnd(5)} ${p.elapsed_s.toFixed(1).padStart(6)} s]`,
    `conn ${int(p.connected)}`,
    `sent ${int(p.sent_per_s)}/s`,
    `acked ${int(p.acked_per_s)}/s`,
    `deliv ${int(p.delivered_per_s)}/s`,
    `p99 ${ms(p.p99_ms)} ms`,
    `err ${int(p.errors)}`,
    `cpu ${Math.round(p.loadgen_cpu_pct)}%`,
  ].join('  ');
}

/**
 * The summary as [label, value] rows, shared by the console table and the
 * Markdown file. Rates in msg/s, latencies in ms, RSS in MB, CPU in % of one core.
 */
export function summaryRows(result: RunResult): Array<[string, string]> {
  const s = result.scenario;
  const t = result.totals;
  const rooms = s.room_mode === 'single' ? `room ${s.room_name_or_count}` : `${s.room_name_or_count} rooms`;
  const pacing = s.window > 0 ? `window ${s.window}` : `every ${s.msg_interval_ms} ms`;
  return [
    ['Scenario', `${s.scenario} (${s.protocol} ${s.host}:${s.port})`],
    [
      'Load',
      `${s.clients} clients (${s.senders} senders, ${s.probes} probes), ${rooms}, ${s.msg_size} B ${pacing}`,
    ],
    ['Started', result.started_at],
    ['Measured', `${result.elapsed_s.toFixed(1)} s`],
    ['Sent', `${rate(result.sent_per_s)} msg/s (${int(t.sent)} total)`],
    ['Acked', `${rate(result.acked_per_s)} msg/s (${int(t.acked)} total)`],
    ['Delivered', `${rate(result.delivered_per_s)} msg/s (${int(t.delivered)} total)`],
    ['Latency p50/p95/p99/max', latency(result.latency_ms)],
    ['Ack latency p50/p95/p99/max', latency(result.ack_latency_ms)],
    ['Error rate', `${pct(result.error_rate)} (${int(t.errors)} errors)`],
    ['Connect failures', int(t.connect_failures)],
    ['Disconnects', int(t.disconnects)],
    ['Reconnects', int(t.reconnects)],
    ['Lost / duplicated / out of order', `${int(t.lost)} / ${int(t.duplicated)} / ${int(t.out_of_order)}`],
    ['Server RSS max / end', `${mb(result.server.rss_mb_max)} / ${mb(result.server.rss_mb_end)} MB`],
    ['Server CPU avg', result.server.cpu_pct_avg === null ? 'n/a' : `${result.server.cpu_pct_avg.toFixed(1)}%`],
    ['Server p99 max (/stats)', `${ms(result.server.latency_p99_ms_max)} ms`],
    [
      'Loadgen CPU',
      `${result.loadgen.cpu_pct.toFixed(1)}% of one core${result.loadgen.saturated ? ' (saturated)' : ''}`,
    ],
    ['Verdict', result.verdict],
  ];
}

/** The console table: summaryRows plus the verdict reasons, one per line. */
export function renderTable(result: RunResult): string {
  // No colours: the same text goes to terminals, pipes and CI logs.
  const table = new Table({ head: ['Metric', 'Value'], style: { head: [], border: [] } });
  for (const row of summaryRows(result)) table.push(row);
  table.push(['Reasons', result.verdict_reasons.join('\n') || '—']);
  return table.toString();
}

/**
 * The result as CSV: a header of dotted keys (`totals.lost`,
 * `scenario.slo.p95_ms`) and one row. Columns follow types.ts, so files of
 * different runs line up; fields unknown to it are appended. Arrays are joined
 * with '; ', null and undefined are empty; quoting per RFC 4180; '\n' line ends.
 */
export function toCsv(result: RunResult): string {
  const flat = flatten(result);
  const columns = [...CSV_COLUMNS, ...Object.keys(flat).filter((k) => !CSV_COLUMN_SET.has(k))];
  const row = columns.map((k) => csvField(flat[k] ?? ''));
  return `${columns.map(csvField).join(',')}\n${row.join(',')}\n`;
}

/** The Markdown summary: a title, the verdict in bold with its reasons as a list, and the summary table. */
export function toMarkdown(result: RunResult): string {
  const lines = [
    `# Load run: ${mdText(result.scenario.scenario)}`,
    '',
    `**Verdict: ${result.verdict}**`,
    '',
    ...(result.verdict_reasons.length ? result.verdict_reasons.map((r) => `- ${mdText(r)}`) : ['- (no reasons given)']),
    '',
    '| Metric | Value |',
    '| --- | --- |',
    ...summaryRows(result).map(([k, v]) => `| ${mdCell(k)} | ${k === 'Verdict' ? `**${v}**` : mdCell(v)} |`),
    '',
  ];
  return lines.join('\n');
}

/**
 * Every field of RunResult, in types.ts order, as the source of the CSV
 * header. Typed as a RunResult so that a field added there fails to compile here.
 */
const CSV_TEMPLATE: RunResult = {
  version: 1,
  scenario: {
    scenario: '',
    protocol: 'tcp',
    host: '',
    port: 0,
    clients: 0,
    ramp_per_s: 0,
    duration_ms: 0,
    msg_size: 0,
    msg_interval_ms: 0,
    room_mode: 'single',
    room_name_or_count: '',
    senders: 0,
    window: 0,
    reconnect_every_ms: 0,
    probes: 0,
    slo: { p95_ms: 0, p99_ms: 0, error_rate: 0, min_delivered_per_s: 0 },
  },
  started_at: '',
  elapsed_s: 0,
  sent_per_s: 0,
  acked_per_s: 0,
  delivered_per_s: 0,
  totals: {
    sent: 0,
    acked: 0,
    delivered: 0,
    errors: 0,
    connect_failures: 0,
    disconnects: 0,
    reconnects: 0,
    lost: 0,
    duplicated: 0,
    out_of_order: 0,
  },
  error_rate: 0,
  latency_ms: { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 },
  ack_latency_ms: { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 },
  server: { rss_mb_max: 0, rss_mb_end: 0, cpu_pct_avg: 0, latency_p99_ms_max: 0 },
  loadgen: { cpu_pct: 0, saturated: false },
  verdict: 'PASS',
  verdict_reasons: [],
};
const CSV_COLUMNS = Object.keys(flatten(CSV_TEMPLATE));
const CSV_COLUMN_SET = new Set(CSV_COLUMNS);

/** Nested objects → dotted keys; arrays joined with '; '; null/undefined → ''. */
function flatten(value: object, prefix = '', into: Record<string, string> = {}): Record<string, string> {
  for (const [k, v] of Object.entries(value)) {
    const key = prefix + k;
    if (Array.isArray(v)) into[key] = v.map(String).join('; ');
    else if (v !== null && typeof v === 'object') flatten(v, `${key}.`, into);
    else into[key] = v === null || v === undefined ? '' : String(v);
  }
  return into;
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function mdText(s: string): string {
  return s.replace(/\r?\n/g, ' ');
}

function mdCell(s: string): string {
  return mdText(s).replace(/\|/g, '\\|');
}

function latency(l: LatencySummary): string {
  if (l.count === 0) return 'n/a (no samples)';
  return `${ms(l.p50)} / ${ms(l.p95)} / ${ms(l.p99)} / ${ms(l.max)} ms (n=${int(l.count)})`;
}

/** ms with 2 decimals below 10, else 1. */
function ms(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return x.toFixed(Math.abs(x) < 10 ? 2 : 1);
}

function rate(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return x.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

function mb(x: number): string {
  return Number.isFinite(x) ? x.toFixed(1) : String(x);
}

function int(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : String(x);
}
