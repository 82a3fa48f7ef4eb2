/**
 * Did anything else run while we measured? On a 2-core machine a neighbour's build halves a row without
 * anyone noticing, so the report says how much CPU other processes (and the hypervisor, as steal) took during
 * the JavaScript measurements: the machine's busy time from /proc/stat minus this process's own CPU time.
 * Linux only; elsewhere the report simply has no such line.
 */

import { readdirSync, readFileSync } from 'node:fs';

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

/**
 * CPUs kept busy by everything but us between two snapshots, on average (≥ 0). `excludedSeconds`: CPU seconds
 * of other processes that are part of the measurement (the Chromium of `--browser`), also not counted as others.
 */
export function otherCpus(before: CpuSnapshot, after: CpuSnapshot, excludedSeconds = 0): number {
  const wall = after.wallSeconds - before.wallSeconds;
  if (wall <= 0) return 0;
  const others = after.machineBusySeconds - before.machineBusySeconds - (after.ownSeconds - before.ownSeconds) - excludedSeconds;
  return Math.max(0, others / wall);
}

/**
 * Parent pid and CPU seconds (user + system, plus those of its reaped children) from a /proc/<pid>/stat line.
 * The command name in parentheses may contain spaces and parentheses, so fields are counted after the last ')'.
 */
export function parseProcPidStat(stat: string): { ppid: number; cpuSeconds: number } | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  // Fields 3.. of proc(5): state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  const f = stat.slice(close + 1).trim().split(/\s+/);
  const ppid = Number(f[1]);
  const ticks = [f[11], f[12], f[13], f[14]].map(Number);
  if (!Number.isInteger(ppid) || ticks.some((t) => !Number.isFinite(t))) return undefined;
  return { ppid, cpuSeconds: ticks.reduce((a, b) => a + b, 0) / TICKS_PER_SECOND };
}

/** CPU seconds used so far by every live descendant of `rootPid` (not the root itself); `undefined` without /proc. */
export function descendantsCpuSeconds(rootPid: number): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const children = new Map<number, { pid: number; cpuSeconds: number }[]>();
  for (const name of entries) {
    let parsed: ReturnType<typeof parseProcPidStat>;
    try {
      parsed = parseProcPidStat(readFileSync(`/proc/${name}/stat`, 'utf8'));
    } catch {
      continue; // exited meanwhile
    }
    if (!parsed) continue;
    const list = children.get(parsed.ppid) ?? [];
    list.push({ pid: Number(name), cpuSeconds: parsed.cpuSeconds });
    children.set(parsed.ppid, list);
  }
  let total = 0;
  const queue = [rootPid];
  while (queue.length > 0) {
    for (const child of children.get(queue.pop()!) ?? []) {
      total += child.cpuSeconds;
      queue.push(child.pid);
    }
  }
  return total;
}
