/**
 * Did anything else run while we measured? On a 2-core machine a neighbour's build halves a row without
 * anyone noticing, so the report says how much CPU other processes (and the hypervisor, as steal) took during
 * the JavaScript measurements: the machine's busy time from /proc/stat minus this process's own CPU time.
 * Linux only; elsewhere the report simply has no such line.
 */

import { readFileSync } from 'node:fs';

/** /proc/stat counts in USER_HZ ticks, 100 per second on every Linux ABI Node supports. */
const TICKS_PER_SECOND = 100;

/** A point in time: the machine's busy CPU seconds, ours, and the wall clock. */
export interface CpuSnapshot {
  machineBusySeconds: number;
  ownSeconds: number;
  wallSeconds: number;
}

/**
 * Busy seconds in the aggregate `cpu` line of /proc/stat: user, nice, system, irq, softirq and steal (guest time
 * is already inside user); idle and iowait are not busy. `undefined` when the line is not there.
 */
export function parseProcStatBusySeconds(stat: string): number | undefined {
  const line = /^cpu\s+([\d\s]+)$/m.exec(stat);
  if (!line) return undefined;
  const f = line[1]!.trim().split(/\s+/).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return undefined;
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
}

/** A snapshot now, or `undefined` where /proc/stat cannot be read. */
export function cpuSnapshot(): CpuSnapshot | undefined {
  let stat: string;
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const machineBusySeconds = parseProcStatBusySeconds(stat);
  if (machineBusySeconds === undefined) return undefined;
  const own = process.cpuUsage();
  return { machineBusySeconds, ownSeconds: (own.user + own.system) / 1e6, wallSeconds: Number(process.hrtime.bigint()) / 1e9 };
}

/** CPUs kept busy by everything but us between two snapshots, on average (≥ 0). */
export function otherCpus(before: CpuSnapshot, after: CpuSnapshot): number {
  const wall = after.wallSeconds - before.wallSeconds;
  if (wall <= 0) return 0;
  const others = after.machineBusySeconds - before.machineBusySeconds - (after.ownSeconds - before.ownSeconds);
  return Math.max(0, others / wall);
}
