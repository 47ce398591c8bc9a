/**
 * Micro-benchmark of the in-memory room engine (src/plugins/chat-room/engine/memory.ts):
 * the room log behind `send_chat` (append), `history` and resume (range),
 * and `join_room` (info) — PROTOCOL.md §3 "Join, resume, dedup".
 *
 * Every case runs on a room at steady state: `history_per_room` 1000 retained
 * messages (full, so each append also evicts the oldest) and a dedup window
 * at its cap of DEDUP_MAX_IDS (10,000) ids, reached by appending 10,000
 * messages with an `id` first. The room has one no-op subscriber, as under
 * the chat-room plugin (one room listener per server), so append pays the
 * listener call but no fan-out.
 *
 * - `append, no id`: history only, the dedup window is not touched;
 * - `append, with id`: plus the dedup lookup, insert and the trim of the
 *   oldest id (the window stays at 10,000);
 * - `range, newest 100`: what `history` without `since_seq` reads;
 * - `range, replay 1000`: what a resume reads, afterSeq = lastSeq − 1000
 *   (the whole retained log);
 * - `info`, `lastSeq`: what every join and a cluster lookup read.
 *
 * Each tinybench iteration runs a batch of calls (tinybench times each
 * iteration, and its own overhead would otherwise swamp calls of a few
 * nanoseconds): ops/s = calls per iteration × iterations/s (1000 / mean ms).
 * The range cases check the number of messages and `recovered` on every call.
 *
 * Run: `npm run bench -- --only engine`, or directly
 * `taskset -c 1 node dist/bench/micro/room-engine.bench.js`.
 */
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { DEDUP_MAX_IDS, MemoryRoomEngine } from '../../src/plugins/chat-room/engine/index.js';
import type { Row } from '../lib/row.js';

/** Retained messages per room (`history_per_room`, the server's default). */
export const RETAIN = 1000;
const ROOM = 'bench';
const NICK = 'bench-user';
/** A 64-byte chat text, as in the fan-out benchmark. */
const TEXT = 'room engine benchmark message '.repeat(3).slice(0, 64);

/** An engine whose room `ROOM` is at steady state: history full, dedup window full. */
function steadyEngine(): { engine: MemoryRoomEngine; next: () => number } {
  const engine = new MemoryRoomEngine({ retain: RETAIN, idleMs: 3_600_000 });
  engine.subscribe(ROOM, () => {});
  let n = 0;
  const now = Date.now();
  for (; n < DEDUP_MAX_IDS; n++) engine.append(ROOM, { from: NICK, dedupKey: NICK, text: TEXT, id: `m${n}` }, now);
  if (engine.lastSeq(ROOM) !== DEDUP_MAX_IDS) throw new Error('pre-fill did not append every message');
  return { engine, next: () => n++ };
}

interface Case {
  name: string;
  /** Calls per tinybench iteration. */
  batch: number;
  fn: () => unknown;
  note: string;
}

/**
 * Runs the room-engine benchmark.
 * @param timeMs tinybench time budget per case, ms
 * @returns one ops/s row per case
 */
export async function runRoomEngineBench(timeMs = 2000): Promise<Row[]> {
  const engines: MemoryRoomEngine[] = [];
  const cases: Case[] = [];

  {
    const { engine } = steadyEngine();
    engines.push(engine);
    const now = Date.now();
    const input = { from: NICK, dedupKey: NICK, text: TEXT };
    cases.push({
      name: 'append, no id',
      batch: 1000,
      note: 'history full (1000), evicts the oldest',
      fn: () => {
        let s = 0;
        for (let i = 0; i < 1000; i++) s += engine.append(ROOM, input, now).seq;
        return s;
      },
    });
  }
  {
    const { engine, next } = steadyEngine();
    engines.push(engine);
    const now = Date.now();
    cases.push({
      name: 'append, with id (dedup)',
      batch: 1000,
      note: `new id each call; dedup window at ${DEDUP_MAX_IDS.toLocaleString('en-US')}, trims the oldest`,
      fn: () => {
        let s = 0;
        for (let i = 0; i < 1000; i++) {
          const r = engine.append(ROOM, { from: NICK, dedupKey: NICK, text: TEXT, id: `m${next()}` }, now);
          if (r.duplicate) throw new Error('unexpected duplicate');
          s += r.seq;
        }
        return s;
      },
    });
  }
  {
    const { engine } = steadyEngine();
    engines.push(engine);
    const last = engine.lastSeq(ROOM);
    cases.push({
      name: 'range, newest 100',
      batch: 100,
      note: 'as `history` without since_seq',
      fn: () => {
        let s = 0;
        for (let i = 0; i < 100; i++) {
          const r = engine.range(ROOM, 0, Number.MAX_SAFE_INTEGER, 100, true);
          if (r.messages.length !== 100 || !r.recovered || r.messages[99]!.seq !== last) throw new Error('range newest 100: wrong result');
          s += r.messages.length;
        }
        return s;
      },
    });
    cases.push({
      name: 'range, replay 1000',
      batch: 10,
      note: `afterSeq = lastSeq − 1000, as a resume with since_seq`,
      fn: () => {
        let s = 0;
        for (let i = 0; i < 10; i++) {
          const r = engine.range(ROOM, last - RETAIN, last, Number.MAX_SAFE_INTEGER);
          if (r.messages.length !== RETAIN || !r.recovered || r.messages[0]!.seq !== last - RETAIN + 1) throw new Error('range replay 1000: wrong result');
          s += r.messages.length;
        }
        return s;
      },
    });
    cases.push({
      name: 'info',
      batch: 10_000,
      note: 'epoch + lastSeq, as every join',
      fn: () => {
        let s = 0;
        for (let i = 0; i < 10_000; i++) s += engine.info(ROOM).lastSeq;
        return s;
      },
    });
    cases.push({
      name: 'lastSeq',
      batch: 10_000,
      note: 'existing room',
      fn: () => {
        let s = 0;
        for (let i = 0; i < 10_000; i++) s += engine.lastSeq(ROOM);
        return s;
      },
    });
  }

  const bench = new Bench({ name: 'room-engine', time: timeMs, warmupTime: 500, throws: true });
  for (const c of cases) bench.add(c.name, c.fn);
  try {
    await bench.run();
  } finally {
    for (const e of engines) e.close();
  }
  return bench.tasks.map((task, i) => {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}${'error' in r ? `: ${r.error.message}` : ''}`);
    const c = cases[i]!;
    const itersPerS = 1000 / r.period;
    return {
      bench: 'room-engine',
      case: c.name,
      metric: 'ops/s',
      value: c.batch * itersPerS,
      unit: '/s',
      rme: r.latency.rme,
      note: `${c.batch} calls × ${itersPerS.toFixed(1)} it/s; ${c.note}`,
    } satisfies Row;
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runRoomEngineBench();
  for (const r of rows) {
    console.log(`${r.case.padEnd(26)} ${Math.round(r.value).toLocaleString('en-US').padStart(14)} ops/s  ±${r.rme!.toFixed(2)}%  (${r.note})`);
  }
}
