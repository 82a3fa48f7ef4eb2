/**
 * What the machine and the two processes did: CPU seconds of the load generator (this process), of the server
 * (from /proc/<pid>/stat) and of everything else (the busy time of /proc/stat minus both), and the server's
 * resident memory (VmRSS, VmHWM of /proc/<pid>/status). Linux only; elsewhere these read as undefined.
 */

import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';

/** /proc counts in USER_HZ ticks, 100 per second on every Linux ABI Node supports. */
const TICKS_PER_SECOND = 100;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine since boot (user, nice, system, irq, softirq, steal). */
export function machineBusySeconds(): number | undefined {
  const line = /^cpu\s+([\d\s]+)$/m.exec(read('/proc/stat') ?? '');
  if (!line) return undefined;
  const f = line[1]!.trim().split(/\s+/).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
}

/** User + system CPU seconds of a process. */
export function processCpuSeconds(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // Fields after the command name, which is in parentheses and may itself contain spaces or parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / TICKS_PER_SECOND;
}

/** Resident set size now and its high-water mark, in bytes. */
export function processMemory(pid: number): { rss: number; hwm: number } | undefined {
  const status = read(`/proc/${pid}/status`);
  if (status === undefined) return undefined;
  const kb = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const rss = kb('VmRSS');
  const hwm = kb('VmHWM');
  return rss === undefined ? undefined : { rss, hwm: hwm ?? rss };
}

/** A point in time for CPU accounting. */
export interface CpuPoint {
  wall: number;
  own: number;
  server: number | undefined;
  machine: number | undefined;
}

export function cpuPoint(serverPid: number): CpuPoint {
  const own = process.cpuUsage();
  return { wall: performance.now() / 1000, own: (own.user + own.system) / 1e6, server: processCpuSeconds(serverPid), machine: machineBusySeconds() };
}

/** CPU used between two points, as average CPUs busy (1 = one core fully used). */
export interface CpuUse {
  seconds: number;
  /** This process: the clients (and the garbage senders). */
  loadgen: number;
  /** The server process. */
  server: number | null;
  /** Every other process on the machine (and steal). */
  others: number | null;
}

export function cpuUse(a: CpuPoint, b: CpuPoint): CpuUse {
  const seconds = Math.max(1e-9, b.wall - a.wall);
  const loadgen = (b.own - a.own) / seconds;
  const server = a.server !== undefined && b.server !== undefined ? (b.server - a.server) / seconds : null;
  const others =
    a.machine !== undefined && b.machine !== undefined && server !== null ? Math.max(0, (b.machine - a.machine) / seconds - loadgen - server) : null;
  return { seconds, loadgen, server, others };
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  node: string;
  platform: string;
  memoryBytes: number;
  loadAverage1m: number;
}

export function machineInfo(): MachineInfo {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${release()}`,
    memoryBytes: totalmem(),
    loadAverage1m: loadavg()[0] ?? 0,
  };
}
