/** One result line of a benchmark (bench/run.ts prints these as a table). */
export interface Row {
  bench: string;
  case: string;
  metric: string;
  value: number;
  unit: string;
  /** Relative margin of error in percent, when the harness gives one. */
  rme?: number;
  note?: string;
}

/** A row builder for one bench and case: `note` is left out when empty. */
export function rowMaker(bench: string, kase: string): (metric: string, value: number, unit: string, note?: string) => Row {
  return (metric, value, unit, note) => ({ bench, case: kase, metric, value, unit, ...(note ? { note } : {}) });
}

/**
 * Prints rows to stdout, one line each: case, metric, value (ops/s as a
 * whole number with separators, else 0–2 decimals), unit, ±rme and note.
 * @param metricWidth column width of the metric, characters
 */
export function printRows(rows: readonly Row[], metricWidth = 14): void {
  const fmt = (r: Row) =>
    r.unit === 'ops/s' ? Math.round(r.value).toLocaleString('en-US') : r.value.toFixed(r.value >= 100 ? 0 : r.value >= 10 ? 1 : 2);
  const w = Math.max(...rows.map((r) => r.case.length));
  for (const r of rows) {
    const rme = r.rme === undefined ? '' : `±${r.rme.toFixed(2)}%`;
    console.log(`${r.case.padEnd(w)}  ${r.metric.padEnd(metricWidth)} ${fmt(r).padStart(14)} ${r.unit.padEnd(6)} ${rme.padStart(8)}  ${r.note ?? ''}`);
  }
}
