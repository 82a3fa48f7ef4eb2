import { describe, expect, it } from 'vitest';
import { buildBrowserRows, formatBrowserTable, sizeSwitches } from './browser-report.js';

// µs/frame of an imaginary run (gcm / seal / open / seal-sync / seal-webcrypto): 10 / 20 / 40 / 20 / 25 at 160 B,
// 100 / 200 / 1900 / 2000 / 200 at 65536 B.
const perUs = (us: number): number => 1e6 / us;
const measurements = [
  { op: 'seal-webcrypto', size: 65536, framesPerSec: perUs(200) },
  { op: 'seal-sync', size: 160, framesPerSec: perUs(20) },
  { op: 'seal-sync', size: 65536, framesPerSec: perUs(2000) },
  { op: 'seal', size: 160, framesPerSec: perUs(20) },
  { op: 'gcm', size: 65536, framesPerSec: perUs(100) },
  { op: 'open', size: 160, framesPerSec: perUs(40) },
  { op: 'gcm', size: 160, framesPerSec: perUs(10) },
  { op: 'seal-webcrypto', size: 160, framesPerSec: perUs(25) },
  { op: 'seal', size: 65536, framesPerSec: perUs(200) },
  { op: 'open', size: 65536, framesPerSec: perUs(1900) },
] as const;

describe('buildBrowserRows', () => {
  const rows = buildBrowserRows(measurements);

  it('orders rows by size, then gcm, seal, open, seal-sync, seal-webcrypto', () => {
    expect(rows.map((r) => `${r.size} ${r.op}`)).toEqual([
      '160 gcm', '160 seal', '160 open', '160 seal-sync', '160 seal-webcrypto',
      '65536 gcm', '65536 seal', '65536 open', '65536 seal-sync', '65536 seal-webcrypto',
    ]);
  });

  it('gives the JSON row shape, with ratioToGcm as frames/s ÷ gcm frames/s', () => {
    expect(Object.keys(rows[1]!).sort()).toEqual(['backend', 'framesPerSec', 'op', 'ratioToFloor', 'ratioToGcm', 'size', 'usPerFrame']);
    expect(rows[1]).toMatchObject({ backend: 'chromium-worker', op: 'seal', size: 160, framesPerSec: 50_000 });
    expect(rows[1]!.usPerFrame).toBeCloseTo(20, 9);
    expect(rows[1]!.ratioToGcm).toBeCloseTo(0.5, 9);
    expect(rows[0]!.ratioToGcm).toBe(1);
    expect(rows[6]!.ratioToGcm).toBeCloseTo(0.5, 9);
  });

  it('gives the ratio to the floor: the cost ratio to gcm ÷ the floor at the size', () => {
    expect(rows[1]!.ratioToFloor).toBeCloseTo(2 / 1.23, 9);
    expect(rows[6]!.ratioToFloor).toBeCloseTo(2 / 3.3, 9);
    expect(buildBrowserRows([{ op: 'gcm', size: 1000, framesPerSec: 1 }, { op: 'seal', size: 1000, framesPerSec: 1 }])[1]!.ratioToFloor).toBeNull();
  });

  it('names the browser whose worker measured the row', () => {
    expect(new Set(buildBrowserRows(measurements, 'firefox').map((r) => r.backend))).toEqual(new Set(['firefox-worker']));
  });

  it('takes a paced row\'s ratios against gcm-paced, never against the hot gcm row', () => {
    const paced = buildBrowserRows([
      { op: 'gcm', size: 160, framesPerSec: 100_000 },
      { op: 'gcm-paced', size: 160, framesPerSec: 40_000 },
      { op: 'seal-paced', size: 160, framesPerSec: 20_000 },
    ]);
    expect(paced.map((r) => r.op)).toEqual(['gcm', 'gcm-paced', 'seal-paced']);
    expect(paced[2]!.ratioToGcm).toBeCloseTo(0.5, 9);
    expect(paced[2]!.ratioToFloor).toBeCloseTo(2 / 1.23, 9);
  });

  it('has no ratio without a gcm row at the size', () => {
    expect(buildBrowserRows([{ op: 'seal', size: 1200, framesPerSec: 1000 }])[0]!.ratioToGcm).toBeNull();
  });
});

describe('sizeSwitches', () => {
  it('names the faster of seal-sync and seal-webcrypto at each size', () => {
    const switches = sizeSwitches(buildBrowserRows(measurements));
    expect(switches.map((s) => [s.size, s.faster])).toEqual([
      [160, 'seal-sync'],
      [65536, 'seal-webcrypto'],
    ]);
    expect(switches[0]!.factor).toBeCloseTo(1.25, 9);
    expect(switches[1]!.factor).toBeCloseTo(10, 9);
  });

  it('gives the verdict at a call\'s pace from the paced rows alone', () => {
    const rows = buildBrowserRows([
      ...measurements,
      { op: 'seal-sync-paced', size: 1200, framesPerSec: 3000 },
      { op: 'seal-webcrypto-paced', size: 1200, framesPerSec: 4500 },
    ]);
    const paced = sizeSwitches(rows, true);
    expect(paced.map((s) => [s.size, s.faster])).toEqual([[1200, 'seal-webcrypto']]);
    expect(paced[0]!.factor).toBeCloseTo(1.5, 9);
    expect(sizeSwitches(rows).map((s) => s.size)).toEqual([160, 65536]);
  });
});

describe('formatBrowserTable', () => {
  const meta = {
    seconds: 0.4,
    repeats: 3,
    browser: 'Chromium 156.0.8078.108',
    cryptoBackend: 'noble',
    crossOriginIsolated: true,
    checkedSizes: [1, 160, 65536],
  };
  const text = formatBrowserTable(buildBrowserRows(measurements), meta);
  const lines = text.split('\n');

  it('prints aligned columns with µs/frame and both gcm ratios', () => {
    expect(lines[0]).toMatch(/^size B\s+backend\s+op\s+µs\/frame\s+frames\/s\s+MB\/s\s+÷gcm\s+×gcm µs\s+×floor$/);
    expect(lines[2]).toBe('   160  chromium-worker  gcm                10.00   100,000   16.0  1.00×    1.00×'); // no floor ratio for gcm itself
    expect(lines[3]).toBe('   160  chromium-worker  seal               20.00    50,000    8.0  0.50×    2.00×   1.63×');
    expect(lines[7]).toBe(''); // a blank line between sizes
    expect(lines[11]).toBe(' 65536  chromium-worker  seal-sync           2000       500   32.8  0.05×   20.00×   6.06×');
    for (const line of [lines[3]!, lines[11]!]) expect(line.length).toBe(lines[0]!.length);
  });

  it('explains the rows and gives the seal-sync-vs-seal-webcrypto verdict in the footer', () => {
    expect(text).toContain('headless Chromium 156.0.8078.108');
    expect(text).toContain('synchronous backend noble below it');
    expect(text).toContain('checked at 1, 160, 65536 B');
    expect(text).toContain('cross-origin isolated (5 µs granularity)');
    expect(text).toMatch(/ {4}160 B {2}seal-sync +faster by 1\.25×/);
    expect(text).toMatch(/65536 B {2}seal-webcrypto +faster by 10\.00×/);
    expect(text).not.toContain('CPUs busy');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('warns about a busy machine', () => {
    expect(formatBrowserTable([], { ...meta, contention: { otherCpus: 0.5, cpus: 2 } })).toMatch(/kept 0\.50 of 2 CPUs busy .* — figures are noisy/);
    expect(formatBrowserTable([], { ...meta, contention: { otherCpus: 0.02, cpus: 2 } })).not.toContain('noisy');
  });
});
