/** Rows of the report: ratios between measurements, and the performance targets. Pure. */

/** What a row measures. */
export type Op = 'seal' | 'open' | 'bound' | 'gcm' | 'native';

/** A measured rate before ratios. */
export interface Measurement {
  /** `node`, `noble` (the crypto backend), `node` for bound and gcm, `openssl` for native. */
  backend: string;
  op: Op;
  /** Message body bytes per packet. */
  size: number;
  packetsPerSec: number;
}

/** One row of the report (and of `--json`). */
export interface Row extends Measurement {
  /** size · packetsPerSec / 10^6. */
  mbPerSec: number;
  /** packetsPerSec ÷ the bound row's at the same size; null when there is no bound row for the size. */
  ratioToBound: number | null;
  /** packetsPerSec ÷ the gcm row's at the same size; null when there is no gcm row for the size. */
  ratioToGcm: number | null;
  /** packetsPerSec ÷ the native row's at the same size; null when openssl was absent or skipped. */
  ratioToNative: number | null;
}

/** References first, in this order; then the measured rows in the order they came (backend by backend). */
const REFERENCE_ORDER: readonly Op[] = ['native', 'bound', 'gcm'];
const rank = (op: Op): number => {
  const i = REFERENCE_ORDER.indexOf(op);
  return i < 0 ? REFERENCE_ORDER.length : i;
};

/** Adds throughput and the three ratios to every measurement; rows come out by size, references first. */
export function buildRows(measurements: readonly Measurement[]): Row[] {
  const reference = (op: Op, size: number): number | undefined =>
    measurements.find((m) => m.op === op && m.size === size)?.packetsPerSec;
  const ratio = (pps: number, ref: number | undefined): number | null => (ref === undefined || ref <= 0 ? null : pps / ref);
  const rows = measurements.map((m): Row => ({
    backend: m.backend,
    op: m.op,
    size: m.size,
    packetsPerSec: m.packetsPerSec,
    mbPerSec: (m.size * m.packetsPerSec) / 1e6,
    ratioToBound: ratio(m.packetsPerSec, reference('bound', m.size)),
    ratioToGcm: ratio(m.packetsPerSec, reference('gcm', m.size)),
    ratioToNative: ratio(m.packetsPerSec, reference('native', m.size)),
  }));
  // Stable sort: the measurement order of seal and open rows within a size is kept.
  return rows.sort((a, b) => a.size - b.size || rank(a.op) - rank(b.op));
}

/** A performance target of the issue: `op` on the default backend reaches `min` × the `reference` row at `size`. */
export interface Target {
  op: 'seal' | 'open';
  size: number;
  reference: 'bound' | 'native';
  min: number;
}

/** Node default backend seal and open ≥ 0.8 of bound at 1200 and 65536 bytes, ≥ 0.5 at 160; ≥ 0.5 of native at 1200. */
export const TARGETS: readonly Target[] = (['seal', 'open'] as const).flatMap((op): Target[] => [
  { op, size: 160, reference: 'bound', min: 0.5 },
  { op, size: 1200, reference: 'bound', min: 0.8 },
  { op, size: 65536, reference: 'bound', min: 0.8 },
  { op, size: 1200, reference: 'native', min: 0.5 },
]);

/** A target checked against a run. */
export interface TargetResult extends Target {
  backend: string;
  /** The measured ratio, or null when the row or its reference was not measured in this run. */
  ratio: number | null;
  status: 'met' | 'not met' | 'not measured';
}

/** Checks every target against the rows of `backend`. Informational only: never an exit code. */
export function evaluateTargets(rows: readonly Row[], backend: string, targets: readonly Target[] = TARGETS): TargetResult[] {
  return targets.map((t) => {
    const row = rows.find((r) => r.backend === backend && r.op === t.op && r.size === t.size);
    const ratio = row ? (t.reference === 'bound' ? row.ratioToBound : row.ratioToNative) : null;
    const status = ratio === null ? 'not measured' : ratio >= t.min ? 'met' : 'not met';
    return { ...t, backend, ratio, status };
  });
}
