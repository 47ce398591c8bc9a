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
