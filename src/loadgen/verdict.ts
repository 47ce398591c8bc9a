/**
 * The verdict of one load run: its measurements against the scenario's SLOs
 * and the delivery guarantees of docs/guarantees.md.
 *
 * FAIL outranks WARN outranks PASS. A FAIL still lists the warnings after the
 * failures, because a saturated load generator can be the cause of a missed
 * SLO and the reader should see both.
 */
import type { RunResult } from './types.js';

/** PASS / WARN / FAIL, as in RunResult.verdict. */
export type Verdict = RunResult['verdict'];

/** A RunResult before it is judged. */
export type UnjudgedResult = Omit<RunResult, 'verdict' | 'verdict_reasons'>;

/**
 * Judges a run.
 *
 * - FAIL when a set SLO is breached — `slo.p95_ms` / `slo.p99_ms` (ms) against
 *   `latency_ms.p95` / `.p99`, `slo.error_rate` (fraction 0..1) against
 *   `error_rate`, `slo.min_delivered_per_s` (messages/s) against
 *   `delivered_per_s` — or when the probes saw lost, duplicated or
 *   out-of-order messages (`totals.lost` / `.duplicated` / `.out_of_order` > 0).
 *   A measurement that is not a finite number breaches its SLO.
 * - WARN, when nothing failed, if the load generator was saturated
 *   (`loadgen.saturated`), no SLO was set, or no end-to-end latency was
 *   measured (`latency_ms.count` is 0; latency SLOs are then not checked).
 * - PASS otherwise.
 *
 * @param result the run's measurements; `scenario.slo` holds the thresholds
 *   (an undefined key is not checked)
 * @returns the verdict and one sentence per reason, with the numbers
 *   ("p95 312.4 ms > SLO 300 ms"): failures first, then warnings, then —
 *   unless the verdict is FAIL — the checks that were met
 */
export function judge(result: UnjudgedResult): { verdict: Verdict; reasons: string[] } {
  const failures: string[] = [];
  const warnings: string[] = [];
  const met: string[] = [];
  const slo = result.scenario.slo ?? {};
  const lat = result.latency_ms;
  const haveLatency = lat.count > 0;

  if (!haveLatency) {
    const unchecked = [slo.p95_ms !== undefined && 'p95', slo.p99_ms !== undefined && 'p99'].filter(Boolean);
    warnings.push(
      'no end-to-end latency samples (the probes received no messages)' +
        (unchecked.length ? `; ${unchecked.join(' and ')} SLO not checked` : ''),
    );
  } else {
    atMost('p95', lat.p95, slo.p95_ms, ' ms', failures, met);
    atMost('p99', lat.p99, slo.p99_ms, ' ms', failures, met);
  }

  if (slo.error_rate !== undefined) {
    const detail = ` (${result.totals.errors} errors / ${result.totals.sent} sent)`;
    if (!(Number.isFinite(result.error_rate) && result.error_rate <= slo.error_rate)) {
      failures.push(`error rate ${pct(result.error_rate)} > SLO ${pct(slo.error_rate)}${detail}`);
    } else {
      met.push(`error rate ${pct(result.error_rate)} ≤ SLO ${pct(slo.error_rate)}${detail}`);
    }
  }

  if (slo.min_delivered_per_s !== undefined) {
    const min = slo.min_delivered_per_s;
    if (!(Number.isFinite(result.delivered_per_s) && result.delivered_per_s >= min)) {
      failures.push(`delivered ${num(result.delivered_per_s)} msg/s < SLO ${num(min)} msg/s`);
    } else {
      met.push(`delivered ${num(result.delivered_per_s)} msg/s ≥ SLO ${num(min)} msg/s`);
    }
  }

  const { lost, duplicated, out_of_order } = result.totals;
  if (lost > 0) failures.push(`${lost} ${plural(lost, 'message')} lost (gaps in the probes' seq)`);
  if (duplicated > 0) failures.push(`${duplicated} ${plural(duplicated, 'message')} delivered more than once`);
  if (out_of_order > 0) failures.push(`${out_of_order} ${plural(out_of_order, 'message')} delivered out of order`);
  if (lost === 0 && duplicated === 0 && out_of_order === 0) {
    met.push('no lost, duplicated or out-of-order messages');
  }

  if (result.loadgen.saturated) {
    warnings.push(
      `load generator saturated (CPU ${num(result.loadgen.cpu_pct)}% of one core); ` +
        'the rates measure the load generator as much as the server',
    );
  }
  if (!Object.values(slo).some((v) => v !== undefined)) {
    warnings.push('no SLO set; latency, error rate and throughput were not checked');
  }

  if (failures.length) return { verdict: 'FAIL', reasons: [...failures, ...warnings] };
  if (warnings.length) return { verdict: 'WARN', reasons: [...warnings, ...met] };
  return { verdict: 'PASS', reasons: met };
}

/** Upper-bound check of one latency percentile; pushes one sentence to `failures` or `met`. */
function atMost(
  label: string,
  value: number,
  limit: number | undefined,
  unit: string,
  failures: string[],
  met: string[],
): void {
  if (limit === undefined) return;
  const sentence = `${label} ${num(value)}${unit} %s SLO ${num(limit)}${unit}`;
  if (!(Number.isFinite(value) && value <= limit)) failures.push(sentence.replace('%s', '>'));
  else met.push(sentence.replace('%s', '≤'));
}

/**
 * A number for a sentence: 1 decimal from 100 up, 2 from 1, 3 below, trailing
 * zeros dropped (312.4, 300, 12.35, 0.457).
 */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  const digits = a >= 100 ? 1 : a >= 1 ? 2 : 3;
  return String(Number(x.toFixed(digits)));
}

/** A fraction (0..1) as a percentage with 3 significant digits: 0.0125 → "1.25%". */
export function pct(fraction: number): string {
  if (!Number.isFinite(fraction)) return String(fraction);
  return `${Number((fraction * 100).toPrecision(3))}%`;
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}
