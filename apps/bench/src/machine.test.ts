import { describe, expect, it } from 'vitest';
import { otherCpus, parseProcStatBusySeconds } from './machine.js';

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
