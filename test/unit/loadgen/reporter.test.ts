import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createReporter, defaultStem, formatProgress, toCsv } from '../../../src/loadgen/reporter.js';
import type { Progress, RunResult } from '../../../src/loadgen/types.js';
import { judge } from '../../../src/loadgen/verdict.js';

function result(): RunResult {
  const base: Omit<RunResult, 'verdict' | 'verdict_reasons'> = {
    version: 1,
    scenario: {
      scenario: 'fanout, "big"',
      protocol: 'tcp',
      host: '127.0.0.1',
      port: 7000,
      clients: 100,
      ramp_per_s: 50,
      duration_ms: 60_000,
      msg_size: 64,
      msg_interval_ms: 500,
      room_mode: 'single',
      room_name_or_count: 'lobby',
      senders: 100,
      window: 0,
      reconnect_every_ms: 0,
      probes: 10,
      slo: { p95_ms: 100, error_rate: 0.01 },
    },
    started_at: '2025-01-02T03:04:05.678Z',
    elapsed_s: 60,
    sent_per_s: 200,
    acked_per_s: 199.8,
    delivered_per_s: 20_000,
    totals: {
      sent: 12_000,
      acked: 11_988,
      delivered: 1_200_000,
      errors: 12,
      connect_failures: 1,
      disconnects: 2,
      reconnects: 3,
      lost: 4,
      duplicated: 0,
      out_of_order: 0,
    },
    error_rate: 0.001,
    latency_ms: { count: 3000, p50: 4.25, p95: 120.5, p99: 250, max: 400, mean: 55 },
    ack_latency_ms: { count: 11_988, p50: 1, p95: 3, p99: 6, max: 9, mean: 1.4 },
    server: { rss_mb_max: 120.4, rss_mb_end: 110, cpu_pct_avg: null, latency_p99_ms_max: 12 },
    loadgen: { cpu_pct: 40, saturated: false },
  };
  const { verdict, reasons } = judge(base);
  return { ...base, verdict, verdict_reasons: reasons };
}

function progress(elapsed_s: number, phase: Progress['phase'] = 'run'): Progress {
  return {
    elapsed_s,
    phase,
    connected: 100,
    sent_per_s: 200,
    acked_per_s: 199,
    delivered_per_s: 19_900,
    p99_ms: 4.5,
    errors: 0,
    loadgen_cpu_pct: 38,
  };
}

/** A PassThrough that collects what is written; `isTTY` as asked. */
function sink(tty = false): { out: PassThrough; text: () => string } {
  const out = new PassThrough();
  if (tty) Object.assign(out, { isTTY: true, columns: 120, rows: 40 });
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  return { out, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Minimal RFC 4180 parser: quoted fields, doubled quotes, '\n' record ends. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\n') row.push(field), rows.push(row), (row = []), (field = '');
    else field += c;
  }
  if (field || row.length) row.push(field), rows.push(row);
  return rows;
}

