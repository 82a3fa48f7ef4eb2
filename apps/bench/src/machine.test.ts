import { describe, expect, it } from 'vitest';
import { descendantsCpuSeconds, otherCpus, parseProcPidStat, parseProcStatBusySeconds } from './machine.js';

// First lines of /proc/stat on this machine (Linux 6.x in a 2-vCPU VM).
const STAT = `cpu  133480 0 10937 199024 467 0 788 378 0 0
cpu0 66900 0 5500 99000 200 0 400 190 0 0
intr 123 0 0
`;

describe('parseProcStatBusySeconds', () => {
  it('sums user, nice, system, irq, softirq and steal of the aggregate line', () => {
    expect(parseProcStatBusySeconds(STAT)).toBeCloseTo((133480 + 10937 + 788 + 378) / 100, 6);
  });
  it('gives undefined without a cpu line', () => {
    expect(parseProcStatBusySeconds('intr 1 2 3\n')).toBeUndefined();
  });
});

describe('otherCpus', () => {
  it('is machine busy time minus ours, per wall second', () => {
    const before = { machineBusySeconds: 100, ownSeconds: 10, wallSeconds: 1000 };
    expect(otherCpus(before, { machineBusySeconds: 112, ownSeconds: 20, wallSeconds: 1010 })).toBeCloseTo(0.2);
    // Tick rounding can make it slightly negative: clamped to 0.
    expect(otherCpus(before, { machineBusySeconds: 109.99, ownSeconds: 20, wallSeconds: 1010 })).toBe(0);
  });
});

describe('otherCpus with excluded processes', () => {
  it('also subtracts the CPU time of processes that belong to the measurement (a browser)', () => {
    const before = { machineBusySeconds: 100, ownSeconds: 10, wallSeconds: 1000 };
    const after = { machineBusySeconds: 130, ownSeconds: 12, wallSeconds: 1010 };
    expect(otherCpus(before, after, 25)).toBeCloseTo(0.3);
    expect(otherCpus(before, after, 40)).toBe(0);
  });
});

describe('parseProcPidStat', () => {
  it('reads ppid and utime + stime + cutime + cstime, even with spaces and parentheses in the name', () => {
    const stat = '4242 (chromium (renderer) x) S 4200 4200 9161 0 -1 4194560 2175 0 8 0 150 25 10 5 20 0 7 0 407471 745713664 10075';
    expect(parseProcPidStat(stat)).toEqual({ ppid: 4200, cpuSeconds: 1.9 });
  });
  it('gives undefined for garbage', () => {
    expect(parseProcPidStat('no parenthesis here')).toBeUndefined();
    expect(parseProcPidStat('1 (x) S')).toBeUndefined();
  });
});

describe('descendantsCpuSeconds', () => {
  it('is a non-negative number for this process on Linux', () => {
    const seconds = descendantsCpuSeconds(process.pid);
    if (process.platform === 'linux') expect(seconds).toBeGreaterThanOrEqual(0);
  });
});
