/**
 * CPU pinning for benchmarks (STYLE.md: server and load generator in separate
 * processes, each on its own core). Uses util-linux `taskset` when it exists;
 * without it everything still runs, unpinned, and says so. Also: how busy the
 * machine is, so a run can wait for other work to finish.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

let tasksetOk: boolean | undefined;

/** True when `taskset` can be run. */
export function hasTaskset(): boolean {
  if (tasksetOk === undefined) {
    const r = spawnSync('taskset', ['-V'], { stdio: 'ignore' });
    tasksetOk = r.error === undefined && r.status === 0;
  }
  return tasksetOk;
}

/** Core the server is pinned to, and core the load generator is pinned to. */
export const SERVER_CORE = '0';
export const CLIENT_CORE = '1';

/**
 * Pins every thread of this process to `core` (`taskset -a -p`), so the
 * load generator and the server do not compete for one core.
 * @returns a description for reports, e.g. `core 1` or why it is unpinned
 */
export function pinSelf(core: string): string {
  if (os.cpus().length < 2) return 'unpinned (fewer than 2 cores)';
  if (!hasTaskset()) return 'unpinned (taskset not found)';
  const r = spawnSync('taskset', ['-a', '-c', '-p', core, String(process.pid)], { stdio: 'ignore' });
  return r.status === 0 ? `core ${core}` : `unpinned (taskset -p failed: status ${r.status})`;
}

/**
 * Command and args that run `cmd args` pinned to `core` when possible.
 * @returns the argv to spawn and a description for reports
 */
export function pinnedCommand(core: string, cmd: string, args: string[]): { file: string; args: string[]; pinning: string } {
  if (os.cpus().length >= 2 && hasTaskset()) return { file: 'taskset', args: ['-c', core, cmd, ...args], pinning: `core ${core}` };
  return { file: cmd, args, pinning: hasTaskset() ? 'unpinned (fewer than 2 cores)' : 'unpinned (taskset not found)' };
}

/** Busy share (0..1) of all cores over `ms`, from /proc/stat; null where it is missing. */
export async function machineBusy(ms = 2000): Promise<number | null> {
  const read = (): [number, number] | null => {
    try {
      const v = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
      const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
      const busy = user + nice + system + irq + softirq + steal;
      return [busy, busy + idle + iowait];
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  if (!a || !b || b[1] === a[1]) return null;
  return (b[0] - a[0]) / (b[1] - a[1]);
}

/**
 * Waits until the machine is quiet (all cores under `threshold` busy over 2 s)
 * or `maxMs` passed: other processes skew a benchmark more than anything.
 * @returns the last busy share seen (null without /proc)
 */
export async function waitQuiet(maxMs: number, threshold = 0.08, log: (l: string) => void = () => {}): Promise<number | null> {
  const deadline = Date.now() + maxMs;
  let busy = await machineBusy();
  let lastLog = 0;
  while (busy !== null && busy >= threshold && Date.now() < deadline) {
    if (Date.now() - lastLog >= 15_000) {
      lastLog = Date.now();
      log(`machine ${(busy * 100).toFixed(0)}% busy; waiting for it to be quiet (up to ${Math.ceil((deadline - Date.now()) / 1000)} s more)`);
    }
    busy = await machineBusy();
  }
  return busy;
}
