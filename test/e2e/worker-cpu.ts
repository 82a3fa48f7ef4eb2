/**
 * The kernel's own CPU accounting of the browsers' worker threads (for the perf tests): every thread Chromium names
 * `DedicatedWorker` under this process, from /proc/<pid>/task/<tid>/stat (Linux only).
 */
import { readFileSync, readdirSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** Descendant pids of `root` (from /proc/<pid>/stat's ppid). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const [child, ppid] of parent) if (ppid === pid) (out.push(child), walk(child));
  };
  walk(root);
  return out;
}

/** CPU seconds of every DedicatedWorker thread under this process, by thread id. */
export function workerThreadsCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of descendants(process.pid)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (!comm.startsWith('DedicatedWorker')) continue;
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(`${pid}/${tid}`, (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS);
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}