// eslint-disable-next-line no-control-regex
const ESC = /\u001B\[/;

describe('reporter', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reporter-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes JSON, CSV and Markdown into a new outDir and returns their paths', async () => {
    const r = result();
    expect(r.verdict).toBe('FAIL');
    const { out, text } = sink();
    const outDir = join(dir, 'nested', 'results');
    const paths = await createReporter({ outDir, live: false, out }).final(r);

    const stem = '2025-01-02T03-04-05.678Z-fanout_big_';
    expect(paths).toEqual(['json', 'csv', 'md'].map((ext) => join(outDir, `${stem}.${ext}`)));
    expect((await readdir(outDir)).sort()).toEqual([`${stem}.csv`, `${stem}.json`, `${stem}.md`]);

    // JSON: the RunResult, pretty-printed.
    const json = await readFile(paths[0]!, 'utf8');
    expect(JSON.parse(json)).toEqual(r);
    expect(json).toContain('\n  "version": 1,');

    // CSV: one header and one row of the same width, dotted keys, values that round-trip.
    const rows = parseCsv(await readFile(paths[1]!, 'utf8'));
    expect(rows).toHaveLength(2);
    const [header, row] = rows as [string[], string[]];
    expect(row).toHaveLength(header.length);
    expect(new Set(header).size).toBe(header.length);
    const rec = Object.fromEntries(header.map((k, i) => [k, row[i]]));
    expect(header[0]).toBe('version');
    expect(rec['scenario.scenario']).toBe('fanout, "big"');
    expect(rec['latency_ms.p95']).toBe('120.5');
    expect(rec['totals.lost']).toBe('4');
    expect(rec['server.cpu_pct_avg']).toBe('');
    expect(rec['scenario.slo.p95_ms']).toBe('100');
    expect(rec['scenario.slo.p99_ms']).toBe(''); // not set, column kept
    expect(rec['loadgen.saturated']).toBe('false');
    expect(rec['verdict']).toBe('FAIL');
    expect(rec['verdict_reasons']).toBe(r.verdict_reasons.join('; '));

    // Markdown: verdict in bold, every reason, a table.
    const md = await readFile(paths[2]!, 'utf8');
    expect(md).toContain('**Verdict: FAIL**');
    for (const reason of r.verdict_reasons) expect(md).toContain(`- ${reason}`);
    expect(md).toContain('| Metric | Value |');
    expect(md).toContain('| Verdict | **FAIL** |');
    expect(md).toMatch(/\| Latency p50\/p95\/p99\/max \| 4\.25 \/ 120\.5 \/ 250\.0 \/ 400\.0 ms \(n=3,000\) \|/);

    // Console: the table with the numbers, reasons and the paths; no colours.
    const printed = text();
    for (const s of ['Metric', '200.0 msg/s', '20,000.0 msg/s', '0.1% (12 errors)', 'n/a', 'FAIL', '4 / 0 / 0', stem]) {
      expect(printed).toContain(s);
    }
    for (const reason of r.verdict_reasons) expect(printed).toContain(reason);
    expect(printed).not.toMatch(ESC);
  });

  it('uses the given stem', async () => {
    const { out } = sink();
    const paths = await createReporter({ outDir: dir, stem: 'mine', live: false, out }).final(result());
    expect(paths).toEqual([join(dir, 'mine.json'), join(dir, 'mine.csv'), join(dir, 'mine.md')]);
  });

  it('rejects when the outDir cannot be created', async () => {
    const { out } = sink();
    const r = result();
    const file = join(dir, 'file');
    await createReporter({ outDir: dir, stem: 'file', live: false, out }).final(r);
    // `<dir>/file.json` exists as a file, so it cannot be a folder.
    const rep = createReporter({ outDir: join(`${file}.json`, 'sub'), live: false, out });
    await expect(rep.final(r)).rejects.toThrow();
  });

  describe('progress', () => {
    it('with live:false on a non-TTY writes nothing', () => {
      const { out, text } = sink();
      const rep = createReporter({ outDir: dir, live: false, out });
      for (let s = 0; s < 20; s++) rep.progress(progress(s));
      expect(text()).toBe('');
    });

    it('with live:false on a TTY writes nothing', () => {
      const { out, text } = sink(true);
      const rep = createReporter({ outDir: dir, live: false, out });
      rep.progress(progress(1));
      expect(text()).toBe('');
    });

    it('with live:true on a non-TTY prints a plain line every 5 s and on phase changes', () => {
      const { out, text } = sink();
      const rep = createReporter({ outDir: dir, live: true, out });
      rep.progress(progress(0, 'ramp'));
      rep.progress(progress(1, 'ramp'));
      rep.progress(progress(2, 'run'));
      for (let s = 3; s <= 12; s++) rep.progress(progress(s));
      const lines = text().split('\n').filter(Boolean);
      expect(lines.map((l) => l.slice(0, 13))).toEqual(['[ramp     0.0', '[run      2.0', '[run      7.0', '[run     12.0']);
      expect(text()).not.toMatch(ESC);
    });

    it('with live:true on a TTY of size 0 (pseudo-TTY) falls back to plain lines', () => {
      const { out, text } = sink(true);
      Object.assign(out, { columns: 0, rows: 0 });
      const rep = createReporter({ outDir: dir, live: true, out });
      rep.progress(progress(1));
      expect(text()).toBe(`${formatProgress(progress(1))}\n`);
    });

    it('with live:true on a TTY redraws one line in place, then the table follows', async () => {
      const { out, text } = sink(true);
      const rep = createReporter({ outDir: dir, stem: 'tty', live: true, out });
      rep.progress(progress(1));
      rep.progress(progress(2));
      const drawn = text();
      expect(drawn).toContain('[run      1.0 s]');
      expect(drawn).toContain('[run      2.0 s]');
      expect(drawn).toMatch(ESC); // cursor movement / erase line
      await rep.final(result());
      expect(text().slice(drawn.length)).toContain('Metric');
      // No progress after final.
      const after = text().length;
      rep.progress(progress(3));
      expect(text().length).toBe(after);
    });
  });
});

describe('formatting helpers', () => {
  it('formatProgress shows every field with units', () => {
    expect(formatProgress(progress(12.34))).toBe(
      '[run     12.3 s]  conn 100  sent 200/s  acked 199/s  deliv 19,900/s  p99 4.50 ms  err 0  cpu 38%',
    );
  });

  it('defaultStem replaces ":" and unsafe name characters; falls back to now for a bad time', () => {
    const r = result();
    expect(defaultStem({ ...r, scenario: { ...r.scenario, scenario: 'a/b c.yaml' } })).toBe(
      '2025-01-02T03-04-05.678Z-a_b_c.yaml',
    );
    expect(defaultStem({ ...r, started_at: 'nope' })).toMatch(/^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-fanout_big_$/);
  });

  it('CSV keeps the types.ts column order and appends unknown fields', () => {
    const r = { ...result(), extra: { note: 'x\ny' } } as RunResult;
    const [header, row] = parseCsv(toCsv(r)) as [string[], string[]];
    expect(header.slice(0, 3)).toEqual(['version', 'scenario.scenario', 'scenario.protocol']);
    expect(header.at(-1)).toBe('extra.note');
    expect(row.at(-1)).toBe('x\ny');
    expect(header.indexOf('verdict_reasons')).toBe(header.length - 2);
  });
});
