import { describe, expect, it } from 'vitest';
import { buildRows, evaluateTargets } from './report.js';
import { formatCount, formatMicros, formatRatio, formatTable } from './table.js';

describe('number formats', () => {
  it('formats µs/packet, counts and ratios', () => {
    expect(formatMicros(2_360_000)).toBe('0.424');
    expect(formatMicros(19_500)).toBe('51.28');
    expect(formatMicros(560)).toBe('1786');
    expect(formatCount(1_234_567.6)).toBe('1,234,568');
    expect(formatCount(999)).toBe('999');
    expect(formatRatio(0.5349)).toBe('0.53×');
    expect(formatRatio(null)).toBe('—');
  });
});

describe('formatTable', () => {
  const rows = buildRows([
    { backend: 'node', op: 'bound', size: 160, packetsPerSec: 150_000 },
    { backend: 'node', op: 'seal', size: 160, packetsPerSec: 120_000 },
    { backend: 'node', op: 'bound', size: 65536, packetsPerSec: 10_000 },
    { backend: 'node', op: 'seal', size: 65536, packetsPerSec: 7_000 },
  ]);
  const text = formatTable(rows, evaluateTargets(rows, 'node'), {
    seconds: 0.4,
    repeats: 3,
    nodeVersion: 'v20.20.2',
    native: { missing: 'skipped (--no-native)' },
  });
  const lines = text.split('\n');

  it('prints aligned columns with the ratios', () => {
    expect(lines[0]).toMatch(/^size B\s+backend\s+op\s+µs\/pkt\s+packets\/s\s+MB\/s\s+÷bound\s+÷gcm\s+÷native$/);
    expect(lines[2]).toBe('   160  node     bound   6.667    150,000   24.0   1.00×     —        —');
    expect(lines[3]).toBe('   160  node     seal    8.333    120,000   19.2   0.80×     —        —');
    expect(lines[4]).toBe(''); // a blank line between sizes
    expect(lines[6]).toContain('0.70×');
    // Every table line is as wide as the header.
    for (const line of [lines[2]!, lines[3]!]) expect(line.length).toBe(lines[0]!.length);
  });

  it('marks each target in the footer', () => {
    expect(text).toContain('native = skipped (--no-native)');
    expect(text).toMatch(/seal ≥ 0\.5× bound +at +160 B +0\.80× +met/);
    expect(text).toMatch(/seal ≥ 0\.8× bound +at 65536 B +0\.70× +NOT MET/);
    expect(text).toMatch(/open ≥ 0\.5× native at  1200 B +— +not measured/);
    expect(text.endsWith('\n')).toBe(true);
  });
});

describe('contention line', () => {
  const meta = { seconds: 0.4, repeats: 3, nodeVersion: 'v20.20.2', native: { version: 'OpenSSL 3.0.19' } };
  it('warns when other processes took CPU time', () => {
    expect(formatTable([], [], { ...meta, contention: { otherCpus: 0.8, cpus: 2 } })).toMatch(/kept 0\.80 of 2 CPUs busy .* — figures are noisy/);
    const quiet = formatTable([], [], { ...meta, contention: { otherCpus: 0.02, cpus: 2 } });
    expect(quiet).toContain('kept 0.02 of 2 CPUs busy');
    expect(quiet).not.toContain('noisy');
  });
});
