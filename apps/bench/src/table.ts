/** The human-readable report: one table of rows and a footer with the run's context and the targets. Pure. */

import type { Row, TargetResult } from './report.js';

/** Context printed under the table. */
export interface TableMeta {
  /** Seconds per timed repeat, and repeats per row (the median is shown). */
  seconds: number;
  repeats: number;
  /** e.g. `v20.20.2`. */
  nodeVersion: string;
  /** `openssl version` of the native row, or why there is none. */
  native: { version: string } | { missing: string };
  /** CPUs kept busy on average by other processes during the measurements, and the CPU count (Linux only). */
  contention?: { otherCpus: number; cpus: number };
}

/** µs per packet with 3–4 significant digits. */
export function formatMicros(packetsPerSec: number): string {
  const us = 1e6 / packetsPerSec;
  if (us >= 1000) return us.toFixed(0);
  if (us >= 100) return us.toFixed(1);
  if (us >= 10) return us.toFixed(2);
  return us.toFixed(3);
}

/** An integer with thousands separators. */
export function formatCount(value: number): string {
  return Math.round(value).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** `0.53×`, or `—` for a ratio that was not measured. */
export function formatRatio(ratio: number | null): string {
  return ratio === null ? '—' : `${ratio.toFixed(2)}×`;
}

const COLUMNS = ['size B', 'backend', 'op', 'µs/pkt', 'packets/s', 'MB/s', '÷bound', '÷gcm', '÷native'] as const;
/** Average CPUs used by others above which the footer calls the run noisy. */
export const CONTENTION_WARNING = 0.1;

/** Text columns are left-aligned, numbers right-aligned. */
const LEFT = new Set<string>(['backend', 'op']);

/** The table and its footer, ending with a newline. */
/**
 * Aligned text columns (left-aligned where `left` says, right otherwise), a rule under the header, and a blank
 * line wherever `groups` changes from one row to the next (the benchmark groups rows by size).
 */
export function renderGrid(columns: readonly string[], left: ReadonlySet<string>, cells: readonly string[][], groups: readonly number[]): string[] {
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => (left.has(columns[i]!) ? v.padEnd(widths[i]!) : v.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out: string[] = [line(columns), widths.map((w) => '-'.repeat(w)).join('  ')];
  cells.forEach((row, i) => {
    if (i > 0 && groups[i] !== groups[i - 1]) out.push('');
    out.push(line(row));
  });
  return out;
}

export function formatTable(rows: readonly Row[], targets: readonly TargetResult[], meta: TableMeta): string {
  const cells = rows.map((r) => [
    String(r.size),
    r.backend,
    r.op,
    formatMicros(r.packetsPerSec),
    formatCount(r.packetsPerSec),
    r.mbPerSec.toFixed(1),
    formatRatio(r.ratioToBound),
    formatRatio(r.ratioToGcm),
    formatRatio(r.ratioToNative),
  ]);
  const out = renderGrid(COLUMNS, LEFT, cells, rows.map((r) => r.size));
  out.push('', ...formatFooter(targets, meta));
  return `${out.join('\n')}\n`;
}

function formatFooter(targets: readonly TargetResult[], meta: TableMeta): string[] {
  const lines = [
    `median of ${meta.repeats} × ${meta.seconds} s per row; Node ${meta.nodeVersion}; size = message body bytes; MB = 10^6 bytes`,
    '÷X = packets/s ÷ the X row\'s packets/s at the same size',
    'bound  = SHA-256(32+B) + 2×SHA-256(52) + AES-256-CTR(B), fresh createCipheriv per packet, node:crypto',
    'gcm    = AES-256-GCM per packet, fixed key, fresh 12-byte IV, node:crypto',
    'version' in meta.native
      ? `native = 1 / (t_sha256(32+B) + 2·t_sha256(52) + t_aes256ctr(B)) from openssl speed (CPU time), ${meta.native.version}`
      : `native = ${meta.native.missing}`,
  ];
  if (meta.contention) {
    const { otherCpus, cpus } = meta.contention;
    lines.push(
      `other processes kept ${otherCpus.toFixed(2)} of ${cpus} CPUs busy during the measurements` +
        (otherCpus >= CONTENTION_WARNING ? ' — figures are noisy, rerun on an idle machine' : ''),
    );
  }
  if (targets.length > 0) {
    lines.push('', `targets for ${targets[0]!.backend} (the default backend):`);
    for (const t of targets) {
      const goal = `${t.op} ≥ ${t.min.toFixed(1)}× ${t.reference.padEnd(6)} at ${String(t.size).padStart(5)} B`;
      const status = t.status === 'not met' ? 'NOT MET' : t.status;
      lines.push(`  ${goal}  ${formatRatio(t.ratio).padStart(6)}  ${status}`);
    }
  }
  return lines;
}
