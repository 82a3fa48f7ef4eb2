import { describe, expect, it } from 'vitest';
import { median } from './measure.js';
import { buildRows, evaluateTargets, TARGETS, type Measurement } from './report.js';

const m = (backend: string, op: Measurement['op'], size: number, packetsPerSec: number): Measurement => ({ backend, op, size, packetsPerSec });

describe('buildRows', () => {
  const measurements = [
    m('node', 'bound', 1200, 100_000),
    m('node', 'gcm', 1200, 200_000),
    m('node', 'seal', 1200, 80_000),
    m('node', 'open', 1200, 40_000),
    m('noble', 'seal', 1200, 20_000),
    m('noble', 'open', 1200, 20_000),
    m('node', 'bound', 160, 150_000),
    m('node', 'seal', 160, 60_000),
    m('openssl', 'native', 1200, 400_000),
  ];
  const rows = buildRows(measurements);

  it('divides by the references at the same size', () => {
    const seal = rows.find((r) => r.backend === 'node' && r.op === 'seal' && r.size === 1200)!;
    expect(seal.ratioToBound).toBeCloseTo(0.8);
    expect(seal.ratioToGcm).toBeCloseTo(0.4);
    expect(seal.ratioToNative).toBeCloseTo(0.2);
    expect(seal.mbPerSec).toBeCloseTo(96);
    const small = rows.find((r) => r.op === 'seal' && r.size === 160)!;
    expect(small.ratioToBound).toBeCloseTo(0.4);
  });

  it('gives null for a reference that was not measured', () => {
    const small = rows.find((r) => r.op === 'seal' && r.size === 160)!;
    expect(small.ratioToGcm).toBeNull();
    expect(small.ratioToNative).toBeNull();
  });

  it('orders rows by size, references first, then backends as measured', () => {
    expect(rows.map((r) => `${r.size} ${r.backend} ${r.op}`)).toEqual([
      '160 node bound',
      '160 node seal',
      '1200 openssl native',
      '1200 node bound',
      '1200 node gcm',
      '1200 node seal',
      '1200 node open',
      '1200 noble seal',
      '1200 noble open',
    ]);
  });

  it('has exactly the JSON fields of the issue', () => {
    expect(Object.keys(rows[0]!).sort()).toEqual(
      ['backend', 'op', 'size', 'packetsPerSec', 'mbPerSec', 'ratioToBound', 'ratioToGcm', 'ratioToNative'].sort(),
    );
  });

  it('checks the targets of the default backend', () => {
    const results = evaluateTargets(rows, 'node');
    expect(results).toHaveLength(TARGETS.length);
    const get = (op: string, size: number, reference: string) =>
      results.find((t) => t.op === op && t.size === size && t.reference === reference)!;
    expect(get('seal', 1200, 'bound').status).toBe('met'); // 0.8 ≥ 0.8
    expect(get('open', 1200, 'bound').status).toBe('not met'); // 0.4
    expect(get('seal', 160, 'bound').status).toBe('not met'); // 0.4 < 0.5
    expect(get('open', 160, 'bound').status).toBe('not measured');
    expect(get('seal', 65536, 'bound').status).toBe('not measured');
    expect(get('seal', 1200, 'native').ratio).toBeCloseTo(0.2);
    expect(get('seal', 1200, 'native').status).toBe('not met');
  });
});

describe('median', () => {
  it('takes the middle of an odd count, unsorted input', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([10, 1, 1000])).toBe(10);
  });
  it('averages the middle two of an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
  it('rejects an empty list', () => {
    expect(() => median([])).toThrow(RangeError);
  });
});
