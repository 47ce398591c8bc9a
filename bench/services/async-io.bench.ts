/**
 * Async I/O service: write coalescing vs one write per frame, measured as
 * the issue asks — deliveries/s in a large-room fan-out (the real server on
 * core 0, the fan-out generator of bench/macro/fanout.ts on core 1). The two
 * writers alternate (A B A B …) in one run; medians and the ratio are reported.
 *
 *   npx tsc -p . && node dist/bench/services/async-io.bench.js [--reps 3] [--duration 5s] [--members 500]
 */
import { parseDuration, runFanout, type FanoutResult } from '../macro/fanout.js';

/** One writer's runs. */
export interface AsyncIoRow {
  writer: 'baseline' | 'coalescing';
  deliveriesPerS: number[];
  ackP99Ms: number[];
  serverCpu: (number | null)[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Runs both writers `reps` times each, alternating.
 * @param durationMs timed window per run, ms
 */
export async function runAsyncIoBench(reps = 3, durationMs = 5000, members = 500): Promise<AsyncIoRow[]> {
  const rows: AsyncIoRow[] = (['baseline', 'coalescing'] as const).map((writer) => ({ writer, deliveriesPerS: [], ackP99Ms: [], serverCpu: [] }));
  const saved = process.env.service_io;
  try {
    for (let r = 0; r < reps; r++) {
      for (const row of rows) {
        process.env.service_io = row.writer; // inherited by the server process
        const res: FanoutResult = await runFanout({ durationMs, members, window: 32, textBytes: 64, log: () => {} });
        row.deliveriesPerS.push(res.deliveriesPerS);
        row.ackP99Ms.push(res.ackP99Ms);
        row.serverCpu.push(res.serverCpu);
        process.stderr.write(`[async-io] rep ${r + 1} ${row.writer}: ${Math.round(res.deliveriesPerS).toLocaleString('en-US')} deliveries/s\n`);
      }
    }
  } finally {
    if (saved === undefined) delete process.env.service_io;
    else process.env.service_io = saved;
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1]! : dflt;
  };
  const rows = await runAsyncIoBench(Number(arg('reps', '3')), parseDuration(arg('duration', '5s')), Number(arg('members', '500')));
  const base = median(rows[0]!.deliveriesPerS);
  for (const row of rows) {
    const m = median(row.deliveriesPerS);
    console.log(
      `${row.writer.padEnd(11)} deliveries/s median ${Math.round(m).toLocaleString('en-US').padStart(10)}  runs ${row.deliveriesPerS.map((x) => Math.round(x).toLocaleString('en-US')).join(' / ')}  ack p99 ${median(row.ackP99Ms).toFixed(1)} ms  x${(m / base).toFixed(2)}`,
    );
  }
}
